package vrpayment

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"strings"
)

// macVersion is the x-mac-version header and the first field of the
// signed string.
const macVersion = "1"

// MACValue is the x-mac-value header of wallee API v1 (VR Payment php-sdk
// 4.x ApiClient::getAuthenticationHeaders / calculateHmac):
//
//	base64( HMAC-SHA512( key = base64_decode(secret),
//	                     "1|" + userId + "|" + timestamp + "|" + METHOD + "|" + requestPath ) )
//
// requestPath is the request's path as sent on the wire, including the
// /api prefix (and any prefix of the base URL) and "?query"
// (HttpRequest::getRequestPath), e.g. /api/transaction/read?spaceId=405&id=123.
func MACValue(key []byte, userID, timestamp, method, requestPath string) string {
	m := hmac.New(sha512.New, key)
	m.Write([]byte(strings.Join([]string{macVersion, userID, timestamp, strings.ToUpper(method), requestPath}, "|")))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// DecodeSecret decodes the application user's authentication key as
// VR Payment shows it (standard base64; unpadded is accepted too).
func DecodeSecret(secret string) ([]byte, error) {
	s := strings.TrimSpace(secret)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("params.secret must be the base64 authentication key of the application user")
	}
	return key, nil
}
