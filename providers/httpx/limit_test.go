package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-resty/resty/v2"

	"github.com/paygate/paygate/providers"
)

// Every adapter's client comes from New, which caps answers: a provider
// (or whoever answers in its place) cannot make the gateway read an
// unbounded body. Only wechat_v2 had a cap before.
func TestAnswersOverTheCapAreBadResponses(t *testing.T) {
	big := strings.Repeat("x", MaxResponseBytes+1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			_, _ = w.Write([]byte("ok"))
			return
		}
		_, _ = w.Write([]byte(big))
	}))
	defer srv.Close()
	c, err := New(providers.Channel{ID: "limit", BaseURL: srv.URL}, providers.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (*resty.Response, error) {
		return c.Do(func() (*resty.Response, error) { return c.R(context.Background()).Get(path) })
	}
	if resp, err := get("/small"); err != nil || string(resp.Body()) != "ok" {
		t.Fatalf("small answer: %v", err)
	}
	_, err = get("/big")
	if !providers.IsCode(err, providers.ErrCodeBadResponse) {
		t.Fatalf("answer of %d bytes: err = %v, want %s", len(big), err, providers.ErrCodeBadResponse)
	}

	// An adapter may lower the cap.
	c2, _ := New(providers.Channel{ID: "limit2", BaseURL: srv.URL}, providers.Deps{}, WithResponseLimit(1))
	if _, err := c2.Do(func() (*resty.Response, error) { return c2.R(context.Background()).Get("/small") }); !providers.IsCode(err, providers.ErrCodeBadResponse) {
		t.Fatalf("lowered cap: err = %v", err)
	}
}
