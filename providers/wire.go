package providers

import (
	"sort"
	"strings"
	"time"
)

// ChinaTime is China Standard Time (Asia/Shanghai: UTC+8, no DST since
// 1991), the zone of WeChat Pay's times and of acquirers who follow it. A
// fixed zone needs no tzdata on the host.
var ChinaTime = time.FixedZone("Asia/Shanghai", 8*3600)

// BadResponse is a provider answer that failed verification or could
// not be read: an unknown outcome, asked again later.
func BadResponse(format string, args ...any) *Error {
	return Errorf(ErrCodeBadResponse, "", format, args...)
}

// Rejected is a request refused for good (by the provider or by the
// adapter before sending it).
func Rejected(format string, args ...any) *Error {
	return Errorf(ErrCodeRejected, "", format, args...)
}

// SignString is the string several providers sign: fields as raw k=v
// pairs (no URL encoding), sorted by key in byte order and joined by
// '&'. omit, when set, leaves fields out (the signature itself, empty
// values).
func SignString(fields map[string]string, omit func(key, value string) bool) string {
	keys := make([]string, 0, len(fields))
	for k, v := range fields {
		if omit == nil || !omit(k, v) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(fields[k])
	}
	return b.String()
}

// FirstNonEmpty returns the first of values that is not empty.
func FirstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// SignStringWithKey is SignString followed by "&key=" and the merchant's
// key, as WeChat Pay v2 and the protocols copied from it sign.
func SignStringWithKey(fields map[string]string, omit func(key, value string) bool, key string) string {
	base := SignString(fields, omit)
	if base != "" {
		base += "&"
	}
	return base + "key=" + key
}
