package twopaynow

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
)

// fake2paynow answers every call with body and records the queries.
type fake2paynow struct {
	mu      sync.Mutex
	queries []url.Values
	paths   []string
	status  int
	body    string
}

func (f *fake2paynow) serve(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.Query())
		f.paths = append(f.paths, r.Method+" "+r.URL.Path)
		status, body := f.status, f.body
		f.mu.Unlock()
		if status == 0 {
			status = 200
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPrecreateRequest(t *testing.T) {
	now := time.Date(2026, 11, 28, 5, 54, 22, 123e6, time.UTC)
	f := &fake2paynow{body: `{"status":200,"function":"precreate","trade_no":"W26112813542297861","qr_code":"https://www.2paynow.com/pay/W26112813542297861","pic_url":"https://www.2paynow.com/qr/W26112813542297861.png","timestamp":1795845262200,"sign":"x"}`}
	srv := f.serve(t)
	p := newTestProvider(t, now, srv.URL)
	res, err := p.CreateOrder(context.Background(), providers.CreateOrderRequest{
		OutTradeNo: "ORDER-0001", Amount: providers.Money{Minor: 1234, Currency: "EUR"},
		Description: "Tea & cake", ExpiresAt: now.Add(15*time.Minute + time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderTradeNo != "W26112813542297861" || res.PayURL != "https://www.2paynow.com/pay/W26112813542297861" {
		t.Errorf("result = %+v", res)
	}
	if f.paths[0] != "GET /zhifu/mc_itf" {
		t.Errorf("path = %s", f.paths[0])
	}
	q := f.queries[0]
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	want := map[string]string{
		"function": "precreate", "mid": testMid, "timestamp": ts, "type": "1",
		"subject": "Tea & cake", "amount": "12.34", "currency": "EUR",
		"notify_url": "https://gw.example/notify/tp-test", "it_b_pay": "16m",
		"passback_parameters": `{"out_trade_no":"ORDER-0001"}`,
		"sign":                Sign("precreate", testMid, ts, testKey),
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q) != len(want) {
		t.Errorf("query has %d fields, want %d: %v", len(q), len(want), q)
	}
	if q.Get("key") != "" {
		t.Error("the key is sent")
	}

	// Alipay and a currency the channel does not take.
	if _, err := p.CreateOrder(context.Background(), providers.CreateOrderRequest{OutTradeNo: "ORDER-0002", Amount: providers.Money{Minor: 100, Currency: "EUR"}, PayMethod: "alipay"}); err != nil {
		t.Fatal(err)
	}
	if got := f.queries[1].Get("type"); got != "0" {
		t.Errorf("alipay type = %q", got)
	}
	if got := f.queries[1].Get("it_b_pay"); got != "30m" {
		t.Errorf("it_b_pay without expiry = %q", got)
	}
	if _, err := p.CreateOrder(context.Background(), providers.CreateOrderRequest{OutTradeNo: "ORDER-0003", Amount: providers.Money{Minor: 100, Currency: "CNY"}}); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Errorf("CNY order: %v", err)
	}
	if _, err := p.CreateOrder(context.Background(), providers.CreateOrderRequest{OutTradeNo: "ORDER-0004", Amount: providers.Money{Minor: 100, Currency: "EUR"}, PayMethod: "paypal"}); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Errorf("paypal order: %v", err)
	}
	if len(f.queries) != 2 {
		t.Errorf("refused orders reached 2paynow: %d calls", len(f.queries))
	}
}

func TestQueryAndRefundRequests(t *testing.T) {
	now := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	f := &fake2paynow{body: `{"status":200,"function":"query","trade_no":"W26112813542297861","trans_status":"TRADE_SUCCESS","trans_time":"2026-11-28 13:55:01","forex_rate":"7.8","refund_amount":"0.00","currency":"EUR","amount":"12.30","timestamp":1,"sign":"x"}`}
	srv := f.serve(t)
	p := newTestProvider(t, now, srv.URL)
	st, err := p.QueryOrder(context.Background(), providers.OrderRef{OutTradeNo: "ORDER-0001", ProviderTradeNo: "W26112813542297861"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != providers.OrderPaid || st.Amount != (providers.Money{Minor: 1230, Currency: "EUR"}) || st.ProviderTradeNo != "W26112813542297861" || st.OutTradeNo != "ORDER-0001" {
		t.Errorf("state = %+v", st)
	}
	if want := time.Date(2026, 11, 28, 5, 55, 1, 0, time.UTC); !st.PaidAt.Equal(want) {
		t.Errorf("PaidAt = %v, want %v", st.PaidAt, want)
	}
	if q := f.queries[0]; q.Get("function") != "query" || q.Get("trade_no") != "W26112813542297861" {
		t.Errorf("query by trade_no sent %v", q)
	}
	// Without 2paynow's number: wap_query with ours.
	if _, err := p.QueryOrder(context.Background(), providers.OrderRef{OutTradeNo: "ORDER-0001"}); err != nil {
		t.Fatal(err)
	}
	if q := f.queries[1]; q.Get("function") != "wap_query" || q.Get("trade_no") != "ORDER-0001" || q.Get("sign") != Sign("wap_query", testMid, q.Get("timestamp"), testKey) {
		t.Errorf("wap_query sent %v", q)
	}

	f.body = `{"status":200,"function":"refund","trade_no":"W26112813542297861","refund_amount":"2.50"}`
	rs, err := p.Refund(context.Background(), providers.RefundRequest{
		Order: providers.OrderRef{OutTradeNo: "ORDER-0001", ProviderTradeNo: "W26112813542297861"}, OutRefundNo: "RF-1",
		Amount: providers.Money{Minor: 250, Currency: "EUR"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rs.Status != providers.RefundSucceeded || rs.Amount.Minor != 250 || rs.OutRefundNo != "RF-1" {
		t.Errorf("refund = %+v", rs)
	}
	q := f.queries[2]
	if q.Get("function") != "refund" || q.Get("trade_no") != "W26112813542297861" || q.Get("refund_amount") != "2.50" || q.Get("sign") != Sign("refund", testMid, q.Get("timestamp"), testKey) {
		t.Errorf("refund sent %v", q)
	}
	if _, err := p.QueryRefund(context.Background(), providers.RefundRef{OutRefundNo: "RF-1"}); !providers.IsCode(err, providers.ErrCodeUnsupported) {
		t.Errorf("QueryRefund: %v", err)
	}
}

func TestTransStatusMapping(t *testing.T) {
	for word, want := range map[string]providers.OrderStatus{
		"TRADE_SUCCESS": providers.OrderPaid,
		"TRADE_FAILED":  providers.OrderFailed,
		"TRADE_CLOSED":  providers.OrderClosed,
		"UNKNOWN":       providers.OrderPaying,
	} {
		if got := mapTransStatus(word); got != want {
			t.Errorf("%s -> %s, want %s", word, got, want)
		}
	}
	for _, word := range []string{"", "trade_success", "WAIT_BUYER_PAY"} {
		if got := mapTransStatus(word); got != providers.OrderUnknown {
			t.Errorf("%q -> %s, want UNKNOWN", word, got)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		httpStatus int
		body       string
		want       providers.ErrorCode
		provider   string
	}{
		{200, `{"status":403,"error_info":"mid not exist"}`, providers.ErrCodeRejected, "403"},
		{200, `{"status":403,"error_info":"sign error"}`, providers.ErrCodeRejected, "403"},
		{200, `{"status":403,"error_info":"trade_no not exist"}`, providers.ErrCodeNotFound, "403"},
		{200, `{"status":404,"error_info":"Order not found"}`, providers.ErrCodeNotFound, "404"},
		{200, `{"status":403,"error_info":"订单不存在"}`, providers.ErrCodeNotFound, "403"},
		{200, `{"status":500,"error_info":"system busy"}`, providers.ErrCodeUnavailable, "500"},
		{200, `{"status":"200","function":"query"}`, providers.ErrCodeBadResponse, ""},
		{200, `{"status":200}`, providers.ErrCodeBadResponse, "200"},
		{200, `<html>maintenance</html>`, providers.ErrCodeBadResponse, ""},
		{404, `Not Found`, providers.ErrCodeRejected, "HTTP 404"},
		{502, `Bad Gateway`, providers.ErrCodeUnavailable, ""},
	}
	for _, c := range cases {
		f := &fake2paynow{status: c.httpStatus, body: c.body}
		srv := f.serve(t)
		p := newTestProvider(t, time.Now(), srv.URL)
		_, err := p.QueryOrder(context.Background(), providers.OrderRef{ProviderTradeNo: "W1"})
		if !providers.IsCode(err, c.want) {
			t.Errorf("%d %s: err = %v, want %s", c.httpStatus, c.body, err, c.want)
			continue
		}
		var pe *providers.Error
		if c.provider != "" && (!asError(err, &pe) || pe.ProviderCode != c.provider) {
			t.Errorf("%s: provider code = %+v, want %s", c.body, pe, c.provider)
		}
	}
}

func asError(err error, target **providers.Error) bool {
	e, ok := err.(*providers.Error)
	if ok {
		*target = e
	}
	return ok
}

func TestItBPay(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   time.Time
		want string
	}{
		{time.Time{}, "30m"},
		{now.Add(30 * time.Minute), "30m"},
		{now.Add(30*time.Minute + time.Second), "31m"},
		{now.Add(10 * time.Second), "1m"},
		{now.Add(-time.Hour), "1m"},
		{now.Add(40 * 24 * time.Hour), "21600m"},
	} {
		if got := itBPay(c.in, now); got != c.want {
			t.Errorf("itBPay(%v) = %s, want %s", c.in.Sub(now), got, c.want)
		}
	}
}

func TestPayURLFromAnswer(t *testing.T) {
	for _, c := range []struct{ qr, pic, want string }{
		{"https://qr.alipay.com/bax01", "https://x/p.png", "https://qr.alipay.com/bax01"},
		{"weixin://wxpay/bizpayurl?pr=abc", "https://www.2paynow.com/qr/1.png", "https://www.2paynow.com/qr/1.png"},
		{"weixin://wxpay/bizpayurl?pr=abc", "", ""},
	} {
		if got := payURLFromAnswer(c.qr, c.pic); got != c.want {
			t.Errorf("payURL(%q, %q) = %q, want %q", c.qr, c.pic, got, c.want)
		}
	}
}

func TestFactoryValidates(t *testing.T) {
	for _, c := range []struct {
		params providers.Params
		cur    string
		want   string
	}{
		{providers.Params{"key": "k"}, "", "params.mid"},
		{providers.Params{"mid": "1"}, "", "params.key"},
		{providers.Params{"mid": "M-1", "key": "k"}, "", "params.mid"},
		{providers.Params{"mid": "1", "key": "k"}, "EURO", "currency"},
	} {
		_, err := New(providers.Channel{ID: "x", Kind: Kind, Currency: c.cur, Params: c.params}, providers.Deps{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want one naming %s", c.params, err, c.want)
		}
	}
	p, err := New(providers.Channel{ID: "x", Kind: Kind, Params: providers.Params{"mid": "1", "key": "k"}}, providers.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	caps := p.Capabilities()
	b, _ := json.Marshal(caps)
	if caps.Notify || !caps.Query || !caps.Close || !caps.Refund || caps.RefundQuery || caps.RefundNotify ||
		len(caps.Currencies) != 1 || caps.Currencies[0] != "EUR" || len(caps.PayMethods) != 2 {
		t.Errorf("capabilities = %s", b)
	}
	if p.(*Adapter).ch.BaseURL != DefaultBaseURL {
		t.Errorf("default base = %s", p.(*Adapter).ch.BaseURL)
	}
}
