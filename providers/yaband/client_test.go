package yaband

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
)

// fakeYaband records the requests and answers with a canned body per method.
type fakeYaband struct {
	mu       sync.Mutex
	requests []map[string]any
	answer   func(method string, data map[string]any) (status int, body string)
}

func (f *fakeYaband) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != PaymentsPath || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "unexpected request "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var env map[string]any
	if err := dec.Decode(&env); err != nil {
		http.Error(w, "not json", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, env)
	f.mu.Unlock()
	data, _ := env["data"].(map[string]any)
	status, body := f.answer(env["method"].(string), data)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (f *fakeYaband) calls() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.requests...)
}

func newFake(t *testing.T, answer func(method string, data map[string]any) (int, string), extra map[string]any) (*Adapter, *fakeYaband) {
	t.Helper()
	f := &fakeYaband{answer: answer}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return testProvider(t, srv.URL+"/", extra), f
}

func TestCreateMiniPayWire(t *testing.T) {
	p, f := newFake(t, func(method string, _ map[string]any) (int, string) {
		return 200, `{"status":true,"code":"200","data":{"trade_id":"8a8aa7c7-66d7-e2cc-e2a6-fff7c77aaefd","order_id":"ORDER20241127001",
			"parameters":{"appId":"wx1234567890abcdef","timeStamp":1732672545,"nonceStr":"abc","package":"prepay_id=wx27","signType":"RSA","paySign":"c2ln"}},"message":""}`
	}, nil)
	now := time.Unix(1732672545, 0)
	res, err := p.CreateOrder(context.Background(), providers.CreateOrderRequest{
		OutTradeNo: "ORDER20241127001", Amount: providers.Money{Minor: 123, Currency: "EUR"}, Description: "test order",
		PayMethod: "wechat", PayerOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", PayerAppID: "wx1234567890abcdef",
		ExpiresAt: now.Add(30*time.Minute + 59*time.Second), NotifyURL: "https://merchant.example/notify/demo-yaband",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderTradeNo != "8a8aa7c7-66d7-e2cc-e2a6-fff7c77aaefd" || res.PayParams["timeStamp"] != "1732672545" ||
		res.PayParams["package"] != "prepay_id=wx27" || res.PayURL != "" {
		t.Fatalf("result = %+v", res)
	}
	calls := f.calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	env := calls[0]
	// The wire request is exactly the signing vector: same fields, same sign.
	if env["user"] != "016683" || env["method"] != MethodCreateMiniPay || env["sign"] != vectorRequestSign {
		t.Fatalf("envelope = %v", env)
	}
	if tm, ok := env["time"].(json.Number); !ok || tm.String() != "1732672545" {
		t.Fatalf("time = %#v, want the JSON number 1732672545", env["time"])
	}
	data := env["data"].(map[string]any)
	if len(data) != len(vectorRequestData) {
		t.Fatalf("data = %v, want exactly %v", data, vectorRequestData)
	}
	for k, v := range vectorRequestData {
		if data[k] != v {
			t.Errorf("data.%s = %#v, want %q", k, data[k], v)
		}
	}
}

func TestCreateHostedPaymentWire(t *testing.T) {
	p, f := newFake(t, func(method string, _ map[string]any) (int, string) {
		return 200, `{"status":true,"code":200,"data":{"trade_id":"97ffb0e1-69eb-67f1-b8b7-ed7a0cd68b14","url":"https://pay.example/a?o=1"},"message":""}`
	}, nil)
	res, err := p.CreateOrder(context.Background(), providers.CreateOrderRequest{
		OutTradeNo: "ORDER2", Amount: providers.Money{Minor: 1000, Currency: "CNY"}, Description: "x",
		PayMethod: "alipay", ReturnURL: "https://shop.example/back", ExpiresAt: time.Unix(1732672545, 0).Add(48 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.PayURL != "https://pay.example/a?o=1" || res.ProviderTradeNo != "97ffb0e1-69eb-67f1-b8b7-ed7a0cd68b14" || res.PayParams != nil {
		t.Fatalf("result = %+v", res)
	}
	env := f.calls()[0]
	data := env["data"].(map[string]any)
	want := map[string]string{"pay_method": "online", "sub_pay_method": "Alipay", "order_id": "ORDER2", "amount": "10.00",
		"currency": "CNY", "description": "x", "timeout": "1440", "notify_url": "https://gw.example/notify/yb-test",
		"redirect_url": "https://shop.example/back"}
	if env["method"] != MethodCreatePayments || len(data) != len(want) {
		t.Fatalf("request = %v", env)
	}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("data.%s = %#v, want %q", k, data[k], v)
		}
	}
}

func TestCreateRefusedBeforeCalling(t *testing.T) {
	p, f := newFake(t, func(string, map[string]any) (int, string) { return 500, "" }, nil)
	base := providers.CreateOrderRequest{OutTradeNo: "O1", Amount: providers.Money{Minor: 100, Currency: "EUR"}, Description: "d",
		PayerOpenID: "o1", PayerAppID: "wx1"}
	tests := []struct {
		name string
		mod  func(*providers.CreateOrderRequest)
	}{
		{"currency not accepted", func(r *providers.CreateOrderRequest) { r.Amount.Currency = "USD" }},
		{"no payer appid", func(r *providers.CreateOrderRequest) { r.PayerAppID = "" }},
		{"no payer openid", func(r *providers.CreateOrderRequest) { r.PayerOpenID = "" }},
		{"pay method not offered", func(r *providers.CreateOrderRequest) { r.PayMethod = "card" }},
	}
	for _, tt := range tests {
		req := base
		tt.mod(&req)
		_, err := p.CreateOrder(context.Background(), req)
		if !providers.IsCode(err, providers.ErrCodeRejected) {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
	for _, op := range []func() error{
		func() error {
			_, err := p.QueryOrder(context.Background(), providers.OrderRef{OutTradeNo: "O1"})
			return err
		},
		func() error { return p.CloseOrder(context.Background(), providers.OrderRef{OutTradeNo: "O1"}) },
		func() error {
			_, err := p.Refund(context.Background(), providers.RefundRequest{Order: providers.OrderRef{OutTradeNo: "O1"},
				OutRefundNo: "R1", Amount: providers.Money{Minor: 1, Currency: "EUR"}})
			return err
		},
		func() error {
			_, err := p.QueryRefund(context.Background(), providers.RefundRef{OutRefundNo: "R1"})
			return err
		},
	} {
		if err := op(); !providers.IsCode(err, providers.ErrCodeRejected) {
			t.Errorf("operation without Yaband's number: err = %v", err)
		}
	}
	if n := len(f.calls()); n != 0 {
		t.Fatalf("%d calls reached Yaband", n)
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		body         string
		op           string
		want         providers.ErrorCode
		providerCode string
	}{
		{"query unknown trade", 200, `{"status":false,"code":"404","data":null,"message":"trade_id does not exist"}`, "query", providers.ErrCodeNotFound, "404"},
		{"query, numeric code", 200, `{"status":false,"code":400,"message":"sign error"}`, "query", providers.ErrCodeRejected, "400"},
		{"create duplicate", 200, `{"status":false,"code":"400","message":"order_id O1 already exists with different content"}`, "create", providers.ErrCodeDuplicate, "400"},
		{"create system busy", 200, `{"status":false,"code":"500","message":"System busy"}`, "create", providers.ErrCodeUnavailable, "500"},
		{"HTTP 502", 502, `<html>bad gateway</html>`, "query", providers.ErrCodeUnavailable, ""},
		{"not JSON", 200, `<html>oops</html>`, "query", providers.ErrCodeBadResponse, ""},
		{"status true without data", 200, `{"status":true,"code":"200","data":null}`, "query", providers.ErrCodeBadResponse, ""},
		{"no transaction_info", 200, `{"status":true,"code":"200","data":{"x":1}}`, "query", providers.ErrCodeBadResponse, ""},
		{"amount needing rounding", 200, `{"status":true,"code":"200","data":{"transaction_info":{"state":"paid","amount":"1.001","currency":"EUR"}}}`, "query", providers.ErrCodeBadResponse, ""},
		{"refund over the rest", 200, `{"status":false,"code":"400","message":"refund amount exceeds the refundable amount"}`, "refund", providers.ErrCodeRejected, "400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newFake(t, func(string, map[string]any) (int, string) { return tt.status, tt.body }, nil)
			var err error
			ctx := context.Background()
			switch tt.op {
			case "query":
				_, err = p.QueryOrder(ctx, providers.OrderRef{ProviderTradeNo: "T1"})
			case "create":
				_, err = p.CreateOrder(ctx, providers.CreateOrderRequest{OutTradeNo: "O1", Amount: providers.Money{Minor: 100, Currency: "EUR"},
					Description: "d", PayerOpenID: "o", PayerAppID: "wx"})
			case "refund":
				_, err = p.Refund(ctx, providers.RefundRequest{Order: providers.OrderRef{ProviderTradeNo: "T1", Amount: providers.Money{Minor: 100, Currency: "EUR"}},
					OutRefundNo: "R1", Amount: providers.Money{Minor: 200, Currency: "EUR"}})
			}
			var pe *providers.Error
			if !providers.IsCode(err, tt.want) {
				t.Fatalf("err = %v, want %s", err, tt.want)
			}
			if tt.providerCode != "" {
				if e, ok := err.(*providers.Error); ok {
					pe = e
				}
				if pe == nil || pe.ProviderCode != tt.providerCode {
					t.Fatalf("provider code of %v, want %q", err, tt.providerCode)
				}
			}
		})
	}
}

func TestQueryOrderReadsTransactionInfo(t *testing.T) {
	p, f := newFake(t, func(string, map[string]any) (int, string) {
		return 200, `{"status":true,"code":"200","data":{"transaction_info":{"trade_id":"2eb629a8-96ad-d495-38f2-41f5bebf31cd",
			"order_id":"O9","amount":"0.10","currency":"EUR","state":"paid","transaction_id":"4200000298201904178716759138","paid_time":"1555496100"}},"message":""}`
	}, nil)
	st, err := p.QueryOrder(context.Background(), providers.OrderRef{OutTradeNo: "O9", ProviderTradeNo: "2eb629a8-96ad-d495-38f2-41f5bebf31cd"})
	if err != nil {
		t.Fatal(err)
	}
	want := providers.OrderState{Status: providers.OrderPaid, ProviderStatus: "paid", OutTradeNo: "O9",
		ProviderTradeNo: "2eb629a8-96ad-d495-38f2-41f5bebf31cd", TransactionID: "4200000298201904178716759138",
		Amount: providers.Money{Minor: 10, Currency: "EUR"}, PaidAt: time.Unix(1555496100, 0).UTC()}
	if st != want {
		t.Fatalf("got  %+v\nwant %+v", st, want)
	}
	data := f.calls()[0]["data"].(map[string]any)
	if len(data) != 1 || data["trade_id"] != "2eb629a8-96ad-d495-38f2-41f5bebf31cd" {
		t.Fatalf("query sends only trade_id: %v", data)
	}
}

func TestCloseOrderDoesNotVoidAPaidPayment(t *testing.T) {
	p, f := newFake(t, func(method string, _ map[string]any) (int, string) {
		if method == MethodQueryOrder {
			return 200, `{"status":true,"code":"200","data":{"transaction_info":{"state":"paid","amount":"1.00","currency":"EUR"}}}`
		}
		return 200, `{"status":true,"code":"200","data":{"state":"cancelled"}}`
	}, nil)
	err := p.CloseOrder(context.Background(), providers.OrderRef{ProviderTradeNo: "T1"})
	if !providers.IsCode(err, providers.ErrCodeOrderPaid) {
		t.Fatalf("err = %v, want ORDER_PAID", err)
	}
	for _, c := range f.calls() {
		if c["method"] == MethodCancelPayment {
			t.Fatal("v3.CancelPayment was called on a paid payment")
		}
	}
}

func TestRefundCurrencyRule(t *testing.T) {
	answer := func(string, map[string]any) (int, string) {
		return 200, `{"status":true,"code":"200","data":{"refund_id":"20240903154342497308"},"message":""}`
	}
	cnyOrder := providers.OrderRef{ProviderTradeNo: "T1", Amount: providers.Money{Minor: 10000, Currency: "CNY"}}

	// No refund_currency: refunds in the order's currency.
	p, f := newFake(t, answer, nil)
	if _, err := p.Refund(context.Background(), providers.RefundRequest{Order: cnyOrder, OutRefundNo: "R1",
		Amount: providers.Money{Minor: 250, Currency: "EUR"}}); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Fatalf("EUR refund of a CNY order: %v", err)
	}
	st, err := p.Refund(context.Background(), providers.RefundRequest{Order: cnyOrder, OutRefundNo: "R1",
		Amount: providers.Money{Minor: 250, Currency: "CNY"}})
	if err != nil || st.Status != providers.RefundProcessing || st.ProviderRefundNo != "20240903154342497308" || st.OutRefundNo != "R1" {
		t.Fatalf("CNY refund: %+v, %v", st, err)
	}
	data := f.calls()[0]["data"].(map[string]any)
	want := map[string]string{"trade_id": "T1", "m_refund_id": "R1", "refund_amount": "2.50", "refund_currency": "CNY",
		"refund_description": "refund", "notify_url": "https://gw.example/notify/yb-test"}
	if len(data) != len(want) {
		t.Fatalf("refund data = %v", data)
	}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("data.%s = %#v, want %q", k, data[k], v)
		}
	}

	// refund_currency EUR: every refund in EUR, whatever the order's currency.
	p, f = newFake(t, answer, map[string]any{"refund_currency": "EUR"})
	if got := p.Capabilities().RefundCurrency; got != "EUR" {
		t.Fatalf("Capabilities.RefundCurrency = %q", got)
	}
	if _, err := p.Refund(context.Background(), providers.RefundRequest{Order: cnyOrder, OutRefundNo: "R2",
		Amount: providers.Money{Minor: 250, Currency: "CNY"}}); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Fatalf("CNY refund on a EUR-refund channel: %v", err)
	}
	if _, err := p.Refund(context.Background(), providers.RefundRequest{Order: cnyOrder, OutRefundNo: "R2", Reason: "damaged",
		Amount: providers.Money{Minor: 250, Currency: "EUR"}}); err != nil {
		t.Fatal(err)
	}
	data = f.calls()[0]["data"].(map[string]any)
	if data["refund_currency"] != "EUR" || data["refund_amount"] != "2.50" || data["refund_description"] != "damaged" {
		t.Fatalf("refund data = %v", data)
	}
}

func TestFactoryValidation(t *testing.T) {
	tests := []struct {
		name   string
		ch     providers.Channel
		errSub string
	}{
		{"no params", providers.Channel{Params: providers.Params{}}, "params.secret_key: is required; params.user: is required"},
		{"WeChat's spelling of sub_app_id", providers.Channel{Params: providers.Params{"user": "u", "secret_key": "k", "sub_appid": "wx1"}},
			"params.sub_appid: unknown param (did you mean sub_app_id?)"},
		{"bad refund currency", providers.Channel{Params: providers.Params{"user": "u", "secret_key": "k", "refund_currency": "EURO"}}, "refund_currency"},
		{"bad currency", providers.Channel{Currency: "XXX1", Params: providers.Params{"user": "u", "secret_key": "k"}}, "currency"},
	}
	for _, tt := range tests {
		_, err := New(tt.ch, providers.Deps{})
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.errSub)) {
			t.Errorf("%s: err = %v, want it to name %q", tt.name, err, tt.errSub)
		}
	}
	p, err := New(providers.Channel{Params: providers.Params{"user": "u", "secret_key": "k"}}, providers.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	caps := p.Capabilities()
	if len(caps.Currencies) != 2 || caps.Currencies[0] != "EUR" || caps.Currencies[1] != "CNY" || !caps.RequiresOpenID ||
		caps.PayMethods[0] != "wechat" || !caps.Notify || !caps.RefundQuery || !caps.Close {
		t.Fatalf("capabilities = %+v", caps)
	}
}

func TestTimeoutMinutes(t *testing.T) {
	now := time.Unix(1732672545, 0)
	tests := []struct {
		expires time.Time
		want    string
	}{
		{time.Time{}, "1440"},
		{now.Add(30 * time.Minute), "30"},
		{now.Add(30*time.Minute + 59*time.Second), "30"}, // rounded down: never outlive the gateway's expiry
		{now.Add(20 * time.Second), "1"},
		{now.Add(-time.Hour), "1"},
		{now.Add(72 * time.Hour), "1440"},
	}
	for _, tt := range tests {
		if got := timeoutMinutes(now, tt.expires); got != tt.want {
			t.Errorf("timeoutMinutes(%v) = %s, want %s", tt.expires.Sub(now), got, tt.want)
		}
	}
}
