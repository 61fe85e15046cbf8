package twopaynow

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// Sign is 2paynow's signature: lowercase hex MD5 of function + mid +
// timestamp + key, plain concatenation without separators (omnipay-2paynow
// AbstractRequest::makeSign; CompleteRequest verifies notifications the same
// way). It covers neither the amount nor any order number, which is why a
// notification is only a hint (see notify.go).
func Sign(function, mid, timestamp, key string) string {
	sum := md5.Sum([]byte(function + mid + timestamp + key))
	return hex.EncodeToString(sum[:])
}

// verifySign compares a received signature with the expected one in
// constant time; hex case is ignored.
func verifySign(got, function, mid, timestamp, key string) bool {
	want := Sign(function, mid, timestamp, key)
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(got)), []byte(want)) == 1
}
