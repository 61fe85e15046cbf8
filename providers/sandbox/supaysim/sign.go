package supaysim

import (
	"crypto/md5"
	"crypto/subtle"
	"fmt"
	"sort"
)

// The simulator's own reading of Supay's MD5 rule, kept apart from
// providers/supay on purpose: leave out `sign`, `sign_type` and every
// empty value, order the rest by name (bytes), write name=value pairs
// separated by '&', add "&key=" and the merchant's MD5 key, and hash;
// the signature is the MD5 digest in upper-case hex.

func digestInput(params map[string]string, md5Key string) []byte {
	var names []string
	for name, value := range params {
		if name != "sign" && name != "sign_type" && value != "" {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	var buf []byte
	for _, name := range names {
		buf = append(buf, name...)
		buf = append(buf, '=')
		buf = append(buf, params[name]...)
		buf = append(buf, '&')
	}
	buf = append(buf, "key="...)
	return append(buf, md5Key...)
}

// md5Upper signs params.
func md5Upper(params map[string]string, md5Key string) string {
	return fmt.Sprintf("%X", md5.Sum(digestInput(params, md5Key)))
}

// signatureValid insists on the exact upper-case form.
func signatureValid(params map[string]string, md5Key, got string) bool {
	return subtle.ConstantTimeCompare([]byte(md5Upper(params, md5Key)), []byte(got)) == 1
}
