package vrpayment

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/providertest"
	"github.com/paygate/paygate/providers/sandbox"
	"github.com/paygate/paygate/providers/sandbox/vrpaymentsim"
)

func sandboxChannel() providers.Channel {
	return providers.Channel{
		ID: "vr-conf", Kind: Kind, Currency: "EUR",
		Params: providers.Params{"user_id": "512", "secret": testSecret, "space_id": "405"},
	}
}

// The conformance suite against the simulator. Notify is false: the suite
// skips its notification checks (VR Payment is poll-first).
func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Config{
		Channel:    sandboxChannel(),
		Order:      providers.CreateOrderRequest{Description: "conformance", ReturnURL: "https://shop.example/back"},
		WantPayURL: true,
	})
}

// Paying sends nothing by default (the poller must find it); with the
// simulator's webhooks on, the webhook arrives and parses as a hint that
// names the transaction.
func TestSandboxPollOnlyAndWebhookHint(t *testing.T) {
	cfg := providertest.Config{Channel: sandboxChannel(), WantPayURL: true}
	h := providertest.Start(t, cfg)
	ctx := context.Background()

	out := providertest.NewOutTradeNo("PO")
	req, res := h.CreateOrder(cfg, out)
	if _, err := h.Sandbox.Pay(ctx, h.Channel.ID, out, sandbox.PayOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got := h.Received(); len(got) != 0 {
		t.Fatalf("VR Payment sandbox sent %d notifications without webhooks", len(got))
	}
	// Found by merchantReference, without the transaction id.
	st, err := h.Provider.QueryOrder(ctx, providers.OrderRef{OutTradeNo: out})
	if err != nil || st.Status != providers.OrderPaid || st.ProviderTradeNo != res.ProviderTradeNo || st.Amount != req.Amount || st.PaidAt.IsZero() {
		t.Fatalf("query by reference: %+v, %v", st, err)
	}

	sim, _ := h.Sandbox.Simulator(vrpaymentsim.Kind)
	sim.(*vrpaymentsim.Sim).EnableWebhooks(true)
	out2 := providertest.NewOutTradeNo("WH")
	_, res2 := h.CreateOrder(cfg, out2)
	view, err := h.Sandbox.Pay(ctx, h.Channel.ID, out2, sandbox.PayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := view.(vrpaymentsim.PayView).Deliveries; len(d) != 1 || d[0].Status != http.StatusOK {
		t.Fatalf("webhook deliveries: %+v", d)
	}
	var got *providertest.Received
	for _, r := range h.Received() {
		if r.Notification.Order.ProviderTradeNo == res2.ProviderTradeNo {
			got = &r
		}
	}
	if got == nil || got.Err != nil {
		t.Fatalf("webhook not parsed: %+v", h.Received())
	}
	n := got.Notification
	if !n.Hint || n.Kind != providers.NotifyPayment || n.ID == "" || !n.Order.Amount.IsZero() {
		t.Errorf("webhook notification = %+v (want a payment hint without amount)", n)
	}
}

// Refunds: PROCESSING at first, SUCCESSFUL shortly after; the same
// externalId does not refund twice; found by externalId without an id;
// over-refunds refused.
func TestSandboxRefunds(t *testing.T) {
	cfg := providertest.Config{Channel: sandboxChannel(), WantPayURL: true}
	h := providertest.Start(t, cfg)
	ctx := context.Background()
	out := providertest.NewOutTradeNo("RF")
	req, res := h.CreateOrder(cfg, out)
	ref := providers.OrderRef{OutTradeNo: out, ProviderTradeNo: res.ProviderTradeNo, Amount: req.Amount}
	if _, err := h.Provider.Refund(ctx, providers.RefundRequest{Order: ref, OutRefundNo: "RF-EARLY", Amount: providers.Money{Minor: 100, Currency: "EUR"}}); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Fatalf("refund of an unpaid transaction: %v", err)
	}
	if _, err := h.Sandbox.Pay(ctx, h.Channel.ID, out, sandbox.PayOptions{}); err != nil {
		t.Fatal(err)
	}
	rr := providers.RefundRequest{Order: providers.OrderRef{OutTradeNo: out}, OutRefundNo: providertest.NewOutTradeNo("R"), Amount: providers.Money{Minor: 600, Currency: "EUR"}}
	first, err := h.Provider.Refund(ctx, rr)
	if err != nil || first.Status != providers.RefundProcessing || first.ProviderRefundNo == "" || first.Amount.Minor != 600 {
		t.Fatalf("refund: %+v, %v", first, err)
	}
	again, err := h.Provider.Refund(ctx, rr)
	if err != nil || again.ProviderRefundNo != first.ProviderRefundNo {
		t.Fatalf("same externalId refunded twice: %+v vs %+v, %v", again, first, err)
	}
	if _, err := h.Provider.Refund(ctx, providers.RefundRequest{Order: ref, OutRefundNo: "RF-TOO-MUCH", Amount: providers.Money{Minor: 500, Currency: "EUR"}}); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Fatalf("over-refund: %v", err)
	}
	time.Sleep(vrpaymentsim.RefundDelay + 20*time.Millisecond)
	st, err := h.Provider.QueryRefund(ctx, providers.RefundRef{Order: ref, OutRefundNo: rr.OutRefundNo, Amount: rr.Amount})
	if err != nil || st.Status != providers.RefundSucceeded || st.ProviderRefundNo != first.ProviderRefundNo || st.SucceededAt.IsZero() {
		t.Fatalf("refund by externalId: %+v, %v", st, err)
	}
	if _, err := h.Provider.QueryRefund(ctx, providers.RefundRef{OutRefundNo: "NO-SUCH-REFUND"}); !providers.IsCode(err, providers.ErrCodeNotFound) {
		t.Fatalf("unknown refund: %v", err)
	}
	// A paid transaction cannot be closed.
	if err := h.Provider.CloseOrder(ctx, ref); !providers.IsCode(err, providers.ErrCodeOrderPaid) {
		t.Fatalf("close of a paid order: %v", err)
	}
}

// The simulator refuses a stale timestamp and a wrong key, and the payment
// page it hands out works.
func TestSandboxAuthAndPage(t *testing.T) {
	cfg := providertest.Config{Channel: sandboxChannel(), WantPayURL: true}
	h := providertest.Start(t, cfg)
	ctx := context.Background()
	order := providers.CreateOrderRequest{OutTradeNo: "AUTH-1", Amount: providers.Money{Minor: 100, Currency: "EUR"}}

	stale, _ := New(h.Channel, providers.Deps{HTTPClient: h.Server.Client(), Now: func() time.Time { return time.Now().Add(-6 * time.Minute) }})
	if _, err := stale.CreateOrder(ctx, order); !providers.IsCode(err, providers.ErrCodeRejected) || !strings.Contains(err.Error(), "window") {
		t.Errorf("stale timestamp: %v", err)
	}
	ch := h.Channel
	ch.Params = providers.Params{"user_id": "512", "secret": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "space_id": "405"}
	wrong, _ := New(ch, providers.Deps{HTTPClient: h.Server.Client()})
	if _, err := wrong.CreateOrder(ctx, order); !providers.IsCode(err, providers.ErrCodeRejected) || !strings.Contains(err.Error(), "x-mac-value") {
		t.Errorf("wrong key: %v", err)
	}
	ch.Params = providers.Params{"user_id": "512", "secret": testSecret, "space_id": "406"}
	other, _ := New(ch, providers.Deps{HTTPClient: h.Server.Client()})
	if _, err := other.CreateOrder(ctx, order); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Errorf("other space: %v", err)
	}

	_, res := h.CreateOrder(cfg, "PAGE-1")
	if !strings.HasPrefix(res.PayURL, h.Channel.BaseURL+"/s/405/payment/transaction/pay?") {
		t.Fatalf("PayURL = %s", res.PayURL)
	}
	resp, err := h.Server.Client().Post(res.PayURL, "application/x-www-form-urlencoded", nil) // the payer pays on the page
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "FULFILL") {
		t.Fatalf("page: %d %s", resp.StatusCode, body)
	}
	st, err := h.Provider.QueryOrder(ctx, providers.OrderRef{OutTradeNo: "PAGE-1", ProviderTradeNo: res.ProviderTradeNo})
	if err != nil || st.Status != providers.OrderPaid {
		t.Fatalf("after paying on the page: %+v, %v", st, err)
	}
}
