package supaysim

import "testing"

// The same independently computed vectors as providers/supay/sign_test.go:
//
// $ printf '%s' 'call_back_url=https://merchant.example/notify/demo-supay&charset=UTF-8&client_ip=203.0.113.7&currency=AUD&goods_desc=test order&goods_name=test order&goods_price=12.30&mch_id=100000123&mch_order_no=ORDER20241127002&pay_amount=12.30&pay_channel=WXPAY&pay_way=JSAPI&quantity=1&recevice_id=200000456&service=create_instant_trade&store_name=Demo Store&subOpenId=oUpF8uMuAJO_M2pxb1Q9zNjWeS6o&timeout_express=30m&version=1.0&key=sp_test_md5_key_9c2e' | md5sum
// c344ee3166c6db28e78f56dccf0f5577  -
//
// $ printf '%s' 'inner_trade_no=202411271530001234567890&mch_id=100000123&notify_type=trade_status_sync&outer_trade_no=ORDER20241127002&trade_amount=12.30&trade_status=TRADE_SUCCESS&key=sp_test_md5_key_9c2e' | md5sum
// 6ebdbca054bee2a611d75169681ba003  -
func TestVerifierAgainstVectors(t *testing.T) {
	const key = "sp_test_md5_key_9c2e"
	request := map[string]string{
		"service": "create_instant_trade", "mch_id": "100000123", "charset": "UTF-8", "version": "1.0", "sign_type": "MD5",
		"call_back_url": "https://merchant.example/notify/demo-supay", "store_name": "Demo Store", "recevice_id": "200000456",
		"mch_order_no": "ORDER20241127002", "pay_way": "JSAPI", "pay_channel": "WXPAY", "subOpenId": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		"currency": "AUD", "pay_amount": "12.30", "goods_name": "test order", "goods_price": "12.30", "quantity": "1",
		"goods_desc": "test order", "timeout_express": "30m", "client_ip": "203.0.113.7", "memo": "",
		"sign": "C344EE3166C6DB28E78F56DCCF0F5577",
	}
	if !signatureValid(request, key, request["sign"]) {
		t.Fatalf("request vector refused; computed %s", md5Upper(request, key))
	}
	if signatureValid(request, key, "c344ee3166c6db28e78f56dccf0f5577") {
		t.Fatal("the simulator insists on upper-case hex")
	}
	request["pay_amount"] = "1.23"
	if signatureValid(request, key, request["sign"]) {
		t.Fatal("tampered request accepted")
	}
	notify := map[string]string{"notify_type": "trade_status_sync", "mch_id": "100000123",
		"inner_trade_no": "202411271530001234567890", "outer_trade_no": "ORDER20241127002",
		"trade_status": "TRADE_SUCCESS", "trade_amount": "12.30", "sign_type": "MD5"}
	if got := md5Upper(notify, key); got != "6EBDBCA054BEE2A611D75169681BA003" {
		t.Fatalf("notification signature = %s", got)
	}
}
