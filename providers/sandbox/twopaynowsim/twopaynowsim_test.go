package twopaynowsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// The simulator's verifier against the published vector (omnipay-2paynow
// tests: key zG93Cv85BCCp2h, mid 4002563369, timestamp 1571034662245,
// sign md5("precreate40025633691571034662245zG93Cv85BCCp2h") =
// 4f83e30f527ff4ed0fc9c03185f43f97, checked with md5sum), by raw HTTP.
func TestVerifierPublishedVector(t *testing.T) {
	at := time.UnixMilli(1571034662245)
	s := New(sandbox.Env{Now: func() time.Time { return at.Add(time.Second) }})
	if err := s.AddChannel(providers.Channel{ID: "c", Kind: Kind, Currency: "EUR", Params: providers.Params{"mid": "4002563369", "key": "zG93Cv85BCCp2h"}}); err != nil {
		t.Fatal(err)
	}
	q := url.Values{
		"type": {"0"}, "function": {"precreate"}, "mid": {"4002563369"}, "timestamp": {"1571034662245"},
		"subject": {"test_subject"}, "amount": {"8.99"}, "currency": {"EUR"}, "notify_url": {"https://example.com/notify"},
		"it_b_pay": {"30m"}, "passback_parameters": {`{"test":"test"}`}, "sign": {"4f83e30f527ff4ed0fc9c03185f43f97"},
	}
	call := func(q url.Values) map[string]any {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/zhifu/mc_itf?"+q.Encode(), nil)
		s.Handler().ServeHTTP(rec, req)
		var a map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
			t.Fatalf("answer %q: %v", rec.Body.String(), err)
		}
		return a
	}
	a := call(q)
	if a["status"] != float64(200) || a["function"] != "precreate" {
		t.Fatalf("genuine request refused: %v", a)
	}
	no, _ := a["trade_no"].(string)
	if len(no) != 18 || no[0] != 'A' || no[1:13] != "191014143103" {
		t.Errorf("trade_no = %q, want A + yyMMddHHmmss (UTC+8) + 5 digits", no)
	}
	for field, value := range map[string]string{
		"sign":      "4f83e30f527ff4ed0fc9c03185f43f98",
		"timestamp": "1571034662246",
		"mid":       "4002563360",
	} {
		bad := url.Values{}
		for k, v := range q {
			bad[k] = v
		}
		bad.Set(field, value)
		if a := call(bad); a["status"] == float64(200) {
			t.Errorf("tampered %s accepted", field)
		}
	}
	// Six minutes later the same request is stale.
	s.env.Now = func() time.Time { return at.Add(6 * time.Minute) }
	if a := call(q); a["status"] == float64(200) || a["error_info"] != "timestamp expired" {
		t.Errorf("stale request: %v", a)
	}
}
