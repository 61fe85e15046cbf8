package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

const (
	demoKey     = "demo-key-0000000000000001"
	readOnlyKey = "demo-readonly-key-000000001"
	otherKey    = "other-key-00000000000000001"
	fakeSecret  = "fake-provider-key"
)

const coreConfig = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
poller: {disabled: true}
webhooks: {interval: 50ms}
merchants:
  - id: demo
    api_keys:
      - {key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}
      - {key: "` + readOnlyKey + `", scopes: [orders:read]}
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - {id: fake-1, provider: test_fake, currency: CNY, params: {key: "` + fakeSecret + `", account: "acct-1"}}
  - id: other
    api_keys: [{key: "` + otherKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    channels:
      - {id: fake-2, provider: test_fake, currency: CNY, params: {key: "k2", account: "acct-2"}}
`

var fastRetries = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}

func startCore(t *testing.T) *gatewaytest.Env {
	t.Helper()
	return gatewaytest.Start(t, coreConfig, gatewaytest.Options{WebhookSchedule: fastRetries})
}

func orderBody(no string, amount string) map[string]any {
	return map[string]any{
		"channel": "fake-1", "out_trade_no": no, "amount": amount, "currency": "CNY",
		"description": "coffee", "payer": map[string]any{"openid": "o-payer-1"},
	}
}

func count(t *testing.T, env *gatewaytest.Env, model any, where string, args ...any) int64 {
	t.Helper()
	var n int64
	q := env.App.Store.DB().Model(model)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateOrderRejectsBadInput(t *testing.T) {
	env := startCore(t)
	good := orderBody("BAD0000001", "12.34")
	with := func(k string, v any) map[string]any {
		b := map[string]any{}
		for kk, vv := range good {
			b[kk] = vv
		}
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	tests := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"missing amount", with("amount", nil), 400, "INVALID_ARGUMENT", "amount"},
		{"too many decimals", with("amount", "1.001"), 400, "INVALID_ARGUMENT", "amount"},
		{"negative", with("amount", "-1.00"), 400, "INVALID_ARGUMENT", "amount"},
		{"zero", with("amount", "0.00"), 400, "INVALID_ARGUMENT", "amount"},
		{"huge", with("amount", "100000000000000000000"), 400, "INVALID_ARGUMENT", "amount"},
		{"exponent", with("amount", "1e3"), 400, "INVALID_ARGUMENT", "amount"},
		{"number not string", with("amount", 12.34), 400, "INVALID_ARGUMENT", "amount"},
		{"bad currency", with("currency", "XYZ"), 400, "INVALID_ARGUMENT", "currency"},
		{"lowercase currency", with("currency", "cny"), 400, "INVALID_ARGUMENT", "currency"},
		{"currency the channel lacks", with("currency", "EUR"), 422, "CURRENCY_NOT_SUPPORTED", "currency"},
		{"missing channel", with("channel", nil), 400, "INVALID_ARGUMENT", "channel"},
		{"unknown channel", with("channel", "nope"), 400, "INVALID_ARGUMENT", "channel"},
		{"other merchant's channel", with("channel", "fake-2"), 400, "INVALID_ARGUMENT", "channel"},
		{"missing out_trade_no", with("out_trade_no", nil), 400, "INVALID_ARGUMENT", "out_trade_no"},
		{"short out_trade_no", with("out_trade_no", "ab12"), 400, "INVALID_ARGUMENT", "out_trade_no"},
		{"bad chars out_trade_no", with("out_trade_no", "ORDER 0001"), 400, "INVALID_ARGUMENT", "out_trade_no"},
		{"missing description", with("description", nil), 400, "INVALID_ARGUMENT", "description"},
		{"NUL in description", with("description", "cof\u0000fee"), 400, "INVALID_ARGUMENT", "description"},
		{"control character in openid", with("payer", map[string]any{"openid": "o-\u0007"}), 400, "INVALID_ARGUMENT", "payer.openid"},
		{"missing openid", with("payer", map[string]any{}), 400, "INVALID_ARGUMENT", "payer.openid"},
		{"unknown pay method", with("pay_method", "cash"), 422, "UNSUPPORTED", "pay_method"},
		{"bad expiry", with("expire_in_seconds", 5), 400, "INVALID_ARGUMENT", "expire_in_seconds"},
		{"bad client ip", with("client_ip", "300.1.1.1"), 400, "INVALID_ARGUMENT", "client_ip"},
		{"bad notify url", with("notify_url", "ftp://x"), 400, "INVALID_ARGUMENT", "notify_url"},
		{"metadata not object", with("metadata", []int{1}), 400, "INVALID_ARGUMENT", "metadata"},
		{"unknown field", with("ammount", "1.00"), 400, "INVALID_ARGUMENT", "ammount"},
		{"bad JSON", `{"channel": "fake-1",`, 400, "INVALID_ARGUMENT", ""},
		{"empty body", "", 400, "INVALID_ARGUMENT", ""},
		{"two objects", `{} {}`, 400, "INVALID_ARGUMENT", ""},
		{"too large", `{"description": "` + strings.Repeat("x", 70<<10) + `"}`, 413, "PAYLOAD_TOO_LARGE", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.Do("POST", "/v1/orders", demoKey, tt.body)
			if r.Status != tt.status || r.ErrCode() != tt.code || r.ErrField() != tt.field {
				t.Fatalf("got %d %s field=%q, want %d %s field=%q: %s", r.Status, r.ErrCode(), r.ErrField(), tt.status, tt.code, tt.field, r.Body)
			}
		})
	}
	if n := count(t, env, &store.Order{}, ""); n != 0 {
		t.Fatalf("%d orders written by bad requests", n)
	}
	if n := gatewaytest.Book("fake-1").CallCount("create"); n != 0 {
		t.Fatalf("provider called %d times for bad requests", n)
	}
}

func TestAuthAndTenancy(t *testing.T) {
	env := startCore(t)
	if r := env.Do("POST", "/v1/orders", demoKey, orderBody("AUTH000001", "1.00")); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	tests := []struct {
		name, method, path, key string
		body                    any
		status                  int
		code                    string
	}{
		{"no key", "GET", "/v1/orders/AUTH000001", "", nil, 401, "UNAUTHENTICATED"},
		{"wrong key", "GET", "/v1/orders/AUTH000001", "not-a-key-000000000000", nil, 401, "UNAUTHENTICATED"},
		{"read-only key cannot create", "POST", "/v1/orders", readOnlyKey, orderBody("AUTH000002", "1.00"), 403, "PERMISSION_DENIED"},
		{"read-only key cannot refund", "POST", "/v1/orders/AUTH000001/refunds", readOnlyKey, map[string]any{"out_refund_no": "R000000001", "amount": "0.10"}, 403, "PERMISSION_DENIED"},
		{"read-only key reads", "GET", "/v1/orders/AUTH000001", readOnlyKey, nil, 200, ""},
		{"other merchant sees nothing", "GET", "/v1/orders/AUTH000001", otherKey, nil, 404, "NOT_FOUND"},
		{"other merchant cannot close", "POST", "/v1/orders/AUTH000001/close", otherKey, nil, 404, "NOT_FOUND"},
		{"other merchant lookup", "GET", "/v1/orders?provider_trade_no=FKAUTH000001", otherKey, nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.Do(tt.method, tt.path, tt.key, tt.body)
			if r.Status != tt.status || r.ErrCode() != tt.code {
				t.Fatalf("got %d %s, want %d %s: %s", r.Status, r.ErrCode(), tt.status, tt.code, r.Body)
			}
		})
	}
	r := env.Do("GET", "/v1/orders?provider_trade_no=FKAUTH000001", otherKey, nil)
	if data := r.JSON["data"].([]any); len(data) != 0 {
		t.Fatalf("other merchant found %d orders", len(data))
	}
	if n := count(t, env, &store.Order{}, ""); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
}

func TestCreateIsIdempotentOnOutTradeNo(t *testing.T) {
	env := startCore(t)
	body := orderBody("IDEM000001", "12.34")
	first := env.Do("POST", "/v1/orders", demoKey, body)
	if first.Status != 201 || first.Str("status") != "PAYING" || first.Str("amount") != "12.34" {
		t.Fatalf("create: %d %s", first.Status, first.Body)
	}
	pp, _ := first.JSON["pay_params"].(map[string]any)
	if pp["package"] != "prepay_id=fk" || first.JSON["pay_url"] != nil {
		t.Fatalf("pay params: %s", first.Body)
	}
	again := env.Do("POST", "/v1/orders", demoKey, body)
	if again.Status != 200 || again.Str("id") != first.Str("id") {
		t.Fatalf("repeat: %d %s", again.Status, again.Body)
	}
	body["amount"] = "12.35"
	conflict := env.Do("POST", "/v1/orders", demoKey, body)
	if conflict.Status != 409 || conflict.ErrCode() != "IDEMPOTENCY_CONFLICT" || conflict.ErrField() != "out_trade_no" {
		t.Fatalf("other body: %d %s", conflict.Status, conflict.Body)
	}
	if n := gatewaytest.Book("fake-1").CallCount("create"); n != 1 {
		t.Fatalf("provider create called %d times, want 1", n)
	}
	// Both merchants may use the same number.
	other := orderBody("IDEM000001", "1.00")
	other["channel"] = "fake-2"
	if r := env.Do("POST", "/v1/orders", otherKey, other); r.Status != 201 {
		t.Fatalf("other merchant, same number: %d %s", r.Status, r.Body)
	}
}

// Identical creates at the same moment call the provider once: the first
// holds the order while its call runs, the others wait for its answer and
// return the same order. Before, each one that lost the insert found the
// order without pay_params and called the provider again.
func TestConcurrentIdenticalCreatesCallTheProviderOnce(t *testing.T) {
	env := startCore(t)
	book := gatewaytest.Book("fake-1")
	book.SetCreateDelay(150 * ms)
	body := orderBody("TWICE00001", "12.34")
	const n = 5
	answers := make([]gatewaytest.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = env.Do("POST", "/v1/orders", demoKey, body)
		}()
	}
	wg.Wait()
	created := 0
	for i, r := range answers {
		if r.Status == 201 {
			created++
		}
		if (r.Status != 201 && r.Status != 200) || r.Str("id") != answers[0].Str("id") || r.JSON["pay_params"] == nil {
			t.Fatalf("answer %d: %d %s", i, r.Status, r.Body)
		}
	}
	if calls := book.CallCount("create"); calls != 1 || created != 1 {
		t.Fatalf("%d identical creates: the provider was called %d times and %d answered 201; want 1 and 1", n, calls, created)
	}
	if o := orderRow(t, env.App.Store, "TWICE00001"); o.LeaseToken != "" || o.LeaseUntil != nil {
		t.Fatalf("order still leased after its create: %q", o.LeaseToken)
	}
}

func TestCreateWhenProviderFails(t *testing.T) {
	env := startCore(t)
	book := gatewaytest.Book("fake-1")
	book.SetErrors(providers.Unavailable(fmt.Errorf("connection refused")), nil)
	body := orderBody("DOWN000001", "5.00")
	r := env.Do("POST", "/v1/orders", demoKey, body)
	if r.Status != 502 || r.ErrCode() != "PROVIDER_UNAVAILABLE" {
		t.Fatalf("provider down: %d %s", r.Status, r.Body)
	}
	book.SetErrors(nil, nil)
	r = env.Do("POST", "/v1/orders", demoKey, body)
	if r.Status != 200 || r.JSON["pay_params"] == nil {
		t.Fatalf("repeat after recovery: %d %s", r.Status, r.Body)
	}

	book.SetErrors(providers.Errorf(providers.ErrCodeRejected, "NOAUTH", "merchant lacks permission"), nil)
	r = env.Do("POST", "/v1/orders", demoKey, orderBody("REJ0000001", "5.00"))
	if r.Status != 422 || r.ErrCode() != "PROVIDER_REJECTED" || r.JSON["error"].(map[string]any)["provider_code"] != "NOAUTH" {
		t.Fatalf("provider refused: %d %s", r.Status, r.Body)
	}
	if got := env.Do("GET", "/v1/orders/REJ0000001", demoKey, nil); got.Str("status") != "FAILED" {
		t.Fatalf("refused order: %s", got.Body)
	}
}

// An answer that fails verification or cannot be read (PROVIDER_BAD_RESPONSE)
// is not a refusal: the provider may have done what was asked. The order
// stays PAYING and the same request can be repeated; the refund stays
// PROCESSING with its amount reserved until the provider is asked again.
func TestProviderBadResponseIsAnUnknownOutcome(t *testing.T) {
	env := startCore(t)
	book := gatewaytest.Book("fake-1")
	bad := providers.Errorf(providers.ErrCodeBadResponse, "", "answer signature does not verify")

	book.SetErrors(bad, nil)
	body := orderBody("BADANS0001", "5.00")
	if r := env.Do("POST", "/v1/orders", demoKey, body); r.Status != 502 || r.ErrCode() != "PROVIDER_UNAVAILABLE" {
		t.Fatalf("create with an unreadable answer: %d %s", r.Status, r.Body)
	}
	if got := env.Do("GET", "/v1/orders/BADANS0001", demoKey, nil); got.Str("status") != "PAYING" {
		t.Fatalf("order after an unreadable answer: %s", got.Body)
	}
	book.SetErrors(nil, nil)
	if r := env.Do("POST", "/v1/orders", demoKey, body); r.Status != 200 || r.JSON["pay_params"] == nil {
		t.Fatalf("repeat after recovery: %d %s", r.Status, r.Body)
	}

	payOrder(t, env, "BADANS0002", "10.00", 1000)
	book.SetErrors(nil, bad)
	r := env.Do("POST", "/v1/orders/BADANS0002/refunds", demoKey, map[string]any{"out_refund_no": "BADANSR001", "amount": "4.00"})
	if r.Status != 201 || r.Str("status") != "PROCESSING" {
		t.Fatalf("refund with an unreadable answer: %d %s", r.Status, r.Body)
	}
	// The 4.00 may be on its way to the payer: it stays reserved.
	if over := env.Do("POST", "/v1/orders/BADANS0002/refunds", demoKey, map[string]any{"out_refund_no": "BADANSR002", "amount": "10.00"}); over.Status != 422 || over.ErrCode() != "REFUND_EXCEEDS_REFUNDABLE" {
		t.Fatalf("second refund while the first is unknown: %d %s", over.Status, over.Body)
	}
	book.SetErrors(nil, nil)
	rf, err := env.App.Store.RefundByOutRefundNo(context.Background(), "demo", "BADANSR001")
	if err != nil {
		t.Fatal(err)
	}
	// Asking (GET ?refresh=true) never re-sends: the provider does not
	// know the refund, so it stays as it is.
	if rf, err = env.App.Orders.RefreshRefund(context.Background(), rf); err != nil || rf.Status != "PROCESSING" || book.CallCount("refund") != 1 {
		t.Fatalf("refund refreshed: %v %+v, %d provider refund calls", err, rf, book.CallCount("refund"))
	}
	// The poller neither asks nor re-sends while the first call may still
	// be running; once it cannot be, it re-sends with the same number.
	queries := book.CallCount("refundquery")
	if rf, err = env.App.Orders.PollRefund(context.Background(), rf); err != nil || rf.Status != "PROCESSING" || book.CallCount("refund") != 1 || book.CallCount("refundquery") != queries {
		t.Fatalf("refund polled while its first call may run: %v %+v", err, rf)
	}
	// The call window passes (it is on the database's clock).
	if err := env.App.Store.DB().Exec("UPDATE refunds SET call_until_ms = 0 WHERE id = ?", rf.ID).Error; err != nil {
		t.Fatal(err)
	}
	if rf, err = env.App.Orders.PollRefund(context.Background(), rf); err != nil || rf.Status != "SUCCEEDED" || book.CallCount("refund") != 2 {
		t.Fatalf("refund re-sent after the call window: %v %+v", err, rf)
	}
	if o := env.Do("GET", "/v1/orders/BADANS0002", demoKey, nil); o.Str("refunded_amount") != "4.00" {
		t.Fatalf("after the refund: %s", o.Body)
	}
}

func notify(t *testing.T, env *gatewaytest.Env, channel string, n gatewaytest.FakeNotification) (int, string) {
	t.Helper()
	body, _ := json.Marshal(n)
	resp, err := http.Post(env.URL+"/notify/"+channel, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func paidNotification(no string, amount int64) gatewaytest.FakeNotification {
	n := gatewaytest.FakeNotification{Account: "acct-1", OutTradeNo: no, Status: "PAID", Amount: amount, Currency: "CNY", TransactionID: "4200000001" + no}
	n.Sign(fakeSecret)
	return n
}

func TestConcurrentDuplicateNotificationsTransitionOnce(t *testing.T) {
	env := startCore(t)
	if r := env.Do("POST", "/v1/orders", demoKey, orderBody("DUP0000001", "9.99")); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	n := paidNotification("DUP0000001", 999)
	var wg sync.WaitGroup
	acks := make([]string, 5)
	for i := range acks {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			code, body := notify(t, env, "fake-1", n)
			acks[i] = fmt.Sprint(code, body)
		}(i)
	}
	wg.Wait()
	for _, a := range acks {
		if a != "200OK" {
			t.Fatalf("acks: %v", acks)
		}
	}
	o := env.WaitStatus(demoKey, "DUP0000001", "PAID", time.Second)
	if o.Str("transaction_id") != n.TransactionID || o.JSON["paid_at"] == nil {
		t.Fatalf("order: %s", o.Body)
	}
	events := env.Receiver.Wait("order.paid", "DUP0000001", 1, 3*time.Second)
	time.Sleep(200 * time.Millisecond)
	if got := env.Receiver.Matching("order.paid", "DUP0000001"); len(got) != 1 || !got[0].SignatureOK {
		t.Fatalf("merchant got %d order.paid events (signature ok: %v), want exactly 1", len(got), events[0].SignatureOK)
	}
	if events[0].Data["status"] != "PAID" || events[0].Data["amount"] != "9.99" {
		t.Fatalf("event data: %v", events[0].Data)
	}
	if a, d := count(t, env, &store.Notification{}, "outcome = ?", store.OutcomeApplied), count(t, env, &store.Notification{}, "outcome = ?", store.OutcomeDuplicate); a != 1 || d != 4 {
		t.Fatalf("inbox: %d applied, %d duplicate; want 1 and 4", a, d)
	}
	if n := count(t, env, &store.MerchantEvent{}, ""); n != 1 {
		t.Fatalf("%d outbox rows, want 1", n)
	}
}

func TestRefusedNotificationsChangeNothing(t *testing.T) {
	env := startCore(t)
	if r := env.Do("POST", "/v1/orders", demoKey, orderBody("REFU000001", "10.00")); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	forged := paidNotification("REFU000001", 1000)
	forged.Sig = strings.Repeat("0", 64)
	tampered := paidNotification("REFU000001", 1000)
	tampered.Amount = 1                              // signature no longer matches
	wrongAmount := paidNotification("REFU000001", 1) // signed, but not the order's amount
	wrongCurrency := gatewaytest.FakeNotification{Account: "acct-1", OutTradeNo: "REFU000001", Status: "PAID", Amount: 1000, Currency: "USD"}
	wrongCurrency.Sign(fakeSecret)
	unknown := paidNotification("NOSUCH0001", 1000)
	otherAccount := gatewaytest.FakeNotification{Account: "acct-2", OutTradeNo: "REFU000001", Status: "PAID", Amount: 1000, Currency: "CNY"}
	otherAccount.Sign(fakeSecret)

	tests := []struct {
		name    string
		body    any
		outcome string
	}{
		{"forged signature", forged, store.OutcomeBadSignature},
		{"tampered amount", tampered, store.OutcomeBadSignature},
		{"amount differs from the order", wrongAmount, store.OutcomeAmountMismatch},
		{"currency differs from the order", wrongCurrency, store.OutcomeAmountMismatch},
		{"unknown order", unknown, store.OutcomeUnknownOrder},
		{"another account", otherAccount, store.OutcomeChannelMismatch},
		{"malformed", "<xml>not json", store.OutcomeMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if s, ok := tt.body.(string); ok {
				body = []byte(s)
			} else {
				body, _ = json.Marshal(tt.body)
			}
			resp, err := http.Post(env.URL+"/notify/fake-1", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 {
				t.Fatalf("ack status %d, want the provider's failure ack (400)", resp.StatusCode)
			}
			var rec store.Notification
			if err := env.App.Store.DB().Order("received_at DESC, id DESC").Take(&rec).Error; err != nil {
				t.Fatal(err)
			}
			if rec.Outcome != tt.outcome || !bytes.Equal(rec.Body, body) {
				t.Fatalf("inbox outcome %q body %q, want %q", rec.Outcome, rec.Body, tt.outcome)
			}
			// A refused notification that names an order says which, and
			// makes the order due for a poll at once.
			if tt.name == "forged signature" {
				var o store.Order
				env.App.Store.DB().Where("out_trade_no = ?", "REFU000001").Take(&o)
				if rec.OrderID != o.ID || o.NextPollAt == nil || time.Until(o.NextPollAt.Time) > time.Second || !o.PollRequested {
					t.Fatalf("inbox order %q (want %q), next poll %v requested %v", rec.OrderID, o.ID, o.NextPollAt, o.PollRequested)
				}
			}
		})
	}
	if o := env.Do("GET", "/v1/orders/REFU000001", demoKey, nil); o.Str("status") != "PAYING" || o.JSON["transaction_id"] != nil {
		t.Fatalf("order changed: %s", o.Body)
	}
	if n := count(t, env, &store.MerchantEvent{}, ""); n != 0 {
		t.Fatalf("%d merchant events from refused notifications", n)
	}
	resp, err := http.Post(env.URL+"/notify/no-such-channel", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || count(t, env, &store.Notification{}, "outcome = ?", store.OutcomeUnknownChannel) != 1 {
		t.Fatalf("unknown channel: %d", resp.StatusCode)
	}
}

func payOrder(t *testing.T, env *gatewaytest.Env, no, amount string, minor int64) {
	t.Helper()
	if r := env.Do("POST", "/v1/orders", demoKey, orderBody(no, amount)); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if code, _ := notify(t, env, "fake-1", paidNotification(no, minor)); code != 200 {
		t.Fatalf("notify: %d", code)
	}
}

func TestRefunds(t *testing.T) {
	env := startCore(t)
	payOrder(t, env, "RFND000001", "10.00", 1000)
	refund := func(no, amount string) gatewaytest.Response {
		return env.Do("POST", "/v1/orders/RFND000001/refunds", demoKey, map[string]any{"out_refund_no": no, "amount": amount, "reason": "returned"})
	}
	r := refund("RF00000001", "3.00")
	if r.Status != 201 || r.Str("status") != "SUCCEEDED" || r.Str("amount") != "3.00" || r.Str("out_trade_no") != "RFND000001" {
		t.Fatalf("first partial: %d %s", r.Status, r.Body)
	}
	if again := refund("RF00000001", "3.00"); again.Status != 200 || again.Str("id") != r.Str("id") {
		t.Fatalf("repeat: %d %s", again.Status, again.Body)
	}
	if c := refund("RF00000001", "4.00"); c.Status != 409 || c.ErrCode() != "IDEMPOTENCY_CONFLICT" {
		t.Fatalf("same number, other amount: %d %s", c.Status, c.Body)
	}
	if r2 := refund("RF00000002", "5.00"); r2.Status != 201 || r2.Str("status") != "SUCCEEDED" {
		t.Fatalf("second partial: %d %s", r2.Status, r2.Body)
	}
	over := refund("RF00000003", "2.01")
	if over.Status != 422 || over.ErrCode() != "REFUND_EXCEEDS_REFUNDABLE" || !strings.Contains(string(over.Body), "2.00") {
		t.Fatalf("over-refund: %d %s", over.Status, over.Body)
	}
	for _, bad := range []struct{ no, amount, field string }{{"RF00000004", "0.001", "amount"}, {"RF00000004", "-1", "amount"}, {"x", "1.00", "out_refund_no"}} {
		if b := refund(bad.no, bad.amount); b.Status != 400 || b.ErrField() != bad.field {
			t.Fatalf("bad refund %v: %d %s", bad, b.Status, b.Body)
		}
	}
	if b := env.Do("POST", "/v1/orders/RFND000001/refunds", demoKey, map[string]any{"out_refund_no": "RF00000004", "amount": "1.00", "reason": "a\u0000b"}); b.Status != 400 || b.ErrField() != "reason" {
		t.Fatalf("NUL in reason: %d %s", b.Status, b.Body)
	}
	o := env.Do("GET", "/v1/orders/RFND000001", demoKey, nil)
	if o.Str("status") != "PAID" || o.Str("refunded_amount") != "8.00" {
		t.Fatalf("after partials: %s", o.Body)
	}
	if last := refund("RF00000005", "2.00"); last.Status != 201 || last.Str("status") != "SUCCEEDED" {
		t.Fatalf("last: %d %s", last.Status, last.Body)
	}
	o = env.Do("GET", "/v1/orders/RFND000001", demoKey, nil)
	if o.Str("status") != "REFUNDED" || o.Str("refunded_amount") != "10.00" {
		t.Fatalf("fully refunded: %s", o.Body)
	}
	env.Receiver.Wait("refund.succeeded", "RFND000001", 3, 3*time.Second)
	if got := env.Do("GET", "/v1/orders/RFND000001/refunds/RF00000002", demoKey, nil); got.Str("status") != "SUCCEEDED" || got.Str("amount") != "5.00" {
		t.Fatalf("refund get: %s", got.Body)
	}
	if n := count(t, env, &store.Refund{}, ""); n != 3 {
		t.Fatalf("%d refunds stored, want 3", n)
	}
	unpaid := env.Do("POST", "/v1/orders", demoKey, orderBody("RFND000002", "1.00"))
	if unpaid.Status != 201 {
		t.Fatal(unpaid.Status)
	}
	if r := env.Do("POST", "/v1/orders/RFND000002/refunds", demoKey, map[string]any{"out_refund_no": "RF00000009", "amount": "1.00"}); r.Status != 422 || r.ErrCode() != "ORDER_STATE" {
		t.Fatalf("refund of unpaid order: %d %s", r.Status, r.Body)
	}
}

func TestConcurrentRefundsCannotOverdraw(t *testing.T) {
	env := startCore(t)
	payOrder(t, env, "RACE000001", "10.00", 1000)
	const n = 25 // 25 refunds of 1.00 against 10.00 paid
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := env.Do("POST", "/v1/orders/RACE000001/refunds", demoKey, map[string]any{"out_refund_no": fmt.Sprintf("RACE%06d", i), "amount": "1.00"})
			statuses[i] = r.Status
		}(i)
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, s := range statuses {
		switch s {
		case 201:
			ok++
		case 422:
			refused++
		default:
			t.Fatalf("unexpected status %d in %v", s, statuses)
		}
	}
	if ok != 10 || refused != n-10 {
		t.Fatalf("%d refunds accepted, %d refused; want 10 and %d", ok, refused, n-10)
	}
	o := env.Do("GET", "/v1/orders/RACE000001", demoKey, nil)
	if o.Str("refunded_amount") != "10.00" || o.Str("status") != "REFUNDED" {
		t.Fatalf("order: %s", o.Body)
	}
	var sum int64
	env.App.Store.DB().Model(&store.Refund{}).Where("status = ?", "SUCCEEDED").Select("COALESCE(SUM(amount_minor),0)").Scan(&sum)
	if sum != 1000 {
		t.Fatalf("refunds sum to %d, want 1000", sum)
	}
}

func TestCloseOrder(t *testing.T) {
	env := startCore(t)
	if r := env.Do("POST", "/v1/orders", demoKey, orderBody("CLOS000001", "1.00")); r.Status != 201 {
		t.Fatal(r.Status)
	}
	r := env.Do("POST", "/v1/orders/CLOS000001/close", demoKey, nil)
	if r.Status != 200 || r.Str("status") != "CLOSED" {
		t.Fatalf("close: %d %s", r.Status, r.Body)
	}
	env.Receiver.Wait("order.closed", "CLOS000001", 1, 3*time.Second)
	if again := env.Do("POST", "/v1/orders/CLOS000001/close", demoKey, nil); again.Status != 200 {
		t.Fatalf("close again: %d", again.Status)
	}
	payOrder(t, env, "CLOS000002", "1.00", 100)
	if r := env.Do("POST", "/v1/orders/CLOS000002/close", demoKey, nil); r.Status != 422 || r.ErrCode() != "ORDER_STATE" {
		t.Fatalf("close paid: %d %s", r.Status, r.Body)
	}
	// Paid at the provider but the notification was lost: close finds out.
	if r := env.Do("POST", "/v1/orders", demoKey, orderBody("CLOS000003", "1.00")); r.Status != 201 {
		t.Fatal(r.Status)
	}
	gatewaytest.Book("fake-1").MarkPaid("CLOS000003")
	if r := env.Do("POST", "/v1/orders/CLOS000003/close", demoKey, nil); r.Status != 422 {
		t.Fatalf("close of an order paid at the provider: %d %s", r.Status, r.Body)
	}
	env.WaitStatus(demoKey, "CLOS000003", "PAID", time.Second)
}

func TestWebhookRetriedUntilDelivered(t *testing.T) {
	env := startCore(t)
	env.Receiver.FailNext(3)
	payOrder(t, env, "HOOK000001", "1.00", 100)
	ev := env.Receiver.Wait("order.paid", "HOOK000001", 1, 5*time.Second)
	if !ev[0].SignatureOK || env.Receiver.Hits() != 4 {
		t.Fatalf("signature ok %v, %d attempts; want 4", ev[0].SignatureOK, env.Receiver.Hits())
	}
	// The attempt is recorded just after the merchant's answer arrives.
	var r gatewaytest.Response
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if r = env.Do("GET", "/v1/events/"+ev[0].ID, demoKey, nil); r.Str("status") == "delivered" {
			break
		}
	}
	history, _ := r.JSON["history"].([]any)
	if r.Str("status") != "delivered" || len(history) != 4 {
		t.Fatalf("event: %s", r.Body)
	}
	if r.JSON["attempts"].(float64) != 4 {
		t.Fatalf("attempts %v, want 4", r.JSON["attempts"])
	}
	codes := []float64{}
	for _, h := range history {
		a := h.(map[string]any)
		if _, ok := a["latency_ms"].(float64); !ok || a["at"] == nil {
			t.Fatalf("attempt without latency or time: %v", a)
		}
		codes = append(codes, a["status_code"].(float64))
	}
	if fmt.Sprint(codes) != "[500 500 500 204]" {
		t.Fatalf("attempt codes %v", codes)
	}
	if r := env.Do("GET", "/v1/events/"+ev[0].ID, otherKey, nil); r.Status != 404 {
		t.Fatalf("other merchant sees the event: %d", r.Status)
	}
	if r := env.Do("POST", "/v1/events/"+ev[0].ID+"/redeliver", demoKey, nil); r.Status != 202 {
		t.Fatalf("redeliver: %d %s", r.Status, r.Body)
	}
	env.Receiver.Wait("order.paid", "HOOK000001", 2, 3*time.Second)
}
