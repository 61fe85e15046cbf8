package supay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
)

var testNow = time.Unix(1732672545, 0)

func testProvider(t testing.TB, baseURL string) *Adapter {
	t.Helper()
	p, err := New(providers.Channel{ID: "sp-test", Kind: Kind, BaseURL: baseURL, ServerIP: "198.51.100.1",
		NotifyURL: "https://gw.example/notify/sp-test",
		Params:    providers.Params{"mch_id": "100000123", "md5_key": vectorKey, "receive_id": "200000456", "store_name": "Demo Store"}},
		providers.Deps{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Adapter)
}

type fakeSupay struct {
	mu     sync.Mutex
	bodies []map[string]any
	answer func(service string) (int, string)
}

func (f *fakeSupay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != GatewayPath || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		http.Error(w, "not json", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.mu.Unlock()
	status, out := f.answer(body["service"].(string))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, out)
}

func newFake(t *testing.T, answer func(service string) (int, string)) (*Adapter, *fakeSupay) {
	f := &fakeSupay{answer: answer}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return testProvider(t, srv.URL), f
}

func TestCreateOrderWire(t *testing.T) {
	payInfo := `{"appId":"wx1234567890abcdef","timeStamp":"1732672545","nonceStr":"n0nce","package":"prepay_id=wx2711","signType":"MD5","paySign":"ABCDEF"}`
	p, f := newFake(t, func(string) (int, string) {
		b, _ := json.Marshal(map[string]any{"status": "T", "message": "", "data": map[string]any{"result": true, "pay_info": payInfo}})
		return 200, string(b)
	})
	res, err := p.CreateOrder(context.Background(), providers.CreateOrderRequest{
		OutTradeNo: "ORDER20241127002", Amount: providers.Money{Minor: 1230, Currency: "AUD"}, Description: "test order",
		PayerOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", ClientIP: "203.0.113.7", ExpiresAt: testNow.Add(30*time.Minute + 30*time.Second),
		NotifyURL: "https://merchant.example/notify/demo-supay",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderTradeNo != "" || res.PayParams["package"] != "prepay_id=wx2711" || res.PayParams["paySign"] != "ABCDEF" || len(res.PayParams) != 6 {
		t.Fatalf("result = %+v", res)
	}
	// The body sent is exactly the request vector, signed as the vector says.
	body := f.bodies[0]
	want := vectorRequestParams()
	want["sign"] = vectorRequestSign
	if len(body) != len(want) {
		t.Fatalf("body = %v\nwant %v", body, want)
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %#v, want %q", k, body[k], v)
		}
	}
}

func TestParsePayInfo(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want map[string]string
		err  bool
	}{
		{"JSON string", `{"appId":"wx1","timeStamp":"1700000000","nonceStr":"n","package":"prepay_id=wx1","signType":"RSA","paySign":"s=="}`,
			map[string]string{"appId": "wx1", "timeStamp": "1700000000", "nonceStr": "n", "package": "prepay_id=wx1", "signType": "RSA", "paySign": "s=="}, false},
		{"numeric timeStamp keeps its text", `{"timeStamp":1700000000,"paySign":"x"}`, map[string]string{"timeStamp": "1700000000", "paySign": "x"}, false},
		{"object instead of string", map[string]any{"package": "prepay_id=wx2"}, map[string]string{"package": "prepay_id=wx2"}, false},
		{"null values dropped", `{"package":"p","code_url":null}`, map[string]string{"package": "p"}, false},
		{"missing", nil, nil, true},
		{"not JSON", "prepay_id=wx1", nil, true},
		{"JSON array", `["a"]`, nil, true},
		{"empty object", `{}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePayInfo(tt.in)
			if tt.err {
				if err == nil {
					t.Fatalf("want an error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestCreateOrderRefusals(t *testing.T) {
	p, f := newFake(t, func(string) (int, string) {
		return 200, `{"status":"T","data":{"result":true,"pay_info":"{\"appId\":\"wx1\"}"}}`
	})
	base := providers.CreateOrderRequest{OutTradeNo: "O1", Amount: providers.Money{Minor: 100, Currency: "AUD"}, Description: "d", PayerOpenID: "o1"}
	noOpenID := base
	noOpenID.PayerOpenID = ""
	cny := base
	cny.Amount.Currency = "CNY"
	card := base
	card.PayMethod = "card"
	for name, req := range map[string]providers.CreateOrderRequest{"no openid": noOpenID, "CNY": cny, "card": card} {
		if _, err := p.CreateOrder(context.Background(), req); !providers.IsCode(err, providers.ErrCodeRejected) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(f.bodies) != 0 {
		t.Fatalf("%d calls reached Supay", len(f.bodies))
	}
	// pay_info without the wx.requestPayment fields is a bad answer.
	if _, err := p.CreateOrder(context.Background(), base); !providers.IsCode(err, providers.ErrCodeBadResponse) {
		t.Fatalf("incomplete pay_info: %v", err)
	}
}

func TestQueryOrderWireAndAssumedAnswer(t *testing.T) {
	p, f := newFake(t, func(string) (int, string) {
		return 200, `{"status":"T","message":"","data":{"trade_status":"TRADE_SUCCESS","inner_trade_no":"2024112715300012345678","outer_trade_no":"O1","trade_amount":"12.30"}}`
	})
	st, err := p.QueryOrder(context.Background(), providers.OrderRef{OutTradeNo: "O1"})
	if err != nil {
		t.Fatal(err)
	}
	want := providers.OrderState{Status: providers.OrderPaid, ProviderStatus: "TRADE_SUCCESS", OutTradeNo: "O1",
		ProviderTradeNo: "2024112715300012345678", Amount: providers.Money{Minor: 1230, Currency: "AUD"}}
	if st != want {
		t.Fatalf("got  %+v\nwant %+v", st, want)
	}
	body := f.bodies[0]
	if body["service"] != ServiceQuery || body["mch_order_no"] != "O1" || body["trade_type"] != QueryTradeType ||
		body["sign_type"] != "MD5" || len(body) != 8 {
		t.Fatalf("query body = %v", body)
	}
	signed := map[string]string{}
	for k, v := range body {
		signed[k] = v.(string)
	}
	if !verifySign(signed, vectorKey, signed["sign"]) {
		t.Fatal("query not signed over its fields")
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		op         string
		want       providers.ErrorCode
	}{
		{"unknown order", `{"status":"F","message":"order does not exist"}`, 200, "query", providers.ErrCodeNotFound},
		{"sign error", `{"status":"F","message":"sign error"}`, 200, "query", providers.ErrCodeRejected},
		{"duplicate", `{"status":"F","message":"mch_order_no already exists with different content"}`, 200, "create", providers.ErrCodeDuplicate},
		{"system", `{"status":"F","message":"system busy"}`, 200, "create", providers.ErrCodeUnavailable},
		{"result false", `{"status":"T","message":"refund refused","data":{"result":false}}`, 200, "refund", providers.ErrCodeRejected},
		{"HTTP 503", `down`, 503, "query", providers.ErrCodeUnavailable},
		{"not JSON", `<html/>`, 200, "query", providers.ErrCodeBadResponse},
		{"query without trade_status", `{"status":"T","data":{"outer_trade_no":"O1"}}`, 200, "query", providers.ErrCodeBadResponse},
		{"query for another order", `{"status":"T","data":{"trade_status":"TRADE_SUCCESS","outer_trade_no":"O2"}}`, 200, "query", providers.ErrCodeBadResponse},
		{"amount needing rounding", `{"status":"T","data":{"trade_status":"TRADE_SUCCESS","trade_amount":"1.005"}}`, 200, "query", providers.ErrCodeBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newFake(t, func(string) (int, string) { return tt.status, tt.body })
			var err error
			ctx := context.Background()
			switch tt.op {
			case "query":
				_, err = p.QueryOrder(ctx, providers.OrderRef{OutTradeNo: "O1"})
			case "create":
				_, err = p.CreateOrder(ctx, providers.CreateOrderRequest{OutTradeNo: "O1", Amount: providers.Money{Minor: 100, Currency: "AUD"}, PayerOpenID: "o"})
			case "refund":
				_, err = p.Refund(ctx, providers.RefundRequest{Order: providers.OrderRef{OutTradeNo: "O1"}, OutRefundNo: "R1", Amount: providers.Money{Minor: 100, Currency: "AUD"}})
			}
			if !providers.IsCode(err, tt.want) {
				t.Fatalf("err = %v, want %s", err, tt.want)
			}
		})
	}
}

func TestRefundWire(t *testing.T) {
	p, f := newFake(t, func(string) (int, string) { return 200, `{"status":"T","message":"","data":{"result":true}}` })
	st, err := p.Refund(context.Background(), providers.RefundRequest{Order: providers.OrderRef{OutTradeNo: "O1"},
		OutRefundNo: "R1", Amount: providers.Money{Minor: 250, Currency: "AUD"}})
	if err != nil || st.Status != providers.RefundProcessing || st.OutRefundNo != "R1" || st.Amount.Minor != 250 {
		t.Fatalf("refund = %+v, %v", st, err)
	}
	body := f.bodies[0]
	want := map[string]string{"service": ServiceRefund, "mch_order_no": "R1", "orig_mch_order_no": "O1", "refund_amount": "2.50",
		"refund_note": "refund", "call_back_url": "https://gw.example/notify/sp-test", "mch_id": "100000123"}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %#v, want %q", k, body[k], v)
		}
	}
	if _, err := p.Refund(context.Background(), providers.RefundRequest{Order: providers.OrderRef{OutTradeNo: "O1"},
		OutRefundNo: "R2", Amount: providers.Money{Minor: 250, Currency: "CNY"}}); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Fatalf("CNY refund: %v", err)
	}
	if err := p.CloseOrder(context.Background(), providers.OrderRef{OutTradeNo: "O1"}); !providers.IsCode(err, providers.ErrCodeUnsupported) {
		t.Fatalf("close: %v", err)
	}
	if _, err := p.QueryRefund(context.Background(), providers.RefundRef{OutRefundNo: "R1"}); !providers.IsCode(err, providers.ErrCodeUnsupported) {
		t.Fatalf("refund query: %v", err)
	}
}

func form(fields map[string]string, key string) string {
	v := url.Values{}
	for k, val := range fields {
		v.Set(k, val)
	}
	v.Set("sign_type", "MD5")
	v.Set("sign", Sign(fields, key))
	return v.Encode()
}

func parse(p *Adapter, body string) (providers.Notification, error) {
	r := httptest.NewRequest(http.MethodPost, "/notify/sp-test", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return p.ParseNotify(r.Context(), r, []byte(body))
}

func TestParseNotifyPayment(t *testing.T) {
	p := testProvider(t, "")
	n, err := parse(p, vectorNotifyBody)
	if err != nil {
		t.Fatal(err)
	}
	want := providers.OrderState{Status: providers.OrderPaid, ProviderStatus: "TRADE_SUCCESS", OutTradeNo: "ORDER20241127002",
		ProviderTradeNo: "202411271530001234567890", Amount: providers.Money{Minor: 1230, Currency: "AUD"}}
	if n.Kind != providers.NotifyPayment || n.Hint || n.Order != want {
		t.Fatalf("got %+v", n)
	}
	// Fields Supay adds are signed too; empty ones are skipped as in signing.
	extra := map[string]string{"notify_type": "trade_status_sync", "mch_id": "100000123", "outer_trade_no": "O7",
		"inner_trade_no": "I7", "trade_status": "TRADE_CLOSED", "trade_amount": "5", "gmt_payment": "", "pay_channel": "WXPAY"}
	if n, err = parse(p, form(extra, vectorKey)); err != nil || n.Order.Status != providers.OrderClosed || n.Order.Amount.Minor != 500 {
		t.Fatalf("closed notification: %+v, %v", n, err)
	}
}

func TestParseNotifyRefuses(t *testing.T) {
	p := testProvider(t, "")
	other := map[string]string{"notify_type": "trade_status_sync", "mch_id": "999", "outer_trade_no": "O1", "trade_status": "TRADE_SUCCESS", "trade_amount": "1.00"}
	tests := []struct {
		name, body string
		want       error
	}{
		{"forged sign", strings.Replace(vectorNotifyBody, "sign=6EBD", "sign=7EBD", 1), providers.ErrVerification},
		{"tampered amount", strings.Replace(vectorNotifyBody, "trade_amount=12.30", "trade_amount=0.01", 1), providers.ErrVerification},
		{"tampered status", strings.Replace(vectorNotifyBody, "TRADE_SUCCESS", "TRADE_CLOSED", 1), providers.ErrVerification},
		{"field added", vectorNotifyBody + "&currency=CNY", providers.ErrVerification},
		{"signed with another key", form(map[string]string{"notify_type": "trade_status_sync", "mch_id": "100000123", "outer_trade_no": "O1", "trade_status": "TRADE_SUCCESS"}, "wrong"), providers.ErrVerification},
		{"wrong account, valid signature", form(other, vectorKey), providers.ErrChannelMismatch},
		{"no sign", "notify_type=trade_status_sync&outer_trade_no=O1", providers.ErrMalformed},
		{"field twice", vectorNotifyBody + "&trade_amount=0.01", providers.ErrMalformed},
		{"not a form", "%zz", providers.ErrMalformed},
		{"empty", "", providers.ErrMalformed},
		{"sign_type not MD5", strings.Replace(vectorNotifyBody, "sign_type=MD5", "sign_type=RSA", 1), providers.ErrMalformed},
		{"signed, no outer_trade_no", form(map[string]string{"notify_type": "trade_status_sync", "trade_status": "TRADE_SUCCESS"}, vectorKey), providers.ErrMalformed},
		{"signed, bad amount", form(map[string]string{"notify_type": "trade_status_sync", "outer_trade_no": "O1", "trade_status": "TRADE_SUCCESS", "trade_amount": "1.001"}, vectorKey), providers.ErrMalformed},
		{"signed, unknown type", form(map[string]string{"notify_type": "settle_sync", "outer_trade_no": "O1"}, vectorKey), providers.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := parse(p, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v (%+v)", err, tt.want, n)
			}
			if errors.Is(err, providers.ErrVerification) && !n.Hint {
				t.Errorf("unverified notification not marked Hint: %+v", n)
			}
		})
	}
}

func TestParseNotifyRefund(t *testing.T) {
	p := testProvider(t, "")
	fields := map[string]string{"notify_type": "refund_status_sync", "mch_id": "100000123", "inner_trade_no": "RI1",
		"outer_trade_no": "R1", "orig_outer_trade_no": "O1", "refund_status": "REFUND_SUCCESS", "refund_amount": "2.50"}
	n, err := parse(p, form(fields, vectorKey))
	if err != nil {
		t.Fatal(err)
	}
	want := providers.RefundState{Status: providers.RefundSucceeded, ProviderStatus: "REFUND_SUCCESS", OutRefundNo: "R1",
		ProviderRefundNo: "RI1", Amount: providers.Money{Minor: 250, Currency: "AUD"}}
	if n.Kind != providers.NotifyRefund || n.Refund != want || n.Order.OutTradeNo != "O1" {
		t.Fatalf("got %+v", n)
	}
	delete(fields, "orig_outer_trade_no")
	fields["refund_status"] = "REFUND_FAIL"
	if n, err = parse(p, form(fields, vectorKey)); err != nil || n.Refund.Status != providers.RefundFailed || n.Order.OutTradeNo != "" {
		t.Fatalf("failed refund without the original number: %+v, %v", n, err)
	}
}

func TestStates(t *testing.T) {
	for word, want := range map[string]providers.OrderStatus{"WAIT_BUYER_PAY": providers.OrderPaying, "TRADE_SUCCESS": providers.OrderPaid,
		"trade_success": providers.OrderPaid, "TRADE_FINISHED": providers.OrderPaid, "TRADE_CLOSED": providers.OrderClosed, "SOMETHING": providers.OrderUnknown} {
		if got := QueryTradeStatus(word); got != want {
			t.Errorf("QueryTradeStatus(%s) = %s, want %s", word, got, want)
		}
	}
	// The notification no longer turns a word it does not know into the
	// terminal CLOSED.
	for word, want := range map[string]providers.OrderStatus{"TRADE_SUCCESS": providers.OrderPaid, "TRADE_FINISHED": providers.OrderPaid,
		"WAIT_BUYER_PAY": providers.OrderPaying, "TRADE_CLOSED": providers.OrderClosed, "TRADE_FAIL": providers.OrderUnknown, "TRADE_PENDING": providers.OrderUnknown} {
		if got := NotifyTradeStatus(word); got != want {
			t.Errorf("NotifyTradeStatus(%s) = %s, want %s", word, got, want)
		}
	}
	for word, want := range map[string]providers.RefundStatus{"REFUND_SUCCESS": providers.RefundSucceeded, "REFUND_FAIL": providers.RefundFailed,
		"REFUND_FAILED": providers.RefundFailed, "REFUND_CLOSED": providers.RefundFailed, "REFUND_PROCESSING": providers.RefundProcessing, "": providers.RefundUnknown, "REFUND_REJECTED": providers.RefundUnknown} {
		if got := RefundNotifyStatus(word); got != want {
			t.Errorf("RefundNotifyStatus(%q) = %s, want %s", word, got, want)
		}
	}
}

func TestTimeoutExpressAndAck(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Minute: "30m", 90*time.Minute + 59*time.Second: "90m", 10 * time.Second: "1m",
		-time.Minute: "1m", 30 * 24 * time.Hour: "21600m"} {
		if got := TimeoutExpress(testNow, testNow.Add(d)); got != want {
			t.Errorf("TimeoutExpress(%s) = %s, want %s", d, got, want)
		}
	}
	if got := TimeoutExpress(testNow, time.Time{}); got != "" {
		t.Errorf("no expiry: %q", got)
	}
	p := testProvider(t, "")
	if a := p.NotifyAck(true, ""); a.Status != 200 || !bytes.Equal(a.Body, []byte("success")) {
		t.Fatalf("ok ack = %+v", a)
	}
	if a := p.NotifyAck(false, "x"); a.Status != 400 || !bytes.Equal(a.Body, []byte("fail")) {
		t.Fatalf("failure ack = %+v", a)
	}
}

func TestFactoryValidation(t *testing.T) {
	_, err := New(providers.Channel{Params: providers.Params{"mch_id": "1"}}, providers.Deps{})
	if err == nil || !strings.Contains(err.Error(), "params.md5_key: is required; params.receive_id: is required; params.store_name: is required") {
		t.Fatalf("err = %v", err)
	}
	pp, err := New(providers.Channel{Params: providers.Params{"mch_id": "1", "md5_key": "k", "receive_id": "2", "store_name": "s"}}, providers.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	caps := pp.Capabilities()
	if caps.Close || caps.RefundQuery || !caps.Notify || !caps.RefundNotify || len(caps.Currencies) != 1 || caps.Currencies[0] != "AUD" {
		t.Fatalf("capabilities = %+v", caps)
	}
}
