package vrpaymentsim

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// The simulator's verifier against the OpenSSL vector (see
// providers/vrpayment/mac_test.go for the command):
// secret iUR85iWXBRDGmHOUpxBZbogfVByGVKVCzkuj3tAb4Q8=, user 512, ts
// 1700000000, "GET /api/transaction/read?spaceId=405&id=123456789".
func TestVerifierOpenSSLVector(t *testing.T) {
	now := time.Unix(1700000000, 0)
	s := New(sandbox.Env{Now: func() time.Time { return now }})
	if err := s.AddChannel(providers.Channel{ID: "c", Kind: Kind, Currency: "EUR", Params: providers.Params{
		"user_id": "512", "secret": "iUR85iWXBRDGmHOUpxBZbogfVByGVKVCzkuj3tAb4Q8=", "space_id": "405"}}); err != nil {
		t.Fatal(err)
	}
	const vector = "jNREb71fRPHq/YPxVJwp4QUbVjCzgCS0kAOl+gffiUnOAOqTVKrY8GEy4HxNP6E5q4UL8blYFgfkXq+6sGrDfA=="
	call := func(method, uri, value, ts string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, uri, nil)
		req.Header.Set("x-mac-version", "1")
		req.Header.Set("x-mac-userid", "512")
		req.Header.Set("x-mac-timestamp", ts)
		req.Header.Set("x-mac-value", value)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	// Authenticated: the transaction simply does not exist (442, not 401).
	rec := call("GET", "/api/transaction/read?spaceId=405&id=123456789", vector, "1700000000")
	if rec.Code != 442 || !strings.Contains(rec.Body.String(), "does not exist") {
		t.Fatalf("genuine call: %d %s", rec.Code, rec.Body)
	}
	for name, c := range map[string][4]string{
		"other id":        {"GET", "/api/transaction/read?spaceId=405&id=123456780", vector, "1700000000"},
		"other method":    {"POST", "/api/transaction/read?spaceId=405&id=123456789", vector, "1700000000"},
		"other timestamp": {"GET", "/api/transaction/read?spaceId=405&id=123456789", vector, "1700000001"},
		"altered value":   {"GET", "/api/transaction/read?spaceId=405&id=123456789", strings.Replace(vector, "jN", "jM", 1), "1700000000"},
	} {
		if rec := call(c[0], c[1], c[2], c[3]); rec.Code != http.StatusUnauthorized && rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	// The same signed call six minutes later is outside the window.
	s.env.Now = func() time.Time { return now.Add(6 * time.Minute) }
	if rec := call("GET", "/api/transaction/read?spaceId=405&id=123456789", vector, "1700000000"); rec.Code != http.StatusUnauthorized {
		t.Errorf("stale call: %d", rec.Code)
	}
}
