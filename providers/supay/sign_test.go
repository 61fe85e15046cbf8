package supay

import "testing"

// Vectors computed independently of this code, by hand from the rule
// (sorted raw k=v without sign/sign_type and empty values, "&key=<md5_key>"
// appended, MD5, upper-case hex). The same vectors pin the simulator's
// verifier (providers/sandbox/supaysim/sign_test.go).
const vectorKey = "sp_test_md5_key_9c2e"

// Request vector (a create_instant_trade):
//
// $ printf '%s' 'call_back_url=https://merchant.example/notify/demo-supay&charset=UTF-8&client_ip=203.0.113.7&currency=AUD&goods_desc=test order&goods_name=test order&goods_price=12.30&mch_id=100000123&mch_order_no=ORDER20241127002&pay_amount=12.30&pay_channel=WXPAY&pay_way=JSAPI&quantity=1&recevice_id=200000456&service=create_instant_trade&store_name=Demo Store&subOpenId=oUpF8uMuAJO_M2pxb1Q9zNjWeS6o&timeout_express=30m&version=1.0&key=sp_test_md5_key_9c2e' | md5sum
// c344ee3166c6db28e78f56dccf0f5577  -
const (
	vectorRequestBase = "call_back_url=https://merchant.example/notify/demo-supay&charset=UTF-8&client_ip=203.0.113.7&currency=AUD&goods_desc=test order&goods_name=test order&goods_price=12.30&mch_id=100000123&mch_order_no=ORDER20241127002&pay_amount=12.30&pay_channel=WXPAY&pay_way=JSAPI&quantity=1&recevice_id=200000456&service=create_instant_trade&store_name=Demo Store&subOpenId=oUpF8uMuAJO_M2pxb1Q9zNjWeS6o&timeout_express=30m&version=1.0&key=sp_test_md5_key_9c2e"
	vectorRequestSign = "C344EE3166C6DB28E78F56DCCF0F5577"
)

func vectorRequestParams() map[string]string {
	return map[string]string{
		"service": "create_instant_trade", "mch_id": "100000123", "charset": "UTF-8", "version": "1.0", "sign_type": "MD5",
		"call_back_url": "https://merchant.example/notify/demo-supay", "store_name": "Demo Store", "recevice_id": "200000456",
		"mch_order_no": "ORDER20241127002", "pay_way": "JSAPI", "pay_channel": "WXPAY", "subOpenId": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		"currency": "AUD", "pay_amount": "12.30", "goods_name": "test order", "goods_price": "12.30", "quantity": "1",
		"goods_desc": "test order", "timeout_express": "30m", "client_ip": "203.0.113.7",
	}
}

// Notification vector (a trade_status_sync form; sign_type and sign are
// not signed):
//
// $ printf '%s' 'inner_trade_no=202411271530001234567890&mch_id=100000123&notify_type=trade_status_sync&outer_trade_no=ORDER20241127002&trade_amount=12.30&trade_status=TRADE_SUCCESS&key=sp_test_md5_key_9c2e' | md5sum
// 6ebdbca054bee2a611d75169681ba003  -
const vectorNotifyBody = "notify_type=trade_status_sync&mch_id=100000123&inner_trade_no=202411271530001234567890&outer_trade_no=ORDER20241127002&trade_status=TRADE_SUCCESS&trade_amount=12.30&sign_type=MD5&sign=6EBDBCA054BEE2A611D75169681BA003"

func TestRequestSignVector(t *testing.T) {
	params := vectorRequestParams()
	params["memo"] = "" // empty values are skipped
	params["sign"] = "IGNORED"
	if got := SignBase(params, vectorKey); got != vectorRequestBase {
		t.Fatalf("base string\n got %s\nwant %s", got, vectorRequestBase)
	}
	if got := Sign(params, vectorKey); got != vectorRequestSign {
		t.Fatalf("sign = %s, want %s", got, vectorRequestSign)
	}
	if Sign(params, "other-key") == vectorRequestSign {
		t.Fatal("the key does not change the signature")
	}
}

func TestNotifySignVector(t *testing.T) {
	fields, err := decodeNotifyBody([]byte(vectorNotifyBody))
	if err != nil {
		t.Fatal(err)
	}
	if !verifySign(fields, vectorKey, fields["sign"]) {
		t.Fatalf("vector notification does not verify; computed %s", Sign(fields, vectorKey))
	}
	if !verifySign(fields, vectorKey, "6ebdbca054bee2a611d75169681ba003") {
		t.Fatal("lower-case hex of the right digest refused")
	}
}
