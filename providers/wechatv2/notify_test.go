package wechatv2

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox/wechatv2sim"
)

func newTestAdapter(t *testing.T, params providers.Params) *Adapter {
	t.Helper()
	p, err := New(providers.Channel{ID: "t", Kind: Kind, Currency: "CNY", NotifyURL: "https://gw.example/notify/t", ServerIP: "10.0.0.1", Params: params}, providers.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Adapter)
}

func directParams() providers.Params {
	return providers.Params{"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "api_key": officialKey}
}

func spParams() providers.Params {
	return providers.Params{"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "api_key": officialKey,
		"sign_type": "HMAC-SHA256", "sub_mch_id": "1900000110", "sub_appid": "wxsub0000000000001"}
}

// payNotifyFields is a pay notification as WeChat sends it (no sign_type).
func payNotifyFields(sp bool) map[string]string {
	f := map[string]string{
		"return_code": "SUCCESS", "appid": "wxd930ea5d5a258f4f", "mch_id": "10000100",
		"nonce_str": "5d2b6c2a8db53831f7eda20af46e531c", "result_code": "SUCCESS",
		"openid": "oUpF8uMEb4qRXf22hE3X68TekukE", "is_subscribe": "Y", "trade_type": "JSAPI",
		"bank_type": "CFT", "total_fee": "1", "fee_type": "CNY", "cash_fee": "1",
		"transaction_id": "1004400740201409030005092168", "out_trade_no": "1409811653",
		"time_end": "20140903131540", "coupon_fee_0": "0", "attach": "支付测试",
	}
	if sp {
		f["sub_mch_id"] = "1900000110"
		f["sub_appid"] = "wxsub0000000000001"
		f["sub_openid"] = "oSub000000000000000000000001"
		delete(f, "openid")
		f["openid"] = "oProvider0000000000000000001"
	}
	return f
}

// signedXML signs fields with the SIMULATOR's signer (independent code)
// and renders them as WeChat does.
func signedXML(t *testing.T, f map[string]string, key, signType string) []byte {
	t.Helper()
	s, err := wechatv2sim.Signature(f, key, signType)
	if err != nil {
		t.Fatal(err)
	}
	f["sign"] = s
	return encodeXML(f)
}

func parse(a *Adapter, body []byte) (providers.Notification, error) {
	r := httptest.NewRequest(http.MethodPost, "/notify/t", strings.NewReader(string(body)))
	return a.ParseNotify(context.Background(), r, body)
}

func TestPayNotifyGood(t *testing.T) {
	a := newTestAdapter(t, directParams())
	n, err := parse(a, signedXML(t, payNotifyFields(false), officialKey, SignMD5))
	if err != nil {
		t.Fatal(err)
	}
	o := n.Order
	if n.Kind != providers.NotifyPayment || n.Hint || o.Status != providers.OrderPaid || o.OutTradeNo != "1409811653" ||
		o.TransactionID != "1004400740201409030005092168" || o.Amount != (providers.Money{Minor: 1, Currency: "CNY"}) ||
		!o.PaidAt.Equal(time.Date(2014, 9, 3, 5, 15, 40, 0, time.UTC)) || o.PayerID != "oUpF8uMEb4qRXf22hE3X68TekukE" {
		t.Fatalf("notification %+v", n)
	}
}

func TestPayNotifyServiceProvider(t *testing.T) {
	a := newTestAdapter(t, spParams())
	n, err := parse(a, signedXML(t, payNotifyFields(true), officialKey, SignHMACSHA256))
	if err != nil {
		t.Fatal(err)
	}
	if n.Order.Status != providers.OrderPaid || n.Order.PayerID != "oSub000000000000000000000001" {
		t.Fatalf("notification %+v", n)
	}
	// HMAC channel, MD5-signed notification without sign_type: accepted
	// by the documented fallback (wechatpay.md §3 pitfall).
	if _, err := parse(a, signedXML(t, payNotifyFields(true), officialKey, SignMD5)); err != nil {
		t.Fatalf("MD5 fallback: %v", err)
	}
	// Explicit sign_type wins.
	f := payNotifyFields(true)
	f["sign_type"] = "HMAC-SHA256"
	if _, err := parse(a, signedXML(t, f, officialKey, SignHMACSHA256)); err != nil {
		t.Fatalf("sign_type HMAC-SHA256: %v", err)
	}
}

func TestPayNotifyRefused(t *testing.T) {
	direct := newTestAdapter(t, directParams())
	sp := newTestAdapter(t, spParams())
	good := func() map[string]string { return payNotifyFields(false) }
	mutate := func(body []byte, old, new string) []byte {
		return []byte(strings.Replace(string(body), old, new, 1))
	}
	genuine := signedXML(t, good(), officialKey, SignMD5)

	wrongMch := good()
	wrongMch["mch_id"] = "10000101"
	wrongApp := good()
	wrongApp["appid"] = "wxotherapp0000000"
	subOnDirect := good()
	subOnDirect["sub_mch_id"] = "1900000110"
	spNoSub := payNotifyFields(true)
	delete(spNoSub, "sub_mch_id")
	spOtherSub := payNotifyFields(true)
	spOtherSub["sub_mch_id"] = "1900000999"
	spOtherSubApp := payNotifyFields(true)
	spOtherSubApp["sub_appid"] = "wxsub0000000000999"
	failReturn := map[string]string{"return_code": "FAIL", "return_msg": "签名失败"}
	noSign := encodeXML(good())
	resultFail := good()
	resultFail["result_code"] = "FAIL"
	resultFail["err_code"] = "PAYERROR"
	resultOdd := good()
	resultOdd["result_code"] = "MAYBE"
	floatFee := good()
	floatFee["total_fee"] = "0.01"

	for _, tc := range []struct {
		name string
		a    *Adapter
		body []byte
		want error
	}{
		{"forged sign", direct, mutate(genuine, "<sign><![CDATA[", "<sign><![CDATA[0"), providers.ErrVerification},
		{"tampered total_fee", direct, mutate(genuine, "<total_fee><![CDATA[1]]>", "<total_fee><![CDATA[100]]>"), providers.ErrVerification},
		{"tampered out_trade_no", direct, mutate(genuine, "1409811653", "1409811654"), providers.ErrVerification},
		{"field removed", direct, mutate(genuine, "<attach><![CDATA[支付测试]]></attach>", ""), providers.ErrVerification},
		{"no sign", direct, noSign, providers.ErrVerification},
		{"wrong key", direct, signedXML(t, good(), "another-key-0000000000000000000000", SignMD5), providers.ErrVerification},
		{"wrong mch_id", direct, signedXML(t, wrongMch, officialKey, SignMD5), providers.ErrChannelMismatch},
		{"wrong appid", direct, signedXML(t, wrongApp, officialKey, SignMD5), providers.ErrChannelMismatch},
		{"sub_mch_id on a direct channel", direct, signedXML(t, subOnDirect, officialKey, SignMD5), providers.ErrChannelMismatch},
		{"SP without sub_mch_id", sp, signedXML(t, spNoSub, officialKey, SignHMACSHA256), providers.ErrChannelMismatch},
		{"SP other sub_mch_id", sp, signedXML(t, spOtherSub, officialKey, SignHMACSHA256), providers.ErrChannelMismatch},
		{"SP other sub_appid", sp, signedXML(t, spOtherSubApp, officialKey, SignHMACSHA256), providers.ErrChannelMismatch},
		{"return_code FAIL", direct, encodeXML(failReturn), providers.ErrMalformed},
		{"odd result_code", direct, signedXML(t, resultOdd, officialKey, SignMD5), providers.ErrMalformed},
		{"fractional total_fee", direct, signedXML(t, floatFee, officialKey, SignMD5), providers.ErrMalformed},
		{"malformed XML", direct, []byte("<xml><return_code>SUCCESS</return_code>"), providers.ErrMalformed},
		{"JSON body", direct, []byte(`{"return_code":"SUCCESS"}`), providers.ErrMalformed},
		{"DOCTYPE", direct, append([]byte(`<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]>`), genuine...), providers.ErrMalformed},
		{"duplicate element", direct, mutate(genuine, "<total_fee>", "<total_fee><![CDATA[100]]></total_fee><total_fee>"), providers.ErrMalformed},
		{"nested element", direct, mutate(genuine, "<attach>", "<attach><x>1</x></attach><attach2>"), providers.ErrMalformed},
	} {
		n, err := parse(tc.a, tc.body)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
			continue
		}
		if n.Order.Status == providers.OrderPaid {
			t.Errorf("%s: refused notification still says PAID", tc.name)
		}
	}
	// A forged notification names the order only as a hint.
	n, _ := parse(direct, mutate(genuine, "<sign><![CDATA[", "<sign><![CDATA[0"))
	if !n.Hint || n.Order.OutTradeNo != "1409811653" || n.Order.Status != "" {
		t.Fatalf("forged notification hint: %+v", n)
	}
	// result_code FAIL, correctly signed: the payment failed.
	n, err := parse(direct, signedXML(t, resultFail, officialKey, SignMD5))
	if err != nil || n.Order.Status != providers.OrderFailed || n.Order.ProviderStatus != "PAYERROR" {
		t.Fatalf("result_code FAIL: %+v %v", n, err)
	}
}

// Refund notification vector, wechatpay.md §5.2: req_info from
// silenceper/wechat pay/notify/refund_test.go (same as go-pay/gopay
// wechat/notify_test.go), APIv2 key ziR0QKsTUfMOuochC9RfCdmfHECorQAP.
// AES key = md5 hex = a1fdc4d1da9fb443b1091d34bcee9493 (printf %s KEY | md5sum);
// decrypt: base64 -d | openssl enc -d -aes-256-ecb -K $(printf %s a1fd... | xxd -p -c 100)
const (
	reqInfoAPIKey = "ziR0QKsTUfMOuochC9RfCdmfHECorQAP"
	reqInfoVector = "YYwp8C48th0wnQzTqeI+41pflB26v+smFj9z6h9RPBgxTyZyxc+4YNEz7QEgZNWj/6rIb2MfyWMZmCc41CfjKSssoSZPXxOhUayb6KvNSZ1p6frOX1PDWzhyruXK7ouNND+gDsG4yZ0XXzsL4/pYNwLLba/71QrnkJ/BHcByk4EXnglju5DLup9pJQSnTxjomI9Rxu57m9jg5lLQFxMWXyeASZJNvof0ulnHlWJswS4OxKOkmW7VEyKyLGV6npoOm03Qsx2wkRxLsSa9gPpg4hdaReeUqh1FMbm7aWjyrVYT/MEZWg98p4GomEIYvz34XfDncTezX4bf/ZiSLXt79aE1/YTZrYfymXeCrGjlbe0rg/T2ezJHAC870u2vsVbY1/KcE2A443N+DEnAziXlBQ1AeWq3Rqk/O6/TMM0lomzgctAOiAMg+bh5+Gu1ubA9O3E+vehULydD5qx2o6i3+qA9ORbH415NyRrQdeFq5vmCiRikp5xYptWiGZA0tkoaLKMPQ4ndE5gWHqiBbGPfULZWokI+QjjhhBmwgbd6J0VqpRorwOuzC/BHdkP72DCdNcm7IDUpggnzBIy0+seWIkcHEryKjge3YDHpJeQCqrAH0CgxXHDt1xtbQbST1VqFyuhPhUjDXMXrknrGPN/oE1t0rLRq+78cI+k8xe5E6seeUXQsEe8r3358mpcDYSmXWSXVZxK6er9EF98APqHwcndyEJD2YyCh/mMVhERuX+7kjlRXSiNUWa/Cv/XAKFQuvUYA5ea2eYWtPRHa4DpyuF1SNsaqVKfgqKXZrJHfAgslVpSVqUpX4zkKszHF4kwMZO3M7J1P94Mxa7Tm9mTOJePOoHPXeEB+m9rX6pSfoi3mJDQ5inJ+Vc4gOkg/Wd/lqiy6TTyP/dHDN6/v+AuJx5AXBo/2NDD3fWhHjkqEKIuARr2ClZt9ZRQO4HkXdZo7CN06sGCHk48Tg8PmxnxKcMZm7Aoquv5yMIM2gWSWIRJhwJ8cUpafIHc+GesDlbF6Zbt+/KXkafJAQq2RklEN+WvZ/zFz113EPgWPjp16TwBoziq96MMekvWKY/vdhjol8VFtGH9F61Oy1Xwf6DJtPw=="
)

func TestReqInfoKeyAndDecryptVector(t *testing.T) {
	if got := string(reqInfoKey(reqInfoAPIKey)); got != "a1fdc4d1da9fb443b1091d34bcee9493" {
		t.Fatalf("AES key %s", got)
	}
	plain, err := decryptReqInfo(reqInfoVector, reqInfoAPIKey)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseXML(plain, "root")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"out_refund_no": "50fd012ed1b311e7af7800163e32c503", "out_trade_no": "4893e76d8c8b434cb64e9cd536338e33",
		"refund_id": "50000404922017112502468056157", "transaction_id": "4200000015201711256947025404",
		"total_fee": "6", "refund_fee": "6", "settlement_total_fee": "6", "settlement_refund_fee": "6",
		"refund_status": "SUCCESS", "success_time": "2017-11-25 15:36:17",
		"refund_account": "REFUND_SOURCE_RECHARGE_FUNDS", "refund_recv_accout": "支付用户零钱", "refund_request_source": "API",
	} {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	if len(m) != 13 {
		t.Errorf("%d fields: %v", len(m), m)
	}
}

func refundNotifyXML(reqInfo string, extra map[string]string) []byte {
	f := map[string]string{"return_code": "SUCCESS", "appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "nonce_str": "abc", "req_info": reqInfo}
	for k, v := range extra {
		f[k] = v
	}
	return encodeXML(f)
}

func TestRefundNotify(t *testing.T) {
	params := directParams()
	params["api_key"] = reqInfoAPIKey
	a := newTestAdapter(t, params)
	n, err := parse(a, refundNotifyXML(reqInfoVector, nil))
	if err != nil {
		t.Fatal(err)
	}
	if n.Kind != providers.NotifyRefund || n.Order.OutTradeNo != "4893e76d8c8b434cb64e9cd536338e33" ||
		n.Order.TransactionID != "4200000015201711256947025404" || n.Refund.OutRefundNo != "50fd012ed1b311e7af7800163e32c503" ||
		n.Refund.ProviderRefundNo != "50000404922017112502468056157" || n.Refund.Status != providers.RefundSucceeded ||
		n.Refund.Amount != (providers.Money{Minor: 6, Currency: "CNY"}) ||
		!n.Refund.SucceededAt.Equal(time.Date(2017, 11, 25, 7, 36, 17, 0, time.UTC)) {
		t.Fatalf("refund notification %+v", n)
	}

	// Flip one character of the last block (padding breaks) and of a
	// middle block (plaintext garbles): both are verification failures.
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	other := directParams() // the official key, not the vector's
	wrongKey := newTestAdapter(t, other)
	for _, tc := range []struct {
		name string
		a    *Adapter
		body []byte
		want error
	}{
		{"wrong key", wrongKey, refundNotifyXML(reqInfoVector, nil), providers.ErrVerification},
		{"tampered last block", a, refundNotifyXML(flip(reqInfoVector, len(reqInfoVector)-6), nil), providers.ErrVerification},
		{"tampered middle block", a, refundNotifyXML(flip(reqInfoVector, 100), nil), providers.ErrVerification},
		{"truncated", a, refundNotifyXML(reqInfoVector[:len(reqInfoVector)-4], nil), providers.ErrVerification},
		{"not base64", a, refundNotifyXML("!!!", nil), providers.ErrVerification},
		{"empty req_info", a, refundNotifyXML("", nil), providers.ErrVerification},
		{"wrong mch_id", a, refundNotifyXML(reqInfoVector, map[string]string{"mch_id": "10000101"}), providers.ErrChannelMismatch},
		{"wrong appid", a, refundNotifyXML(reqInfoVector, map[string]string{"appid": "wxother"}), providers.ErrChannelMismatch},
		{"return_code FAIL", a, refundNotifyXML(reqInfoVector, map[string]string{"return_code": "FAIL"}), providers.ErrMalformed},
	} {
		if _, err := parse(tc.a, tc.body); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestRefundNotifyServiceProviderRoundTrip(t *testing.T) {
	// The simulator's own encryption, decrypted by the adapter.
	a := newTestAdapter(t, spParams())
	plain := []byte("<root><out_refund_no><![CDATA[R1]]></out_refund_no><out_trade_no><![CDATA[T1]]></out_trade_no><refund_fee>5</refund_fee><total_fee>9</total_fee><refund_status><![CDATA[REFUNDCLOSE]]></refund_status><refund_id>5000</refund_id></root>")
	ri, err := wechatv2sim.EncryptReqInfo(plain, officialKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := parse(a, refundNotifyXML(ri, map[string]string{"sub_mch_id": "1900000110"}))
	if err != nil || n.Refund.Status != providers.RefundFailed || n.Refund.Amount.Minor != 5 || n.Order.Amount.Minor != 9 {
		t.Fatalf("%+v %v", n, err)
	}
	if _, err := parse(a, refundNotifyXML(ri, nil)); !errors.Is(err, providers.ErrChannelMismatch) {
		t.Fatalf("SP refund notification without sub_mch_id: %v", err)
	}
}

func TestNotifyAck(t *testing.T) {
	a := newTestAdapter(t, directParams())
	ok := a.NotifyAck(true, "")
	if ok.Status != 200 || ok.ContentType != "text/xml; charset=utf-8" ||
		string(ok.Body) != "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>" {
		t.Fatalf("success ack %+v %s", ok, ok.Body)
	}
	for reason, msg := range map[string]string{
		"verification failed: pay notification signature key=192006250b4c09247ec02edce69f6a2d ]]><x>": "SIGN ERROR",
		providers.ErrChannelMismatch.Error() + ": mch_id":                                             "ACCOUNT MISMATCH",
		providers.ErrMalformed.Error() + ": wechat v2 xml":                                            "BAD REQUEST",
		"database is locked: unknown order 123":                                                       "TRY AGAIN",
		"":                                                                                            "TRY AGAIN",
	} {
		bad := a.NotifyAck(false, reason)
		want := "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[" + msg + "]]></return_msg></xml>"
		if bad.Status != 200 || bad.ContentType != "text/xml; charset=utf-8" || string(bad.Body) != want {
			t.Errorf("failure ack for %q: %d %s", reason, bad.Status, bad.Body)
		}
	}
}
