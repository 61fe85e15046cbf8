package vrpaymentsim

import (
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// hmacSHA512 is HMAC (RFC 2104) over SHA-512 written out by hand, so the
// simulator shares no signing code with the adapter (which uses
// crypto/hmac): H((K ^ opad) || H((K ^ ipad) || msg)), block size 128.
func hmacSHA512(key, msg []byte) []byte {
	const block = 128
	if len(key) > block {
		sum := sha512.Sum512(key)
		key = sum[:]
	}
	ipad := make([]byte, block, block+len(msg))
	opad := make([]byte, block, block+sha512.Size)
	copy(ipad, key)
	copy(opad, key)
	for i := 0; i < block; i++ {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	inner := sha512.Sum512(append(ipad, msg...))
	outer := sha512.Sum512(append(opad, inner[:]...))
	return outer[:]
}

// MAC computes x-mac-value as VR Payment checks it:
// base64(HMAC-SHA512(base64decode(secret), "1|user|ts|METHOD|path?query")).
func MAC(secretBase64, userID, timestamp, method, requestPath string) (string, error) {
	key, err := base64.StdEncoding.DecodeString(secretBase64)
	if err != nil {
		return "", fmt.Errorf("secret is not base64: %w", err)
	}
	msg := "1|" + userID + "|" + timestamp + "|" + method + "|" + requestPath
	return base64.StdEncoding.EncodeToString(hmacSHA512(key, []byte(msg))), nil
}

// authenticate checks the x-mac-* headers of an API call against the
// request line as received (RequestURI: path with any mount prefix, and
// the query) and returns the application user's channel.
func (s *Sim) authenticate(r *http.Request) (*channel, string) {
	h := r.Header
	if h.Get("x-mac-version") != "1" {
		return nil, "x-mac-version must be 1"
	}
	userID, ts, got := h.Get("x-mac-userid"), h.Get("x-mac-timestamp"), h.Get("x-mac-value")
	if userID == "" || ts == "" || got == "" {
		return nil, "x-mac-userid, x-mac-timestamp and x-mac-value are required"
	}
	s.mu.Lock()
	ch := s.byUser[userID]
	s.mu.Unlock()
	if ch == nil {
		return nil, "unknown application user " + userID
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, "x-mac-timestamp must be Unix seconds"
	}
	if d := s.env.Now().Sub(time.Unix(secs, 0)); d > MaxSkew || d < -MaxSkew {
		return nil, "x-mac-timestamp is outside the allowed window"
	}
	want, err := MAC(ch.secret, userID, ts, strings.ToUpper(r.Method), r.RequestURI)
	if err != nil {
		return nil, err.Error()
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return nil, "x-mac-value does not match"
	}
	return ch, ""
}
