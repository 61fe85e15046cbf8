package wechatv2sim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// The simulator's signer against the same published vectors the
// adapter's is pinned to (wechatpay.md §3 and §6). Recompute with:
//
//	printf 'appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key=192006250b4c09247ec02edce69f6a2d' | openssl dgst -md5
//	printf '<same>' | openssl dgst -sha256 -hmac 192006250b4c09247ec02edce69f6a2d
//	printf 'appId=wxd678efh567hg6787&nonceStr=5K8264ILTKCH16CQ2502SI8ZNMTM67VS&package=prepay_id=wx2017033010242291fcfe0db70013231072&signType=HMAC-SHA256&timeStamp=1490840662&key=qazwsxedcrfvtgbyhnujmikolp111111' | openssl dgst -sha256 -hmac qazwsxedcrfvtgbyhnujmikolp111111
func TestSignatureVectors(t *testing.T) {
	official := map[string]string{"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "device_info": "1000", "body": "test", "nonce_str": "ibuaiVcKdpRxkhJA"}
	pay := func(st string) map[string]string {
		return map[string]string{"appId": "wxd678efh567hg6787", "nonceStr": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
			"package": "prepay_id=wx2017033010242291fcfe0db70013231072", "signType": st, "timeStamp": "1490840662"}
	}
	for _, tc := range []struct {
		name     string
		doc      map[string]string
		key, st  string
		expected string
	}{
		{"§3 MD5", official, "192006250b4c09247ec02edce69f6a2d", "MD5", "9A0A8659F005D6984697E2CA0A9CF3B7"},
		{"§3 MD5 (sign_type absent = MD5)", official, "192006250b4c09247ec02edce69f6a2d", "", "9A0A8659F005D6984697E2CA0A9CF3B7"},
		{"§3 HMAC-SHA256", official, "192006250b4c09247ec02edce69f6a2d", "HMAC-SHA256", "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"},
		{"§6 paySign MD5", pay("MD5"), "qazwsxedcrfvtgbyhnujmikolp111111", "MD5", "22D9B4E54AB1950F51E0649E8810ACD6"},
		{"§6 paySign HMAC-SHA256", pay("HMAC-SHA256"), "qazwsxedcrfvtgbyhnujmikolp111111", "HMAC-SHA256", "FB9D1EFB5C509131BBFF729F88A99CA2DE9B724D06D3B3262832A53083862BC0"},
	} {
		got, err := Signature(tc.doc, tc.key, tc.st)
		if err != nil || got != tc.expected {
			t.Errorf("%s: %s %v, want %s", tc.name, got, err, tc.expected)
		}
	}
	withSign := map[string]string{"sign": "X", "empty": ""}
	for k, v := range official {
		withSign[k] = v
	}
	if got, _ := Signature(withSign, "192006250b4c09247ec02edce69f6a2d", "MD5"); got != "9A0A8659F005D6984697E2CA0A9CF3B7" {
		t.Errorf("sign and empty fields must be left out: %s", got)
	}
	withSign["sign"] = "9A0A8659F005D6984697E2CA0A9CF3B7"
	if !checkSignature(withSign, "192006250b4c09247ec02edce69f6a2d") {
		t.Error("checkSignature refuses the official vector")
	}
	withSign["body"] = "test2"
	if checkSignature(withSign, "192006250b4c09247ec02edce69f6a2d") {
		t.Error("checkSignature accepts a tampered document")
	}
}

// The simulator's refund-notification encryption reproduces the published
// req_info (silenceper/wechat pay/notify/refund_test.go, same as
// go-pay/gopay wechat/notify_test.go) byte for byte from the plaintext
// it decrypts to (wechatpay.md §5.2):
//
//	base64 -d | openssl enc -d -aes-256-ecb -K $(printf %s a1fdc4d1da9fb443b1091d34bcee9493 | xxd -p -c 100)
func TestEncryptReqInfoVector(t *testing.T) {
	const vector = "YYwp8C48th0wnQzTqeI+41pflB26v+smFj9z6h9RPBgxTyZyxc+4YNEz7QEgZNWj/6rIb2MfyWMZmCc41CfjKSssoSZPXxOhUayb6KvNSZ1p6frOX1PDWzhyruXK7ouNND+gDsG4yZ0XXzsL4/pYNwLLba/71QrnkJ/BHcByk4EXnglju5DLup9pJQSnTxjomI9Rxu57m9jg5lLQFxMWXyeASZJNvof0ulnHlWJswS4OxKOkmW7VEyKyLGV6npoOm03Qsx2wkRxLsSa9gPpg4hdaReeUqh1FMbm7aWjyrVYT/MEZWg98p4GomEIYvz34XfDncTezX4bf/ZiSLXt79aE1/YTZrYfymXeCrGjlbe0rg/T2ezJHAC870u2vsVbY1/KcE2A443N+DEnAziXlBQ1AeWq3Rqk/O6/TMM0lomzgctAOiAMg+bh5+Gu1ubA9O3E+vehULydD5qx2o6i3+qA9ORbH415NyRrQdeFq5vmCiRikp5xYptWiGZA0tkoaLKMPQ4ndE5gWHqiBbGPfULZWokI+QjjhhBmwgbd6J0VqpRorwOuzC/BHdkP72DCdNcm7IDUpggnzBIy0+seWIkcHEryKjge3YDHpJeQCqrAH0CgxXHDt1xtbQbST1VqFyuhPhUjDXMXrknrGPN/oE1t0rLRq+78cI+k8xe5E6seeUXQsEe8r3358mpcDYSmXWSXVZxK6er9EF98APqHwcndyEJD2YyCh/mMVhERuX+7kjlRXSiNUWa/Cv/XAKFQuvUYA5ea2eYWtPRHa4DpyuF1SNsaqVKfgqKXZrJHfAgslVpSVqUpX4zkKszHF4kwMZO3M7J1P94Mxa7Tm9mTOJePOoHPXeEB+m9rX6pSfoi3mJDQ5inJ+Vc4gOkg/Wd/lqiy6TTyP/dHDN6/v+AuJx5AXBo/2NDD3fWhHjkqEKIuARr2ClZt9ZRQO4HkXdZo7CN06sGCHk48Tg8PmxnxKcMZm7Aoquv5yMIM2gWSWIRJhwJ8cUpafIHc+GesDlbF6Zbt+/KXkafJAQq2RklEN+WvZ/zFz113EPgWPjp16TwBoziq96MMekvWKY/vdhjol8VFtGH9F61Oy1Xwf6DJtPw=="
	plain := writeDoc("root", map[string]string{
		"out_refund_no": "50fd012ed1b311e7af7800163e32c503", "out_trade_no": "4893e76d8c8b434cb64e9cd536338e33",
		"refund_account": "REFUND_SOURCE_RECHARGE_FUNDS", "refund_fee": "6", "refund_id": "50000404922017112502468056157",
		"refund_recv_accout": "支付用户零钱", "refund_request_source": "API", "refund_status": "SUCCESS",
		"settlement_refund_fee": "6", "settlement_total_fee": "6", "success_time": "2017-11-25 15:36:17",
		"total_fee": "6", "transaction_id": "4200000015201711256947025404",
	}, true)
	if len(plain) != 820 { // 52 AES blocks after 12 bytes of padding
		t.Fatalf("plaintext is %d bytes: %s", len(plain), plain)
	}
	got, err := EncryptReqInfo(plain, "ziR0QKsTUfMOuochC9RfCdmfHECorQAP")
	if err != nil || got != vector {
		t.Fatalf("req_info\n got %s\nwant %s\n(%v)", got, vector, err)
	}
}

func TestReadDoc(t *testing.T) {
	m, err := readDoc([]byte(`<xml><a><![CDATA[x<y]]></a><b>2</b></xml>`))
	if err != nil || m["a"] != "x<y" || m["b"] != "2" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{
		`<!DOCTYPE xml [<!ENTITY e "x">]><xml><a>&e;</a></xml>`,
		`<xml><a>1</a><a>2</a></xml>`,
		`<xml><a><b>1</b></a></xml>`,
		`<root><a>1</a></root>`,
		`not xml`,
	} {
		if _, err := readDoc([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// --- the simulated endpoints, spoken to in raw XML ---------------------

const (
	key   = "192006250b4c09247ec02edce69f6a2d"
	appid = "wxd930ea5d5a258f4f"
	mchid = "10000100"
)

type rig struct {
	sim    *Simulator
	srv    *httptest.Server
	mu     sync.Mutex
	notify [][]byte
}

func newRig(t *testing.T, params providers.Params) *rig {
	t.Helper()
	r := &rig{}
	mux := http.NewServeMux()
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	r.sim = New(sandbox.Env{Client: r.srv.Client()})
	mux.Handle("/wx/", http.StripPrefix("/wx", r.sim.Handler()))
	mux.HandleFunc("/notify", func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.notify = append(r.notify, b)
		r.mu.Unlock()
		_, _ = w.Write([]byte("<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>"))
	})
	if err := r.sim.AddChannel(providers.Channel{ID: "c1", Kind: Kind, Params: params, NotifyURL: r.srv.URL + "/notify"}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) call(t *testing.T, path string, fields map[string]string, signKey string) map[string]string {
	t.Helper()
	if fields["nonce_str"] == "" {
		fields["nonce_str"] = "abc"
	}
	if signKey != "" {
		fields["sign"], _ = Signature(fields, signKey, fields["sign_type"])
	}
	resp, err := r.srv.Client().Post(r.srv.URL+"/wx"+path, "text/xml", bytes.NewReader(writeDoc("xml", fields, false)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m, err := readDoc(body)
	if err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	if m["return_code"] == "SUCCESS" {
		sig := m["sign"]
		want, _ := Signature(m, key, fields["sign_type"])
		if sig != want {
			t.Fatalf("answer signature %s, want %s", sig, want)
		}
	} else if m["sign"] != "" {
		t.Fatalf("FAIL answer is signed: %v", m)
	}
	return m
}

func unified(no, fee, body string) map[string]string {
	return map[string]string{"appid": appid, "mch_id": mchid, "body": body, "out_trade_no": no, "total_fee": fee,
		"spbill_create_ip": "127.0.0.1", "notify_url": "http://127.0.0.1:1/notify", "trade_type": "JSAPI", "openid": "o1", "sign_type": "HMAC-SHA256"}
}

func TestEndpoints(t *testing.T) {
	r := newRig(t, providers.Params{"appid": appid, "mch_id": mchid, "api_key": key})
	errCode := func(m map[string]string) string {
		if m["return_code"] != "SUCCESS" {
			return "FAIL:" + m["return_msg"]
		}
		if m["result_code"] != "SUCCESS" {
			return m["err_code"]
		}
		return ""
	}
	for _, tc := range []struct {
		name   string
		path   string
		fields map[string]string
		key    string
		want   string
	}{
		{"bad signature", "/pay/unifiedorder", unified("T1", "100", "b"), "wrong-key", "FAIL:签名错误"},
		{"unsigned", "/pay/unifiedorder", unified("T1", "100", "b"), "", "FAIL:签名错误"},
		{"unknown mch_id", "/pay/unifiedorder", func() map[string]string { m := unified("T1", "100", "b"); m["mch_id"] = "1"; return m }(), key, "FAIL:mch_id或sub_mch_id不存在"},
		{"lack body", "/pay/unifiedorder", func() map[string]string { m := unified("T1", "100", "b"); delete(m, "body"); return m }(), key, "LACK_PARAMS"},
		{"lack openid", "/pay/unifiedorder", func() map[string]string { m := unified("T1", "100", "b"); delete(m, "openid"); return m }(), key, "LACK_PARAMS"},
		{"fractional fee", "/pay/unifiedorder", unified("T1", "1.00", "b"), key, "PARAM_ERROR"},
		{"other appid", "/pay/unifiedorder", func() map[string]string { m := unified("T1", "100", "b"); m["appid"] = "wxother"; return m }(), key, "APPID_MCHID_NOT_MATCH"},
		{"sub_openid on a direct merchant", "/pay/unifiedorder", func() map[string]string { m := unified("T1", "100", "b"); m["sub_openid"] = "s"; return m }(), key, "PARAM_ERROR"},
		{"create", "/pay/unifiedorder", unified("T1", "100", "b"), key, ""},
		{"same again", "/pay/unifiedorder", unified("T1", "100", "b"), key, ""},
		{"other fee", "/pay/unifiedorder", unified("T1", "101", "b"), key, "OUT_TRADE_NO_USED"},
		{"other body", "/pay/unifiedorder", unified("T1", "100", "c"), key, "OUT_TRADE_NO_USED"},
		{"query unknown", "/pay/orderquery", map[string]string{"appid": appid, "mch_id": mchid, "out_trade_no": "NX"}, key, "ORDERNOTEXIST"},
		{"query", "/pay/orderquery", map[string]string{"appid": appid, "mch_id": mchid, "out_trade_no": "T1"}, key, ""},
		{"refund unpaid", "/secapi/pay/refund", map[string]string{"appid": appid, "mch_id": mchid, "out_trade_no": "T1", "out_refund_no": "R1", "total_fee": "100", "refund_fee": "1"}, key, "ERROR"},
		{"refundquery unknown", "/pay/refundquery", map[string]string{"appid": appid, "mch_id": mchid, "out_refund_no": "R1"}, key, "REFUNDNOTEXIST"},
	} {
		m := r.call(t, tc.path, tc.fields, tc.key)
		if got := errCode(m); got != tc.want {
			t.Errorf("%s: %q, want %q (%v)", tc.name, got, tc.want, m)
		}
	}

	q := r.call(t, "/pay/orderquery", map[string]string{"appid": appid, "mch_id": mchid, "out_trade_no": "T1"}, key)
	if q["trade_state"] != "NOTPAY" {
		t.Fatalf("query %v", q)
	}
	v, err := r.sim.Pay(context.Background(), "c1", "T1", sandbox.PayOptions{Duplicates: 1})
	if err != nil {
		t.Fatal(err)
	}
	ov := v.(OrderView)
	if ov.TradeState != "SUCCESS" || len(ov.TransactionID) != 28 || !strings.HasPrefix(ov.TransactionID, "4200000") || len(ov.Notifications) != 2 {
		t.Fatalf("pay view %+v", ov)
	}
	// The pay notification went to the order's notify_url (not ours here):
	// its delivery failed, and nothing reached /notify.
	r.mu.Lock()
	n := len(r.notify)
	r.mu.Unlock()
	if n != 0 || ov.Notifications[0].Error == "" {
		t.Fatalf("notifications: %d, %+v", n, ov.Notifications)
	}
	if m := r.call(t, "/pay/unifiedorder", unified("T1", "100", "b"), key); errCode(m) != "ORDERPAID" {
		t.Fatalf("create paid: %v", m)
	}
	if m := r.call(t, "/pay/closeorder", map[string]string{"appid": appid, "mch_id": mchid, "out_trade_no": "T1"}, key); errCode(m) != "ORDERPAID" {
		t.Fatalf("close paid: %v", m)
	}
	refund := func(no, fee string) map[string]string {
		return r.call(t, "/secapi/pay/refund", map[string]string{"appid": appid, "mch_id": mchid, "transaction_id": ov.TransactionID,
			"out_refund_no": no, "total_fee": "100", "refund_fee": fee, "notify_url": r.srv.URL + "/notify"}, key)
	}
	if m := refund("R1", "101"); errCode(m) != "NOTENOUGH" {
		t.Fatalf("refund 101: %v", m)
	}
	m := refund("R1", "70")
	if errCode(m) != "" || len(m["refund_id"]) != 29 || m["refund_fee"] != "70" {
		t.Fatalf("refund: %v", m)
	}
	if m := refund("R2", "31"); errCode(m) != "NOTENOUGH" {
		t.Fatalf("refund over the rest: %v", m)
	}
	if m := refund("R1", "70"); errCode(m) != "" {
		t.Fatalf("refund retry with the same number: %v", m)
	}
	rq := r.call(t, "/pay/refundquery", map[string]string{"appid": appid, "mch_id": mchid, "out_refund_no": "R1"}, key)
	if rq["refund_count"] != "1" || rq["out_refund_no_0"] != "R1" || rq["refund_status_0"] != "PROCESSING" {
		t.Fatalf("refundquery %v", rq)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		rq = r.call(t, "/pay/refundquery", map[string]string{"appid": appid, "mch_id": mchid, "out_refund_no": "R1"}, key)
		if rq["refund_status_0"] == "SUCCESS" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rq["refund_status_0"] != "SUCCESS" || rq["refund_success_time_0"] == "" {
		t.Fatalf("refund did not complete: %v", rq)
	}
	// The refund notification: no sign, an encrypted req_info (the
	// adapter's tests decrypt the simulator's req_info).
	for time.Now().Before(deadline) {
		r.mu.Lock()
		n = len(r.notify)
		r.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.notify) != 1 {
		t.Fatalf("%d refund notifications", len(r.notify))
	}
	nm, err := readDoc(r.notify[0])
	if err != nil || nm["sign"] != "" || nm["req_info"] == "" || nm["mch_id"] != mchid || nm["appid"] != appid {
		t.Fatalf("refund notification %v %v", nm, err)
	}
}

// Service-provider channels are told apart by sub_mch_id; a sub_openid
// needs sub_appid.
func TestServiceProviderAccount(t *testing.T) {
	r := newRig(t, providers.Params{"appid": appid, "mch_id": mchid, "api_key": key, "sub_mch_id": "1900000110", "sub_appid": "wxsub"})
	base := func() map[string]string {
		m := unified("S1", "100", "b")
		delete(m, "openid")
		m["sub_mch_id"] = "1900000110"
		m["sub_openid"] = "so1"
		m["sub_appid"] = "wxsub"
		return m
	}
	if m := r.call(t, "/pay/unifiedorder", base(), key); m["result_code"] != "SUCCESS" || m["sub_mch_id"] != "1900000110" {
		t.Fatalf("SP create: %v", m)
	}
	noSub := base()
	delete(noSub, "sub_mch_id")
	if m := r.call(t, "/pay/unifiedorder", noSub, key); m["return_code"] != "FAIL" {
		t.Fatalf("without sub_mch_id: %v", m)
	}
	noSubApp := base()
	noSubApp["out_trade_no"] = "S2"
	delete(noSubApp, "sub_appid")
	if m := r.call(t, "/pay/unifiedorder", noSubApp, key); m["err_code"] != "LACK_PARAMS" {
		t.Fatalf("sub_openid without sub_appid: %v", m)
	}
	otherSubApp := base()
	otherSubApp["out_trade_no"] = "S3"
	otherSubApp["sub_appid"] = "wxother"
	if m := r.call(t, "/pay/unifiedorder", otherSubApp, key); m["err_code"] != "SUB_APPID_NOT_MATCH" {
		t.Fatalf("other sub_appid: %v", m)
	}
	v, ok := r.sim.Order("c1", "S1")
	if !ok || v.SubOpenID != "so1" || v.OpenID != "" || v.SubAppID != "wxsub" || v.SubMchID != "1900000110" {
		t.Fatalf("order %+v", v)
	}
}
