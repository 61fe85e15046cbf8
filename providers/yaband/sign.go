package yaband

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/paygate/paygate/providers"
)

// SignBase is the string Yaband signs (YB-docs sign.html; YB-sdk
// Cryptography::serialize): every key=value pair, sorted by key in byte
// order (case-sensitive, digits before letters), joined by '&', values raw
// (no URL-encoding: "sub_pay_method=WeChat Pay" keeps its space).
func SignBase(fields map[string]string) string { return providers.SignString(fields, nil) }

// Sign returns the lowercase hex HMAC-SHA256 of SignBase(fields) keyed
// with the channel's secret_key.
func Sign(secret string, fields map[string]string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(SignBase(fields)))
	return hex.EncodeToString(m.Sum(nil))
}

// requestSignFields is what a request's sign covers: user, method and time
// of the envelope plus every field of data, flattened to one level (the
// `data` key itself and `sign` are left out; YB-sdk Request::completion).
func requestSignFields(user, method string, unix int64, data map[string]string) map[string]string {
	f := make(map[string]string, len(data)+3)
	for k, v := range data {
		f[k] = v
	}
	f["user"] = user
	f["method"] = method
	f["time"] = strconv.FormatInt(unix, 10)
	return f
}

// verifySign compares a received hex signature with the expected one in
// constant time. Hex case is ignored.
func verifySign(secret string, fields map[string]string, got string) bool {
	want := Sign(secret, fields)
	return hmac.Equal([]byte(want), []byte(strings.ToLower(strings.TrimSpace(got))))
}

// flattenData turns a notification's decoded `data` object (decoded with
// json.Decoder.UseNumber) into the string fields Yaband signed, rendering
// values the way the official PHP SDK does when it concatenates them:
//   - strings as received;
//   - JSON numbers exactly as written on the wire (json.Number keeps the
//     literal, so 1708484735 stays "1708484735" and 100.10 stays "100.10");
//   - null as "" (PHP: "k=");
//   - true as "1", false as "" (PHP string conversion).
//
// Nested objects (only the card flow's `3ds` object is known) are merged
// into the top level, as one third-party integration does before
// verifying; that rule is UNCONFIRMED (docs/providers/yaband.md). Arrays
// and key collisions are refused.
func flattenData(data map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(data))
	var add func(m map[string]any) error
	add = func(m map[string]any) error {
		for k, v := range m {
			if nested, ok := v.(map[string]any); ok {
				if err := add(nested); err != nil {
					return err
				}
				continue
			}
			s, err := scalarString(v)
			if err != nil {
				return fmt.Errorf("field %q: %w", providers.Clip(k, 64), err)
			}
			if _, dup := out[k]; dup {
				return fmt.Errorf("field %q appears twice after flattening", providers.Clip(k, 64))
			}
			out[k] = s
		}
		return nil
	}
	if err := add(data); err != nil {
		return nil, err
	}
	return out, nil
}

// scalarString renders one JSON scalar the PHP way (see flattenData).
func scalarString(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case nil:
		return "", nil
	case bool:
		if t {
			return "1", nil
		}
		return "", nil
	default:
		return "", fmt.Errorf("unsupported JSON value of type %T", v)
	}
}
