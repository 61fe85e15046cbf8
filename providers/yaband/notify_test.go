package yaband

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
)

func testProvider(t testing.TB, baseURL string, extra map[string]any) *Adapter {
	t.Helper()
	params := providers.Params{"user": "016683", "secret_key": vectorSecret}
	for k, v := range extra {
		params[k] = v
	}
	p, err := New(providers.Channel{ID: "yb-test", Kind: Kind, Currency: "EUR", BaseURL: baseURL,
		NotifyURL: "https://gw.example/notify/yb-test", Params: params},
		providers.Deps{Now: func() time.Time { return time.Unix(1732672545, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Adapter)
}

// signedBody builds a JSON notification signed with the (vector-pinned)
// signer.
func signedBody(t *testing.T, data map[string]string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"sign": Sign(vectorSecret, data), "data": data})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parse(p *Adapter, body, contentType string) (providers.Notification, error) {
	r := httptest.NewRequest(http.MethodPost, "/notify/yb-test", strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	return p.ParseNotify(r.Context(), r, []byte(body))
}

func TestParseNotifyPaymentVector(t *testing.T) {
	p := testProvider(t, "", nil)
	n, err := parse(p, vectorNotifyBody, "application/json")
	if err != nil {
		t.Fatalf("ParseNotify: %v", err)
	}
	want := providers.OrderState{
		Status: providers.OrderPaid, ProviderStatus: "paid", OutTradeNo: "ORDER20241127001",
		ProviderTradeNo: "8a8aa7c7-66d7-e2cc-e2a6-fff7c77aaefd", TransactionID: "4200002425202411272894611438",
		Amount: providers.Money{Minor: 123, Currency: "EUR"}, PaidAt: time.Unix(1732672600, 0).UTC(),
	}
	if n.Kind != providers.NotifyPayment || n.Hint || n.Order != want {
		t.Fatalf("got %+v\nwant order %+v", n, want)
	}
}

func TestParseNotifyRefuses(t *testing.T) {
	p := testProvider(t, "", nil)
	otherUser := map[string]string{"type": "payment", "user": "999999", "order_id": "O1", "trade_id": "T1",
		"amount": "1.23", "currency": "EUR", "state": "paid"}
	tests := []struct {
		name string
		body string
		want error
	}{
		{"forged signature", strings.Replace(vectorNotifyBody, `"sign":"66c6`, `"sign":"76c6`, 1), providers.ErrVerification},
		{"signature by another key", signedWith(t, "not-the-secret", vectorNotifyBody), providers.ErrVerification},
		{"tampered amount", strings.Replace(vectorNotifyBody, `"amount":"1.23"`, `"amount":"0.01"`, 1), providers.ErrVerification},
		{"tampered state", strings.Replace(vectorNotifyBody, `"state":"paid"`, `"state":"failed"`, 1), providers.ErrVerification},
		{"number literal re-written", strings.Replace(vectorNotifyBody, `1732672545`, `1732672545.0`, 1), providers.ErrVerification},
		{"field added", strings.Replace(vectorNotifyBody, `"state":"paid"`, `"state":"paid","extra":"x"`, 1), providers.ErrVerification},
		{"wrong account, valid signature", signedBody(t, otherUser), providers.ErrChannelMismatch},
		{"not JSON", "hello", providers.ErrMalformed},
		{"empty", "", providers.ErrMalformed},
		{"no sign", `{"data":{"user":"016683"}}`, providers.ErrMalformed},
		{"no data", `{"sign":"` + vectorNotifySign + `"}`, providers.ErrMalformed},
		{"data is an array", `{"sign":"` + vectorNotifySign + `","data":["x"]}`, providers.ErrMalformed},
		{"bad url-encoding", "resultData=%zz", providers.ErrMalformed},
		{"signed but no state", signedBody(t, map[string]string{"type": "payment", "user": "016683", "order_id": "O1"}), providers.ErrMalformed},
		{"signed but bad amount", signedBody(t, map[string]string{"type": "payment", "user": "016683", "order_id": "O1", "state": "paid", "amount": "1.234", "currency": "EUR"}), providers.ErrMalformed},
		{"signed, unknown type", signedBody(t, map[string]string{"type": "payout", "user": "016683", "state": "completed"}), providers.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := parse(p, tt.body, "application/json")
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v (notification %+v)", err, tt.want, n)
			}
			if errors.Is(err, providers.ErrVerification) && !n.Hint {
				t.Errorf("an unverified notification must only be a hint: %+v", n)
			}
		})
	}
}

// signedWith re-signs the vector body's data with another key.
func signedWith(t *testing.T, key, body string) string {
	t.Helper()
	_, data, err := decodeNotifyBody([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	fields, _ := flattenData(data)
	return strings.Replace(body, vectorNotifySign, Sign(key, fields), 1)
}

func TestParseNotifyBodyVariants(t *testing.T) {
	p := testProvider(t, "", nil)
	plus := map[string]string{"type": "payment", "user": "016683", "order_id": "O+1", "trade_id": "T1",
		"amount": "10.00", "currency": "CNY", "state": "Paid", "description": "a+b c&d=e"}
	plusJSON := signedBody(t, plus)
	var inner struct {
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal([]byte(plusJSON), &inner)
	tests := []struct {
		name, body, contentType string
		wantOrder               string
	}{
		{"raw JSON", vectorNotifyBody, "application/json", "ORDER20241127001"},
		{"resultData= url-encoded", "resultData=" + url.QueryEscape(vectorNotifyBody), "application/x-www-form-urlencoded", "ORDER20241127001"},
		{"url-encoded JSON without prefix", url.QueryEscape(vectorNotifyBody), "application/x-www-form-urlencoded", "ORDER20241127001"},
		{"raw JSON keeps '+' in signed values", plusJSON, "application/json", "O+1"},
		{"resultData= with '+' encoded", "resultData=" + url.QueryEscape(plusJSON), "application/x-www-form-urlencoded", "O+1"},
		{"sign.json dot form", Sign(vectorSecret, plus) + "." + string(inner.Data), "text/plain", "O+1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := parse(p, tt.body, tt.contentType)
			if err != nil {
				t.Fatalf("ParseNotify: %v", err)
			}
			if n.Order.OutTradeNo != tt.wantOrder || n.Order.Status != providers.OrderPaid {
				t.Fatalf("got %+v", n.Order)
			}
		})
	}
}

func TestParseNotifyRefund(t *testing.T) {
	p := testProvider(t, "", nil)
	data := map[string]string{
		"type": "refund", "user": "016683", "order_id": "ORDER1", "trade_id": "8a8aa7c7-66d7-e2cc-e2a6-fff7c77aaefd",
		"transaction_id": "4200002425202411272894611438", "amount": "10.00", "currency": "CNY",
		"refund_id": "20241127153000123456", "m_refund_id": "RF0001", "refund_amount": "2.50",
		"refund_currency": "EUR", "state": "refunded", "refund_time": "1732672700",
	}
	n, err := parse(p, signedBody(t, data), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	want := providers.RefundState{Status: providers.RefundSucceeded, ProviderStatus: "refunded", OutRefundNo: "RF0001",
		ProviderRefundNo: "20241127153000123456", Amount: providers.Money{Minor: 250, Currency: "EUR"},
		SucceededAt: time.Unix(1732672700, 0).UTC()}
	if n.Kind != providers.NotifyRefund || n.Refund != want || n.Order.OutTradeNo != "ORDER1" ||
		n.Order.TransactionID != "4200002425202411272894611438" {
		t.Fatalf("got %+v", n)
	}

	data["state"] = "refund processing"
	if n, err = parse(p, signedBody(t, data), "application/json"); err != nil || n.Refund.Status != providers.RefundProcessing {
		t.Fatalf("processing refund: %+v, %v", n, err)
	}
	delete(data, "state")
	if _, err = parse(p, signedBody(t, data), "application/json"); !errors.Is(err, providers.ErrMalformed) {
		t.Fatalf("refund without state: %v", err)
	}
}

func TestNotifyAck(t *testing.T) {
	p := testProvider(t, "", nil)
	ok := p.NotifyAck(true, "")
	if ok.Status != http.StatusOK || string(ok.Body) != "ok" || !strings.HasPrefix(ok.ContentType, "text/plain") {
		t.Fatalf("success ack = %+v", ok)
	}
	bad := p.NotifyAck(false, "unknown order")
	if bad.Status != http.StatusBadRequest || string(bad.Body) != "bad" {
		t.Fatalf("failure ack = %+v", bad)
	}
}
