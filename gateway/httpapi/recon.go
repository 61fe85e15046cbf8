package httpapi

import (
	"encoding/base64"
	"encoding/csv"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/paygate/paygate/gateway/apierr"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/gateway/recon"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// Reconciliation API: runs against provider statements. See docs/finance.md.

// DifferencesCSVHeader is the differences export's header row.
var DifferencesCSVHeader = []string{"kind", "out_trade_no", "provider_trade_no", "transaction_id", "out_refund_no",
	"gateway_status", "gateway_amount", "gateway_currency", "provider_status", "provider_amount", "provider_currency",
	"provider_time", "healed", "note"}

var (
	reconStartParams  = []string{"channel", "date"}
	reconListParams   = []string{"channel", "date", "limit", "cursor"}
	reconDiffParams   = []string{"kind", "limit", "cursor", "format"}
	differenceKinds   = []string{store.DiffMissingAtGateway, store.DiffMissingAtProvider, store.DiffAmountMismatch, store.DiffStatusMismatch}
	uploadContentType = []string{"text/csv", "text/plain", "application/octet-stream", "application/gzip"}
)

func (a *API) registerRecon(v1 gin.IRouter) {
	v1.POST("/reconciliations", require(config.ScopeOrdersRead), a.startReconciliation)
	v1.GET("/reconciliations", require(config.ScopeOrdersRead), a.listReconciliations)
	v1.GET("/reconciliations/:id", require(config.ScopeOrdersRead), a.getReconciliation)
	v1.GET("/reconciliations/:id/differences", require(config.ScopeOrdersRead), a.listDifferences)
	v1.POST("/reconciliations/:id/rejudge", require(config.ScopeOrdersRead), a.rejudgeReconciliation)
}

func (a *API) reconReady(c *gin.Context) bool {
	if a.Recon == nil {
		abort(c, apierr.New(http.StatusServiceUnavailable, apierr.Unavailable, "", "reconciliation is not configured"))
		return false
	}
	return true
}

// startReconciliation answers POST /v1/reconciliations: JSON {channel,
// date} downloads the provider's statement; a statement file (text/csv)
// with ?channel=&date= is reconciled as uploaded.
func (a *API) startReconciliation(c *gin.Context) {
	if !a.reconReady(c) {
		return
	}
	ct, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if ct != "" && ct != "application/json" {
		a.uploadReconciliation(c, ct)
		return
	}
	if len(c.Request.URL.RawQuery) > 0 {
		abort(c, apierr.Invalid("", "query parameters are for uploads (Content-Type text/csv); send {channel, date} as JSON"))
		return
	}
	var in struct {
		Channel string `json:"channel"`
		Date    string `json:"date"`
	}
	if !decode(c, &in) {
		return
	}
	day, ok := reconTarget(c, in.Channel, in.Date)
	if !ok {
		return
	}
	run, err := a.Recon.Start(c.Request.Context(), keyOf(c).MerchantID, in.Channel, day)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, recon.View(run))
}

func reconTarget(c *gin.Context, channel, date string) (providers.Day, bool) {
	if channel == "" {
		abort(c, apierr.Invalid("channel", "is required"))
		return providers.Day{}, false
	}
	day, err := providers.ParseDay(date)
	if err != nil {
		abort(c, apierr.Invalid("date", "must be a date such as 2026-12-03 (the provider's statement day)"))
		return providers.Day{}, false
	}
	return day, true
}

func (a *API) uploadReconciliation(c *gin.Context, ct string) {
	known := false
	for _, t := range uploadContentType {
		known = known || ct == t
	}
	if !known {
		abort(c, apierr.Invalid("", "Content-Type must be application/json (download the provider's statement) or text/csv (upload one)"))
		return
	}
	q, aerr := query(c, reconStartParams)
	if aerr != nil {
		abort(c, aerr)
		return
	}
	day, ok := reconTarget(c, q["channel"], q["date"])
	if !ok {
		return
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, a.Recon.MaxUploadBytes())
	run, err := a.Recon.StartUpload(c.Request.Context(), keyOf(c).MerchantID, q["channel"], day, body)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, recon.View(run))
}

// listReconciliations answers GET /v1/reconciliations (newest first).
func (a *API) listReconciliations(c *gin.Context) {
	if !a.reconReady(c) {
		return
	}
	q, aerr := query(c, reconListParams)
	if aerr != nil {
		abort(c, aerr)
		return
	}
	f := store.ReconRunFilter{MerchantID: keyOf(c).MerchantID}
	if ch, ok := q["channel"]; ok {
		if found, known := a.svc.Channel(ch); !known || found.MerchantID != f.MerchantID {
			abort(c, apierr.Invalid("channel", "%q is not one of your channels", ch))
			return
		}
		f.ChannelID = ch
	}
	if d, ok := q["date"]; ok {
		if _, err := providers.ParseDay(d); err != nil {
			abort(c, apierr.Invalid("date", "must be a date such as 2026-12-03"))
			return
		}
		f.Date = d
	}
	limit, ok := limitParam(c, q)
	if !ok {
		return
	}
	var after *store.RunKey
	if s, ok := q["cursor"]; ok {
		k, aerr := decodeCursor(s)
		if aerr != nil {
			abort(c, aerr)
			return
		}
		after = &store.RunKey{CreatedAt: k.CreatedAt, ID: k.ID}
	}
	runs, err := a.Recon.Runs(c.Request.Context(), f, after, limit+1)
	if err != nil {
		a.fail(c, err)
		return
	}
	var next any
	if len(runs) > limit {
		runs = runs[:limit]
		last := runs[limit-1]
		next = encodeCursor(store.OrderKey{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	data := make([]recon.RunView, 0, len(runs))
	for i := range runs {
		data = append(data, recon.View(&runs[i]))
	}
	c.JSON(http.StatusOK, gin.H{"data": data, "next_cursor": next})
}

func limitParam(c *gin.Context, q map[string]string) (int, bool) {
	limit := defaultLimit
	if s, ok := q["limit"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			abort(c, apierr.Invalid("limit", "must be an integer from 1 to %d", maxLimit))
			return 0, false
		}
		limit = n
	}
	return limit, true
}

func (a *API) runOf(c *gin.Context) (*store.ReconRun, bool) {
	run, err := a.Recon.RunOf(c.Request.Context(), keyOf(c).MerchantID, c.Param("id"))
	if err != nil {
		a.fail(c, err)
		return nil, false
	}
	return run, true
}

func (a *API) getReconciliation(c *gin.Context) {
	if !a.reconReady(c) {
		return
	}
	if run, ok := a.runOf(c); ok {
		c.JSON(http.StatusOK, recon.View(run))
	}
}

func (a *API) rejudgeReconciliation(c *gin.Context) {
	if !a.reconReady(c) {
		return
	}
	if c.Request.ContentLength > 0 {
		var empty struct{}
		if !decode(c, &empty) {
			return
		}
	}
	run, err := a.Recon.Rejudge(c.Request.Context(), keyOf(c).MerchantID, c.Param("id"))
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, recon.View(run))
}

// The differences cursor is base64url of "d1|<seq>".
func encodeSeqCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("d1|" + strconv.FormatInt(seq, 10)))
}

func decodeSeqCursor(s string) (int64, *apierr.Error) {
	bad := apierr.Invalid("cursor", "not a cursor from this API; send next_cursor as received, with the same filters")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) > 32 || !strings.HasPrefix(string(raw), "d1|") {
		return 0, bad
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(string(raw), "d1|"), 10, 64)
	if err != nil || n < 0 {
		return 0, bad
	}
	return n, nil
}

// listDifferences answers GET /v1/reconciliations/{id}/differences: paged
// JSON, or format=csv streaming them all.
func (a *API) listDifferences(c *gin.Context) {
	if !a.reconReady(c) {
		return
	}
	q, aerr := query(c, reconDiffParams)
	if aerr != nil {
		abort(c, aerr)
		return
	}
	kind := q["kind"]
	if _, ok := q["kind"]; ok {
		known := false
		for _, k := range differenceKinds {
			known = known || k == kind
		}
		if !known {
			abort(c, apierr.Invalid("kind", "must be one of %s", strings.Join(differenceKinds, ", ")))
			return
		}
	}
	run, ok := a.runOf(c)
	if !ok {
		return
	}
	switch q["format"] {
	case "", "json":
	case "csv":
		for _, name := range []string{"limit", "cursor"} {
			if _, ok := q[name]; ok {
				abort(c, apierr.Invalid(name, "format=csv answers every difference; it takes no %s", name))
				return
			}
		}
		a.exportDifferences(c, run, kind)
		return
	default:
		abort(c, apierr.Invalid("format", "must be json or csv"))
		return
	}
	limit, ok := limitParam(c, q)
	if !ok {
		return
	}
	var after int64
	if s, ok := q["cursor"]; ok {
		if after, aerr = decodeSeqCursor(s); aerr != nil {
			abort(c, aerr)
			return
		}
	}
	diffs, err := a.Recon.Differences(c.Request.Context(), run.ID, kind, after, limit+1)
	if err != nil {
		a.fail(c, err)
		return
	}
	var next any
	if len(diffs) > limit {
		diffs = diffs[:limit]
		next = encodeSeqCursor(diffs[limit-1].Seq)
	}
	data := make([]recon.DifferenceView, 0, len(diffs))
	for i := range diffs {
		data = append(data, recon.ViewDifference(&diffs[i]))
	}
	c.JSON(http.StatusOK, gin.H{"data": data, "next_cursor": next})
}

// exportDifferences streams a run's differences as CSV, ExportBatch at a time.
func (a *API) exportDifferences(c *gin.Context, run *store.ReconRun, kind string) {
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+run.ID+`-differences.csv"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	cw := csv.NewWriter(w)
	_ = cw.Write(DifferencesCSVHeader)
	rec := make([]string, len(DifferencesCSVHeader))
	var after int64
	for {
		diffs, err := a.Recon.Differences(c.Request.Context(), run.ID, kind, after, ExportBatch)
		if err != nil {
			if !w.Written() {
				a.fail(c, err)
				return
			}
			a.log.Error("differences export failed midway", "run", run.ID, "err", err)
			panic(http.ErrAbortHandler)
		}
		for i := range diffs {
			DifferenceCSVRecord(rec, recon.ViewDifference(&diffs[i]))
			_ = cw.Write(rec)
		}
		cw.Flush()
		if len(diffs) < ExportBatch {
			return
		}
		after = diffs[len(diffs)-1].Seq
	}
}

// DifferenceCSVRecord fills rec (len(DifferencesCSVHeader)) from d.
func DifferenceCSVRecord(rec []string, d recon.DifferenceView) {
	for i := range rec {
		rec[i] = ""
	}
	rec[0] = d.Kind
	rec[1], rec[2], rec[3], rec[4] = csvText(d.OutTradeNo), csvText(d.ProviderTradeNo), csvText(d.TransactionID), csvText(d.OutRefundNo)
	if g := d.Gateway; g != nil {
		rec[5], rec[6], rec[7] = g.Status, g.Amount, g.Currency
	}
	if p := d.Provider; p != nil {
		rec[8], rec[9], rec[10], rec[11] = csvText(p.Status), p.Amount, p.Currency, p.Time.UTC().Format(time.RFC3339)
	}
	rec[12] = strconv.FormatBool(d.Healed)
	rec[13] = csvText(d.Note)
}
