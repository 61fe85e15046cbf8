package vrpayment

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paygate/paygate/providers"
)

func TestParseWebhook(t *testing.T) {
	p := newTestProvider(t, "", "EUR")
	post := func(body string) *http.Request {
		return httptest.NewRequest(http.MethodPost, "/notify/vr-test", strings.NewReader(body))
	}
	const tx = `{"eventId":987654,"entityId":123456789,"listenerEntityId":1472041829003,"listenerEntityTechnicalName":"Transaction","spaceId":405,"webhookListenerId":42,"timestamp":"2026-11-28T05:55:01+0000","extraField":true}`
	cases := []struct {
		name    string
		req     *http.Request
		body    string
		wantErr error
		check   func(t *testing.T, n providers.Notification)
	}{
		{name: "transaction", body: tx, check: func(t *testing.T, n providers.Notification) {
			if !n.Hint || n.Kind != providers.NotifyPayment || n.Order.ProviderTradeNo != "123456789" || n.ID != "987654" || !n.Order.Amount.IsZero() {
				t.Errorf("notification = %+v", n)
			}
		}},
		{name: "signed payload with state", body: strings.Replace(tx, `"extraField":true`, `"state":"FULFILL"`, 1), check: func(t *testing.T, n providers.Notification) {
			if !n.Hint || n.Order.ProviderStatus != "FULFILL" {
				t.Errorf("notification = %+v (still a hint)", n)
			}
		}},
		{name: "refund", body: `{"eventId":5,"entityId":777,"listenerEntityTechnicalName":"Refund","spaceId":405,"state":"SUCCESSFUL"}`, check: func(t *testing.T, n providers.Notification) {
			if !n.Hint || n.Kind != providers.NotifyRefund || n.Refund.ProviderRefundNo != "777" || n.Refund.Status != providers.RefundSucceeded {
				t.Errorf("notification = %+v", n)
			}
		}},
		{name: "other space", body: strings.Replace(tx, `"spaceId":405`, `"spaceId":406`, 1), wantErr: providers.ErrChannelMismatch},
		{name: "other entity", body: strings.Replace(tx, `"Transaction"`, `"TransactionCompletion"`, 1), wantErr: providers.ErrMalformed},
		{name: "not JSON", body: `eventId=1`, wantErr: providers.ErrMalformed},
		{name: "no spaceId", body: `{"entityId":1,"listenerEntityTechnicalName":"Transaction"}`, wantErr: providers.ErrMalformed},
		{name: "entityId not an id", body: strings.Replace(tx, `123456789`, `-1`, 1), wantErr: providers.ErrMalformed},
		{name: "GET", req: httptest.NewRequest(http.MethodGet, "/notify/vr-test?entityId=1", nil), wantErr: providers.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := c.req
			if req == nil {
				req = post(c.body)
			}
			n, err := p.ParseNotify(context.Background(), req, []byte(c.body))
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, n)
		})
	}
	if a := p.NotifyAck(true, ""); a.Status != 200 || len(a.Body) != 0 {
		t.Errorf("ok ack = %+v", a)
	}
	if a := p.NotifyAck(false, "x"); a.Status != 500 {
		t.Errorf("failure ack = %+v", a)
	}
}
