package yabandsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

const testKey = "sim-key"

type answer struct {
	Status  bool           `json:"status"`
	Code    string         `json:"code"`
	Data    map[string]any `json:"data"`
	Message string         `json:"message"`
}

func newSim(t *testing.T) (*Sim, *httptest.Server, func(at time.Time, method string, data map[string]string, mutate func(map[string]any)) answer) {
	t.Helper()
	now := time.Unix(1732672545, 0)
	sim := New(sandbox.Env{Now: func() time.Time { return now }})
	sim.RefundDelay = time.Hour // refunds stay processing in these tests
	if err := sim.AddChannel(providers.Channel{ID: "c1", Kind: Kind, Currency: "EUR",
		Params: providers.Params{"user": "016683", "secret_key": testKey}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	call := func(at time.Time, method string, data map[string]string, mutate func(map[string]any)) answer {
		t.Helper()
		ts := strconv.FormatInt(at.Unix(), 10)
		signed := map[string]string{"user": "016683", "method": method, "time": ts}
		for k, v := range data {
			signed[k] = v
		}
		env := map[string]any{"user": "016683", "method": method, "time": at.Unix(), "data": data, "sign": hmacHex(testKey, signed)}
		if mutate != nil {
			mutate(env)
		}
		body, _ := json.Marshal(env)
		resp, err := http.Post(srv.URL+"/Payments", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var a answer
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("answer %s: %v", raw, err)
		}
		return a
	}
	return sim, srv, func(at time.Time, method string, data map[string]string, mutate func(map[string]any)) answer {
		return call(at, method, data, mutate)
	}
}

func miniPay(orderID, amount string) map[string]string {
	return map[string]string{"pay_method": "online", "sub_pay_method": "WeChat Pay", "order_id": orderID, "amount": amount,
		"currency": "EUR", "description": "d", "timeout": "30", "notify_url": "http://127.0.0.1:1/notify",
		"sub_app_id": "wx1", "sub_open_id": "o1"}
}

func TestSimulatorRefusals(t *testing.T) {
	sim, _, call := newSim(t)
	now := time.Unix(1732672545, 0)

	tests := []struct {
		name   string
		at     time.Time
		data   map[string]string
		mutate func(map[string]any)
		msg    string
	}{
		{"bad signature", now, miniPay("O1", "1.00"), func(e map[string]any) { e["sign"] = strings.Repeat("0", 64) }, "sign error"},
		{"uppercase signature", now, miniPay("O1", "1.00"), func(e map[string]any) { e["sign"] = strings.ToUpper(e["sign"].(string)) }, "sign error"},
		{"tampered after signing", now, miniPay("O1", "1.00"), func(e map[string]any) { e["data"].(map[string]string)["amount"] = "0.10" }, "sign error"},
		{"stale time", now.Add(-10 * time.Minute), miniPay("O1", "1.00"), nil, "time expired"},
		{"unknown user", now, miniPay("O1", "1.00"), func(e map[string]any) { e["user"] = "999999" }, "user does not exist"},
		{"below minimum", now, miniPay("O1", "0.09"), nil, "minimum"},
		{"three decimals", now, miniPay("O1", "1.001"), nil, "amount is invalid"},
		{"no sub_open_id", now, func() map[string]string { d := miniPay("O1", "1.00"); delete(d, "sub_open_id"); return d }(), nil, "sub_open_id is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(tt.at, "v3.CreatePaymentsWechatMiniPay", tt.data, tt.mutate)
			if a.Status || !strings.Contains(a.Message, tt.msg) {
				t.Fatalf("answer = %+v, want a refusal mentioning %q", a, tt.msg)
			}
		})
	}

	a := call(now, "v3.CreatePaymentsWechatMiniPay", miniPay("O2", "10.00"), nil)
	if !a.Status {
		t.Fatalf("create: %+v", a)
	}
	tradeID := a.Data["trade_id"].(string)
	if a := call(now, "v3.CreatePaymentsWechatMiniPay", miniPay("O2", "11.00"), nil); a.Status || !strings.Contains(a.Message, "already exists") {
		t.Fatalf("duplicate order_id with other content: %+v", a)
	}
	if a := call(now, "v3.CreateRefund", map[string]string{"trade_id": tradeID, "refund_amount": "1.00", "refund_currency": "EUR",
		"refund_description": "r"}, nil); a.Status {
		t.Fatalf("refund of an unpaid payment accepted: %+v", a)
	}
	if _, err := sim.Pay(context.Background(), "c1", "O2", sandbox.PayOptions{SkipNotify: true}); err != nil {
		t.Fatal(err)
	}
	if a := call(now, "v3.CancelPayment", map[string]string{"trade_id": tradeID}, nil); a.Status || !strings.Contains(a.Message, "already paid") {
		t.Fatalf("cancel after payment: %+v", a)
	}
	refund := func(amount, currency string) answer {
		return call(now, "v3.CreateRefund", map[string]string{"trade_id": tradeID, "refund_amount": amount,
			"refund_currency": currency, "refund_description": "r"}, nil)
	}
	if a := refund("6.00", "EUR"); !a.Status || a.Data["state"] != "refund processing" {
		t.Fatalf("first refund: %+v", a)
	}
	if a := refund("4.01", "EUR"); a.Status || !strings.Contains(a.Message, "exceeds the refundable amount 4.00") {
		t.Fatalf("refund over the rest (a processing refund counts): %+v", a)
	}
	if a := refund("1.00", "USD"); a.Status {
		t.Fatalf("refund in a foreign currency: %+v", a)
	}
	if a := refund("4.00", "EUR"); !a.Status {
		t.Fatalf("refund of the exact rest: %+v", a)
	}
	if a := call(now, "v3.QueryOrder", map[string]string{"trade_id": "00000000-0000-0000-0000-000000000000"}, nil); a.Status || a.Code != "404" {
		t.Fatalf("unknown trade: %+v", a)
	}
}

func TestSimulatorExpiresUnpaidOrders(t *testing.T) {
	now := time.Unix(1732672545, 0)
	clock := now
	sim := New(sandbox.Env{Now: func() time.Time { return clock }})
	_ = sim.AddChannel(providers.Channel{ID: "c1", Kind: Kind, Currency: "EUR", Params: providers.Params{"user": "u1", "secret_key": testKey}})
	acct := sim.byUser["u1"]
	if _, f := sim.create(httptest.NewRequest("POST", "/Payments", nil), acct, "v3.CreatePaymentsWechatMiniPay", miniPay("O1", "1.00")); f != nil {
		t.Fatal(f.message)
	}
	clock = now.Add(31 * time.Minute)
	if _, err := sim.Pay(context.Background(), "c1", "O1", sandbox.PayOptions{SkipNotify: true}); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("paying an expired order: %v", err)
	}
}
