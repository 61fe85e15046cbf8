package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/store"
)

// overseasConfig has one channel per overseas acquirer, each on its
// in-process sandbox. The poller runs every 20 ms; VR Payment sends no
// callback, so only the poller can find its payments.
const overseasConfig = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
sandbox: true
poller: {interval: 20ms}
webhooks: {interval: 50ms}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - id: yaband-eu
        provider: yaband
        currency: EUR
        base_url: sandbox
        params: {user: "016683", secret_key: "yb-demo-secret-0001", sub_app_id: "wxd930ea5d5a258f4f"}
      - id: yaband-eur-refunds
        provider: yaband
        currency: EUR
        base_url: sandbox
        params: {user: "016684", secret_key: "yb-demo-secret-0002", refund_currency: EUR}
      - id: supay-au
        provider: supay
        base_url: sandbox
        params: {mch_id: "100200300", md5_key: "supay-demo-md5-key", receive_id: "R0001", store_name: "Demo Store"}
      - id: twopaynow-eu
        provider: 2paynow
        base_url: sandbox
        params: {mid: "40025", key: "2pn-demo-key-0001"}
      - id: vr-eu
        provider: vr_payment
        base_url: sandbox
        params: {user_id: "512", secret: "iUR85iWXBRDGmHOUpxBZbogfVByGVKVCzkuj3tAb4Q8=", space_id: "405"}
`

func TestOverseasAcquirersEndToEnd(t *testing.T) {
	// Refunds the poller owns are asked about after RefundFast[0].
	defer func(s []time.Duration) { orders.RefundFast = s }(orders.RefundFast)
	orders.RefundFast = []time.Duration{100 * time.Millisecond}
	defer func(s []time.Duration) { orders.Fast = s }(orders.Fast)
	orders.Fast = []time.Duration{100 * time.Millisecond}

	env := gatewaytest.Start(t, overseasConfig, gatewaytest.Options{})
	tests := []struct {
		channel, no, currency, amount, refund, method string
		payURL                                        bool
		wantTxn                                       bool // the provider reports WeChat's transaction id
	}{
		{"yaband-eu", "YBE2E00001", "EUR", "24.90", "4.90", "wechat", false, true},
		{"yaband-eu", "YBE2E00002", "CNY", "100.00", "10.00", "wechat", false, true},
		{"yaband-eu", "YBE2E00003", "EUR", "5.00", "1.00", "alipay", true, false},
		{"supay-au", "SPE2E00001", "AUD", "12.50", "2.50", "wechat", false, false},
		{"twopaynow-eu", "TPE2E00001", "EUR", "8.99", "1.99", "wechat", true, false},
		{"vr-eu", "VRE2E00001", "EUR", "29.95", "9.95", "wechat", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.channel+"/"+tt.no, func(t *testing.T) {
			body := map[string]any{"channel": tt.channel, "out_trade_no": tt.no, "amount": tt.amount, "currency": tt.currency,
				"description": "Souvenir", "pay_method": tt.method, "payer": map[string]any{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
				"return_url": "https://shop.example/done"}
			created := env.Do("POST", "/v1/orders", demoKey, body)
			if created.Status != 201 {
				t.Fatalf("create: %d %s", created.Status, created.Body)
			}
			if tt.payURL {
				if u := created.Str("pay_url"); !strings.HasPrefix(u, "http") || created.JSON["pay_params"] != nil {
					t.Fatalf("want pay_url only: %s", created.Body)
				}
			} else if pp, _ := created.JSON["pay_params"].(map[string]any); pp["paySign"] == nil || pp["package"] == nil || created.JSON["pay_url"] != nil {
				t.Fatalf("want pay_params only: %s", created.Body)
			}
			if r := env.Pay(tt.channel, tt.no, nil); r.Status != 200 {
				t.Fatalf("sandbox pay: %d %s", r.Status, r.Body)
			}
			paid := env.WaitStatus(demoKey, tt.no, "PAID", 5*time.Second)
			ptn := paid.Str("provider_trade_no")
			if ptn == "" || paid.Str("amount") != tt.amount || paid.Str("currency") != tt.currency {
				t.Fatalf("paid order: %s", paid.Body)
			}
			if tt.wantTxn && !strings.HasPrefix(paid.Str("transaction_id"), "4200") {
				t.Fatalf("transaction_id missing: %s", paid.Body)
			}
			found := env.Do("GET", "/v1/orders?provider_trade_no="+ptn, demoKey, nil)
			if data, _ := found.JSON["data"].([]any); len(data) != 1 || data[0].(map[string]any)["out_trade_no"] != tt.no {
				t.Fatalf("lookup by provider_trade_no: %s", found.Body)
			}
			ev := env.Receiver.Wait("order.paid", tt.no, 1, 3*time.Second)[0]
			if !ev.SignatureOK || ev.Data["provider_trade_no"] != ptn {
				t.Fatalf("order.paid: %v %v", ev.SignatureOK, ev.Data)
			}

			rf := env.Do("POST", "/v1/orders/"+tt.no+"/refunds", demoKey, map[string]any{"out_refund_no": tt.no + "R1", "amount": tt.refund})
			if rf.Status != 201 || rf.Str("status") == "FAILED" {
				t.Fatalf("refund: %d %s", rf.Status, rf.Body)
			}
			rev := env.Receiver.Wait("refund.succeeded", tt.no, 1, 5*time.Second)[0]
			if !rev.SignatureOK || rev.Data["amount"] != tt.refund || rev.Data["currency"] != tt.currency {
				t.Fatalf("refund.succeeded: %v", rev.Data)
			}
			o := env.Do("GET", "/v1/orders/"+tt.no, demoKey, nil)
			if o.Str("status") != "PAID" || o.Str("refunded_amount") != tt.refund {
				t.Fatalf("after refund: %s", o.Body)
			}
			if len(env.Receiver.Matching("order.paid", tt.no)) != 1 {
				t.Fatalf("order.paid sent more than once")
			}
			if tt.channel == "vr-eu" {
				// VR Payment sends nothing: the poller alone found the payment.
				if n := count(t, env, &store.Notification{}, "channel_id = ?", "vr-eu"); n != 0 {
					t.Fatalf("%d notifications on vr-eu, want none", n)
				}
			}
		})
	}
}

func TestOverseasCurrencyRules(t *testing.T) {
	env := gatewaytest.Start(t, overseasConfig, gatewaytest.Options{})
	order := func(channel, no, currency string) gatewaytest.Response {
		return env.Do("POST", "/v1/orders", demoKey, map[string]any{"channel": channel, "out_trade_no": no, "amount": "10.00",
			"currency": currency, "description": "x", "payer": map[string]any{"openid": "o1", "appid": "wxd930ea5d5a258f4f"}})
	}
	for _, tt := range []struct{ channel, currency string }{{"supay-au", "EUR"}, {"vr-eu", "CNY"}, {"twopaynow-eu", "USD"}} {
		if r := order(tt.channel, "CUR"+strings.ToUpper(tt.currency)+"0001", tt.currency); r.Status != 422 || r.ErrCode() != "CURRENCY_NOT_SUPPORTED" {
			t.Fatalf("%s in %s: %d %s", tt.channel, tt.currency, r.Status, r.Body)
		}
	}
	// A channel refunding only in EUR cannot refund a CNY order: 422 before any call.
	if r := order("yaband-eur-refunds", "CURCNY0002", "CNY"); r.Status != 201 {
		t.Fatalf("CNY order: %d %s", r.Status, r.Body)
	}
	env.Pay("yaband-eur-refunds", "CURCNY0002", nil)
	env.WaitStatus(demoKey, "CURCNY0002", "PAID", 3*time.Second)
	r := env.Do("POST", "/v1/orders/CURCNY0002/refunds", demoKey, map[string]any{"out_refund_no": "CURCNY0002R", "amount": "1.00"})
	if r.Status != 422 || r.ErrCode() != "CURRENCY_NOT_SUPPORTED" || !strings.Contains(string(r.Body), "EUR") {
		t.Fatalf("refund of a CNY order on an EUR-refund channel: %d %s", r.Status, r.Body)
	}
	// Without the channel's default appid, Yaband needs payer.appid: a 400 before any call.
	noApp := env.Do("POST", "/v1/orders", demoKey, map[string]any{"channel": "yaband-eur-refunds", "out_trade_no": "CURAPP0001",
		"amount": "1.00", "currency": "EUR", "description": "x", "payer": map[string]any{"openid": "o1"}})
	if noApp.Status != 400 || noApp.ErrField() != "payer.appid" {
		t.Fatalf("missing appid: %d %s", noApp.Status, noApp.Body)
	}
}
