package yabandsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sort"
)

// This file is the simulator's own reading of Yaband's signature rule
// (YB-docs sign.html), written apart from providers/yaband on purpose:
// pairs "key=value" of every signed field, ordered by key bytes, glued
// with "&", values untouched; HMAC-SHA256 with the secret_key; lowercase
// hex.

// stringToSign joins the signed fields.
func stringToSign(params map[string]string) []byte {
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	var out []byte
	for i, name := range names {
		if i > 0 {
			out = append(out, '&')
		}
		out = append(out, name...)
		out = append(out, '=')
		out = append(out, params[name]...)
	}
	return out
}

// hmacHex is the signature of params under key.
func hmacHex(key string, params map[string]string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(stringToSign(params))
	return hex.EncodeToString(mac.Sum(nil))
}

// signatureValid checks a received signature in constant time. Yaband
// signs in lowercase hex; the simulator insists on it.
func signatureValid(key string, params map[string]string, got string) bool {
	want := hmacHex(key, params)
	return len(got) == len(want) && hmac.Equal([]byte(want), []byte(got))
}
