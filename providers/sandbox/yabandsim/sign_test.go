package yabandsim

import "testing"

// The same independently computed vectors as providers/yaband/sign_test.go
// (by hand from YB-docs sign.html):
//
// $ printf '%s' 'amount=1.23&currency=EUR&description=test order&method=v3.CreatePaymentsWechatMiniPay&notify_url=https://merchant.example/notify/demo-yaband&order_id=ORDER20241127001&pay_method=online&sub_app_id=wx1234567890abcdef&sub_open_id=oUpF8uMuAJO_M2pxb1Q9zNjWeS6o&sub_pay_method=WeChat Pay&time=1732672545&timeout=30&user=016683' | openssl dgst -sha256 -hmac 'yb_test_secret_4f7a'
// SHA2-256(stdin)= 66ebfc2dade060ee3fbc5ead0e650e69f07e20b127bcedbc3e9e5a5fffdaee66
//
// $ printf '%s' 'amount=1.23&createDate=1732672545&currency=EUR&order_id=ORDER20241127001&paid_time=1732672600&state=paid&sub_pay_method=WeChat Pay&trade_id=8a8aa7c7-66d7-e2cc-e2a6-fff7c77aaefd&transaction_id=4200002425202411272894611438&type=payment&user=016683' | openssl dgst -sha256 -hmac 'yb_test_secret_4f7a'
// SHA2-256(stdin)= 66c682bf202e835fbafb59281d2e0d7bb50073521fc242e8c938523b10838e64
func TestVerifierAgainstVectors(t *testing.T) {
	const key = "yb_test_secret_4f7a"
	request := map[string]string{
		"user": "016683", "method": "v3.CreatePaymentsWechatMiniPay", "time": "1732672545",
		"pay_method": "online", "sub_pay_method": "WeChat Pay", "order_id": "ORDER20241127001",
		"amount": "1.23", "currency": "EUR", "description": "test order", "timeout": "30",
		"notify_url": "https://merchant.example/notify/demo-yaband", "sub_app_id": "wx1234567890abcdef",
		"sub_open_id": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
	}
	const requestSign = "66ebfc2dade060ee3fbc5ead0e650e69f07e20b127bcedbc3e9e5a5fffdaee66"
	if !signatureValid(key, request, requestSign) {
		t.Fatalf("request vector refused; computed %s", hmacHex(key, request))
	}
	request["amount"] = "1.24"
	if signatureValid(key, request, requestSign) {
		t.Fatal("tampered request accepted")
	}

	notify := map[string]string{
		"type": "payment", "user": "016683", "order_id": "ORDER20241127001",
		"trade_id": "8a8aa7c7-66d7-e2cc-e2a6-fff7c77aaefd", "transaction_id": "4200002425202411272894611438",
		"amount": "1.23", "currency": "EUR", "createDate": "1732672545", "state": "paid",
		"sub_pay_method": "WeChat Pay", "paid_time": "1732672600",
	}
	if got := hmacHex(key, notify); got != "66c682bf202e835fbafb59281d2e0d7bb50073521fc242e8c938523b10838e64" {
		t.Fatalf("notification signature = %s", got)
	}
	if signatureValid(key, notify, "66C682BF202E835FBAFB59281D2E0D7BB50073521FC242E8C938523B10838E64") {
		t.Fatal("the simulator insists on lowercase hex")
	}
}
