package cloudpaysim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

func newSim(t *testing.T) (*Simulator, *httptest.Server) {
	s := New(sandbox.Env{})
	if err := s.AddChannel(providers.Channel{ID: "c", Kind: Kind, Params: providers.Params{
		"sub_mch_id": "1712734762", "sub_appid": "wxd2565e6a04246fd1", "env_id": "prod-1"}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func post(t *testing.T, srv *httptest.Server, path string, body map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

func orderBody(no string) map[string]any {
	return map[string]any{"body": "测试微信支付", "openid": "oZp5njTTsWaCeEoXi14oeOVCKlik", "out_trade_no": no,
		"spbill_create_ip": "59.37.125.120", "env_id": "prod-1", "sub_mch_id": "1712734762", "total_fee": 1,
		"callback_type": 2, "container": map[string]any{"service": "pay", "path": "/"}, "nonce_str": "n1", "trade_type": "JSAPI"}
}

func TestUnifiedOrderChecks(t *testing.T) {
	_, srv := newSim(t)
	good := post(t, srv, "/_/pay/unifiedOrder", orderBody("T0001"))
	rd := good["respdata"].(map[string]any)
	if good["errcode"].(float64) != 0 || rd["return_code"] != "SUCCESS" || rd["result_code"] != "SUCCESS" || rd["payment"] == nil {
		t.Fatalf("good order: %v", good)
	}
	// The lower-case spelling of one doc copy is accepted too.
	if rd := post(t, srv, "/_/pay/unifiedorder", orderBody("T0001"))["respdata"].(map[string]any); rd["result_code"] != "SUCCESS" {
		t.Fatalf("unifiedorder: %v", rd)
	}
	for _, tt := range []struct {
		name string
		mut  func(map[string]any)
		want string // return_msg or err_code
	}{
		{"no sub_mch_id", func(m map[string]any) { delete(m, "sub_mch_id") }, "受理机构必须传入sub_mch_id"},
		{"unbound sub_mch_id", func(m map[string]any) { m["sub_mch_id"] = "1900000109" }, "受理关系不存在"},
		{"mch_id sent", func(m map[string]any) { m["mch_id"] = "1800780001" }, "mch_id must not be sent to cloud pay"},
		{"sign sent", func(m map[string]any) { m["sign"] = "X" }, "sign must not be sent to cloud pay"},
		{"other env", func(m map[string]any) { m["env_id"] = "prod-2" }, `env_id "prod-2" is not the environment prod-1`},
		{"no callback_type", func(m map[string]any) { delete(m, "callback_type") }, "callback_type is required (1 cloud function, 2 Cloud Run)"},
		{"container without service", func(m map[string]any) { m["container"] = map[string]any{"path": "/"} }, "container {service, path} is required with callback_type 2"},
		{"function without name", func(m map[string]any) { m["callback_type"] = 1 }, "function_name is required with callback_type 1"},
		{"fen as string", func(m map[string]any) { m["total_fee"] = "1" }, "total_fee must be a positive integer (fen)"},
		{"fractional fen", func(m map[string]any) { m["total_fee"] = 1.5 }, "total_fee must be a positive integer (fen)"},
		{"no openid", func(m map[string]any) { delete(m, "openid") }, "openid is required for trade_type JSAPI"},
		{"no nonce", func(m map[string]any) { delete(m, "nonce_str") }, "nonce_str is required (at most 32 characters)"},
		{"same number, other amount", func(m map[string]any) { m["total_fee"] = 2 }, "OUT_TRADE_NO_USED"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := orderBody("T0001")
			tt.mut(m)
			rd := post(t, srv, "/_/pay/unifiedOrder", m)["respdata"].(map[string]any)
			if rd["return_msg"] != tt.want && rd["err_code"] != tt.want {
				t.Fatalf("respdata = %v, want %q", rd, tt.want)
			}
		})
	}
	resp, err := http.Post(srv.URL+"/_/pay/queryorder", "text/plain", bytes.NewReader([]byte(`{}`)))
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("text/plain accepted: %v %v", resp, err)
	}
}

func TestPayQueryRefund(t *testing.T) {
	s, srv := newSim(t)
	post(t, srv, "/_/pay/unifiedOrder", orderBody("T0002"))
	if _, err := s.Pay(context.Background(), "c", "T0002", sandbox.PayOptions{}); err != nil {
		t.Fatal(err)
	}
	q := post(t, srv, "/_/pay/queryorder", map[string]any{"sub_mch_id": "1712734762", "nonce_str": "n", "out_trade_no": "T0002"})["respdata"].(map[string]any)
	tx, _ := q["transaction_id"].(string)
	if q["trade_state"] != "SUCCESS" || len(tx) != 28 || tx[:4] != "4200" || q["total_fee"].(float64) != 1 {
		t.Fatalf("query: %v", q)
	}
	if c := post(t, srv, "/_/pay/closeorder", map[string]any{"sub_mch_id": "1712734762", "nonce_str": "n", "out_trade_no": "T0002"})["respdata"].(map[string]any); c["err_code"] != "ORDERPAID" {
		t.Fatalf("close paid: %v", c)
	}
	ref := map[string]any{"sub_mch_id": "1712734762", "nonce_str": "n", "transaction_id": tx, "out_refund_no": "R1", "total_fee": 1, "refund_fee": 2,
		"env_id": "prod-1", "callback_type": 1, "function_name": "f"}
	if r := post(t, srv, "/_/pay/refund", ref)["respdata"].(map[string]any); r["err_code"] != "NOTENOUGH" {
		t.Fatalf("over-refund: %v", r)
	}
	ref["refund_fee"] = 1
	if r := post(t, srv, "/_/pay/refund", ref)["respdata"].(map[string]any); r["result_code"] != "SUCCESS" || r["refund_id"] == nil {
		t.Fatalf("refund: %v", r)
	}
	qr := post(t, srv, "/_/pay/queryrefund", map[string]any{"sub_mch_id": "1712734762", "nonce_str": "n", "out_refund_no": "R1"})["respdata"].(map[string]any)
	if qr["out_refund_no_0"] != "R1" || (qr["refund_status_0"] != "PROCESSING" && qr["refund_status_0"] != "SUCCESS") {
		t.Fatalf("queryrefund: %v", qr)
	}
	if nf := post(t, srv, "/_/pay/queryrefund", map[string]any{"sub_mch_id": "1712734762", "nonce_str": "n", "out_refund_no": "R9"})["respdata"].(map[string]any); nf["err_code"] != "REFUNDNOTEXIST" {
		t.Fatalf("unknown refund: %v", nf)
	}
}
