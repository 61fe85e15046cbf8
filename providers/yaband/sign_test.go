package yaband

import (
	"encoding/json"
	"testing"
)

// Test vectors computed independently of this code, by hand from the
// rule in YB-docs sign.html (sorted raw k=v joined by '&', HMAC-SHA256
// with secret_key, lowercase hex). The same vectors pin the simulator's
// verifier (providers/sandbox/yabandsim/sign_test.go).
const vectorSecret = "yb_test_secret_4f7a"

// Request vector: a v3.CreatePaymentsWechatMiniPay for user 016683 at
// time 1732672545. Base string (user, method and time merged with data):
//
//	amount=1.23&currency=EUR&description=test order&method=v3.CreatePaymentsWechatMiniPay&notify_url=https://merchant.example/notify/demo-yaband&order_id=ORDER20241127001&pay_method=online&sub_app_id=wx1234567890abcdef&sub_open_id=oUpF8uMuAJO_M2pxb1Q9zNjWeS6o&sub_pay_method=WeChat Pay&time=1732672545&timeout=30&user=016683
//
// $ printf '%s' 'amount=1.23&currency=EUR&description=test order&method=v3.CreatePaymentsWechatMiniPay&notify_url=https://merchant.example/notify/demo-yaband&order_id=ORDER20241127001&pay_method=online&sub_app_id=wx1234567890abcdef&sub_open_id=oUpF8uMuAJO_M2pxb1Q9zNjWeS6o&sub_pay_method=WeChat Pay&time=1732672545&timeout=30&user=016683' | openssl dgst -sha256 -hmac 'yb_test_secret_4f7a'
// SHA2-256(stdin)= 66ebfc2dade060ee3fbc5ead0e650e69f07e20b127bcedbc3e9e5a5fffdaee66
const (
	vectorRequestBase = "amount=1.23&currency=EUR&description=test order&method=v3.CreatePaymentsWechatMiniPay&notify_url=https://merchant.example/notify/demo-yaband&order_id=ORDER20241127001&pay_method=online&sub_app_id=wx1234567890abcdef&sub_open_id=oUpF8uMuAJO_M2pxb1Q9zNjWeS6o&sub_pay_method=WeChat Pay&time=1732672545&timeout=30&user=016683"
	vectorRequestSign = "66ebfc2dade060ee3fbc5ead0e650e69f07e20b127bcedbc3e9e5a5fffdaee66"
)

var vectorRequestData = map[string]string{
	"pay_method":     "online",
	"sub_pay_method": "WeChat Pay",
	"order_id":       "ORDER20241127001",
	"amount":         "1.23",
	"currency":       "EUR",
	"description":    "test order",
	"timeout":        "30",
	"notify_url":     "https://merchant.example/notify/demo-yaband",
	"sub_app_id":     "wx1234567890abcdef",
	"sub_open_id":    "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
}

// Notification vector: `data` of a payment notification, with createDate
// sent as a JSON *number* (the finance notify sends time that way), so it
// must be signed exactly as written. Base string (data fields only):
//
//	amount=1.23&createDate=1732672545&currency=EUR&order_id=ORDER20241127001&paid_time=1732672600&state=paid&sub_pay_method=WeChat Pay&trade_id=8a8aa7c7-66d7-e2cc-e2a6-fff7c77aaefd&transaction_id=4200002425202411272894611438&type=payment&user=016683
//
// $ printf '%s' 'amount=1.23&createDate=1732672545&currency=EUR&order_id=ORDER20241127001&paid_time=1732672600&state=paid&sub_pay_method=WeChat Pay&trade_id=8a8aa7c7-66d7-e2cc-e2a6-fff7c77aaefd&transaction_id=4200002425202411272894611438&type=payment&user=016683' | openssl dgst -sha256 -hmac 'yb_test_secret_4f7a'
// SHA2-256(stdin)= 66c682bf202e835fbafb59281d2e0d7bb50073521fc242e8c938523b10838e64
const (
	vectorNotifyBody = `{"sign":"66c682bf202e835fbafb59281d2e0d7bb50073521fc242e8c938523b10838e64","data":{"type":"payment","user":"016683","order_id":"ORDER20241127001","trade_id":"8a8aa7c7-66d7-e2cc-e2a6-fff7c77aaefd","transaction_id":"4200002425202411272894611438","amount":"1.23","currency":"EUR","createDate":1732672545,"state":"paid","sub_pay_method":"WeChat Pay","paid_time":"1732672600"}}`
	vectorNotifyBase = "amount=1.23&createDate=1732672545&currency=EUR&order_id=ORDER20241127001&paid_time=1732672600&state=paid&sub_pay_method=WeChat Pay&trade_id=8a8aa7c7-66d7-e2cc-e2a6-fff7c77aaefd&transaction_id=4200002425202411272894611438&type=payment&user=016683"
	vectorNotifySign = "66c682bf202e835fbafb59281d2e0d7bb50073521fc242e8c938523b10838e64"
)

func TestRequestSignVector(t *testing.T) {
	fields := requestSignFields("016683", MethodCreateMiniPay, 1732672545, vectorRequestData)
	if got := SignBase(fields); got != vectorRequestBase {
		t.Fatalf("base string\n got %s\nwant %s", got, vectorRequestBase)
	}
	if got := Sign(vectorSecret, fields); got != vectorRequestSign {
		t.Fatalf("sign = %s, want %s", got, vectorRequestSign)
	}
	if Sign("another-secret", fields) == vectorRequestSign {
		t.Fatal("the key does not change the signature")
	}
}

func TestNotifySignVector(t *testing.T) {
	sign, data, err := decodeNotifyBody([]byte(vectorNotifyBody))
	if err != nil {
		t.Fatal(err)
	}
	if _, isNumber := data["createDate"].(json.Number); !isNumber {
		t.Fatalf("createDate decoded as %T, want json.Number", data["createDate"])
	}
	fields, err := flattenData(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := SignBase(fields); got != vectorNotifyBase {
		t.Fatalf("base string\n got %s\nwant %s", got, vectorNotifyBase)
	}
	if sign != vectorNotifySign || !verifySign(vectorSecret, fields, sign) {
		t.Fatalf("vector signature does not verify")
	}
}

func TestSignBaseOrderAndRawValues(t *testing.T) {
	got := SignBase(map[string]string{
		"b":            "x y",
		"a":            "https://h/p?q=1&r=2",
		"3ds_initiate": "1",
		"B":            "upper",
		"ab":           "",
	})
	// Byte order: digits < upper case < lower case; "a" < "ab"; no URL-encoding.
	want := "3ds_initiate=1&B=upper&a=https://h/p?q=1&r=2&ab=&b=x y"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestFlattenDataRendering(t *testing.T) {
	tests := []struct {
		name string
		json string
		want map[string]string
		err  bool
	}{
		{"strings", `{"a":"1.10","b":"x"}`, map[string]string{"a": "1.10", "b": "x"}, false},
		{"number literal kept", `{"time":1708484735,"amount":100.10,"e":1e3}`, map[string]string{"time": "1708484735", "amount": "100.10", "e": "1e3"}, false},
		{"null and bools like PHP", `{"m":null,"t":true,"f":false}`, map[string]string{"m": "", "t": "1", "f": ""}, false},
		{"nested object merged", `{"a":"1","3ds":{"eci":"05"}}`, map[string]string{"a": "1", "eci": "05"}, false},
		{"array refused", `{"a":["x"]}`, nil, true},
		{"collision refused", `{"eci":"1","3ds":{"eci":"05"}}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := decodeObject(json.RawMessage(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			got, err := flattenData(m)
			if tt.err {
				if err == nil {
					t.Fatalf("want an error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}
