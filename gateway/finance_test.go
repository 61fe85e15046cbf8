package gateway_test

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

const financeConfig = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
poller: {disabled: true}
webhooks: {disabled: true}
merchants:
  - id: demo
    api_keys:
      - {key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}
      - {key: "` + readOnlyKey + `", scopes: [orders:read]}
    channels:
      - {id: fake-1, provider: test_fake, currency: CNY, params: {key: "` + fakeSecret + `", account: "acct-1"}}
      - {id: fake-eur, provider: test_fake, currency: EUR, params: {key: "k", account: "acct-e"}}
      - {id: fake-jpy, provider: test_fake, currency: JPY, params: {key: "k", account: "acct-j"}}
  - id: other
    api_keys: [{key: "` + otherKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    channels:
      - {id: fake-2, provider: test_fake, currency: CNY, params: {key: "k2", account: "acct-2"}}
`

// startOn runs a gateway on a fresh database of driver.
func startOn(t *testing.T, driver, cfg string, opts gatewaytest.Options) *gatewaytest.Env {
	t.Helper()
	vars := map[string]string{}
	for k, v := range opts.Vars {
		vars[k] = v
	}
	vars["DB_DRIVER"] = driver
	vars["DB"] = storetest.FreshDSN(t, driver)
	opts.Vars = vars
	return gatewaytest.Start(t, cfg, opts)
}

var finDay0 = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// seedFinance writes n orders straight into the store: three channels in
// CNY, EUR and JPY, every status, created over several days (some
// sharing an instant), a few of the other merchant.
func seedFinance(t testing.TB, st *store.Store, n int, start time.Time, seed uint64) []store.Order {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	statuses := []string{"PAYING", "PAID", "PAID", "PAID", "CLOSED", "FAILED", "REFUNDED"}
	channels := []struct{ id, cur string }{{"fake-1", "CNY"}, {"fake-eur", "EUR"}, {"fake-jpy", "JPY"}}
	batch := make([]store.Order, 0, 500)
	var all []store.Order
	keep := n <= 5000 // big seeds are not kept in memory (the memory test)
	flush := func() {
		if err := st.DB().CreateInBatches(batch, 500).Error; err != nil {
			t.Fatal(err)
		}
		if keep {
			all = append(all, batch...)
		}
		batch = batch[:0]
	}
	for i := 0; i < n; i++ {
		ch := channels[i%3]
		created := start.Add(time.Duration(i/3) * 11 * time.Minute)
		o := store.Order{
			ID: store.NewID("ord"), MerchantID: "demo", ChannelID: ch.id, Provider: gatewaytest.FakeKind,
			OutTradeNo: fmt.Sprintf("S%d-%08d", seed, i), AmountMinor: 1 + rng.Int64N(500000), Currency: ch.cur,
			Status: statuses[rng.IntN(len(statuses))], RequestHash: "seed", Description: "seeded",
			ExpiresAt: created.Add(2 * time.Hour), Version: 1, CreatedAt: created, UpdatedAt: created,
		}
		if i%29 == 0 {
			o.MerchantID, o.ChannelID, o.Currency = "other", "fake-2", "CNY"
		}
		ptn := "FK" + o.OutTradeNo
		o.ProviderTradeNo = &ptn
		if o.Status == "PAID" || o.Status == "REFUNDED" {
			paid := created.Add(90 * time.Second)
			txn := fmt.Sprintf("4200%016d", i)
			o.PaidAt, o.TransactionID = &paid, &txn
			if o.Status == "REFUNDED" {
				o.RefundedMinor = o.AmountMinor
			} else if i%4 == 0 {
				o.RefundedMinor = o.AmountMinor / 3
			}
		}
		batch = append(batch, o)
		if len(batch) == cap(batch) {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	return all
}

func TestFinanceAPIRejectsBadFilters(t *testing.T) {
	env := startOn(t, "sqlite", financeConfig, gatewaytest.Options{})
	badCursor := base64.RawURLEncoding.EncodeToString([]byte("v1|yesterday|ord_x"))
	tests := []struct{ path, field string }{
		{"/v1/orders?status=paid", "status"},
		{"/v1/orders?status=PAID,BOGUS", "status"},
		{"/v1/orders?status=PAID&status=CLOSED", "status"},
		{"/v1/orders?provider=nope", "provider"},
		{"/v1/orders?channel=fake-2", "channel"}, // another merchant's
		{"/v1/orders?channel=zzz", "channel"},
		{"/v1/orders?currency=XYZ", "currency"},
		{"/v1/orders?currency=cny", "currency"},
		{"/v1/orders?from=yesterday", "from"},
		{"/v1/orders?from=2025-06-01", "from"},
		{"/v1/orders?to=2025-13-01T00:00:00Z", "to"},
		{"/v1/orders?from=2025-06-02T00:00:00Z&to=2025-06-01T00:00:00Z", "to"},
		{"/v1/orders?from=2025-06-01T00:00:00Z&to=2025-06-01T00:00:00Z", "to"},
		{"/v1/orders?limit=0", "limit"},
		{"/v1/orders?limit=501", "limit"},
		{"/v1/orders?limit=ten", "limit"},
		{"/v1/orders?cursor=not-a-cursor!", "cursor"},
		{"/v1/orders?cursor=" + badCursor, "cursor"},
		{"/v1/orders?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("v2|2025-06-01T00:00:00Z|ord_01jx0000000000000000000000")), "cursor"},
		{"/v1/orders?format=xml", "format"},
		{"/v1/orders?format=csv&limit=10", "limit"},
		{"/v1/orders?stauts=PAID", "stauts"},
		{"/v1/reports/summary", "group_by"},
		{"/v1/reports/summary?group_by=week", "group_by"},
		{"/v1/reports/summary?group_by=day&tz=+8", "tz"},
		{"/v1/reports/summary?group_by=day&tz=%2B15:00", "tz"},
		{"/v1/reports/summary?group_by=day&limit=5", "limit"},
		{"/v1/reports/summary?group_by=day&currency=EURO", "currency"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := env.Do("GET", tt.path, readOnlyKey, nil)
			if r.Status != 400 || r.ErrCode() != "INVALID_ARGUMENT" || r.ErrField() != tt.field {
				t.Fatalf("got %d %s field %q, want 400 INVALID_ARGUMENT field %q: %s", r.Status, r.ErrCode(), r.ErrField(), tt.field, r.Body)
			}
		})
	}
	for _, path := range []string{"/v1/orders", "/v1/orders?format=csv", "/v1/reports/summary?group_by=day"} {
		if r := env.Do("GET", path, "", nil); r.Status != 401 {
			t.Fatalf("%s without a key: %d", path, r.Status)
		}
	}
}

type listPage struct {
	Data []struct {
		ID         string `json:"id"`
		OutTradeNo string `json:"out_trade_no"`
		Status     string `json:"status"`
		Currency   string `json:"currency"`
		CreatedAt  string `json:"created_at"`
	} `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

func getPage(t *testing.T, env *gatewaytest.Env, key, query string) listPage {
	t.Helper()
	r := env.Do("GET", "/v1/orders?"+query, key, nil)
	if r.Status != 200 {
		t.Fatalf("GET /v1/orders?%s: %d %s", query, r.Status, r.Body)
	}
	if _, ok := r.JSON["next_cursor"]; !ok {
		t.Fatalf("no next_cursor key: %s", r.Body)
	}
	var p listPage
	if err := decodeJSON(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// pageThrough follows next_cursor to the end, repeating the filters.
func pageThrough(t *testing.T, env *gatewaytest.Env, key, filters string, limit int, between func()) []string {
	t.Helper()
	var nos []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := filters + "&limit=" + fmt.Sprint(limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		p := getPage(t, env, key, q)
		if len(p.Data) > limit {
			t.Fatalf("page of %d, limit %d", len(p.Data), limit)
		}
		for _, o := range p.Data {
			nos = append(nos, o.OutTradeNo)
		}
		if p.NextCursor == nil {
			return nos
		}
		if len(p.Data) != limit {
			t.Fatalf("a short page (%d) with a next cursor", len(p.Data))
		}
		cursor = *p.NextCursor
		if between != nil {
			between()
		}
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
	}
}

// want lists the merchant's seeded orders matching pred in (created_at, id) order.
func want(seeded []store.Order, merchant string, pred func(o *store.Order) bool) []string {
	var sel []store.Order
	for i := range seeded {
		if seeded[i].MerchantID == merchant && (pred == nil || pred(&seeded[i])) {
			sel = append(sel, seeded[i])
		}
	}
	slices.SortFunc(sel, func(a, b store.Order) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := make([]string, len(sel))
	for i, o := range sel {
		out[i] = o.OutTradeNo
	}
	return out
}

func TestFinanceListFiltersAndCursor(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		env := startOn(t, driver, financeConfig, gatewaytest.Options{})
		seeded := seedFinance(t, env.App.Store, 300, finDay0, 1)
		from, to := finDay0.Add(7*time.Hour), finDay0.Add(31*time.Hour)
		tests := []struct {
			query string
			pred  func(o *store.Order) bool
		}{
			{"", nil},
			{"status=PAID", func(o *store.Order) bool { return o.Status == "PAID" }},
			{"status=PAID,REFUNDED&currency=EUR", func(o *store.Order) bool {
				return (o.Status == "PAID" || o.Status == "REFUNDED") && o.Currency == "EUR"
			}},
			{"channel=fake-jpy&provider=test_fake", func(o *store.Order) bool { return o.ChannelID == "fake-jpy" }},
			{"provider=wechat_v2", func(o *store.Order) bool { return false }},
			// +08:00 bounds are the same instants; from inclusive, to exclusive.
			{"from=" + url.QueryEscape(from.In(time.FixedZone("", 8*3600)).Format(time.RFC3339)) + "&to=" + url.QueryEscape(to.Format(time.RFC3339)),
				func(o *store.Order) bool { return !o.CreatedAt.Before(from) && o.CreatedAt.Before(to) }},
		}
		for _, tt := range tests {
			w := want(seeded, "demo", tt.pred)
			for _, limit := range []int{13, 500} {
				if got := pageThrough(t, env, readOnlyKey, tt.query, limit, nil); !slices.Equal(got, w) {
					t.Fatalf("%q limit %d: %d orders, want %d", tt.query, limit, len(got), len(w))
				}
			}
		}
		// Default limit 50, and a page that ends exactly at the last order
		// has no next cursor.
		if p := getPage(t, env, readOnlyKey, ""); len(p.Data) != 50 || p.NextCursor == nil {
			t.Fatalf("default page: %d orders, next %v", len(p.Data), p.NextCursor)
		}
		n := len(want(seeded, "demo", nil))
		if p := getPage(t, env, readOnlyKey, fmt.Sprintf("limit=%d", n)); len(p.Data) != n || p.NextCursor != nil {
			t.Fatalf("exact page: %d orders, next %v", len(p.Data), p.NextCursor)
		}
		// The other merchant sees only its own orders.
		if got := pageThrough(t, env, otherKey, "", 500, nil); !slices.Equal(got, want(seeded, "other", nil)) {
			t.Fatalf("other merchant: %d orders", len(got))
		}
		// The lookups by number still answer in the list shape.
		o := seeded[1]
		for _, q := range []string{"provider_trade_no=" + *o.ProviderTradeNo, "out_trade_no=" + o.OutTradeNo} {
			if p := getPage(t, env, readOnlyKey, q); len(p.Data) != 1 || p.Data[0].OutTradeNo != o.OutTradeNo || p.NextCursor != nil {
				t.Fatalf("lookup %s: %+v", q, p)
			}
			if p := getPage(t, env, otherKey, q); len(p.Data) != 0 {
				t.Fatalf("other merchant's lookup %s found it", q)
			}
		}
	})
}

// Paging while the merchant keeps creating orders: every order that
// existed before is returned exactly once, none twice.
func TestFinanceCursorWhileOrdersAreCreated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		env := startOn(t, driver, financeConfig, gatewaytest.Options{})
		seeded := seedFinance(t, env.App.Store, 400, time.Now().UTC().Add(-48*time.Hour), 2)
		stop := make(chan struct{})
		var created atomic.Int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := env.Do("POST", "/v1/orders", demoKey, orderBody(fmt.Sprintf("LIVE%06d", i), "1.00"))
				if r.Status != 201 {
					t.Errorf("create during paging: %d %s", r.Status, r.Body)
					return
				}
				created.Add(1)
			}
		}()
		got := pageThrough(t, env, readOnlyKey, "", 17, func() { time.Sleep(2 * ms) })
		close(stop)
		wg.Wait()
		seen := map[string]int{}
		for _, no := range got {
			seen[no]++
			if seen[no] > 1 {
				t.Fatalf("%s returned twice", no)
			}
		}
		for _, no := range want(seeded, "demo", nil) {
			if seen[no] != 1 {
				t.Fatalf("%s returned %d times", no, seen[no])
			}
		}
		if created.Load() == 0 {
			t.Fatal("no order was created while paging")
		}
		t.Logf("%s: %d orders paged while %d were created", driver, len(got), created.Load())
	})
}

func readCSV(t *testing.T, body []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	return rows
}

func TestCSVExport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		env := startOn(t, driver, financeConfig, gatewaytest.Options{})
		seeded := seedFinance(t, env.App.Store, 600, finDay0, 3)
		// Cells a spreadsheet would evaluate, and ones CSV must quote.
		tricky := seeded[3] // a demo order
		if tricky.MerchantID != "demo" {
			t.Fatal("seed 3 is not the demo merchant's")
		}
		err := env.App.Store.DB().Model(&store.Order{}).Where("id = ?", tricky.ID).Updates(map[string]any{
			"out_trade_no": "-2+3", "provider_trade_no": `=HYPERLINK("http://evil","x")`, "transaction_id": "@SUM(A1),\"q\"",
		}).Error
		if err != nil {
			t.Fatal(err)
		}

		resp, err := doRaw(env, "/v1/orders?format=csv", readOnlyKey)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Fatalf("export: %d %s", resp.Status, resp.Header.Get("Content-Type"))
		}
		rows := readCSV(t, resp.Body)
		if got := strings.Join(rows[0], ","); got != "out_trade_no,provider_trade_no,transaction_id,merchant,channel,provider,status,currency,amount,refunded,created_at,paid_at" {
			t.Fatalf("header %q", got)
		}
		w := want(seeded, "demo", nil)
		if len(rows)-1 != len(w) {
			t.Fatalf("%d rows, want %d", len(rows)-1, len(w))
		}
		byNo := map[string]store.Order{}
		for _, o := range seeded {
			byNo[o.OutTradeNo] = o
		}
		byNo["'-2+3"] = tricky
		for i, row := range rows[1:] {
			o, ok := byNo[row[0]]
			if !ok {
				t.Fatalf("row %d: unknown order %q", i, row[0])
			}
			if w[i] != o.OutTradeNo {
				t.Fatalf("row %d is %s, want %s (order by created_at, id)", i, o.OutTradeNo, w[i])
			}
			wantRow := []string{row[0], deref(o.ProviderTradeNo), deref(o.TransactionID), "demo", o.ChannelID, gatewaytest.FakeKind, o.Status, o.Currency,
				providers.FormatMinor(o.AmountMinor, o.Currency), providers.FormatMinor(o.RefundedMinor, o.Currency),
				o.CreatedAt.UTC().Format(time.RFC3339), ""}
			if o.PaidAt != nil {
				wantRow[11] = o.PaidAt.UTC().Format(time.RFC3339)
			}
			if o.ID == tricky.ID {
				wantRow[1], wantRow[2] = `'=HYPERLINK("http://evil","x")`, `'@SUM(A1),"q"`
			}
			if !slices.Equal(row, wantRow) {
				t.Fatalf("row %d:\n got %q\nwant %q", i, row, wantRow)
			}
		}
		// JPY has no decimals, CNY two; times are UTC.
		for _, row := range rows[1:] {
			if row[7] == "JPY" && strings.Contains(row[8], ".") || row[7] == "CNY" && !strings.Contains(row[8], ".") || !strings.HasSuffix(row[10], "Z") {
				t.Fatalf("row %q", row)
			}
		}

		// Filters apply; the CSV totals equal the summary's, per currency.
		from, to := finDay0.Add(5*time.Hour), finDay0.Add(40*time.Hour)
		filters := "status=PAID,REFUNDED,CLOSED&from=" + from.Format(time.RFC3339) + "&to=" + to.Format(time.RFC3339)
		resp, _ = doRaw(env, "/v1/orders?format=csv&"+filters, readOnlyKey)
		rows = readCSV(t, resp.Body)
		w = want(seeded, "demo", func(o *store.Order) bool {
			return (o.Status == "PAID" || o.Status == "REFUNDED" || o.Status == "CLOSED") && !o.CreatedAt.Before(from) && o.CreatedAt.Before(to)
		})
		if len(rows)-1 != len(w) {
			t.Fatalf("filtered export: %d rows, want %d", len(rows)-1, len(w))
		}
		assertCSVMatchesSummary(t, env, rows, filters)
		assertCSVMatchesSummary(t, env, readCSV(t, mustRaw(t, env, "/v1/orders?format=csv").Body), "")
	})
}

// assertCSVMatchesSummary totals the CSV per currency (paid = the amount
// of PAID and REFUNDED orders) and compares with the summary report.
func assertCSVMatchesSummary(t *testing.T, env *gatewaytest.Env, rows [][]string, filters string) {
	t.Helper()
	type tot struct {
		count             int
		paid, refunded    decimal.Decimal
		paidCount, orders int
	}
	csvTot := map[string]*tot{}
	for _, row := range rows[1:] {
		cur := row[7]
		if csvTot[cur] == nil {
			csvTot[cur] = &tot{}
		}
		c := csvTot[cur]
		c.count++
		if row[6] == "PAID" || row[6] == "REFUNDED" {
			c.paid = c.paid.Add(decimal.RequireFromString(row[8]))
			c.paidCount++
		}
		c.refunded = c.refunded.Add(decimal.RequireFromString(row[9]))
	}
	r := env.Do("GET", "/v1/reports/summary?group_by=currency&"+filters, readOnlyKey, nil)
	if r.Status != 200 {
		t.Fatalf("summary: %d %s", r.Status, r.Body)
	}
	data := r.JSON["data"].([]any)
	if len(data) != len(csvTot) {
		t.Fatalf("summary has %d currencies, the CSV %d: %s", len(data), len(csvTot), r.Body)
	}
	for _, d := range data {
		g := d.(map[string]any)
		c := csvTot[g["currency"].(string)]
		paid, refunded, net := decimal.RequireFromString(g["paid"].(string)), decimal.RequireFromString(g["refunded"].(string)), decimal.RequireFromString(g["net"].(string))
		if c == nil || int(g["count"].(float64)) != c.count || int(g["paid_count"].(float64)) != c.paidCount ||
			!paid.Equal(c.paid) || !refunded.Equal(c.refunded) || !net.Equal(c.paid.Sub(c.refunded)) {
			t.Fatalf("summary %v, CSV totals %+v", g, c)
		}
	}
}

func TestSummaryReport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		env := startOn(t, driver, financeConfig, gatewaytest.Options{})
		st := env.App.Store
		at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
		mk := func(no, ch, cur, status string, amount, refunded int64, created string) store.Order {
			c := at(created).UTC()
			o := store.Order{ID: store.NewID("ord"), MerchantID: "demo", ChannelID: ch, Provider: gatewaytest.FakeKind, OutTradeNo: no,
				AmountMinor: amount, RefundedMinor: refunded, Currency: cur, Status: status, RequestHash: "x", ExpiresAt: c.Add(time.Hour),
				Version: 1, CreatedAt: c, UpdatedAt: c}
			if status == "PAID" || status == "REFUNDED" {
				o.PaidAt = &c
			}
			return o
		}
		orders := []store.Order{
			mk("SUM0000001", "fake-1", "CNY", "PAID", 1234, 100, "2025-06-01T10:00:00Z"),
			mk("SUM0000002", "fake-1", "CNY", "REFUNDED", 500, 500, "2025-06-01T17:30:00Z"), // 01:30 on the 2nd in +08:00
			mk("SUM0000003", "fake-1", "CNY", "PAYING", 999, 0, "2025-06-01T11:00:00Z"),
			mk("SUM0000004", "fake-eur", "EUR", "PAID", 250, 0, "2025-06-01T12:00:00Z"),
			mk("SUM0000005", "fake-jpy", "JPY", "PAID", 1500, 0, "2025-06-02T01:00:00Z"),
			mk("SUM0000006", "fake-1", "CNY", "CLOSED", 700, 0, "2025-06-02T02:00:00Z"),
		}
		other := mk("SUM0000007", "fake-2", "CNY", "PAID", 100000, 0, "2025-06-01T10:00:00Z")
		other.MerchantID = "other"
		orders = append(orders, other)
		if err := st.DB().Create(&orders).Error; err != nil {
			t.Fatal(err)
		}
		type row = map[string]any
		tests := []struct {
			query string
			want  []row
		}{
			{"group_by=day", []row{
				{"day": "2025-06-01", "currency": "CNY", "count": 3.0, "paid_count": 2.0, "paid": "17.34", "refunded": "6.00", "net": "11.34"},
				{"day": "2025-06-01", "currency": "EUR", "count": 1.0, "paid_count": 1.0, "paid": "2.50", "refunded": "0.00", "net": "2.50"},
				{"day": "2025-06-02", "currency": "CNY", "count": 1.0, "paid_count": 0.0, "paid": "0.00", "refunded": "0.00", "net": "0.00"},
				{"day": "2025-06-02", "currency": "JPY", "count": 1.0, "paid_count": 1.0, "paid": "1500", "refunded": "0", "net": "1500"},
			}},
			{"group_by=day&tz=%2B08:00", []row{
				{"day": "2025-06-01", "currency": "CNY", "count": 2.0, "paid_count": 1.0, "paid": "12.34", "refunded": "1.00", "net": "11.34"},
				{"day": "2025-06-01", "currency": "EUR", "count": 1.0, "paid_count": 1.0, "paid": "2.50", "refunded": "0.00", "net": "2.50"},
				{"day": "2025-06-02", "currency": "CNY", "count": 2.0, "paid_count": 1.0, "paid": "5.00", "refunded": "5.00", "net": "0.00"},
				{"day": "2025-06-02", "currency": "JPY", "count": 1.0, "paid_count": 1.0, "paid": "1500", "refunded": "0", "net": "1500"},
			}},
			{"group_by=status&currency=CNY", []row{
				{"status": "CLOSED", "currency": "CNY", "count": 1.0, "paid_count": 0.0, "paid": "0.00", "refunded": "0.00", "net": "0.00"},
				{"status": "PAID", "currency": "CNY", "count": 1.0, "paid_count": 1.0, "paid": "12.34", "refunded": "1.00", "net": "11.34"},
				{"status": "PAYING", "currency": "CNY", "count": 1.0, "paid_count": 0.0, "paid": "0.00", "refunded": "0.00", "net": "0.00"},
				{"status": "REFUNDED", "currency": "CNY", "count": 1.0, "paid_count": 1.0, "paid": "5.00", "refunded": "5.00", "net": "0.00"},
			}},
			{"group_by=provider&from=2025-06-01T11:00:00Z&to=2025-06-02T01:00:00Z", []row{
				{"provider": "test_fake", "currency": "CNY", "count": 2.0, "paid_count": 1.0, "paid": "5.00", "refunded": "5.00", "net": "0.00"},
				{"provider": "test_fake", "currency": "EUR", "count": 1.0, "paid_count": 1.0, "paid": "2.50", "refunded": "0.00", "net": "2.50"},
			}},
			{"group_by=currency&status=PAID", []row{
				{"currency": "CNY", "count": 1.0, "paid_count": 1.0, "paid": "12.34", "refunded": "1.00", "net": "11.34"},
				{"currency": "EUR", "count": 1.0, "paid_count": 1.0, "paid": "2.50", "refunded": "0.00", "net": "2.50"},
				{"currency": "JPY", "count": 1.0, "paid_count": 1.0, "paid": "1500", "refunded": "0", "net": "1500"},
			}},
			{"group_by=currency&from=2030-01-01T00:00:00Z", []row{}},
		}
		for _, tt := range tests {
			r := env.Do("GET", "/v1/reports/summary?"+tt.query, readOnlyKey, nil)
			if r.Status != 200 {
				t.Fatalf("%s: %d %s", tt.query, r.Status, r.Body)
			}
			if got, w := fmt.Sprint(r.JSON["data"]), fmt.Sprint(tt.want); got != w {
				t.Fatalf("%s:\n got %s\nwant %s", tt.query, got, w)
			}
		}
		r := env.Do("GET", "/v1/reports/summary?group_by=currency", otherKey, nil)
		if got := fmt.Sprint(r.JSON["data"]); got != fmt.Sprint([]row{{"currency": "CNY", "count": 1.0, "paid_count": 1.0, "paid": "1000.00", "refunded": "0.00", "net": "1000.00"}}) {
			t.Fatalf("other merchant: %s", got)
		}
		// The answer says which zone its days are in; an IANA zone is taken
		// as well as an offset (Shanghai's days are +08:00's).
		byOffset := env.Do("GET", "/v1/reports/summary?group_by=day&tz=%2B08:00", readOnlyKey, nil)
		for query, zone := range map[string]string{"group_by=day": "UTC", "group_by=day&tz=%2B08:00": "+08:00",
			"group_by=day&tz=Asia/Shanghai": "Asia/Shanghai", "group_by=day&tz=Z": "UTC"} {
			r := env.Do("GET", "/v1/reports/summary?"+query, readOnlyKey, nil)
			if r.Status != 200 || r.Str("tz") != zone {
				t.Fatalf("%s: %d tz %q, want %q", query, r.Status, r.Str("tz"), zone)
			}
			if zone == "Asia/Shanghai" && fmt.Sprint(r.JSON["data"]) != fmt.Sprint(byOffset.JSON["data"]) {
				t.Fatalf("Asia/Shanghai days %v differ from +08:00 days %v", r.JSON["data"], byOffset.JSON["data"])
			}
		}
	})
}

// A merchant's configured timezone is its days by default; tz overrides it.
func TestSummaryDaysInTheMerchantsTimezone(t *testing.T) {
	cfg := strings.Replace(financeConfig, "  - id: demo\n", "  - id: demo\n    timezone: Asia/Shanghai\n", 1)
	env := startOn(t, "sqlite", cfg, gatewaytest.Options{})
	c := time.Date(2025, 6, 1, 17, 30, 0, 0, time.UTC) // 01:30 on June 2nd in Shanghai
	o := store.Order{ID: store.NewID("ord"), MerchantID: "demo", ChannelID: "fake-1", Provider: gatewaytest.FakeKind, OutTradeNo: "TZ00000001",
		AmountMinor: 500, Currency: "CNY", Status: "PAID", PaidAt: &c, RequestHash: "x", ExpiresAt: c.Add(time.Hour), Version: 1, CreatedAt: c, UpdatedAt: c}
	if err := env.App.Store.DB().Create(&o).Error; err != nil {
		t.Fatal(err)
	}
	day := func(query string) (string, string) {
		t.Helper()
		r := env.Do("GET", "/v1/reports/summary?"+query, readOnlyKey, nil)
		data, _ := r.JSON["data"].([]any)
		if r.Status != 200 || len(data) != 1 {
			t.Fatalf("%s: %d %s", query, r.Status, r.Body)
		}
		return data[0].(map[string]any)["day"].(string), r.Str("tz")
	}
	if d, tz := day("group_by=day"); d != "2025-06-02" || tz != "Asia/Shanghai" {
		t.Fatalf("merchant's days: %s in %s, want 2025-06-02 in Asia/Shanghai", d, tz)
	}
	if d, tz := day("group_by=day&tz=Z"); d != "2025-06-01" || tz != "UTC" {
		t.Fatalf("tz=Z: %s in %s", d, tz)
	}
	if d, tz := day("group_by=day&tz=America/New_York"); d != "2025-06-01" || tz != "America/New_York" {
		t.Fatalf("tz=America/New_York: %s in %s", d, tz)
	}
	for _, bad := range []string{"Local", "Mars/Olympus", "..%2F..%2Fetc%2Fpasswd", "%2B8"} {
		if r := env.Do("GET", "/v1/reports/summary?group_by=day&tz="+bad, readOnlyKey, nil); r.Status != 400 || r.ErrField() != "tz" {
			t.Fatalf("tz=%s: %d %s", bad, r.Status, r.Body)
		}
	}
}

type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

func doRaw(env *gatewaytest.Env, path, key string) (rawResponse, error) {
	req, _ := http.NewRequest("GET", env.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return rawResponse{resp.StatusCode, resp.Header, body}, err
}

func mustRaw(t *testing.T, env *gatewaytest.Env, path string) rawResponse {
	t.Helper()
	r, err := doRaw(env, path, readOnlyKey)
	if err != nil || r.Status != 200 {
		t.Fatalf("%s: %d %v", path, r.Status, err)
	}
	return r
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// heapWriter is a ResponseWriter that keeps nothing: it counts bytes and,
// at every flush (the export flushes every ExportBatch rows),
// measures the live heap after a collection.
type heapWriter struct {
	header   http.Header
	status   int
	bytes    int64
	lines    int64
	flushes  int
	peakHeap uint64
}

func (w *heapWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}
func (w *heapWriter) WriteHeader(code int) { w.status = code }
func (w *heapWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	w.bytes += int64(len(b))
	w.lines += int64(bytes.Count(b, []byte{'\n'}))
	return len(b), nil
}
func (w *heapWriter) Flush() {
	w.flushes++
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	w.peakHeap = max(w.peakHeap, m.HeapAlloc)
}

type exportStats struct {
	rows                int64 // data rows written
	liveHeap            int64 // peak live heap during the export above the baseline
	allocBytes, mallocs uint64
	bytes               int64
}

func measureExport(t testing.TB, h http.Handler, query string, measureHeap bool) exportStats {
	t.Helper()
	req := httptest.NewRequest("GET", "/v1/orders?format=csv&"+query, nil)
	req.Header.Set("Authorization", "Bearer "+readOnlyKey)
	w := &heapWriter{}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w.peakHeap = before.HeapAlloc
	h.ServeHTTP(&noFlushMeasure{w, measureHeap}, req)
	runtime.ReadMemStats(&after)
	if w.status != 200 {
		t.Fatalf("export status %d", w.status)
	}
	return exportStats{rows: w.lines - 1, liveHeap: int64(w.peakHeap) - int64(before.HeapAlloc),
		allocBytes: after.TotalAlloc - before.TotalAlloc, mallocs: after.Mallocs - before.Mallocs, bytes: w.bytes}
}

// noFlushMeasure switches the heap measurement off (benchmarks).
type noFlushMeasure struct {
	*heapWriter
	measure bool
}

func (w *noFlushMeasure) Flush() {
	if w.measure {
		w.heapWriter.Flush()
	}
}

// The CSV export streams: its live memory does not grow with the number
// of rows, and its allocations per row stay the same.
func TestCSVExportMemoryDoesNotGrowWithRows(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 10,000 orders")
	}
	env := startOn(t, "sqlite", financeConfig, gatewaytest.Options{})
	seedFinance(t, env.App.Store, 10400, finDay0, 9) // 10,041 of the demo merchant
	h := env.App.Handler()
	// The first ~2,000 of them by created_at.
	cut := finDay0.Add(time.Duration(2070/3) * 11 * time.Minute)
	measureExport(t, h, "", false) // warm up (pools, statement caches)
	s2k := measureExport(t, h, "to="+cut.Format(time.RFC3339), true)
	s10k := measureExport(t, h, "", true)
	perRow := func(s exportStats) (float64, float64) {
		return float64(s.allocBytes) / float64(s.rows), float64(s.mallocs) / float64(s.rows)
	}
	b2, a2 := perRow(s2k)
	b10, a10 := perRow(s10k)
	t.Logf("%d rows: peak live heap +%d KB, %.0f B/row, %.1f allocs/row, %d KB of CSV", s2k.rows, s2k.liveHeap>>10, b2, a2, s2k.bytes>>10)
	t.Logf("%d rows: peak live heap +%d KB, %.0f B/row, %.1f allocs/row, %d KB of CSV", s10k.rows, s10k.liveHeap>>10, b10, a10, s10k.bytes>>10)
	if s10k.rows < 10000 || s2k.rows < 1900 || s2k.rows > 2100 {
		t.Fatalf("exported %d and %d rows", s10k.rows, s2k.rows)
	}
	// Buffering the rows would hold ~5x more for 10,000 than for 2,000
	// (several MB); streaming holds one batch either way.
	const slack = 1 << 20
	if s10k.liveHeap > s2k.liveHeap+slack {
		t.Fatalf("live heap grows with the rows: +%d KB for %d rows, +%d KB for %d", s10k.liveHeap>>10, s10k.rows, s2k.liveHeap>>10, s2k.rows)
	}
	if b10 > 1.5*b2 || a10 > 1.5*a2 {
		t.Fatalf("allocations per row grow with the rows: %.0f/%.1f vs %.0f/%.1f", b10, a10, b2, a2)
	}
}

// BenchmarkCSVExport exports 10,041 orders per op and reports the
// allocations per row.
func BenchmarkCSVExport(b *testing.B) {
	dir := b.TempDir()
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"PUBLIC_URL": "http://127.0.0.1:1", "DB_DRIVER": "sqlite", "DB": dir + "/gateway.db"}[k]
		return v, ok
	}
	cfg, err := config.Parse([]byte(financeConfig), lookup)
	if err != nil {
		b.Fatal(err)
	}
	app, err := gateway.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), gateway.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(app.Stop)
	seedFinance(b, app.Store, 10400, finDay0, 9)
	h := app.Handler()
	measureExport(b, h, "", false)
	b.ResetTimer()
	var allocBytes, mallocs uint64
	var rows, out int64
	for i := 0; i < b.N; i++ {
		s := measureExport(b, h, "", false)
		allocBytes += s.allocBytes
		mallocs += s.mallocs
		rows += s.rows
		out += s.bytes
	}
	b.ReportMetric(float64(allocBytes)/float64(rows), "B/row")
	b.ReportMetric(float64(mallocs)/float64(rows), "allocs/row")
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(out)/float64(rows), "csv-bytes/row")
}

func decodeJSON(b []byte, v any) error { return json.Unmarshal(b, v) }

// A CSV export has a time limit (server.export_time_limit): one that has
// not started writing when it runs out answers 503 in the error shape.
func TestCSVExportTimeLimit(t *testing.T) {
	cfg := strings.Replace(financeConfig, `server: {public_url: "${PUBLIC_URL}"}`, `server: {public_url: "${PUBLIC_URL}", export_time_limit: 1ns}`, 1)
	env := startOn(t, "sqlite", cfg, gatewaytest.Options{})
	seedFinance(t, env.App.Store, 50, finDay0, 5)
	r := env.Do("GET", "/v1/orders?format=csv", readOnlyKey, nil)
	if r.Status != 503 || r.ErrCode() != "UNAVAILABLE" || !strings.Contains(string(r.Body), "time limit") {
		t.Fatalf("export past its limit: %d %s", r.Status, r.Body)
	}
}
