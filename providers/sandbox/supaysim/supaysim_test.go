package supaysim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

func TestSimulatorRefusalsAndExpiry(t *testing.T) {
	clock := time.Unix(1732672545, 0)
	sim := New(sandbox.Env{Now: func() time.Time { return clock }})
	if err := sim.AddChannel(providers.Channel{ID: "c1", Kind: Kind, Currency: "AUD",
		Params: providers.Params{"mch_id": "100", "md5_key": "k", "receive_id": "200", "store_name": "S"}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	call := func(p map[string]string, mutate func(map[string]string)) map[string]any {
		t.Helper()
		params := map[string]string{"mch_id": "100", "charset": "UTF-8", "version": "1.0", "sign_type": "MD5"}
		for k, v := range p {
			params[k] = v
		}
		params["sign"] = md5Upper(params, "k")
		if mutate != nil {
			mutate(params)
		}
		b, _ := json.Marshal(params)
		resp, err := http.Post(srv.URL+"/api/gateway/merchant/order", "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	create := map[string]string{"service": "create_instant_trade", "mch_order_no": "O1", "recevice_id": "200", "store_name": "S",
		"call_back_url": "http://127.0.0.1:1/n", "pay_amount": "10.00", "goods_name": "g", "pay_way": "JSAPI", "pay_channel": "WXPAY",
		"subOpenId": "o1", "currency": "AUD", "timeout_express": "30m"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range create {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name   string
		params map[string]string
		mutate func(map[string]string)
		msg    string
	}{
		{"bad sign", create, func(p map[string]string) { p["sign"] = strings.Repeat("A", 32) }, "sign error"},
		{"lower-case sign", create, func(p map[string]string) { p["sign"] = strings.ToLower(p["sign"]) }, "sign error"},
		{"tampered", create, func(p map[string]string) { p["pay_amount"] = "0.01" }, "sign error"},
		{"unknown mch_id", create, func(p map[string]string) { p["mch_id"] = "999" }, "mch_id does not exist"},
		{"other receiver", with("recevice_id", "201"), nil, "recevice_id"},
		{"CNY", with("currency", "CNY"), nil, "currency must be AUD"},
		{"no openid", with("subOpenId", ""), nil, "subOpenId is required"},
		{"bad timeout", with("timeout_express", "30x"), nil, "timeout_express"},
	}
	for _, tt := range tests {
		out := call(tt.params, tt.mutate)
		if out["status"] != "F" || !strings.Contains(out["message"].(string), tt.msg) {
			t.Errorf("%s: %v", tt.name, out)
		}
	}
	out := call(create, nil)
	data, _ := out["data"].(map[string]any)
	if out["status"] != "T" || data["result"] != true {
		t.Fatalf("create: %v", out)
	}
	var info map[string]string
	if err := json.Unmarshal([]byte(data["pay_info"].(string)), &info); err != nil || info["paySign"] == "" {
		t.Fatalf("pay_info is not a JSON string of pay parameters: %v", data["pay_info"])
	}
	if out := call(with("pay_amount", "11.00"), nil); out["status"] != "F" {
		t.Fatalf("duplicate with other content: %v", out)
	}
	query := map[string]string{"service": "query_trade", "mch_order_no": "O1", "trade_type": "JSAPI"}
	if out := call(map[string]string{"service": "query_trade", "mch_order_no": "O1"}, nil); out["status"] != "F" {
		t.Fatalf("query without trade_type: %v", out)
	}
	refund := map[string]string{"service": "create_refund", "mch_order_no": "R1", "orig_mch_order_no": "O1", "refund_amount": "1.00"}
	if out := call(refund, nil); out["status"] != "F" || !strings.Contains(out["message"].(string), "not paid") {
		t.Fatalf("refund of an unpaid order: %v", out)
	}
	clock = clock.Add(31 * time.Minute)
	if out := call(query, nil); out["data"].(map[string]any)["trade_status"] != "TRADE_CLOSED" {
		t.Fatalf("expired order: %v", out)
	}
	if _, err := sim.Pay(context.Background(), "c1", "O1", sandbox.PayOptions{SkipNotify: true}); err == nil {
		t.Fatal("paid an expired order")
	}
}
