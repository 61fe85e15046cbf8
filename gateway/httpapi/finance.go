package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/paygate/paygate/gateway/apierr"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// Finance API: GET /v1/orders (filters, keyset cursor, CSV export) and
// GET /v1/reports/summary. See docs/finance.md.

const (
	defaultLimit = 50
	maxLimit     = 500
	// ExportBatch is how many rows the CSV export reads per query and
	// writes per flush.
	ExportBatch = 500
	// DefaultExportTimeLimit bounds a whole CSV export: a longer one is cut
	// off (server.export_time_limit).
	DefaultExportTimeLimit = 10 * time.Minute
)

// CSVHeader is the CSV export's header row.
var CSVHeader = []string{"out_trade_no", "provider_trade_no", "transaction_id", "merchant", "channel", "provider",
	"status", "currency", "amount", "refunded", "created_at", "paid_at"}

// orderStatuses are the words the status filter takes.
var orderStatuses = []string{string(providers.OrderPaying), string(providers.OrderPaid), string(providers.OrderClosed),
	string(providers.OrderFailed), string(providers.OrderRefunded)}

var (
	listParams    = []string{"status", "provider", "channel", "currency", "from", "to", "limit", "cursor", "format", "out_trade_no", "provider_trade_no", "transaction_id"}
	summaryParams = []string{"status", "provider", "channel", "currency", "from", "to", "group_by", "tz"}
)

// query reads the query string strictly: an unknown parameter (a typo
// would silently widen a finance query) or a repeated one is refused.
func query(c *gin.Context, allowed []string) (map[string]string, *apierr.Error) {
	out := map[string]string{}
	for k, vs := range c.Request.URL.Query() {
		if !slices.Contains(allowed, k) {
			return nil, apierr.Invalid(k, "unknown query parameter; known: %s", strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return nil, apierr.Invalid(k, "given more than once")
		}
		out[k] = vs[0]
	}
	return out, nil
}

// filter builds the order filter of the key's merchant from q.
func (a *API) filter(merchantID string, q map[string]string) (store.OrderFilter, *apierr.Error) {
	f := store.OrderFilter{MerchantID: merchantID, OutTradeNo: q["out_trade_no"], ProviderTradeNo: q["provider_trade_no"], TransactionID: q["transaction_id"]}
	if s, ok := q["status"]; ok {
		for _, w := range strings.Split(s, ",") {
			if !slices.Contains(orderStatuses, w) {
				return f, apierr.Invalid("status", "%q is not an order status; use %s (several: comma-separated)", w, strings.Join(orderStatuses, ", "))
			}
			f.Statuses = append(f.Statuses, w)
		}
	}
	if p, ok := q["provider"]; ok {
		if !slices.Contains(providers.Kinds(), p) {
			return f, apierr.Invalid("provider", "%q is not a provider kind; known: %s", p, strings.Join(providers.Kinds(), ", "))
		}
		f.Provider = p
	}
	if ch, ok := q["channel"]; ok {
		c, found := a.svc.Channel(ch)
		if !found || c.MerchantID != merchantID {
			return f, apierr.Invalid("channel", "%q is not one of your channels", ch)
		}
		f.ChannelID = ch
	}
	if cur, ok := q["currency"]; ok {
		if !providers.KnownCurrency(cur) {
			return f, apierr.Invalid("currency", "%q is not an ISO-4217 currency code", cur)
		}
		f.Currency = cur
	}
	for _, name := range []string{"from", "to"} {
		s, ok := q[name]
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return f, apierr.Invalid(name, "must be an RFC 3339 time such as 2025-06-01T00:00:00+08:00")
		}
		if name == "from" {
			f.From = t.UTC()
		} else {
			f.To = t.UTC()
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, apierr.Invalid("to", "must be after from (from is inclusive, to exclusive)")
	}
	for _, name := range []string{"out_trade_no", "provider_trade_no", "transaction_id"} {
		if v, ok := q[name]; ok && (v == "" || len(v) > 128) {
			return f, apierr.Invalid(name, "must be 1 to 128 characters")
		}
	}
	return f, nil
}

// The cursor is opaque to clients: base64url of "v1|<created_at>|<id>",
// the (created_at, id) of the last order of the page.
const cursorVersion = "v1"

var cursorID = regexp.MustCompile(`^[a-z]{1,8}_[0-9a-z]{26}$`)

func encodeCursor(k store.OrderKey) string {
	raw := cursorVersion + "|" + k.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + k.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(s string) (*store.OrderKey, *apierr.Error) {
	bad := apierr.Invalid("cursor", "not a cursor from this API; send next_cursor as received, with the same filters")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) > 128 {
		return nil, bad
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] != cursorVersion || !cursorID.MatchString(parts[2]) {
		return nil, bad
	}
	t, err := time.Parse(time.RFC3339Nano, parts[1])
	if err != nil {
		return nil, bad
	}
	return &store.OrderKey{CreatedAt: t.UTC(), ID: parts[2]}, nil
}

// listOrders answers GET /v1/orders: filters, the lookups by the three
// numbers, keyset paging, and format=csv.
func (a *API) listOrders(c *gin.Context) {
	q, aerr := query(c, listParams)
	if aerr != nil {
		abort(c, aerr)
		return
	}
	f, aerr := a.filter(keyOf(c).MerchantID, q)
	if aerr != nil {
		abort(c, aerr)
		return
	}
	switch q["format"] {
	case "", "json":
	case "csv":
		for _, name := range []string{"limit", "cursor"} {
			if _, ok := q[name]; ok {
				abort(c, apierr.Invalid(name, "format=csv answers every matching order; it takes no %s", name))
				return
			}
		}
		a.exportCSV(c, f)
		return
	default:
		abort(c, apierr.Invalid("format", "must be json or csv"))
		return
	}
	limit := defaultLimit
	if s, ok := q["limit"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			abort(c, apierr.Invalid("limit", "must be an integer from 1 to %d", maxLimit))
			return
		}
		limit = n
	}
	var from *store.OrderKey
	if s, ok := q["cursor"]; ok {
		if from, aerr = decodeCursor(s); aerr != nil {
			abort(c, aerr)
			return
		}
	}
	// One row more than the page tells whether another page follows.
	found, err := a.svc.ListOrders(c.Request.Context(), f, from, limit+1)
	if err != nil {
		a.fail(c, err)
		return
	}
	var next any
	if len(found) > limit {
		found = found[:limit]
		next = encodeCursor(store.KeyOf(&found[limit-1]))
	}
	data := make([]orders.OrderView, 0, len(found))
	for i := range found {
		data = append(data, orders.ViewOrder(&found[i]))
	}
	c.JSON(http.StatusOK, gin.H{"data": data, "next_cursor": next})
}

// exportCSV streams every order of f as CSV: rows are read ExportBatch at
// a time by key, each batch its own short read, and written as they come,
// so memory stays flat however many orders match and a slow client pins
// nothing in the database. The whole export has a time limit; a write
// blocked by a client that stopped reading ends at it too.
func (a *API) exportCSV(c *gin.Context, f store.OrderFilter) {
	limit := a.ExportTimeLimit
	if limit <= 0 {
		limit = DefaultExportTimeLimit
	}
	deadline := time.Now().Add(limit)
	ctx, cancel := context.WithDeadline(c.Request.Context(), deadline)
	defer cancel()
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="orders.csv"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	rc := http.NewResponseController(w)
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	rec := make([]string, len(CSVHeader))
	n := 0
	err := a.svc.ExportOrders(ctx, f, ExportBatch, func(o *store.Order) error {
		CSVRecord(rec, o)
		if err := cw.Write(rec); err != nil {
			return err
		}
		if n++; n%ExportBatch == 0 {
			// A long export keeps the connection as long as it makes
			// progress, and no longer than its limit.
			wd := time.Now().Add(time.Minute)
			if wd.After(deadline) {
				wd = deadline
			}
			_ = rc.SetWriteDeadline(wd)
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			_ = rc.Flush()
		}
		return nil
	})
	if err == nil {
		cw.Flush()
		err = cw.Error()
	}
	if err == nil {
		return
	}
	expired := ctx.Err() != nil && c.Request.Context().Err() == nil
	if !w.Written() {
		if expired {
			a.fail(c, apierr.New(http.StatusServiceUnavailable, apierr.Unavailable, "",
				"the export did not finish within its time limit (%s); narrow it with from/to or other filters", limit))
			return
		}
		a.fail(c, err)
		return
	}
	// Rows went out already: cut the connection so the client sees a broken
	// transfer, never a complete-looking truncated file.
	if c.Request.Context().Err() == nil {
		a.log.Error("csv export failed midway", "merchant", f.MerchantID, "rows", n, "time_limit_reached", expired, "err", err)
	}
	panic(http.ErrAbortHandler)
}

// CSVRecord fills rec (len(CSVHeader)) with o's CSV cells.
func CSVRecord(rec []string, o *store.Order) {
	rec[0] = csvText(o.OutTradeNo)
	rec[1] = csvText(deref(o.ProviderTradeNo))
	rec[2] = csvText(deref(o.TransactionID))
	rec[3] = csvText(o.MerchantID)
	rec[4] = csvText(o.ChannelID)
	rec[5] = csvText(o.Provider)
	rec[6] = o.Status
	rec[7] = o.Currency
	rec[8] = providers.FormatMinor(o.AmountMinor, o.Currency)
	rec[9] = providers.FormatMinor(o.RefundedMinor, o.Currency)
	rec[10] = o.CreatedAt.UTC().Format(time.RFC3339)
	rec[11] = ""
	if o.PaidAt != nil {
		rec[11] = o.PaidAt.UTC().Format(time.RFC3339)
	}
}

// csvText neutralises spreadsheet formulas: a text cell starting with
// = + - @ (or a tab or carriage return) gets a leading single quote, so a
// spreadsheet shows it as text instead of evaluating it. encoding/csv does
// the quoting of commas, quotes and newlines.
func csvText(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

var tzOffset = regexp.MustCompile(`^([+-])(\d{2}):(\d{2})$`)

// parseTZ reads the summary's tz: a fixed UTC offset (Z, +08:00, -05:30)
// or an IANA time zone name (Asia/Shanghai, Europe/Berlin).
func parseTZ(s string) (*time.Location, bool) {
	if s == "Z" {
		return time.UTC, true
	}
	if m := tzOffset.FindStringSubmatch(s); m != nil {
		h, _ := strconv.Atoi(m[2])
		mins, _ := strconv.Atoi(m[3])
		if h > 14 || mins > 59 {
			return nil, false
		}
		secs := h*3600 + mins*60
		if m[1] == "-" {
			secs = -secs
		}
		return time.FixedZone(s, secs), true
	}
	if len(s) > 64 {
		return nil, false
	}
	loc, err := config.LoadZone(s)
	return loc, err == nil
}

// summary answers GET /v1/reports/summary.
func (a *API) summary(c *gin.Context) {
	q, aerr := query(c, summaryParams)
	if aerr != nil {
		abort(c, aerr)
		return
	}
	group := q["group_by"]
	switch group {
	case store.GroupByDay, store.GroupByProvider, store.GroupByCurrency, store.GroupByStatus:
	default:
		abort(c, apierr.Invalid("group_by", "must be day, provider, currency or status"))
		return
	}
	// Days are the merchant's (its configured timezone, else UTC) unless
	// the request names a zone.
	loc := time.UTC
	if m, ok := a.svc.Merchant(keyOf(c).MerchantID); ok && m.Location != nil {
		loc = m.Location
	}
	if s, ok := q["tz"]; ok {
		var valid bool
		if loc, valid = parseTZ(s); !valid {
			abort(c, apierr.Invalid("tz", "must be an IANA time zone such as Asia/Shanghai, or a UTC offset such as +08:00 or Z"))
			return
		}
	}
	f, aerr := a.filter(keyOf(c).MerchantID, q)
	if aerr != nil {
		abort(c, aerr)
		return
	}
	rows, err := a.svc.SummarizeOrders(c.Request.Context(), f, group, loc)
	if err != nil {
		a.fail(c, err)
		return
	}
	data := make([]gin.H, 0, len(rows))
	for _, r := range rows {
		data = append(data, gin.H{
			group:        r.Key,
			"currency":   r.Currency,
			"count":      r.Count,
			"paid_count": r.PaidCount,
			"paid":       providers.FormatMinor(r.PaidMinor, r.Currency),
			"refunded":   providers.FormatMinor(r.RefundedMinor, r.Currency),
			"net":        providers.FormatMinor(r.PaidMinor-r.RefundedMinor, r.Currency),
		})
	}
	// tz says which zone the days are in: an IANA name, or the offset.
	c.JSON(http.StatusOK, gin.H{"data": data, "tz": zoneName(loc)})
}

func zoneName(loc *time.Location) string {
	if loc == time.UTC {
		return "UTC"
	}
	return loc.String()
}
