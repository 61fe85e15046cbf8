package supay

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"strings"

	"github.com/paygate/paygate/providers"
)

// SignBase is the string Supay signs (ShopXO SuperPay plugin; ThinkCMF
// superpayService; the same scheme as WeChat Pay v2 MD5): every parameter
// except `sign` and `sign_type`, empty values skipped, sorted by name in
// byte order, joined as raw k=v with '&' (no URL-encoding), then
// "&key=<md5_key>" appended.
func SignBase(params map[string]string, key string) string {
	return providers.SignStringWithKey(params, func(k, v string) bool { return k == "sign" || k == "sign_type" || v == "" }, key)
}

// Sign is the upper-case hex MD5 of SignBase.
func Sign(params map[string]string, key string) string {
	sum := md5.Sum([]byte(SignBase(params, key)))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// verifySign checks a received sign in constant time, ignoring hex case.
func verifySign(params map[string]string, key, got string) bool {
	want := Sign(params, key)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToUpper(strings.TrimSpace(got)))) == 1
}
