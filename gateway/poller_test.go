package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// pollConfig has two fake channels: fake-1 whose provider sends no
// callbacks (the poller owns it: fast schedule) and fake-n whose provider
// notifies (backstop schedule). The poller runs every 20 ms.
const pollConfig = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
poller: {interval: 20ms, batch: 50, concurrency: 4}
webhooks: {interval: 20ms}
merchants:
  - id: demo
    api_keys:
      - {key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}
      - {key: "` + readOnlyKey + `", scopes: [orders:read]}
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - {id: fake-1, provider: test_fake, currency: CNY, params: {key: "` + fakeSecret + `", account: "acct-1", notify: "false"}}
      - {id: fake-n, provider: test_fake, currency: CNY, params: {key: "` + fakeSecret + `", account: "acct-1"}}
  - id: other
    api_keys: [{key: "` + otherKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    channels:
      - {id: fake-2, provider: test_fake, currency: CNY, params: {key: "k2", account: "acct-2"}}
`

// pollConfigLimit is pollConfig with another per-channel concurrency.
func pollConfigLimit(n int) string {
	return strings.Replace(pollConfig, "concurrency: 4", fmt.Sprintf("concurrency: %d", n), 1)
}

const ms = time.Millisecond

// shortSchedules makes every poll and retry due within tens of
// milliseconds.
func shortSchedules(app *gateway.App) {
	app.Orders.SetSchedules(orders.Schedules{Backstop: []time.Duration{40 * ms}, Fast: []time.Duration{20 * ms}, Refund: []time.Duration{20 * ms}, RefundFast: []time.Duration{20 * ms}})
	app.Dispatcher.SetSchedule([]time.Duration{10 * ms, 10 * ms, 10 * ms, 10 * ms})
}

func createOn(t *testing.T, env *gatewaytest.Env, channel, no, amount string) gatewaytest.Response {
	t.Helper()
	body := orderBody(no, amount)
	body["channel"] = channel
	r := env.Do("POST", "/v1/orders", demoKey, body)
	if r.Status != 201 {
		t.Fatalf("create %s: %d %s", no, r.Status, r.Body)
	}
	return r
}

// eventually waits for cond, failing with what() after within.
func eventually(t *testing.T, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, what())
		}
		time.Sleep(10 * ms)
	}
}

func orderRow(t *testing.T, st *store.Store, no string) *store.Order {
	t.Helper()
	o, err := st.OrderByOutTradeNo(context.Background(), "demo", no)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// A provider without callbacks: the poller alone finds the payment, and
// the merchant hears of it once.
func TestPollerFindsPaymentOfProviderWithoutCallbacks(t *testing.T) {
	env := gatewaytest.Start(t, pollConfig, gatewaytest.Options{Setup: shortSchedules})
	createOn(t, env, "fake-1", "NOCB000001", "3.21")
	txn := gatewaytest.Book("fake-1").MarkPaid("NOCB000001") // no notification is sent
	o := env.WaitStatus(demoKey, "NOCB000001", "PAID", 3*time.Second)
	if o.Str("transaction_id") != txn || o.JSON["paid_at"] == nil {
		t.Fatalf("order: %s", o.Body)
	}
	env.Receiver.Wait("order.paid", "NOCB000001", 1, 3*time.Second)
	time.Sleep(150 * ms) // more poll rounds and dispatcher rounds
	if got := env.Receiver.Matching("order.paid", "NOCB000001"); len(got) != 1 || !got[0].SignatureOK {
		t.Fatalf("merchant got %d order.paid events, want exactly 1", len(got))
	}
	if n := count(t, env, &store.Notification{}, ""); n != 0 {
		t.Fatalf("%d notifications recorded; the poller alone should have found the payment", n)
	}
	if row := orderRow(t, env.App.Store, "NOCB000001"); row.NextPollAt != nil || row.LeaseToken != "" {
		t.Fatalf("a paid order is still scheduled: next %v lease %q", row.NextPollAt, row.LeaseToken)
	}
}

// v2PollConfig is v2Config with the poller running.
const v2PollConfig = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
sandbox: true
poller: {interval: 20ms}
webhooks: {interval: 20ms}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - id: wxv2
        provider: wechat_v2
        base_url: sandbox
        params: {appid: "wxd930ea5d5a258f4f", mch_id: "10000100", api_key: "` + v2Key + `", sign_type: MD5}
`

// A lost callback on a provider that notifies (WeChat v2 sandbox paying
// with skip_notify) is found by the backstop poll.
func TestBackstopPollFindsLostCallback(t *testing.T) {
	env := gatewaytest.Start(t, v2PollConfig, gatewaytest.Options{Setup: func(app *gateway.App) {
		app.Orders.SetSchedules(orders.Schedules{Backstop: []time.Duration{150 * ms}})
	}})
	if r := env.Do("POST", "/v1/orders", demoKey, v2Order("wxv2", "LOST000001", "8.88")); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if r := env.Pay("wxv2", "LOST000001", map[string]any{"skip_notify": true}); r.Status != 200 {
		t.Fatalf("sandbox pay: %d %s", r.Status, r.Body)
	}
	// No callback: still PAYING until the backstop poll is due.
	if o := env.Do("GET", "/v1/orders/LOST000001", demoKey, nil); o.Str("status") != "PAYING" {
		t.Fatalf("status before the backstop poll: %s", o.Body)
	}
	paid := env.WaitStatus(demoKey, "LOST000001", "PAID", 3*time.Second)
	if txn := paid.Str("transaction_id"); len(txn) < 4 || txn[:4] != "4200" {
		t.Fatalf("transaction id from the query: %s", paid.Body)
	}
	env.Receiver.Wait("order.paid", "LOST000001", 1, 3*time.Second)
	time.Sleep(100 * ms)
	if got := env.Receiver.Matching("order.paid", "LOST000001"); len(got) != 1 {
		t.Fatalf("merchant got %d order.paid, want 1", len(got))
	}
	if n := count(t, env, &store.Notification{}, ""); n != 0 {
		t.Fatalf("%d notifications arrived; the callback should have been lost", n)
	}
}

// makeExpired moves an order's expiry into the past and makes it due.
func makeExpired(t *testing.T, st *store.Store, no string) {
	t.Helper()
	now := time.Now().UTC()
	err := st.DB().Model(&store.Order{}).Where("merchant_id = 'demo' AND out_trade_no = ?", no).
		Updates(map[string]any{"expires_at": now.Add(-time.Second), "next_poll_ms": store.DueNow()}).Error
	if err != nil {
		t.Fatal(err)
	}
}

// At expiry the poller closes the order at the provider, then locally,
// and tells the merchant.
func TestExpiredOrderIsClosedAtProviderAndLocally(t *testing.T) {
	t.Run("wechat_v2 sandbox", func(t *testing.T) {
		env := gatewaytest.Start(t, v2PollConfig, gatewaytest.Options{})
		if r := env.Do("POST", "/v1/orders", demoKey, v2Order("wxv2", "EXPV200001", "1.00")); r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		makeExpired(t, env.App.Store, "EXPV200001")
		env.WaitStatus(demoKey, "EXPV200001", "CLOSED", 3*time.Second)
		env.Receiver.Wait("order.closed", "EXPV200001", 1, 3*time.Second)
		// The sandbox (the provider) has it closed too.
		ch, _ := env.App.Orders.Channel("wxv2")
		st, err := ch.Provider.QueryOrder(context.Background(), orders.OrderRef(orderRow(t, env.App.Store, "EXPV200001")))
		if err != nil || st.Status != providers.OrderClosed {
			t.Fatalf("provider's view: %v %v, want CLOSED", st.Status, err)
		}
		// A payer can no longer pay it.
		if r := env.Pay("wxv2", "EXPV200001", nil); r.Status == 200 {
			t.Fatalf("sandbox paid a closed order: %s", r.Body)
		}
	})
	t.Run("fake provider", func(t *testing.T) {
		env := gatewaytest.Start(t, pollConfig, gatewaytest.Options{Setup: shortSchedules})
		book := gatewaytest.Book("fake-n")
		createOn(t, env, "fake-n", "EXPF000001", "1.00")
		// Paid in the last second: the provider's word wins over the expiry.
		createOn(t, env, "fake-n", "EXPF000002", "1.00")
		book.MarkPaid("EXPF000002")
		// Never reached the provider (the create failed): closed locally.
		book.SetErrors(providers.Unavailable(errors.New("connection reset")), nil)
		if r := env.Do("POST", "/v1/orders", demoKey, map[string]any{"channel": "fake-n", "out_trade_no": "EXPF000003", "amount": "1.00",
			"currency": "CNY", "description": "x", "payer": map[string]any{"openid": "o"}}); r.Status != 502 {
			t.Fatalf("create with the provider down: %d %s", r.Status, r.Body)
		}
		book.SetErrors(nil, nil)
		for _, no := range []string{"EXPF000001", "EXPF000002", "EXPF000003"} {
			makeExpired(t, env.App.Store, no)
		}
		env.WaitStatus(demoKey, "EXPF000001", "CLOSED", 3*time.Second)
		env.WaitStatus(demoKey, "EXPF000002", "PAID", 3*time.Second)
		env.WaitStatus(demoKey, "EXPF000003", "CLOSED", 3*time.Second)
		if book.Status("EXPF000001") != providers.OrderClosed {
			t.Fatalf("provider still has EXPF000001 as %s", book.Status("EXPF000001"))
		}
		env.Receiver.Wait("order.closed", "EXPF000001", 1, 3*time.Second)
		env.Receiver.Wait("order.closed", "EXPF000003", 1, 3*time.Second)
		env.Receiver.Wait("order.paid", "EXPF000002", 1, 3*time.Second)
		if got := env.Receiver.Matching("order.closed", "EXPF000002"); len(got) != 0 {
			t.Fatal("a paid order was reported closed")
		}
	})
}

// The poller never has more than the configured number of provider calls
// in flight per channel.
func TestPollerPerChannelConcurrencyLimit(t *testing.T) {
	env := gatewaytest.Start(t, pollConfigLimit(3), gatewaytest.Options{NoBackground: true})
	book := gatewaytest.Book("fake-1")
	var nos []string
	for i := 0; i < 24; i++ {
		no := fmt.Sprintf("LIM%07d", i)
		createOn(t, env, "fake-1", no, "1.00")
		nos = append(nos, no)
	}
	if err := env.App.Store.DB().Model(&store.Order{}).Where("1 = 1").Update("next_poll_ms", store.DueNow()).Error; err != nil {
		t.Fatal(err)
	}
	book.SetQueryBehaviour(15*ms, nil, nil)
	if n := env.App.Poller.Round(context.Background()); n != 24 {
		t.Fatalf("round processed %d orders, want 24", n)
	}
	if got := book.MaxConcurrentQueriesAll(); got != 3 {
		t.Fatalf("at most %d queries in flight on the channel, want exactly the limit 3", got)
	}
	for _, no := range nos {
		if book.Queries(no) != 1 {
			t.Fatalf("%s queried %d times", no, book.Queries(no))
		}
	}
}

// An open circuit breaker postpones the poll without spending an attempt,
// both for the query and for the close at expiry; a failed call spends one.
func TestBreakerOpenPostponesWithoutSpendingAttempts(t *testing.T) {
	env := gatewaytest.Start(t, pollConfig, gatewaytest.Options{NoBackground: true})
	st := env.App.Store
	book := gatewaytest.Book("fake-1")
	breaker := &providers.Error{Code: providers.ErrCodeUnavailable, Err: providers.ErrBreakerOpen}
	createOn(t, env, "fake-1", "BRK0000001", "1.00")
	due := func() {
		t.Helper()
		if err := st.DB().Model(&store.Order{}).Where("1 = 1").Update("next_poll_ms", store.DueNow()).Error; err != nil {
			t.Fatal(err)
		}
	}
	round := func() (*store.Order, time.Time) {
		t.Helper()
		due()
		start := time.Now()
		if n := env.App.Poller.Round(context.Background()); n != 1 {
			t.Fatalf("round processed %d", n)
		}
		return orderRow(t, st, "BRK0000001"), start
	}

	book.SetQueryBehaviour(0, breaker, nil)
	o, start := round()
	if o.PollAttempts != 0 || o.NextPollAt == nil || o.NextPollAt.Sub(start) < 25*time.Second || o.LeaseToken != "" {
		t.Fatalf("breaker open on query: attempts %d next %v (want +30s) lease %q", o.PollAttempts, o.NextPollAt, o.LeaseToken)
	}

	book.SetQueryBehaviour(0, providers.Unavailable(errors.New("timeout")), nil)
	if o, _ = round(); o.PollAttempts != 1 {
		t.Fatalf("a failed query: attempts %d, want 1", o.PollAttempts)
	}

	// At expiry: the query answers, the close meets an open breaker.
	book.SetQueryBehaviour(0, nil, breaker)
	makeExpired(t, st, "BRK0000001")
	o, start = round()
	if o.Status != "PAYING" || o.PollAttempts != 1 || o.NextPollAt == nil || o.NextPollAt.Sub(start) < 25*time.Second {
		t.Fatalf("breaker open on close: status %s attempts %d next %v", o.Status, o.PollAttempts, o.NextPollAt)
	}
	book.SetQueryBehaviour(0, nil, nil)
	if o, _ = round(); o.Status != "CLOSED" || o.NextPollAt != nil {
		t.Fatalf("after the breaker closed: %s next %v", o.Status, o.NextPollAt)
	}
}

// Refunds in PROCESSING are polled until the provider settles them.
func TestPollerSettlesProcessingRefunds(t *testing.T) {
	env := gatewaytest.Start(t, pollConfig, gatewaytest.Options{Setup: shortSchedules})
	book := gatewaytest.Book("fake-1")
	createOn(t, env, "fake-1", "RFPL000001", "10.00")
	book.MarkPaid("RFPL000001")
	env.WaitStatus(demoKey, "RFPL000001", "PAID", 3*time.Second)
	book.SetRefundResult(providers.RefundProcessing)
	r := env.Do("POST", "/v1/orders/RFPL000001/refunds", demoKey, map[string]any{"out_refund_no": "RFPL-R0001", "amount": "4.00"})
	if r.Status != 201 || r.Str("status") != "PROCESSING" {
		t.Fatalf("refund: %d %s", r.Status, r.Body)
	}
	time.Sleep(100 * ms) // polled while the provider still says PROCESSING
	if g := env.Do("GET", "/v1/orders/RFPL000001/refunds/RFPL-R0001", demoKey, nil); g.Str("status") != "PROCESSING" {
		t.Fatalf("refund settled early: %s", g.Body)
	}
	if book.CallCount("refundquery") == 0 {
		t.Fatal("the refund was not polled")
	}
	book.SetRefundStatus("RFPL-R0001", providers.RefundSucceeded)
	eventually(t, 3*time.Second, func() bool {
		return env.Do("GET", "/v1/orders/RFPL000001/refunds/RFPL-R0001", demoKey, nil).Str("status") == "SUCCEEDED"
	}, func() string { return "refund not SUCCEEDED" })
	if o := env.Do("GET", "/v1/orders/RFPL000001", demoKey, nil); o.Str("refunded_amount") != "4.00" || o.Str("status") != "PAID" {
		t.Fatalf("order after the refund: %s", o.Body)
	}
	env.Receiver.Wait("refund.succeeded", "RFPL000001", 1, 3*time.Second)
	time.Sleep(100 * ms)
	if got := env.Receiver.Matching("refund.succeeded", "RFPL000001"); len(got) != 1 {
		t.Fatalf("%d refund.succeeded events, want 1", len(got))
	}
}

// GET ?refresh=true asks the provider synchronously through the same path.
func TestRefreshAsksTheProvider(t *testing.T) {
	env := gatewaytest.Start(t, pollConfig, gatewaytest.Options{NoBackground: true})
	createOn(t, env, "fake-n", "RFSH000001", "2.00")
	gatewaytest.Book("fake-n").MarkPaid("RFSH000001")
	if o := env.Do("GET", "/v1/orders/RFSH000001", demoKey, nil); o.Str("status") != "PAYING" {
		t.Fatalf("without refresh: %s", o.Body)
	}
	if o := env.Do("GET", "/v1/orders/RFSH000001?refresh=true", readOnlyKey, nil); o.Status != 200 || o.Str("status") != "PAID" {
		t.Fatalf("with refresh: %d %s", o.Status, o.Body)
	}
	if n := count(t, env, &store.MerchantEvent{}, "type = 'order.paid'"); n != 1 {
		t.Fatalf("%d order.paid events written, want 1", n)
	}
}

// Stopping the gateway finishes the polls in flight and releases the
// claimed rows not yet started, at once, instead of working through them.
func TestShutdownReleasesUnstartedClaims(t *testing.T) {
	st := storetest.Open(t, "sqlite", store.Options{})
	env := gatewaytest.Start(t, pollConfigLimit(1), gatewaytest.Options{NoBackground: true, Store: st})
	book := gatewaytest.Book("fake-1")
	for i := 0; i < 10; i++ {
		createOn(t, env, "fake-1", fmt.Sprintf("STOP%06d", i), "1.00")
	}
	if err := st.DB().Model(&store.Order{}).Where("1 = 1").Update("next_poll_ms", store.DueNow()).Error; err != nil {
		t.Fatal(err)
	}
	book.SetQueryBehaviour(150*ms, nil, nil)
	env.App.Start()
	eventually(t, 2*time.Second, func() bool { return book.CallCount("query") >= 1 }, func() string { return "no poll started" })
	start := time.Now()
	env.App.Stop()
	took := time.Since(start)
	if took > time.Second {
		t.Fatalf("stop took %s: it worked through the claimed rows (10 x 150ms) instead of releasing them", took)
	}
	var rows []store.Order
	if err := st.DB().Order("out_trade_no").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	polled, released := 0, 0
	for _, o := range rows {
		if o.LeaseToken != "" || o.LeaseUntil != nil {
			t.Fatalf("%s still leased after stop", o.OutTradeNo)
		}
		switch {
		case o.PollAttempts == 1 && book.Queries(o.OutTradeNo) == 1:
			polled++ // finished: rescheduled
		case o.PollAttempts == 0 && book.Queries(o.OutTradeNo) == 0 && !o.NextPollAt.After(time.Now()):
			released++ // due again for any replica
		default:
			t.Fatalf("%s: attempts %d, queried %d, next %v", o.OutTradeNo, o.PollAttempts, book.Queries(o.OutTradeNo), o.NextPollAt)
		}
	}
	if polled == 0 || released == 0 || polled+released != 10 {
		t.Fatalf("%d polled and %d released, want both and 10 in all", polled, released)
	}
	t.Logf("stop took %s: %d polls finished, %d claims released", took, polled, released)
}

// A merchant event that fails every attempt of the schedule ends failed,
// is listed by GET /v1/events?status=failed, and POST .../redeliver (scope
// orders:write) sends it again.
func TestFailedEventsListedAndRedelivered(t *testing.T) {
	env := gatewaytest.Start(t, pollConfig, gatewaytest.Options{Setup: func(app *gateway.App) {
		app.Dispatcher.SetSchedule([]time.Duration{10 * ms, 10 * ms}) // 3 attempts in all
	}})
	env.Receiver.FailNext(3)
	createOn(t, env, "fake-n", "FAIL000001", "1.00")
	if code, _ := notify(t, env, "fake-n", paidNotification("FAIL000001", 100)); code != 200 {
		t.Fatalf("notify: %d", code)
	}
	var id string
	eventually(t, 3*time.Second, func() bool {
		r := env.Do("GET", "/v1/events?status=failed", readOnlyKey, nil)
		data, _ := r.JSON["data"].([]any)
		if len(data) == 1 {
			id, _ = data[0].(map[string]any)["id"].(string)
		}
		return len(data) == 1
	}, func() string { return "no failed event listed" })
	ev := env.Do("GET", "/v1/events/"+id, readOnlyKey, nil)
	if ev.Str("status") != "failed" || ev.JSON["attempts"].(float64) != 3 || ev.Str("last_error") != "HTTP 500" {
		t.Fatalf("failed event: %s", ev.Body)
	}
	for _, h := range ev.JSON["history"].([]any) {
		a := h.(map[string]any)
		if a["status_code"].(float64) != 500 || a["latency_ms"] == nil || a["at"] == nil {
			t.Fatalf("attempt: %v", a)
		}
	}
	if r := env.Do("POST", "/v1/events/"+id+"/redeliver", readOnlyKey, nil); r.Status != 403 {
		t.Fatalf("redeliver with a read-only key: %d", r.Status)
	}
	if r := env.Do("POST", "/v1/events/"+id+"/redeliver", otherKey, nil); r.Status != 404 {
		t.Fatalf("another merchant redelivers: %d", r.Status)
	}
	// A redelivered event gets the whole schedule again: its first retry
	// fails too, and it is retried rather than given up at once.
	env.Receiver.FailNext(1)
	if r := env.Do("POST", "/v1/events/"+id+"/redeliver", demoKey, nil); r.Status != http.StatusAccepted || r.Str("status") != "pending" || r.JSON["attempts"].(float64) != 0 {
		t.Fatalf("redeliver: %d %s", r.Status, r.Body)
	}
	got := env.Receiver.Wait("order.paid", "FAIL000001", 1, 3*time.Second)
	if got[0].ID != id || env.Receiver.Hits() != 5 {
		t.Fatalf("delivered %s after %d attempts", got[0].ID, env.Receiver.Hits())
	}
	eventually(t, 2*time.Second, func() bool {
		return env.Do("GET", "/v1/events/"+id, readOnlyKey, nil).Str("status") == "delivered"
	}, func() string { return "event not marked delivered" })
	if ev := env.Do("GET", "/v1/events/"+id, readOnlyKey, nil); ev.JSON["attempts"].(float64) != 2 || len(ev.JSON["history"].([]any)) != 5 {
		t.Fatalf("after redelivery: %s", ev.Body)
	}
	if r := env.Do("GET", "/v1/events?status=failed", readOnlyKey, nil); len(r.JSON["data"].([]any)) != 0 {
		t.Fatalf("still listed as failed: %s", r.Body)
	}
	if r := env.Do("GET", "/v1/events?status=lost", readOnlyKey, nil); r.Status != 400 || r.ErrField() != "status" {
		t.Fatalf("bad status filter: %d %s", r.Status, r.Body)
	}
}

// An expired order whose close keeps failing is retried on a schedule that
// backs off with the time since expiry, and given up after a bound: the
// order stays PAYING, no longer polled, and the poller reports it
// (close_failed, then close_given_up). Before, it was retried every
// minute (here: every 20 ms) for ever.
func TestExpiredOrderWhoseCloseKeepsFailingBacksOffAndGivesUp(t *testing.T) {
	var failed, gaveUp atomic.Int64
	env := gatewaytest.Start(t, pollConfig, gatewaytest.Options{Setup: func(app *gateway.App) {
		app.Orders.SetSchedules(orders.Schedules{Fast: []time.Duration{20 * ms},
			CloseRetry: orders.CloseRetry{Min: 20 * ms, Max: 80 * ms, GiveUp: 400 * ms}})
		observe := app.Poller.Observe
		app.Poller.Observe = func(kind, result string) {
			switch result {
			case "close_failed":
				failed.Add(1)
			case "close_given_up":
				gaveUp.Add(1)
			}
			observe(kind, result)
		}
	}})
	book := gatewaytest.Book("fake-1")
	createOn(t, env, "fake-1", "NOCLOSE001", "1.00")
	book.SetQueryBehaviour(0, nil, providers.Unavailable(errors.New("connection reset")))
	err := env.App.Store.DB().Model(&store.Order{}).Where("out_trade_no = ?", "NOCLOSE001").
		Updates(map[string]any{"expires_at": time.Now().UTC(), "next_poll_ms": store.DueNow()}).Error
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, func() bool { return gaveUp.Load() == 1 }, func() string {
		return fmt.Sprintf("not given up after %d closes", book.CallCount("close"))
	})
	time.Sleep(300 * ms) // no more tries
	closes := book.CallCount("close")
	// 20 ms at first, then half the time since expiry up to 80 ms, until
	// 400 ms after expiry: about ten tries, not one every 20 ms.
	if closes < 4 || closes > 14 || failed.Load()+gaveUp.Load() != int64(closes) {
		t.Fatalf("%d closes (%d reported failing) before giving up", closes, failed.Load())
	}
	o := orderRow(t, env.App.Store, "NOCLOSE001")
	if o.Status != "PAYING" || o.NextPollAt != nil || o.LeaseToken != "" {
		t.Fatalf("given up: status %s next %v lease %q", o.Status, o.NextPollAt, o.LeaseToken)
	}
	t.Logf("%d closes over the 400 ms bound, then given up", closes)
}
