package vrpayment

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
)

type recorded struct {
	method, uri string
	header      http.Header
	body        string
}

// fakeVR answers each call with the next (status, body) and records it.
type fakeVR struct {
	mu      sync.Mutex
	calls   []recorded
	answers []struct {
		status int
		body   string
	}
}

func (f *fakeVR) answer(status int, body string) *fakeVR {
	f.answers = append(f.answers, struct {
		status int
		body   string
	}{status, body})
	return f
}

func (f *fakeVR) serve(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.calls = append(f.calls, recorded{r.Method, r.RequestURI, r.Header.Clone(), string(b)})
		a := f.answers[0]
		if len(f.answers) > 1 {
			f.answers = f.answers[1:]
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

var fixedNow = time.Unix(1700000000, 0)

func newTestProvider(t testing.TB, baseURL, currency string) *Adapter {
	t.Helper()
	p, err := New(providers.Channel{
		ID: "vr-test", Kind: Kind, Currency: currency, BaseURL: baseURL,
		Params: providers.Params{"user_id": "512", "secret": testSecret, "space_id": "405"},
	}, providers.Deps{Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Adapter)
}

func TestCreateOrderWire(t *testing.T) {
	f := (&fakeVR{}).
		answer(200, `{"id":123456789,"state":"PENDING","merchantReference":"ORDER-0001","currency":"EUR","authorizationAmount":12.3}`).
		answer(200, `"https://gateway.vr-payment.de/s/405/payment/transaction/pay?securityToken=abc&transactionId=123456789"`)
	srv := f.serve(t)
	p := newTestProvider(t, srv.URL+"/prefix", "EUR")
	res, err := p.CreateOrder(context.Background(), providers.CreateOrderRequest{
		OutTradeNo: "ORDER-0001", Amount: providers.Money{Minor: 1230, Currency: "EUR"},
		Description: "Tea", ReturnURL: "https://shop.example/back",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderTradeNo != "123456789" || !strings.HasPrefix(res.PayURL, "https://gateway.vr-payment.de/s/405/") || res.PayParams != nil {
		t.Errorf("result = %+v", res)
	}
	c := f.calls[0]
	if c.method != "POST" || c.uri != "/prefix/api/transaction/create?spaceId=405" {
		t.Errorf("create call = %s %s", c.method, c.uri)
	}
	// The amount goes out as the JSON number 12.30, written from the
	// decimal string: never a quoted string, never through float64.
	for _, want := range []string{`"amountIncludingTax":12.30`, `"quantity":1`, `"currency":"EUR"`, `"merchantReference":"ORDER-0001"`,
		`"successUrl":"https://shop.example/back"`, `"failedUrl":"https://shop.example/back"`, `"autoConfirmationEnabled":true`,
		`"type":"PRODUCT"`, `"uniqueId":"ORDER-0001"`, `"name":"Tea"`} {
		if !strings.Contains(c.body, want) {
			t.Errorf("create body lacks %s: %s", want, c.body)
		}
	}
	// The MAC headers sign exactly the request line received.
	key, _ := DecodeSecret(testSecret)
	for i, c := range f.calls {
		h := c.header
		if h.Get("x-mac-version") != "1" || h.Get("x-mac-userid") != "512" || h.Get("x-mac-timestamp") != "1700000000" {
			t.Errorf("call %d headers = %v", i, h)
		}
		if want := MACValue(key, "512", "1700000000", c.method, c.uri); h.Get("x-mac-value") != want {
			t.Errorf("call %d x-mac-value = %s, want %s (over %s %s)", i, h.Get("x-mac-value"), want, c.method, c.uri)
		}
	}
	if f.calls[1].method != "GET" || f.calls[1].uri != "/prefix/api/transaction/buildPaymentPageUrl?spaceId=405&id=123456789" {
		t.Errorf("page call = %s %s", f.calls[1].method, f.calls[1].uri)
	}

	// Zero-decimal currency: 1234 JPY is the number 1234.
	f2 := (&fakeVR{}).answer(200, `{"id":5,"state":"PENDING"}`).answer(200, `"https://x.example/p"`)
	p2 := newTestProvider(t, f2.serve(t).URL, "JPY")
	if _, err := p2.CreateOrder(context.Background(), providers.CreateOrderRequest{OutTradeNo: "J-1", Amount: providers.Money{Minor: 1234, Currency: "JPY"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f2.calls[0].body, `"amountIncludingTax":1234,`) {
		t.Errorf("JPY body: %s", f2.calls[0].body)
	}
	// Refused before any call: another currency, an unknown method.
	if _, err := p2.CreateOrder(context.Background(), providers.CreateOrderRequest{OutTradeNo: "J-2", Amount: providers.Money{Minor: 1, Currency: "EUR"}}); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Errorf("EUR on a JPY channel: %v", err)
	}
	if _, err := p2.CreateOrder(context.Background(), providers.CreateOrderRequest{OutTradeNo: "J-3", Amount: providers.Money{Minor: 1, Currency: "JPY"}, PayMethod: "alipay"}); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Errorf("alipay: %v", err)
	}
	if len(f2.calls) != 2 {
		t.Errorf("refused orders reached VR Payment")
	}
}

func TestQueryWire(t *testing.T) {
	f := (&fakeVR{}).answer(200, `[
		{"id":11,"state":"FAILED","merchantReference":"ORDER-0001","currency":"EUR","authorizationAmount":12.3},
		{"id":10,"state":"FULFILL","merchantReference":"ORDER-0001","currency":"EUR","authorizationAmount":12.3,"completedAmount":12.30,"completedOn":"2026-11-28T05:55:01.123Z"}]`)
	p := newTestProvider(t, f.serve(t).URL, "EUR")
	st, err := p.QueryOrder(context.Background(), providers.OrderRef{OutTradeNo: "ORDER-0001"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != providers.OrderPaid || st.ProviderTradeNo != "10" || st.Amount != (providers.Money{Minor: 1230, Currency: "EUR"}) ||
		!st.PaidAt.Equal(time.Date(2026, 11, 28, 5, 55, 1, 123e6, time.UTC)) {
		t.Errorf("state = %+v", st)
	}
	c := f.calls[0]
	if c.method != "POST" || c.uri != "/api/transaction/search?spaceId=405" {
		t.Errorf("search call = %s %s", c.method, c.uri)
	}
	var q map[string]any
	if err := json.Unmarshal([]byte(c.body), &q); err != nil {
		t.Fatal(err)
	}
	filter, _ := q["filter"].(map[string]any)
	if filter["type"] != "LEAF" || filter["fieldName"] != "merchantReference" || filter["operator"] != "EQUALS" || filter["value"] != "ORDER-0001" {
		t.Errorf("search body = %s", c.body)
	}

	// By id; a transaction of another order is not taken for ours.
	f2 := (&fakeVR{}).answer(200, `{"id":10,"state":"AUTHORIZED","merchantReference":"OTHER","currency":"EUR","authorizationAmount":1}`)
	p2 := newTestProvider(t, f2.serve(t).URL, "EUR")
	if _, err := p2.QueryOrder(context.Background(), providers.OrderRef{OutTradeNo: "ORDER-0001", ProviderTradeNo: "10"}); !providers.IsCode(err, providers.ErrCodeBadResponse) {
		t.Errorf("foreign transaction: %v", err)
	}
	if f2.calls[0].uri != "/api/transaction/read?spaceId=405&id=10" {
		t.Errorf("read uri = %s", f2.calls[0].uri)
	}
	// A float-looking amount that needs rounding is refused, not rounded.
	f3 := (&fakeVR{}).answer(200, `{"id":10,"state":"PENDING","currency":"EUR","authorizationAmount":12.345}`)
	p3 := newTestProvider(t, f3.serve(t).URL, "EUR")
	if _, err := p3.QueryOrder(context.Background(), providers.OrderRef{ProviderTradeNo: "10"}); !providers.IsCode(err, providers.ErrCodeBadResponse) {
		t.Errorf("amount needing rounding: %v", err)
	}
	// No search hit: NOT_FOUND.
	f4 := (&fakeVR{}).answer(200, `[]`)
	p4 := newTestProvider(t, f4.serve(t).URL, "EUR")
	if _, err := p4.QueryOrder(context.Background(), providers.OrderRef{OutTradeNo: "NONE"}); !providers.IsCode(err, providers.ErrCodeNotFound) {
		t.Errorf("empty search: %v", err)
	}
}

func TestRefundWire(t *testing.T) {
	f := (&fakeVR{}).answer(200, `{"id":77,"state":"PENDING","externalId":"RF-1","amount":2.5,"transaction":{"id":10}}`)
	p := newTestProvider(t, f.serve(t).URL, "EUR")
	st, err := p.Refund(context.Background(), providers.RefundRequest{
		Order: providers.OrderRef{OutTradeNo: "ORDER-0001", ProviderTradeNo: "10"}, OutRefundNo: "RF-1", Amount: providers.Money{Minor: 250, Currency: "EUR"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != providers.RefundProcessing || st.ProviderRefundNo != "77" || st.Amount.Minor != 250 || st.OutRefundNo != "RF-1" {
		t.Errorf("refund = %+v", st)
	}
	c := f.calls[0]
	if c.method != "POST" || c.uri != "/api/refund/refund?spaceId=405" {
		t.Errorf("refund call = %s %s", c.method, c.uri)
	}
	for _, want := range []string{`"externalId":"RF-1"`, `"type":"MERCHANT_INITIATED_ONLINE"`, `"amount":2.50`, `"transaction":10`, `"merchantReference":"ORDER-0001"`} {
		if !strings.Contains(c.body, want) {
			t.Errorf("refund body lacks %s: %s", want, c.body)
		}
	}
	f2 := (&fakeVR{}).answer(200, `{"id":77,"state":"SUCCESSFUL","externalId":"RF-1","amount":2.5,"succeededOn":"2026-11-28T06:00:00Z"}`)
	p2 := newTestProvider(t, f2.serve(t).URL, "EUR")
	st, err = p2.QueryRefund(context.Background(), providers.RefundRef{OutRefundNo: "RF-1", ProviderRefundNo: "77", Amount: providers.Money{Minor: 250, Currency: "EUR"}})
	if err != nil || st.Status != providers.RefundSucceeded || st.SucceededAt.IsZero() {
		t.Errorf("refund read: %+v, %v", st, err)
	}
	if f2.calls[0].method != "GET" || f2.calls[0].uri != "/api/refund/read?spaceId=405&id=77" {
		t.Errorf("refund read call = %s %s", f2.calls[0].method, f2.calls[0].uri)
	}
}

func TestCloseWire(t *testing.T) {
	f := (&fakeVR{}).
		answer(200, `{"id":10,"state":"PENDING","merchantReference":"O-1"}`).
		answer(200, `{"id":99,"state":"SUCCESSFUL","transaction":{"id":10,"state":"VOIDED"}}`)
	p := newTestProvider(t, f.serve(t).URL, "EUR")
	if err := p.CloseOrder(context.Background(), providers.OrderRef{OutTradeNo: "O-1", ProviderTradeNo: "10"}); err != nil {
		t.Fatal(err)
	}
	if c := f.calls[1]; c.method != "POST" || c.uri != "/api/transaction-void/voidOnline?spaceId=405&id=10" {
		t.Errorf("void call = %s %s", c.method, c.uri)
	}
	for _, c := range []struct {
		state string
		want  providers.ErrorCode
	}{{"FULFILL", providers.ErrCodeOrderPaid}, {"COMPLETED", providers.ErrCodeOrderPaid}, {"DECLINE", providers.ErrCodeOrderClosed}, {"VOIDED", ""}} {
		f := (&fakeVR{}).answer(200, `{"id":10,"state":"`+c.state+`"}`)
		p := newTestProvider(t, f.serve(t).URL, "EUR")
		err := p.CloseOrder(context.Background(), providers.OrderRef{ProviderTradeNo: "10"})
		if (c.want == "" && err != nil) || (c.want != "" && !providers.IsCode(err, c.want)) || len(f.calls) != 1 {
			t.Errorf("close of %s: %v after %d calls", c.state, err, len(f.calls))
		}
	}
}

func TestStateMapping(t *testing.T) {
	for state, want := range map[string]providers.OrderStatus{
		"CREATE": providers.OrderPaying, "PENDING": providers.OrderPaying, "CONFIRMED": providers.OrderPaying,
		"PROCESSING": providers.OrderPaying, "AUTHORIZED": providers.OrderPaying,
		"FULFILL": providers.OrderPaid, "COMPLETED": providers.OrderPaid,
		"FAILED": providers.OrderFailed, "DECLINE": providers.OrderFailed, "VOIDED": providers.OrderClosed,
	} {
		if got := mapTransactionState(state); got != want {
			t.Errorf("transaction %s -> %s, want %s", state, got, want)
		}
	}
	if got := mapTransactionState("fulfill"); got != providers.OrderUnknown {
		t.Error("lower-case state mapped")
	}
	for state, want := range map[string]providers.RefundStatus{
		"SUCCESSFUL": providers.RefundSucceeded, "FAILED": providers.RefundFailed,
		"CREATE": providers.RefundProcessing, "SCHEDULED": providers.RefundProcessing,
		"PENDING": providers.RefundProcessing, "MANUAL_CHECK": providers.RefundProcessing,
	} {
		if got := mapRefundState(state); got != want {
			t.Errorf("refund %s -> %s, want %s", state, got, want)
		}
	}
	if got := mapRefundState("DONE"); got != providers.RefundUnknown {
		t.Error("unknown refund state mapped")
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		status   int
		body     string
		want     providers.ErrorCode
		provider string
	}{
		{442, `{"id":"e1","message":"The entity with id 10 does not exist.","type":"DEVELOPER_ERROR"}`, providers.ErrCodeNotFound, "DEVELOPER_ERROR"},
		{442, `{"id":"e2","message":"Entity not found","type":"DEVELOPER_ERROR"}`, providers.ErrCodeNotFound, "DEVELOPER_ERROR"},
		{442, `{"id":"e3","message":"The currency CNY is not enabled.","type":"CONFIGURATION_ERROR"}`, providers.ErrCodeRejected, "CONFIGURATION_ERROR"},
		{442, `{"id":"e4","defaultMessage":"The card was declined.","type":"END_USER_ERROR"}`, providers.ErrCodeRejected, "END_USER_ERROR"},
		{404, ``, providers.ErrCodeNotFound, "HTTP 404"},
		{401, `{"message":"Authentication failed"}`, providers.ErrCodeRejected, "HTTP 401"},
		{409, `{"message":"version conflict"}`, providers.ErrCodeUnavailable, "HTTP 409"},
		{542, `{"id":"s1","message":"Internal error","type":"SERVER_ERROR"}`, providers.ErrCodeUnavailable, "HTTP 542"},
		{503, `busy`, providers.ErrCodeUnavailable, "HTTP 503"},
		{200, `<html>`, providers.ErrCodeBadResponse, ""},
		{200, `{"state":"PENDING"}`, providers.ErrCodeBadResponse, ""},
	}
	for _, c := range cases {
		f := (&fakeVR{}).answer(c.status, c.body)
		p := newTestProvider(t, f.serve(t).URL, "EUR")
		_, err := p.QueryOrder(context.Background(), providers.OrderRef{ProviderTradeNo: "10"})
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Code != c.want || (c.provider != "" && pe.ProviderCode != c.provider) {
			t.Errorf("%d %s: err = %v, want %s (%s)", c.status, c.body, err, c.want, c.provider)
		}
		if err != nil && strings.Contains(err.Error(), testSecret) {
			t.Errorf("error leaks the secret")
		}
	}
}

func TestFactoryValidates(t *testing.T) {
	ok := providers.Params{"user_id": "512", "secret": testSecret, "space_id": "405"}
	with := func(k, v string) providers.Params {
		p := providers.Params{}
		for kk, vv := range ok {
			p[kk] = vv
		}
		if v == "" {
			delete(p, k)
		} else {
			p[k] = v
		}
		return p
	}
	for _, c := range []struct {
		params providers.Params
		want   string
	}{
		{with("user_id", ""), "params.user_id"},
		{with("secret", ""), "params.secret"},
		{with("space_id", ""), "params.space_id"},
		{with("secret", "%%%"), "params.secret"},
		{with("space_id", "space-1"), "params.space_id"},
		{with("user_id", "admin"), "params.user_id"},
	} {
		_, err := New(providers.Channel{ID: "x", Kind: Kind, Params: c.params}, providers.Deps{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want one naming %s", c.params, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), testSecret) {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
	p, err := New(providers.Channel{ID: "x", Kind: Kind, Params: ok}, providers.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	caps := p.Capabilities()
	if caps.Notify || caps.RefundNotify || !caps.Query || !caps.Close || !caps.Refund || !caps.RefundQuery ||
		len(caps.Currencies) != 1 || caps.Currencies[0] != "EUR" {
		t.Errorf("capabilities = %+v", caps)
	}
	if p.(*Adapter).ch.BaseURL != DefaultBaseURL {
		t.Errorf("default base = %s", p.(*Adapter).ch.BaseURL)
	}
}
