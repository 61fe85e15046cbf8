package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// safetyConfig: one fake channel without refund notifications (as cloud
// pay and VR Payment), its provider calls timing out after 300ms, the
// poller on, refunds polled every 50ms (the "fast refund poll").
const safetyConfig = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
poller: {interval: 20ms, refund_call_margin: 200ms}
webhooks: {interval: 50ms}
merchants:
  - id: demo
    api_keys:
      - {key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}
      - {key: "` + readOnlyKey + `", scopes: [orders:read]}
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - {id: fake-1, provider: test_fake, currency: CNY, timeout: 300ms, params: {key: "` + fakeSecret + `", account: "acct-1"}}
`

const fastRefundPoll = 50 * time.Millisecond

func startSafety(t *testing.T, background bool) *gatewaytest.Env {
	t.Helper()
	return gatewaytest.Start(t, safetyConfig, gatewaytest.Options{
		WebhookSchedule: fastRetries, NoBackground: !background,
		Setup: func(app *gateway.App) {
			app.Orders.SetSchedules(orders.Schedules{RefundFast: []time.Duration{fastRefundPoll}})
		},
	})
}

func refundOf(t *testing.T, env *gatewaytest.Env, no string) *store.Refund {
	t.Helper()
	r, err := env.App.Store.RefundByOutRefundNo(context.Background(), "demo", no)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Finding 1 (double refund). The provider takes 600ms, longer than the
// 50ms fast refund poll, and refuses a second call for a refund it is
// still processing. On the old code the poll found nothing yet, sent the
// refund again, took the refusal as final (FAILED, reservation given
// back), dropped the first call's success, and let the merchant refund
// the same money again. Now the poller waits out the first call: the
// provider refunds once and the order's refunded amount is what the
// provider really refunded.
func TestDoubleRefundSlowProviderRefusingDuplicates(t *testing.T) {
	env := startSafety(t, true)
	book := gatewaytest.Book("fake-1")
	payOrder(t, env, "DBLR000001", "10.00", 1000)
	book.SetRefundBehaviour(600*time.Millisecond, true, nil)

	r := env.Do("POST", "/v1/orders/DBLR000001/refunds", demoKey, map[string]any{"out_refund_no": "DBLRREF001", "amount": "10.00"})
	if r.Status != 201 || r.Str("status") != "SUCCEEDED" {
		t.Fatalf("refund: %d %s", r.Status, r.Body)
	}
	// Let several fast polls pass, then the merchant tries again.
	time.Sleep(8 * fastRefundPoll)
	again := env.Do("POST", "/v1/orders/DBLR000001/refunds", demoKey, map[string]any{"out_refund_no": "DBLRREF002", "amount": "10.00"})
	if again.Status != 422 {
		t.Fatalf("second refund of the same money: %d %s", again.Status, again.Body)
	}
	if n := book.RefundCalls("DBLRREF001"); n != 1 {
		t.Errorf("the provider was asked %d times to refund DBLRREF001, want 1", n)
	}
	o := env.Do("GET", "/v1/orders/DBLR000001", demoKey, nil)
	if got, real := o.Str("refunded_amount"), providers.FormatMinor(book.Refunded("DBLR000001"), "CNY"); got != real || real != "10.00" || o.Str("status") != "REFUNDED" {
		t.Fatalf("order refunded %s (%s), provider really refunded %s", got, o.Str("status"), real)
	}
	if rf := refundOf(t, env, "DBLRREF001"); rf.Status != "SUCCEEDED" {
		t.Fatalf("refund is %s", rf.Status)
	}
}

// The same provider, but the first call's answer is lost (a timeout
// after the provider refunded): the refund stays PROCESSING, the poller
// asks only once the call cannot be running any more, finds it done and
// settles it, without a second send.
func TestLostRefundAnswerIsAskedAboutNotResent(t *testing.T) {
	env := startSafety(t, true)
	book := gatewaytest.Book("fake-1")
	payOrder(t, env, "LOST000001", "10.00", 1000)
	book.SetRefundBehaviour(100*time.Millisecond, true, func(string) bool { return true })

	r := env.Do("POST", "/v1/orders/LOST000001/refunds", demoKey, map[string]any{"out_refund_no": "LOSTREF001", "amount": "4.00"})
	if r.Status != 201 || r.Str("status") != "PROCESSING" {
		t.Fatalf("refund: %d %s", r.Status, r.Body)
	}
	if rf := refundOf(t, env, "LOSTREF001"); rf.CallUntil == nil || time.Until(rf.CallUntil.Time) < 300*time.Millisecond {
		t.Fatalf("call window not recorded: %+v", rf.CallUntil)
	}
	env.Receiver.Wait("refund.succeeded", "LOST000001", 1, 5*time.Second)
	if n := book.RefundCalls("LOSTREF001"); n != 1 {
		t.Errorf("%d refund calls, want 1", n)
	}
	if o := env.Do("GET", "/v1/orders/LOST000001", demoKey, nil); o.Str("refunded_amount") != "4.00" {
		t.Fatalf("order: %s", o.Body)
	}
}

// A provider's SUCCEEDED after a local FAILED is applied: the amount
// settles into refunded, the merchant gets refund.succeeded, a warning and
// a metric; never past the order's amount.
func TestLateRefundSuccessIsApplied(t *testing.T) {
	env := startSafety(t, false)
	book := gatewaytest.Book("fake-1")
	ctx := context.Background()
	env.App.Start()
	payOrder(t, env, "LATE000001", "10.00", 1000)
	book.SetErrors(nil, providers.Errorf(providers.ErrCodeRejected, "NOTENOUGH", "balance"))
	if r := env.Do("POST", "/v1/orders/LATE000001/refunds", demoKey, map[string]any{"out_refund_no": "LATEREF001", "amount": "6.00"}); r.Str("status") != "FAILED" {
		t.Fatalf("refused refund: %d %s", r.Status, r.Body)
	}
	book.SetErrors(nil, nil)
	before := counterValue(t, env, "late_refund", "SUCCEEDED", "notify")
	rf := refundOf(t, env, "LATEREF001")
	out, moved, err := env.App.Orders.ApplyRefundState(ctx, rf.ID, providers.RefundState{Status: providers.RefundSucceeded, ProviderStatus: "SUCCESS"}, orders.Source{Name: "notify"})
	if err != nil || !moved || out.Status != "SUCCEEDED" || out.FailureReason != "" {
		t.Fatalf("late success: %v %v %+v", err, moved, out)
	}
	if o := env.Do("GET", "/v1/orders/LATE000001", demoKey, nil); o.Str("refunded_amount") != "6.00" || o.Str("status") != "PAID" {
		t.Fatalf("order after the late success: %s", o.Body)
	}
	ev := env.Receiver.Wait("refund.succeeded", "LATE000001", 1, 3*time.Second)[0]
	if ev.Data["out_refund_no"] != "LATEREF001" {
		t.Fatalf("event: %v", ev.Data)
	}
	if after := counterValue(t, env, "late_refund", "SUCCEEDED", "notify"); after != before+1 {
		t.Fatalf("late_refund metric %v -> %v", before, after)
	}

	// Never past the amount: 6.00 refunded, a second refund of 4.00
	// succeeds; then a 6.00 refund failed here "succeeds late": no room.
	if r := env.Do("POST", "/v1/orders/LATE000001/refunds", demoKey, map[string]any{"out_refund_no": "LATEREF002", "amount": "4.00"}); r.Str("status") != "SUCCEEDED" {
		t.Fatalf("second refund: %s", r.Body)
	}
	// LATEREF003 cannot even be created (nothing left); make a FAILED one
	// on another order and report it late on a full order instead.
	payOrder(t, env, "LATE000002", "5.00", 500)
	book.SetErrors(nil, providers.Errorf(providers.ErrCodeRejected, "NOTENOUGH", "balance"))
	env.Do("POST", "/v1/orders/LATE000002/refunds", demoKey, map[string]any{"out_refund_no": "LATEREF003", "amount": "5.00"})
	book.SetErrors(nil, nil)
	if r := env.Do("POST", "/v1/orders/LATE000002/refunds", demoKey, map[string]any{"out_refund_no": "LATEREF004", "amount": "5.00"}); r.Str("status") != "SUCCEEDED" {
		t.Fatalf("full refund: %s", r.Body)
	}
	rf3 := refundOf(t, env, "LATEREF003")
	if _, _, err := env.App.Orders.ApplyRefundState(ctx, rf3.ID, providers.RefundState{Status: providers.RefundSucceeded}, orders.Source{Name: "notify"}); err == nil {
		t.Fatal("a late success past the order's amount was applied")
	}
	if o := env.Do("GET", "/v1/orders/LATE000002", demoKey, nil); o.Str("refunded_amount") != "5.00" {
		t.Fatalf("order refunded past its amount: %s", o.Body)
	}
	if rf3 = refundOf(t, env, "LATEREF003"); rf3.Status != "FAILED" {
		t.Fatalf("refund %s", rf3.Status)
	}
}

// Finding 5: GET …/refunds/{no}?refresh=true with an orders:read key
// re-submitted a PROCESSING refund. It only asks now.
func TestRefreshNeverResendsARefund(t *testing.T) {
	env := startSafety(t, false)
	book := gatewaytest.Book("fake-1")
	payOrder(t, env, "RFSH000001", "10.00", 1000)
	// The first call never reaches the provider's book (an unknown outcome).
	book.SetErrors(nil, providers.Errorf(providers.ErrCodeUnavailable, "", "timeout"))
	if r := env.Do("POST", "/v1/orders/RFSH000001/refunds", demoKey, map[string]any{"out_refund_no": "RFSHREF001", "amount": "3.00"}); r.Str("status") != "PROCESSING" {
		t.Fatalf("refund: %s", r.Body)
	}
	book.SetErrors(nil, nil)
	// Even after the call window, a reader only asks.
	time.Sleep(time.Until(refundOf(t, env, "RFSHREF001").CallUntil.Time))
	for _, key := range []string{readOnlyKey, demoKey} {
		r := env.Do("GET", "/v1/orders/RFSH000001/refunds/RFSHREF001?refresh=true", key, nil)
		if r.Status != 200 || r.Str("status") != "PROCESSING" {
			t.Fatalf("refresh: %d %s", r.Status, r.Body)
		}
	}
	if n := book.RefundCalls("RFSHREF001"); n != 1 {
		t.Fatalf("refresh sent the refund again: %d calls", n)
	}
	if q := book.CallCount("refundquery"); q != 2 {
		t.Fatalf("refresh asked %d times, want 2", q)
	}
	// A refunds:write repeat of the request does not call either: it makes
	// the refund due for the poller, which re-sends it (once).
	if r := env.Do("POST", "/v1/orders/RFSH000001/refunds", demoKey, map[string]any{"out_refund_no": "RFSHREF001", "amount": "3.00"}); r.Status != 200 {
		t.Fatalf("repeat: %d %s", r.Status, r.Body)
	}
	if n := book.RefundCalls("RFSHREF001"); n != 1 {
		t.Fatalf("the repeat called the provider: %d calls", n)
	}
	env.App.Poller.Round(context.Background())
	if n, st := book.RefundCalls("RFSHREF001"), refundOf(t, env, "RFSHREF001").Status; n != 2 || st != "SUCCEEDED" {
		t.Fatalf("poller re-send: %d calls, refund %s", n, st)
	}
}

// 25 concurrent refunds of one order, with polls, refreshes and a slow
// provider that refuses duplicates in flight and loses some answers:
// never more refunded (by the provider or in the order) than was paid.
func TestConcurrentRefundsNeverExceedPaid(t *testing.T) {
	env := startSafety(t, true)
	book := gatewaytest.Book("fake-1")
	payOrder(t, env, "CONC000001", "25.00", 2500)
	book.SetRefundBehaviour(150*time.Millisecond, true, func(no string) bool { return strings.HasSuffix(no, "3") || strings.HasSuffix(no, "7") })

	const n = 25
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			r := env.Do("POST", "/v1/orders/CONC000001/refunds", demoKey, map[string]any{"out_refund_no": fmt.Sprintf("CONCREF%03d", i), "amount": "2.00"})
			statuses[i] = r.Status
		}(i)
		go func(i int) { // readers refreshing meanwhile
			defer wg.Done()
			time.Sleep(time.Duration(i%5) * 20 * time.Millisecond)
			env.Do("GET", fmt.Sprintf("/v1/orders/CONC000001/refunds/CONCREF%03d?refresh=true", i), readOnlyKey, nil)
		}(i)
	}
	wg.Wait()
	accepted := 0
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			accepted++
		case http.StatusUnprocessableEntity:
		default:
			t.Errorf("refund %d: HTTP %d", i, s)
		}
	}
	if accepted != 12 {
		t.Errorf("%d refunds of 2.00 accepted on 25.00, want 12", accepted)
	}
	// Wait until every accepted refund settled (lost answers are found by polls).
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pending int64
		env.App.Store.DB().Model(&store.Refund{}).Where("status = 'PROCESSING'").Count(&pending)
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d refunds still PROCESSING", pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
	o, err := env.App.Store.OrderByOutTradeNo(context.Background(), "demo", "CONC000001")
	if err != nil {
		t.Fatal(err)
	}
	real := book.Refunded("CONC000001")
	if real > o.AmountMinor || o.RefundedMinor != real || o.RefundPendingMinor != 0 || real != 2400 {
		t.Fatalf("paid %d, provider refunded %d, order says refunded %d (pending %d)", o.AmountMinor, real, o.RefundedMinor, o.RefundPendingMinor)
	}
	for i := 0; i < n; i++ {
		if c := book.RefundCalls(fmt.Sprintf("CONCREF%03d", i)); c > 1 {
			t.Errorf("CONCREF%03d sent %d times", i, c)
		}
	}
}

// Finding 4: a signed report that says paid without the amount marked a
// 999.00 order PAID (the amount check was skipped). Now the gateway asks
// the provider; when its answer lacks the amount too, the order stays
// PAYING.
func TestPaidNeedsAmountAndCurrency(t *testing.T) {
	env := startSafety(t, false)
	book := gatewaytest.Book("fake-1")
	if r := env.Do("POST", "/v1/orders", demoKey, orderBody("NOAMT00001", "999.00")); r.Status != 201 {
		t.Fatalf("create: %s", r.Body)
	}
	noAmount := gatewaytest.FakeNotification{Account: "acct-1", OutTradeNo: "NOAMT00001", Status: "PAID", TransactionID: "4200000001NOAMT"}
	noAmount.Sign(fakeSecret)
	book.OmitPaidAmount(true)
	book.MarkPaid("NOAMT00001")
	if code, _ := notify(t, env, "fake-1", noAmount); code == 200 {
		t.Fatal("a paid report without amount was acknowledged")
	}
	if o := env.Do("GET", "/v1/orders/NOAMT00001", demoKey, nil); o.Str("status") != "PAYING" {
		t.Fatalf("order marked %s without an amount: %s", o.Str("status"), o.Body)
	}
	if r := env.Do("GET", "/v1/orders/NOAMT00001?refresh=true", demoKey, nil); r.Status != 502 {
		t.Fatalf("refresh with an amount-less answer: %d %s", r.Status, r.Body)
	}
	// With the amount in the provider's answer, the same notification
	// settles the order through a query.
	book.OmitPaidAmount(false)
	if code, _ := notify(t, env, "fake-1", noAmount); code != 200 {
		t.Fatalf("notify: %d", code)
	}
	if o := env.Do("GET", "/v1/orders/NOAMT00001", demoKey, nil); o.Str("status") != "PAID" {
		t.Fatalf("order: %s", o.Body)
	}
}

func counterValue(t *testing.T, env *gatewaytest.Env, labels ...string) float64 {
	t.Helper()
	var m dto.Metric
	if err := env.App.Metrics.Transitions.WithLabelValues(labels...).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
