package wechatv2

import (
	"testing"
)

// Official v2 signing vector, wechatpay.md §3
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3). Recomputed with:
//
//	printf 'appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key=192006250b4c09247ec02edce69f6a2d' | openssl dgst -md5
//	printf '<same string>' | openssl dgst -sha256 -hmac 192006250b4c09247ec02edce69f6a2d
var officialFields = map[string]string{
	"appid":       "wxd930ea5d5a258f4f",
	"mch_id":      "10000100",
	"device_info": "1000",
	"body":        "test",
	"nonce_str":   "ibuaiVcKdpRxkhJA",
}

const (
	officialKey  = "192006250b4c09247ec02edce69f6a2d"
	officialBase = "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key=192006250b4c09247ec02edce69f6a2d"
	officialMD5  = "9A0A8659F005D6984697E2CA0A9CF3B7"
	officialHMAC = "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
)

// Mini-program paySign vector, wechatpay.md §6
// (https://pay.weixin.qq.com/doc/v2/merchant/4011939566): MD5 is the
// official value; the HMAC variant (signType=HMAC-SHA256) was computed with
//
//	printf 'appId=wxd678efh567hg6787&nonceStr=5K8264ILTKCH16CQ2502SI8ZNMTM67VS&package=prepay_id=wx2017033010242291fcfe0db70013231072&signType=HMAC-SHA256&timeStamp=1490840662&key=qazwsxedcrfvtgbyhnujmikolp111111' | openssl dgst -sha256 -hmac qazwsxedcrfvtgbyhnujmikolp111111
const (
	payKey      = "qazwsxedcrfvtgbyhnujmikolp111111"
	paySignMD5  = "22D9B4E54AB1950F51E0649E8810ACD6"
	paySignHMAC = "FB9D1EFB5C509131BBFF729F88A99CA2DE9B724D06D3B3262832A53083862BC0"
)

func payVector(signType string) map[string]string {
	return map[string]string{
		"appId":     "wxd678efh567hg6787",
		"nonceStr":  "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
		"package":   "prepay_id=wx2017033010242291fcfe0db70013231072",
		"signType":  signType,
		"timeStamp": "1490840662",
	}
}

func TestSignOfficialVector(t *testing.T) {
	if got := signBase(officialFields, officialKey); got != officialBase {
		t.Fatalf("base string\n got %s\nwant %s", got, officialBase)
	}
	for _, tc := range []struct{ signType, want string }{
		{SignMD5, officialMD5},
		{SignHMACSHA256, officialHMAC},
	} {
		got, err := sign(officialFields, officialKey, tc.signType)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %s, %v; want %s", tc.signType, got, err, tc.want)
		}
	}
}

func TestSignBaseRules(t *testing.T) {
	f := map[string]string{"b": "2", "a": "1", "sign": "XXX", "empty": "", "B": "x y&z", "sign_type": "MD5"}
	// Byte order puts "B" before "a"; sign and empty values are left
	// out; sign_type is included; values are raw (no URL encoding).
	want := "B=x y&z&a=1&b=2&sign_type=MD5&key=K"
	if got := signBase(f, "K"); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := sign(f, "K", "SHA1"); err == nil {
		t.Fatal("unknown sign type accepted")
	}
}

func TestPaySignVector(t *testing.T) {
	for _, tc := range []struct{ signType, want string }{
		{SignMD5, paySignMD5},
		{SignHMACSHA256, paySignHMAC},
	} {
		got, err := sign(payVector(tc.signType), payKey, tc.signType)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %s, %v; want %s", tc.signType, got, err, tc.want)
		}
	}
}

// payParams signs exactly appId, nonceStr, package, signType, timeStamp.
func TestPayParamsSignExactlyFiveFields(t *testing.T) {
	for _, st := range []string{SignMD5, SignHMACSHA256} {
		a := &Adapter{cfg: config{apiKey: payKey, signType: st}, now: fixedNow(1490840662)}
		p, err := a.payParams("wxd678efh567hg6787", "wx2017033010242291fcfe0db70013231072")
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 6 || p["timeStamp"] != "1490840662" || p["signType"] != st || p["package"] != "prepay_id=wx2017033010242291fcfe0db70013231072" || len(p["nonceStr"]) != 32 {
			t.Fatalf("%s: params %v", st, p)
		}
		// Put the vector's nonce in and re-sign: must equal the vector.
		v := payVector(st)
		v["nonceStr"] = p["nonceStr"]
		want, _ := sign(v, payKey, st)
		if p["paySign"] != want {
			t.Errorf("%s: paySign %s is not the signature of the five fields (%s)", st, p["paySign"], want)
		}
	}
}

func TestVerify(t *testing.T) {
	md5Doc := copyMap(officialFields)
	md5Doc["sign"] = officialMD5
	hmacDoc := copyMap(officialFields)
	hmacDoc["sign"] = officialHMAC
	typedHMAC := copyMap(officialFields)
	typedHMAC["sign_type"] = SignHMACSHA256
	typedHMAC["sign"], _ = sign(typedHMAC, officialKey, SignHMACSHA256)
	typedMD5LiesHMAC := copyMap(typedHMAC)
	typedMD5LiesHMAC["sign_type"] = "SHA1"
	lower := copyMap(md5Doc)
	lower["sign"] = "9a0a8659f005d6984697e2ca0a9cf3b7"
	tampered := copyMap(md5Doc)
	tampered["body"] = "test2"
	extra := copyMap(officialFields)
	extra["new_field_wechat_added"] = "v"
	extra["sign"], _ = sign(extra, officialKey, SignMD5)
	extraDropped := copyMap(extra)
	delete(extraDropped, "new_field_wechat_added")

	for _, tc := range []struct {
		name   string
		doc    map[string]string
		def    string
		ok     bool
		usedAs string
	}{
		{"md5 with md5 default", md5Doc, SignMD5, true, SignMD5},
		{"hmac with hmac default", hmacDoc, SignHMACSHA256, true, SignHMACSHA256},
		{"md5-signed for an HMAC channel (fallback)", md5Doc, SignHMACSHA256, true, SignMD5},
		{"hmac-signed for an MD5 channel (fallback)", hmacDoc, SignMD5, true, SignHMACSHA256},
		{"sign_type field wins", typedHMAC, SignMD5, true, SignHMACSHA256},
		{"unknown sign_type refused", typedMD5LiesHMAC, SignMD5, false, ""},
		{"lower-case hex accepted", lower, SignMD5, true, SignMD5},
		{"tampered field", tampered, SignMD5, false, ""},
		{"unknown extra field is signed over", extra, SignMD5, true, SignMD5},
		{"dropping a received field breaks it", extraDropped, SignMD5, false, ""},
		{"no sign", copyMap(officialFields), SignMD5, false, ""},
	} {
		used, ok := verify(tc.doc, officialKey, tc.def)
		if ok != tc.ok || used != tc.usedAs {
			t.Errorf("%s: verify = %q, %v; want %q, %v", tc.name, used, ok, tc.usedAs, tc.ok)
		}
	}
	if _, ok := verify(md5Doc, "another-key-000000000000000000000", SignMD5); ok {
		t.Error("wrong key verified")
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
