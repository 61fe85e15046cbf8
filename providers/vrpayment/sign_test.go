package vrpayment

import (
	"testing"

	"github.com/paygate/paygate/providers/sandbox/vrpaymentsim"
)

// testSecret is a random 32-byte key (openssl rand -base64 32), hex
// 89447ce625970510c6987394a710596e881f541c8654a542ce4ba3ded01be10f.
const testSecret = "iUR85iWXBRDGmHOUpxBZbogfVByGVKVCzkuj3tAb4Q8="

// MAC vectors, each computed independently with OpenSSL 3.0:
//
//	S=iUR85iWXBRDGmHOUpxBZbogfVByGVKVCzkuj3tAb4Q8=
//	printf '%s' '1|512|1700000000|GET|/api/transaction/read?spaceId=405&id=123456789' \
//	  | openssl dgst -sha512 -mac HMAC -macopt hexkey:$(printf '%s' "$S" | base64 -d | xxd -p -c 256) -binary | base64 -w0
//	  -> jNREb71fRPHq/YPxVJwp4QUbVjCzgCS0kAOl+gffiUnOAOqTVKrY8GEy4HxNP6E5q4UL8blYFgfkXq+6sGrDfA==
//	   (the same with: openssl dgst -sha512 -hmac "$(printf '%s' "$S" | base64 -d)" -binary | base64 -w0)
//	printf '%s' '1|512|1700000060|POST|/sandbox/vr_payment/api/refund/refund?spaceId=405' | (same command)
//	  -> P70CuqLkO1E3S65kWtS6SLPDLmmr/Jl9C3nheDhoyXP5hGPzk9wHTz1p2dDOOuZEY9L1JmDatL0ksrvE7fhsiQ==
var macVectors = []struct {
	user, ts, method, path, want string
}{
	{"512", "1700000000", "GET", "/api/transaction/read?spaceId=405&id=123456789",
		"jNREb71fRPHq/YPxVJwp4QUbVjCzgCS0kAOl+gffiUnOAOqTVKrY8GEy4HxNP6E5q4UL8blYFgfkXq+6sGrDfA=="},
	{"512", "1700000060", "POST", "/sandbox/vr_payment/api/refund/refund?spaceId=405",
		"P70CuqLkO1E3S65kWtS6SLPDLmmr/Jl9C3nheDhoyXP5hGPzk9wHTz1p2dDOOuZEY9L1JmDatL0ksrvE7fhsiQ=="},
}

func TestMACVectors(t *testing.T) {
	key, err := DecodeSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range macVectors {
		if got := MACValue(key, v.user, v.ts, v.method, v.path); got != v.want {
			t.Errorf("adapter MACValue(%s %s) = %s, want %s", v.method, v.path, got, v.want)
		}
		// METHOD is upper-cased by the adapter.
		if got := MACValue(key, v.user, v.ts, "get", v.path); v.method == "GET" && got != v.want {
			t.Errorf("lower-case method changes the MAC")
		}
		got, err := vrpaymentsim.MAC(testSecret, v.user, v.ts, v.method, v.path)
		if err != nil || got != v.want {
			t.Errorf("simulator MAC(%s %s) = %s, %v; want %s", v.method, v.path, got, err, v.want)
		}
	}
}

func TestDecodeSecret(t *testing.T) {
	if _, err := DecodeSecret("not base64!"); err == nil {
		t.Error("bad secret accepted")
	}
	a, err1 := DecodeSecret(testSecret)
	b, err2 := DecodeSecret("iUR85iWXBRDGmHOUpxBZbogfVByGVKVCzkuj3tAb4Q8") // unpadded
	if err1 != nil || err2 != nil || string(a) != string(b) || len(a) != 32 {
		t.Errorf("decode: %v %v %d", err1, err2, len(a))
	}
}
