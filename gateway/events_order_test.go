package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// seqConfig is one of two replicas delivering merchant webhooks.
const seqConfig = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
poller: {disabled: true}
webhooks: {interval: 20ms, workers: 4}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - {id: fake-n, provider: test_fake, currency: CNY, params: {key: "` + fakeSecret + `", account: "acct-1", book: "${BOOK}"}}
`

// The merchant's endpoint is down while an order is paid and refunded in
// two parts, and comes back while the order.paid event waits for its next
// try (the refunds' events are newer, their first tries are due sooner).
// It still receives the order's events in the order they happened, each
// once, numbered 1, 2, 3, each with the order's status at that moment.
// Two replicas deliver. Before, each event kept its own retry schedule:
// the merchant heard of the refunds first and of the payment last.
func TestMerchantDownReceivesOneOrdersEventsInOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		testEventsInOrder(t, driver)
	})
}

func testEventsInOrder(t *testing.T, driver string) {
	vars := map[string]string{"DB_DRIVER": driver, "DB": storetest.FreshDSN(t, driver), "BOOK": fmt.Sprintf("seq-%s-%d", driver, time.Now().UnixNano())}
	recv := gatewaytest.NewReceiver(t, gatewaytest.WebhookSecret)
	opts := gatewaytest.Options{Vars: vars, Receiver: recv, Setup: func(app *gateway.App) {
		app.Dispatcher.SetSchedule([]time.Duration{50 * ms, time.Second, 50 * ms, 50 * ms, 50 * ms})
	}}
	env := gatewaytest.Start(t, seqConfig, opts)
	gatewaytest.Start(t, seqConfig, opts)
	recv.SetDown(true)
	createOn(t, env, "fake-n", "SEQ0000001", "10.00")
	if code, _ := notify(t, env, "fake-n", paidNotification("SEQ0000001", 1000)); code != 200 {
		t.Fatalf("notify: %d", code)
	}
	// order.paid has failed twice and waits a second for its next try.
	eventually(t, 2*time.Second, func() bool {
		return count(t, env, &store.MerchantEvent{}, "type = 'order.paid' AND attempts >= 2") == 1
	}, func() string { return "order.paid not tried twice" })
	for i, amount := range []string{"4.00", "6.00"} {
		r := env.Do("POST", "/v1/orders/SEQ0000001/refunds", demoKey, map[string]any{"out_refund_no": fmt.Sprintf("SEQREFUND%d", i), "amount": amount})
		if r.Status != 201 || r.Str("status") != "SUCCEEDED" {
			t.Fatalf("refund %s: %d %s", amount, r.Status, r.Body)
		}
	}
	time.Sleep(20 * ms)
	recv.SetDown(false) // back before order.paid's next try

	eventually(t, 5*time.Second, func() bool { return len(recv.OfOrder("SEQ0000001")) >= 3 }, func() string {
		return fmt.Sprintf("%d events received", len(recv.OfOrder("SEQ0000001")))
	})
	time.Sleep(100 * ms) // nothing more may come
	got := recv.OfOrder("SEQ0000001")
	want := []struct {
		typ, status string
	}{{"order.paid", "PAID"}, {"refund.succeeded", "PAID"}, {"refund.succeeded", "REFUNDED"}}
	if len(got) != len(want) {
		t.Fatalf("received %d events, want %d", len(got), len(want))
	}
	for i, e := range got {
		if e.Type != want[i].typ || e.Sequence != int64(i+1) || e.OrderStatus != want[i].status || !e.SignatureOK {
			t.Errorf("event %d: %s sequence %d order_status %q (signature ok %v); want %s sequence %d order_status %s",
				i+1, e.Type, e.Sequence, e.OrderStatus, e.SignatureOK, want[i].typ, i+1, want[i].status)
		}
	}
	if got[0].Data["status"] != "PAID" || got[2].Data["out_refund_no"] != "SEQREFUND1" {
		t.Fatalf("event data: %v / %v", got[0].Data, got[2].Data)
	}
}
