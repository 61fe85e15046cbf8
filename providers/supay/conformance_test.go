package supay_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/providertest"
	"github.com/paygate/paygate/providers/sandbox"
	_ "github.com/paygate/paygate/providers/sandbox/supaysim"
	"github.com/paygate/paygate/providers/supay"
	_ "github.com/paygate/paygate/providers/supay"
)

func channel(id string) providers.Channel {
	return providers.Channel{ID: id, Kind: supay.Kind, Currency: "AUD",
		Params: providers.Params{"mch_id": "100000123", "md5_key": "sp_sandbox_key", "receive_id": "200000456", "store_name": "Demo Store"}}
}

// forgeSign alters the notification's sign.
func forgeSign(t *testing.T, genuine providertest.RecordedRequest) providertest.RecordedRequest {
	t.Helper()
	v, err := url.ParseQuery(string(genuine.Body))
	if err != nil || v.Get("sign") == "" {
		t.Fatalf("genuine notification is not a signed form: %q", genuine.Body)
	}
	sign := v.Get("sign")
	flip := "0"
	if sign[0] == '0' {
		flip = "1"
	}
	v.Set("sign", flip+sign[1:])
	forged := genuine
	forged.Body = []byte(v.Encode())
	return forged
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Config{
		Channel: channel("sp-conf"),
		Order:   providers.CreateOrderRequest{PayMethod: "wechat", PayerOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", PayerAppID: "wx1234567890abcdef"},
		Forge:   forgeSign,
	})
}

// TestSandboxFlows covers what the suite skips for Supay (no refund query):
// the refund settles by its notification; plus duplicates and refunds
// beyond the rest.
func TestSandboxFlows(t *testing.T) {
	h := providertest.Start(t, providertest.Config{Channel: channel("sp-flows")})
	ctx := context.Background()
	p := h.Provider
	order := providers.CreateOrderRequest{OutTradeNo: providertest.NewOutTradeNo("SP"), Amount: providers.Money{Minor: 1000, Currency: "AUD"},
		Description: "flows", PayerOpenID: "o-payer", ExpiresAt: time.Now().Add(time.Hour), NotifyURL: h.Channel.NotifyURL, ClientIP: "203.0.113.9"}
	res, err := p.CreateOrder(ctx, order)
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderTradeNo != "" || res.PayParams["paySign"] == "" {
		t.Fatalf("create = %+v", res)
	}
	if _, err := p.CreateOrder(ctx, order); err != nil {
		t.Fatalf("same order again: %v", err)
	}
	changed := order
	changed.Amount.Minor = 2000
	if _, err := p.CreateOrder(ctx, changed); !providers.IsCode(err, providers.ErrCodeDuplicate) {
		t.Fatalf("same number, other amount: %v", err)
	}
	if _, err := p.QueryOrder(ctx, providers.OrderRef{OutTradeNo: "NX-unknown-0001"}); !providers.IsCode(err, providers.ErrCodeNotFound) {
		t.Fatalf("unknown order: %v", err)
	}

	if _, err := h.Sandbox.Pay(ctx, h.Channel.ID, order.OutTradeNo, sandbox.PayOptions{Duplicates: 1}); err != nil {
		t.Fatal(err)
	}
	r, ok := h.WaitNotification(providers.NotifyPayment, order.OutTradeNo, 3*time.Second)
	if !ok || r.Err != nil || r.Notification.Order.Status != providers.OrderPaid || r.Notification.Order.ProviderTradeNo == "" ||
		r.Notification.Order.Amount != order.Amount {
		t.Fatalf("payment notification: %+v", r)
	}
	st, err := p.QueryOrder(ctx, providers.OrderRef{OutTradeNo: order.OutTradeNo})
	if err != nil || st.Status != providers.OrderPaid || st.ProviderTradeNo != r.Notification.Order.ProviderTradeNo {
		t.Fatalf("query after payment: %+v, %v", st, err)
	}

	ref := providers.OrderRef{OutTradeNo: order.OutTradeNo, ProviderTradeNo: st.ProviderTradeNo, Amount: order.Amount}
	refund := func(no string, minor int64) (providers.RefundState, error) {
		return p.Refund(ctx, providers.RefundRequest{Order: ref, OutRefundNo: no, Amount: providers.Money{Minor: minor, Currency: "AUD"},
			Reason: "partial", NotifyURL: h.Channel.NotifyURL})
	}
	rs, err := refund("RFs0001", 400)
	if err != nil || rs.Status != providers.RefundProcessing {
		t.Fatalf("partial refund: %+v, %v", rs, err)
	}
	if _, err := refund("RFs0002", 601); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Fatalf("refund over the rest: %v", err)
	}
	// "mch_order_no already exists" is also what a repeat of our own
	// refund in flight would get: Supay's text cannot tell the two apart,
	// so it is an unknown outcome, never a final refusal.
	if _, err := refund(order.OutTradeNo, 100); !providers.IsCode(err, providers.ErrCodeInProgress) {
		t.Fatalf("refund numbered like an order: %v", err)
	}
	rn, ok := h.WaitNotification(providers.NotifyRefund, order.OutTradeNo, 3*time.Second)
	if !ok || rn.Err != nil {
		t.Fatalf("refund notification: %+v", rn)
	}
	if got := rn.Notification.Refund; got.Status != providers.RefundSucceeded || got.OutRefundNo != "RFs0001" ||
		got.Amount != (providers.Money{Minor: 400, Currency: "AUD"}) || got.ProviderRefundNo == "" {
		t.Fatalf("refund notification = %+v", got)
	}
	if _, err := refund("RFs0003", 600); err != nil {
		t.Fatalf("refund of the exact rest: %v", err)
	}
}
