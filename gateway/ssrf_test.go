package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/store"
)

// ssrfConfig: merchant demo has the usual receiver as its configured
// webhook_url (trusted, on loopback); merchant intra lists 127.0.0.1 in
// webhook_hosts.
const ssrfConfig = `
server: {public_url: "${PUBLIC_URL}", allow_http_webhooks: ALLOW_HTTP}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
poller: {disabled: true}
webhooks: {interval: 20ms}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - {id: fake-1, provider: test_fake, currency: CNY, params: {key: "` + fakeSecret + `", account: "acct-1"}}
  - id: intra
    api_keys: [{key: "` + otherKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_secret: "${WEBHOOK_SECRET}"
    webhook_hosts: ["127.0.0.1"]
    channels:
      - {id: fake-2, provider: test_fake, currency: CNY, params: {key: "k2", account: "acct-2"}}
`

// Finding 2 (SSRF): a per-order notify_url of http://127.0.0.1:… or
// http://169.254.169.254/… was accepted, posted to, and the attempt
// records showed each raw dial error. Now such a URL is refused at create,
// one that slips through (stored earlier, or a name resolving to a
// private address) is refused where the dispatcher connects, and the
// merchant sees a fixed phrase; the configured webhook_url and the
// merchant's webhook_hosts still work.
func TestPerOrderNotifyURLCannotReachPrivateAddresses(t *testing.T) {
	env := gatewaytest.Start(t, strings.Replace(ssrfConfig, "ALLOW_HTTP", "true", 1), gatewaytest.Options{WebhookSchedule: fastRetries})
	recvURL := env.Receiver.URL() // http://127.0.0.1:port/payments
	port := recvURL[strings.LastIndex(recvURL, ":")+1 : strings.LastIndex(recvURL, "/")]
	for _, u := range []string{"http://127.0.0.1:" + port + "/other", "http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]:" + port + "/p", "http://localhost:" + port + "/p"} {
		body := orderBody("SSRF"+strings.Repeat("0", 6), "1.00")
		body["notify_url"] = u
		if r := env.Do("POST", "/v1/orders", demoKey, body); r.Status != 400 || r.ErrField() != "notify_url" {
			t.Fatalf("notify_url %s: %d %s", u, r.Status, r.Body)
		}
	}

	// An event whose URL points at loopback anyway: refused when dialled.
	ctx := context.Background()
	before := env.Receiver.Hits()
	ev := &store.MerchantEvent{MerchantID: "demo", DedupeKey: "test:ssrf-1", Type: "order.paid", URL: recvURL + "?order=1", Payload: []byte(`{"id":"x"}`)}
	if err := env.App.Store.InsertEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	env.App.Dispatcher.Kick()
	var got *store.MerchantEvent
	deadline := time.Now().Add(3 * time.Second)
	for {
		got, _ = env.App.Store.EventByID(ctx, ev.ID)
		if got.Attempts > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got.Attempts == 0 || got.Status == store.EventDelivered || env.Receiver.Hits() != before {
		t.Fatalf("event to loopback: %+v, receiver hits %d -> %d", got, before, env.Receiver.Hits())
	}
	view := env.Do("GET", "/v1/events/"+ev.ID, demoKey, nil)
	if !strings.Contains(string(view.Body), "destination not allowed") || strings.Contains(string(view.Body), "127.0.0.1:"+port+":") ||
		strings.Contains(string(view.Body), "dial") || strings.Contains(string(view.Body), "refused") {
		t.Fatalf("merchant-facing attempt record: %s", view.Body)
	}

	// The configured webhook_url (also on loopback) is trusted.
	payOrder(t, env, "SSRFOK0001", "1.00", 100)
	env.Receiver.Wait("order.paid", "SSRFOK0001", 1, 3*time.Second)

	// A merchant whose webhook_hosts lists the host reaches it.
	body := map[string]any{"channel": "fake-2", "out_trade_no": "SSRFIN0001", "amount": "1.00", "currency": "CNY",
		"description": "x", "payer": map[string]any{"openid": "o"}, "notify_url": recvURL}
	if r := env.Do("POST", "/v1/orders", otherKey, body); r.Status != 201 {
		t.Fatalf("webhook_hosts: %d %s", r.Status, r.Body)
	}
	n := gatewaytest.FakeNotification{Account: "acct-2", OutTradeNo: "SSRFIN0001", Status: "PAID", Amount: 100, Currency: "CNY", TransactionID: "4200SSRFIN"}
	n.Sign("k2")
	if code, _ := notify(t, env, "fake-2", n); code != 200 {
		t.Fatalf("notify: %d", code)
	}
	env.Receiver.Wait("order.paid", "SSRFIN0001", 1, 3*time.Second)
}

// https only for per-order URLs unless the config allows http.
func TestPerOrderNotifyURLMustBeHTTPS(t *testing.T) {
	env := gatewaytest.Start(t, strings.Replace(ssrfConfig, "ALLOW_HTTP", "false", 1), gatewaytest.Options{NoBackground: true})
	body := orderBody("HTTPS00001", "1.00")
	body["notify_url"] = "http://shop.example/hook"
	if r := env.Do("POST", "/v1/orders", demoKey, body); r.Status != 400 || r.ErrField() != "notify_url" {
		t.Fatalf("http notify_url: %d %s", r.Status, r.Body)
	}
	body["notify_url"] = "https://shop.example/hook"
	if r := env.Do("POST", "/v1/orders", demoKey, body); r.Status != 201 {
		t.Fatalf("https notify_url: %d %s", r.Status, r.Body)
	}
}
