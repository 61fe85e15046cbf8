package wechatv2

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/paygate/paygate/providers"
)

// Sign types of API v2 (the sign_type field and the mini-program signType).
const (
	SignMD5        = "MD5"
	SignHMACSHA256 = "HMAC-SHA256"
)

// signBase builds the v2 string to sign (wechatpay.md §3): every field but
// "sign" with a non-empty value, sorted by key in byte order, joined as raw
// k=v with "&" (no URL encoding), then "&key=<APIv2 key>".
func signBase(fields map[string]string, apiKey string) string {
	return providers.SignStringWithKey(fields, func(k, v string) bool { return k == "sign" || v == "" }, apiKey)
}

// sign computes the v2 signature: upper-case hex of MD5(base) or of
// HMAC-SHA256(key=apiKey, base).
func sign(fields map[string]string, apiKey, signType string) (string, error) {
	base := signBase(fields, apiKey)
	switch signType {
	case SignMD5:
		sum := md5.Sum([]byte(base))
		return strings.ToUpper(hex.EncodeToString(sum[:])), nil
	case SignHMACSHA256:
		m := hmac.New(sha256.New, []byte(apiKey))
		m.Write([]byte(base))
		return strings.ToUpper(hex.EncodeToString(m.Sum(nil))), nil
	default:
		return "", fmt.Errorf("unsupported sign_type %q (want %s or %s)", signType, SignMD5, SignHMACSHA256)
	}
}

// verify checks fields["sign"] over every other received field. The type
// is the document's sign_type when present, else def; the other type is
// tried as a fallback because WeChat has been seen signing notifications
// of HMAC merchants with MD5 (wechatpay.md §3 pitfall). Both types are
// keyed with the merchant's secret, so the fallback admits no one without
// the key. It returns the type that matched.
func verify(fields map[string]string, apiKey, def string) (string, bool) {
	got := strings.ToUpper(fields["sign"])
	if got == "" {
		return "", false
	}
	first := def
	switch st := fields["sign_type"]; st {
	case "":
	case SignMD5, SignHMACSHA256:
		first = st
	default:
		return "", false
	}
	for _, st := range []string{first, otherSignType(first)} {
		want, err := sign(fields, apiKey, st)
		if err == nil && hmac.Equal([]byte(want), []byte(got)) {
			return st, true
		}
	}
	return "", false
}

func otherSignType(st string) string {
	if st == SignHMACSHA256 {
		return SignMD5
	}
	return SignHMACSHA256
}
