package recon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/gateway/recon"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/csvstatement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// fakeSource is a provider whose statements and query answers the test
// writes: statements per day, orders and refunds the provider knows.
type fakeSource struct {
	mu         sync.Mutex
	statements map[string][]providers.StatementRow
	summary    map[string]providers.StatementSummary
	notReady   map[string]bool
	orders     map[string]providers.OrderState  // by out_trade_no
	refunds    map[string]providers.RefundState // by out_refund_no
	downloads  map[string]int
}

func newFakeSource() *fakeSource {
	return &fakeSource{statements: map[string][]providers.StatementRow{}, summary: map[string]providers.StatementSummary{},
		notReady: map[string]bool{}, orders: map[string]providers.OrderState{}, refunds: map[string]providers.RefundState{},
		downloads: map[string]int{}}
}

var cst = time.FixedZone("Asia/Shanghai", 8*3600)

func (f *fakeSource) Kind() string { return "recon_fake" }
func (f *fakeSource) Capabilities() providers.Capabilities {
	return providers.Capabilities{Query: true, RefundQuery: true, Refund: true, Currencies: []string{"CNY", "USD"}}
}
func (f *fakeSource) CreateOrder(context.Context, providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
	return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeUnsupported, "", "no")
}
func (f *fakeSource) QueryOrder(_ context.Context, ref providers.OrderRef) (providers.OrderState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.orders[ref.OutTradeNo]
	if !ok {
		return st, providers.Errorf(providers.ErrCodeNotFound, "", "unknown")
	}
	return st, nil
}
func (f *fakeSource) CloseOrder(context.Context, providers.OrderRef) error { return nil }
func (f *fakeSource) Refund(context.Context, providers.RefundRequest) (providers.RefundState, error) {
	return providers.RefundState{}, providers.Errorf(providers.ErrCodeUnsupported, "", "no")
}
func (f *fakeSource) QueryRefund(_ context.Context, ref providers.RefundRef) (providers.RefundState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.refunds[ref.OutRefundNo]
	if !ok {
		return st, providers.Errorf(providers.ErrCodeUnavailable, "", "down")
	}
	return st, nil
}
func (f *fakeSource) ParseNotify(context.Context, *http.Request, []byte) (providers.Notification, error) {
	return providers.Notification{}, providers.ErrMalformed
}
func (f *fakeSource) NotifyAck(bool, string) providers.Ack { return providers.Ack{Status: 200} }
func (f *fakeSource) StatementLocation() *time.Location    { return cst }
func (f *fakeSource) ParseStatement(io.Reader, func(providers.StatementRow) error) (providers.StatementSummary, error) {
	return providers.StatementSummary{}, providers.BadStatement("no file format")
}
func (f *fakeSource) DownloadStatement(_ context.Context, day providers.Day, _ *time.Location, fn func(providers.StatementRow) error) (providers.StatementSummary, error) {
	f.mu.Lock()
	f.downloads[day.String()]++
	rows, ok := f.statements[day.String()]
	sum := f.summary[day.String()]
	notReady := f.notReady[day.String()]
	f.mu.Unlock()
	if notReady {
		return sum, fmt.Errorf("%w: creating", providers.ErrStatementNotReady)
	}
	if !ok {
		return sum, fmt.Errorf("%w: none", providers.ErrNoStatement)
	}
	for _, r := range rows {
		if err := fn(r); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

type harness struct {
	st     *store.Store
	svc    *orders.Service
	engine *recon.Engine
	src    *fakeSource
	events func() []store.MerchantEvent
}

var day = providers.Day{Year: 2026, Month: 12, Day: 3}

func newHarness(t *testing.T, driver string) *harness {
	t.Helper()
	st := storetest.Open(t, driver, store.Options{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	src := newFakeSource()
	ch := &orders.Channel{Channel: providers.Channel{ID: "fake", MerchantID: "m1", Kind: "recon_fake", Currency: "CNY"}, Poll: "auto", Provider: src, Caps: src.Capabilities()}
	if err := st.SyncConfig(context.Background(), []store.Merchant{{ID: "m1"}}, []store.Channel{{ID: "fake", MerchantID: "m1", Provider: "recon_fake", Currency: "CNY"}}); err != nil {
		t.Fatal(err)
	}
	svc := orders.New(st, []*orders.Merchant{{ID: "m1", WebhookURL: "https://merchant.example/hook", WebhookSecret: "0123456789abcdef0123"}}, []*orders.Channel{ch}, log)
	e := recon.New(svc, st, log, map[string]recon.ChannelSettings{}, recon.Options{Batch: 3}) // tiny batches: paging is exercised
	e.SetClock(func() time.Time { return day.AddDays(2).Start(cst).Add(11 * time.Hour) })
	return &harness{st: st, svc: svc, engine: e, src: src, events: func() []store.MerchantEvent {
		var out []store.MerchantEvent
		_ = st.DB().Order("created_at, id").Find(&out).Error
		return out
	}}
}

func cny(minor int64) providers.Money { return providers.Money{Minor: minor, Currency: "CNY"} }

// order stores a gateway order; paidAt zero leaves it PAYING.
func (h *harness) order(t *testing.T, no string, amount int64, currency string, paidAt time.Time) *store.Order {
	t.Helper()
	now := day.Start(cst).UTC()
	o := &store.Order{ID: store.NewID("ord"), MerchantID: "m1", ChannelID: "fake", Provider: "recon_fake", OutTradeNo: no,
		AmountMinor: amount, Currency: currency, Status: "PAYING", RequestHash: "h", ExpiresAt: now.Add(48 * time.Hour), CreatedAt: now, UpdatedAt: now}
	if !paidAt.IsZero() {
		p := paidAt.UTC()
		o.Status, o.PaidAt = "PAID", &p
	}
	if err := h.st.InsertOrder(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return o
}

// refund stores a gateway refund of o (reserving its amount when PROCESSING).
func (h *harness) refund(t *testing.T, o *store.Order, no string, amount int64, status string, at time.Time) *store.Refund {
	t.Helper()
	ctx := context.Background()
	r := &store.Refund{ID: store.NewID("rfd"), OrderID: o.ID, MerchantID: "m1", ChannelID: "fake", OutRefundNo: no, AmountMinor: amount,
		Currency: o.Currency, Status: status, RequestHash: "h", CreatedAt: at.UTC(), UpdatedAt: at.UTC()}
	if err := h.st.InsertRefund(ctx, r); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.st.ReserveRefund(ctx, o.ID, amount, []string{"PAID"}); err != nil || !ok {
		t.Fatalf("reserve: %v %v", ok, err)
	}
	if status == "SUCCEEDED" {
		if err := h.st.SettleRefundAmount(ctx, o.ID, amount, true, "REFUNDED"); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func pay(no string, amount providers.Money, at time.Time) providers.StatementRow {
	return providers.StatementRow{Kind: providers.StatementPayment, Time: at, OutTradeNo: no, TransactionID: "42" + no, Status: "PAID",
		ProviderStatus: "SUCCESS", Amount: amount, Settled: amount, Fee: decimal.RequireFromString("0.01")}
}

func refundRow(no, rno string, amount providers.Money, status string, at time.Time) providers.StatementRow {
	return providers.StatementRow{Kind: providers.StatementRefund, Time: at, OutTradeNo: no, OutRefundNo: rno, ProviderRefundNo: "50" + rno,
		Status: status, ProviderStatus: "REFUND/" + status, Amount: amount, Settled: amount, Fee: decimal.RequireFromString("-0.01")}
}

func (h *harness) differences(t *testing.T, run *store.ReconRun) map[string][]store.ReconDifference {
	t.Helper()
	diffs, err := h.st.ReconDifferences(context.Background(), run.ID, "", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]store.ReconDifference{}
	for _, d := range diffs {
		key := d.OutTradeNo
		if d.OutRefundNo != "" {
			key = d.OutRefundNo
		}
		out[key] = append(out[key], d)
	}
	return out
}

func counts(r *store.ReconRun) string {
	return fmt.Sprintf("matched=%d gateway=%d provider=%d amount=%d status=%d healed=%d", r.Matched, r.MissingAtGateway, r.MissingAtProvider,
		r.AmountMismatch, r.StatusMismatch, r.Healed)
}

// Refunds are reconciled like payments: a refund the statement shows
// SUCCESS while the gateway still has it PROCESSING is healed by asking
// the provider (refund.succeeded goes out); one made outside the gateway
// is missing_at_gateway (its order named); one the gateway says
// SUCCEEDED but the statement lacks is missing_at_provider; a refund
// amount that differs is an amount_mismatch.
func TestRefunds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		h := newHarness(t, driver)
		at := day.Start(cst).Add(10 * time.Hour)
		a := h.order(t, "ORDERA", 1000, "CNY", at)
		b := h.order(t, "ORDERB", 1000, "CNY", at)
		c := h.order(t, "ORDERC", 1000, "CNY", at)
		h.refund(t, a, "REFUNDA1", 300, "PROCESSING", at.Add(time.Hour))
		h.refund(t, b, "REFUNDB1", 200, "SUCCEEDED", at.Add(time.Hour))
		h.refund(t, c, "REFUNDC1", 100, "SUCCEEDED", at.Add(time.Hour))
		h.src.refunds["REFUNDA1"] = providers.RefundState{Status: providers.RefundSucceeded, OutRefundNo: "REFUNDA1", Amount: cny(300)}
		h.src.statements[day.String()] = []providers.StatementRow{
			pay("ORDERA", cny(1000), at), pay("ORDERB", cny(1000), at), pay("ORDERC", cny(1000), at),
			refundRow("ORDERA", "REFUNDA1", cny(300), "SUCCEEDED", at.Add(time.Hour)),
			refundRow("ORDERB", "PORTAL1", cny(150), "SUCCEEDED", at.Add(2*time.Hour)),
			refundRow("ORDERC", "REFUNDC1", cny(90), "SUCCEEDED", at.Add(time.Hour)),
		}
		run, err := h.engine.Start(context.Background(), "m1", "fake", day)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != store.ReconDone || counts(run) != "matched=3 gateway=1 provider=1 amount=1 status=1 healed=1" {
			t.Fatalf("%s %s (%s)", run.Status, counts(run), run.Error)
		}
		d := h.differences(t, run)
		if x := d["REFUNDA1"]; len(x) != 1 || x[0].Kind != store.DiffStatusMismatch || !x[0].Healed || x[0].GatewayStatus != "PROCESSING" {
			t.Errorf("REFUNDA1 %+v", x)
		}
		if x := d["PORTAL1"]; len(x) != 1 || x[0].Kind != store.DiffMissingAtGateway || !strings.Contains(x[0].Note, "ORDERB") || x[0].GatewayStatus != "" {
			t.Errorf("PORTAL1 %+v", x)
		}
		if x := d["REFUNDB1"]; len(x) != 1 || x[0].Kind != store.DiffMissingAtProvider || x[0].OutTradeNo != "ORDERB" {
			t.Errorf("REFUNDB1 %+v", x)
		}
		if x := d["REFUNDC1"]; len(x) != 1 || x[0].Kind != store.DiffAmountMismatch || x[0].GatewayAmountMinor != 100 || x[0].ProviderAmountMinor != 90 {
			t.Errorf("REFUNDC1 %+v", x)
		}
		r, _ := h.st.RefundByOutRefundNo(context.Background(), "m1", "REFUNDA1")
		o, _ := h.st.OrderByID(context.Background(), a.ID)
		if r.Status != "SUCCEEDED" || o.RefundedMinor != 300 || o.RefundPendingMinor != 0 {
			t.Errorf("healed refund %s, order refunded %d pending %d", r.Status, o.RefundedMinor, o.RefundPendingMinor)
		}
		var types []string
		for _, e := range h.events() {
			types = append(types, e.Type)
		}
		if strings.Join(types, ",") != "refund.succeeded,reconciliation.completed" {
			t.Errorf("events %v", types)
		}
	})
}

// Currencies are never added: a statement in two currencies has its
// totals per currency, and the same number in another currency is an
// amount_mismatch.
func TestCurrenciesApart(t *testing.T) {
	h := newHarness(t, "sqlite")
	at := day.Start(cst).Add(9 * time.Hour)
	h.order(t, "ORDERCNY", 1000, "CNY", at)
	h.order(t, "ORDERUSD", 1000, "USD", at)
	h.order(t, "ORDERMIX", 500, "CNY", at)
	usd := func(m int64) providers.Money { return providers.Money{Minor: m, Currency: "USD"} }
	h.src.statements[day.String()] = []providers.StatementRow{
		pay("ORDERCNY", cny(1000), at), pay("ORDERUSD", usd(1000), at), pay("ORDERMIX", usd(500), at),
	}
	run, err := h.engine.Start(context.Background(), "m1", "fake", day)
	if err != nil {
		t.Fatal(err)
	}
	if counts(run) != "matched=2 gateway=0 provider=0 amount=1 status=0 healed=0" {
		t.Fatalf("%s", counts(run))
	}
	v := recon.View(run)
	if v.Statement.Currency != nil || v.Statement.Payments != nil || len(v.Statement.ByCurrency) != 2 {
		t.Fatalf("statement %+v", v.Statement)
	}
	byCur := map[string]recon.CurrencyTotals{}
	for _, c := range v.Statement.ByCurrency {
		byCur[c.Currency] = c
	}
	if byCur["CNY"].Payments.Amount != "10.00" || byCur["USD"].Payments.Amount != "15.00" || byCur["USD"].Payments.Count != 2 || byCur["CNY"].Fees != "0.01" {
		t.Fatalf("by currency %+v", byCur)
	}
	if d := h.differences(t, run)["ORDERMIX"]; len(d) != 1 || d[0].GatewayCurrency != "CNY" || d[0].ProviderCurrency != "USD" {
		t.Fatalf("ORDERMIX %+v", d)
	}
}

// A payment near midnight that the statement lacks is looked for on the
// neighbouring day's statement first: found there, it is no difference;
// found nowhere, it is missing_at_provider noted "near day boundary".
// The previous day comes from its stored run, the next from the provider.
func TestDayBoundary(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		h := newHarness(t, driver)
		ctx := context.Background()
		start, end := day.Start(cst), day.End(cst)
		// The previous day's run holds EARLY (paid at 00:01:30 of day, booked on the day before).
		prev := day.AddDays(-1)
		h.src.statements[prev.String()] = []providers.StatementRow{pay("EARLY", cny(100), start.Add(-10*time.Second))}
		h.order(t, "EARLY", 100, "CNY", start.Add(90*time.Second))
		if r, err := h.engine.Start(ctx, "m1", "fake", prev); err != nil || r.Status != store.ReconDone {
			t.Fatalf("previous day: %v %+v", err, r)
		}
		h.order(t, "LATE", 200, "CNY", end.Add(-2*time.Minute))   // on the next day's statement
		h.order(t, "LOST", 300, "CNY", end.Add(-1*time.Minute))   // on neither
		h.order(t, "NOON", 400, "CNY", start.Add(12*time.Hour))   // not near midnight: missing outright
		h.order(t, "MIDDAY", 500, "CNY", start.Add(13*time.Hour)) // on the statement
		h.src.statements[day.String()] = []providers.StatementRow{pay("MIDDAY", cny(500), start.Add(13*time.Hour))}
		h.src.statements[day.AddDays(1).String()] = []providers.StatementRow{pay("LATE", cny(200), end.Add(5*time.Second))}
		run, err := h.engine.Start(ctx, "m1", "fake", day)
		if err != nil {
			t.Fatal(err)
		}
		if counts(run) != "matched=1 gateway=0 provider=2 amount=0 status=0 healed=0" {
			t.Fatalf("%s", counts(run))
		}
		d := h.differences(t, run)
		if len(d["EARLY"]) != 0 || len(d["LATE"]) != 0 {
			t.Errorf("neighbouring-day payments listed: %+v", d)
		}
		if x := d["LOST"]; len(x) != 1 || !strings.Contains(x[0].Note, "near day boundary") || !strings.Contains(x[0].Note, day.AddDays(1).String()) {
			t.Errorf("LOST %+v", x)
		}
		if x := d["NOON"]; len(x) != 1 || strings.Contains(x[0].Note, "boundary") {
			t.Errorf("NOON %+v", x)
		}
		if h.src.downloads[day.AddDays(1).String()] != 1 || h.src.downloads[prev.String()] != 1 {
			t.Errorf("downloads %v: the previous day's stored rows should serve, the next day's statement read once", h.src.downloads)
		}
	})
}

// A statement whose rows do not add up to its own summary line (a
// download cut short) fails instead of reporting half a day; a statement
// not generated yet waits; none at all still lists the gateway's paid
// orders as missing at the provider.
func TestStatementOutcomes(t *testing.T) {
	h := newHarness(t, "sqlite")
	ctx := context.Background()
	at := day.Start(cst).Add(9 * time.Hour)
	h.order(t, "PAIDONE", 1000, "CNY", at)
	h.src.statements[day.String()] = []providers.StatementRow{pay("PAIDONE", cny(1000), at)}
	h.src.summary[day.String()] = providers.StatementSummary{Present: true, Rows: 2, Payments: decimal.RequireFromString("20.00"), Fees: decimal.RequireFromString("0.01")}
	run, err := h.engine.Start(ctx, "m1", "fake", day)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != store.ReconFailed || !strings.Contains(run.Error, "summary line") || !strings.Contains(run.Error, "1 rows, the summary says 2") {
		t.Fatalf("%s: %s", run.Status, run.Error)
	}

	h.src.notReady[day.String()] = true
	run, _ = h.engine.Start(ctx, "m1", "fake", day)
	// Due again in retry_every on the database's clock (not the engine's).
	if run.Status != store.ReconWaiting || run.NextTryAt == nil || time.Until(run.NextTryAt.Time) < 29*time.Minute ||
		time.Until(run.NextTryAt.Time) > 30*time.Minute || run.FinishedAt != nil {
		t.Fatalf("waiting: %+v", run)
	}

	other := day.AddDays(-1)
	h.order(t, "PAIDYDAY", 700, "CNY", other.Start(cst).Add(10*time.Hour))
	run, _ = h.engine.Start(ctx, "m1", "fake", other)
	if run.Status != store.ReconNoStatement || run.MissingAtProvider != 1 {
		t.Fatalf("no statement: %s %s", run.Status, counts(run))
	}
	var events int64
	h.st.DB().Model(&store.MerchantEvent{}).Where("type = ?", recon.EventCompleted).Count(&events)
	if events != 2 { // the failed and the no-statement run; the waiting one is not done
		t.Fatalf("%d reconciliation.completed", events)
	}
}

func (h *harness) engineNow() time.Time { return day.AddDays(2).Start(cst).Add(11 * time.Hour).UTC() }

// An upload over the size limit is a 413, a file that does not read a 400
// naming the body; both leave a FAILED run with no rows behind.
func TestUploadRefusals(t *testing.T) {
	h := newHarness(t, "sqlite")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	format := &csvstatement.Format{Mapping: csvstatement.Mapping{OutTradeNo: "order", Amount: "amount", Time: "time"}, Location: cst, Currency: "CNY"}
	e := recon.New(h.svc, h.st, log, map[string]recon.ChannelSettings{"fake": {Upload: format}}, recon.Options{})
	e.SetClock(func() time.Time { return h.engineNow() })
	file := "order,amount,time\nORDER1,1.00,2026-12-03 10:00:00\nORDER2,2.00,2026-12-03 11:00:00\n"
	body := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(file)), 30)
	run, err := e.StartUpload(context.Background(), "m1", "fake", day, body)
	var ae *orders.Error
	if !errors.As(err, &ae) || ae.Code != orders.CodeTooLarge || run == nil || run.Status != store.ReconFailed {
		t.Fatalf("too large: %v %+v", err, run)
	}
	run, err = e.StartUpload(context.Background(), "m1", "fake", day, strings.NewReader("order,amount,time\nORDER1,1e2,2026-12-03 10:00:00\n"))
	if !errors.As(err, &ae) || ae.Code != orders.CodeInvalid || ae.Field != "body" || !strings.Contains(ae.Message, "line 2") || run.Status != store.ReconFailed {
		t.Fatalf("bad amount: %v %+v", err, run)
	}
	var rows int64
	h.st.DB().Model(&store.ReconRow{}).Count(&rows)
	if rows != 0 {
		t.Fatalf("%d statement rows kept from refused uploads", rows)
	}
	// Without a mapping the provider's own format reads uploads: the fake's refuses every file.
	if _, err := h.engine.StartUpload(context.Background(), "m1", "fake", day, strings.NewReader(file)); !errors.As(err, &ae) || ae.Code != orders.CodeInvalid {
		t.Fatalf("no format: %v", err)
	}
}
