package twopaynow

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
	"github.com/paygate/paygate/providers/sandbox/twopaynowsim"
)

func sandboxChannel() providers.Channel {
	return providers.Channel{
		ID: "tp-conf", Kind: Kind, Currency: "EUR",
		Params: providers.Params{"mid": "4002563369", "key": "sandbox-key-2paynow"},
	}
}

// The conformance suite against the simulator. Capabilities.Notify is
// false, so the suite skips its notification checks;
// TestSandboxNotificationIsAHint covers them.
func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Config{
		Channel:    sandboxChannel(),
		Order:      providers.CreateOrderRequest{Description: "conformance", PayMethod: providers.PayMethodWeChat},
		WantPayURL: true,
	})
}

func TestSandboxNotificationIsAHint(t *testing.T) {
	cfg := providertest.Config{Channel: sandboxChannel(), WantPayURL: true}
	h := providertest.Start(t, cfg)
	out := providertest.NewOutTradeNo("HN")
	req, res := h.CreateOrder(cfg, out)
	if !strings.HasPrefix(res.ProviderTradeNo, "W") || len(res.ProviderTradeNo) != 18 {
		t.Errorf("trade_no %q does not look like 2paynow's (W + yyMMddHHmmss + 5 digits)", res.ProviderTradeNo)
	}
	view, err := h.Sandbox.Pay(context.Background(), h.Channel.ID, out, sandbox.PayOptions{Duplicates: 1})
	if err != nil {
		t.Fatal(err)
	}
	pv := view.(twopaynowsim.PayView)
	if len(pv.Deliveries) != 2 {
		t.Fatalf("deliveries = %+v", pv.Deliveries)
	}
	for _, d := range pv.Deliveries {
		if d.Status != 200 || d.Body != "success" {
			t.Errorf("gateway answered %+v, want 200 success", d)
		}
	}
	r, ok := h.WaitNotification(providers.NotifyPayment, out, 2*time.Second)
	if !ok || r.Err != nil {
		t.Fatalf("notification: %+v", r)
	}
	if r.Raw.Method != http.MethodGet || r.Raw.Body != nil && len(r.Raw.Body) > 0 {
		t.Errorf("2paynow notifies by GET query, got %s with %d body bytes", r.Raw.Method, len(r.Raw.Body))
	}
	n := r.Notification
	if !n.Hint || n.Order.Status != providers.OrderPaid || n.Order.Amount != req.Amount || n.Order.ProviderTradeNo != res.ProviderTradeNo {
		t.Errorf("notification = %+v", n)
	}
	// The same notification under another channel's key is refused.
	other := h.Channel
	other.Params = providers.Params{"mid": "4002563369", "key": "another-key"}
	op, err := New(other, providers.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.ParseNotify(context.Background(), r.Raw.Request(), r.Raw.Body); err == nil {
		t.Error("notification verified under another key")
	}
}

// The WAP flow (createFlow = flowWAP) against the simulator: the adapter
// only builds the redirect URL; 2paynow learns of the order when the payer
// opens it, and queries go by our number until 2paynow's is known.
func TestWAPFlowAgainstSandbox(t *testing.T) {
	cfg := providertest.Config{Channel: sandboxChannel(), WantPayURL: true}
	h := providertest.Start(t, cfg)
	p := h.Provider.(*Adapter)
	p.flow = flowWAP
	ctx := context.Background()
	out := providertest.NewOutTradeNo("WP")
	req, res := h.CreateOrder(cfg, out)
	if res.ProviderTradeNo != "" || !strings.HasPrefix(res.PayURL, h.Channel.BaseURL+"/wap/WxpayAPI/jsapi.php?") {
		t.Fatalf("result = %+v", res)
	}
	ref := providers.OrderRef{OutTradeNo: out, Amount: req.Amount}
	if _, err := p.QueryOrder(ctx, ref); !providers.IsCode(err, providers.ErrCodeNotFound) {
		t.Fatalf("before the page is opened: %v, want NOT_FOUND", err)
	}
	resp, err := h.Server.Client().Get(res.PayURL) // the payer opens the page
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "UNKNOWN") {
		t.Fatalf("pay page: %d %s", resp.StatusCode, page)
	}
	st, err := p.QueryOrder(ctx, ref)
	if err != nil || st.Status != providers.OrderPaying || st.ProviderTradeNo == "" {
		t.Fatalf("after opening: %+v, %v", st, err)
	}
	if _, err := h.Sandbox.Pay(ctx, h.Channel.ID, out, sandbox.PayOptions{}); err != nil {
		t.Fatal(err)
	}
	r, ok := h.WaitNotification(providers.NotifyPayment, out, 2*time.Second)
	if !ok || r.Err != nil || r.Notification.Order.OutTradeNo != out {
		t.Fatalf("WAP notification: %+v", r)
	}
	st, err = p.QueryOrder(ctx, ref)
	if err != nil || st.Status != providers.OrderPaid || st.Amount != req.Amount {
		t.Fatalf("after paying: %+v, %v", st, err)
	}
	// Refund without 2paynow's number: the adapter finds it by wap_query.
	rs, err := p.Refund(ctx, providers.RefundRequest{Order: ref, OutRefundNo: "RF-WAP-1", Amount: providers.Money{Minor: 100, Currency: "EUR"}})
	if err != nil || rs.Status != providers.RefundSucceeded {
		t.Fatalf("refund: %+v, %v", rs, err)
	}
	// Refunding more than is left is refused by the simulator.
	if _, err := p.Refund(ctx, providers.RefundRequest{Order: providers.OrderRef{ProviderTradeNo: st.ProviderTradeNo}, OutRefundNo: "RF-WAP-2", Amount: req.Amount}); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Fatalf("over-refund: %v", err)
	}
}

// The simulator refuses requests with a stale timestamp or a bad sign.
func TestSandboxChecksTimestampAndSign(t *testing.T) {
	cfg := providertest.Config{Channel: sandboxChannel(), WantPayURL: true}
	h := providertest.Start(t, cfg)
	ctx := context.Background()
	ch := h.Channel
	stale, err := New(ch, providers.Deps{HTTPClient: h.Server.Client(), Now: func() time.Time { return time.Now().Add(-6 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stale.CreateOrder(ctx, providers.CreateOrderRequest{OutTradeNo: "STALE-1", Amount: providers.Money{Minor: 100, Currency: "EUR"}, NotifyURL: ch.NotifyURL})
	if !providers.IsCode(err, providers.ErrCodeRejected) || !strings.Contains(err.Error(), "timestamp") {
		t.Errorf("stale request: %v", err)
	}
	ch.Params = providers.Params{"mid": "4002563369", "key": "wrong-key"}
	wrong, err := New(ch, providers.Deps{HTTPClient: h.Server.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.CreateOrder(ctx, providers.CreateOrderRequest{OutTradeNo: "WRONG-1", Amount: providers.Money{Minor: 100, Currency: "EUR"}, NotifyURL: ch.NotifyURL})
	if !providers.IsCode(err, providers.ErrCodeRejected) || !strings.Contains(err.Error(), "sign") {
		t.Errorf("wrong key: %v", err)
	}
	ch.Params = providers.Params{"mid": "999", "key": "sandbox-key-2paynow"}
	unknown, _ := New(ch, providers.Deps{HTTPClient: h.Server.Client()})
	_, err = unknown.QueryOrder(ctx, providers.OrderRef{ProviderTradeNo: "W1"})
	if !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Errorf("unknown mid: %v (must not look like an unknown order)", err)
	}
}
