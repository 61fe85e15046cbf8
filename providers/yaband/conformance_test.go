package yaband_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/providertest"
	"github.com/paygate/paygate/providers/sandbox"
	_ "github.com/paygate/paygate/providers/sandbox/yabandsim"
	"github.com/paygate/paygate/providers/yaband"
	_ "github.com/paygate/paygate/providers/yaband"
)

func channel(id string, extra providers.Params) providers.Channel {
	params := providers.Params{"user": "016683", "secret_key": "yb_sandbox_secret"}
	for k, v := range extra {
		params[k] = v
	}
	return providers.Channel{ID: id, Kind: yaband.Kind, Currency: "EUR", Params: params}
}

// forgeSign alters one hex digit of the notification's sign.
func forgeSign(t *testing.T, genuine providertest.RecordedRequest) providertest.RecordedRequest {
	t.Helper()
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(genuine.Body, &msg); err != nil {
		t.Fatalf("genuine notification is not JSON: %v", err)
	}
	var sign string
	_ = json.Unmarshal(msg["sign"], &sign)
	if sign == "" {
		t.Fatal("genuine notification has no sign")
	}
	flip := "0"
	if sign[0] == '0' {
		flip = "1"
	}
	msg["sign"], _ = json.Marshal(flip + sign[1:])
	forged := genuine
	forged.Body, _ = json.Marshal(msg)
	return forged
}

func wechatOrder() providers.CreateOrderRequest {
	return providers.CreateOrderRequest{PayMethod: "wechat", PayerOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", PayerAppID: "wx1234567890abcdef"}
}

func TestConformanceWeChatMiniProgram(t *testing.T) {
	providertest.Run(t, providertest.Config{Channel: channel("yb-wechat", nil), Order: wechatOrder(), Forge: forgeSign})
}

func TestConformanceAlipayPayURL(t *testing.T) {
	providertest.Run(t, providertest.Config{
		Channel:    channel("yb-alipay", nil),
		Order:      providers.CreateOrderRequest{PayMethod: "alipay", ReturnURL: "https://shop.example/return"},
		Forge:      forgeSign,
		WantPayURL: true,
	})
}

func TestConformanceWithRefundCurrency(t *testing.T) {
	providertest.Run(t, providertest.Config{Channel: channel("yb-refundccy", providers.Params{"refund_currency": "EUR"}),
		Order: wechatOrder(), Forge: forgeSign})
}

// TestSandboxFlows covers what the suite does not: a CNY order refunded in
// the settlement currency, refunds beyond the rest, duplicate order ids,
// cancel after payment, and the hosted checkout page behind a pay URL.
func TestSandboxFlows(t *testing.T) {
	h := providertest.Start(t, providertest.Config{Channel: channel("yb-flows", providers.Params{"refund_currency": "EUR"})})
	ctx := context.Background()
	p := h.Provider
	expires := time.Now().Add(time.Hour)
	order := providers.CreateOrderRequest{OutTradeNo: providertest.NewOutTradeNo("YB"), Amount: providers.Money{Minor: 10000, Currency: "CNY"},
		Description: "CNY order", PayMethod: "wechat", PayerOpenID: "o-payer", PayerAppID: "wx-app", ExpiresAt: expires, NotifyURL: h.Channel.NotifyURL}

	res, err := p.CreateOrder(ctx, order)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ProviderTradeNo) != 36 || strings.Count(res.ProviderTradeNo, "-") != 4 {
		t.Errorf("trade_id %q is not UUID-shaped", res.ProviderTradeNo)
	}
	again, err := p.CreateOrder(ctx, order)
	if err != nil || again.ProviderTradeNo != res.ProviderTradeNo {
		t.Fatalf("same order again: %+v, %v", again, err)
	}
	changed := order
	changed.Amount.Minor = 20000
	if _, err := p.CreateOrder(ctx, changed); !providers.IsCode(err, providers.ErrCodeDuplicate) {
		t.Fatalf("same order_id, other amount: %v", err)
	}

	if _, err := h.Sandbox.Pay(ctx, h.Channel.ID, order.OutTradeNo, sandbox.PayOptions{}); err != nil {
		t.Fatal(err)
	}
	r, ok := h.WaitNotification(providers.NotifyPayment, order.OutTradeNo, 3*time.Second)
	if !ok || r.Err != nil {
		t.Fatalf("payment notification: %+v", r)
	}
	if n := r.Notification.Order; n.Status != providers.OrderPaid || n.Amount != order.Amount ||
		!strings.HasPrefix(n.TransactionID, "4200") || len(n.TransactionID) != 28 || n.ProviderTradeNo != res.ProviderTradeNo {
		t.Fatalf("payment notification order = %+v", n)
	}

	ref := providers.OrderRef{OutTradeNo: order.OutTradeNo, ProviderTradeNo: res.ProviderTradeNo, Amount: order.Amount}
	if err := p.CloseOrder(ctx, ref); !providers.IsCode(err, providers.ErrCodeOrderPaid) {
		t.Fatalf("close after payment: %v", err)
	}

	// CNY 100.00 at the sandbox rate 7.80 is EUR 12.82 refundable.
	refund := func(no string, minor int64) (providers.RefundState, error) {
		return p.Refund(ctx, providers.RefundRequest{Order: ref, OutRefundNo: no, Amount: providers.Money{Minor: minor, Currency: "EUR"},
			NotifyURL: h.Channel.NotifyURL})
	}
	st, err := refund("RFa0001", 1000)
	if err != nil || st.Status != providers.RefundProcessing {
		t.Fatalf("EUR 10.00 refund: %+v, %v", st, err)
	}
	if _, err := refund("RFa0002", 500); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Fatalf("refund over the refundable rest: %v", err)
	}
	if _, err := refund("RFa0001", 900); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Fatalf("same refund number, other amount: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for st.Status != providers.RefundSucceeded && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if st, err = p.QueryRefund(ctx, providers.RefundRef{Order: ref, OutRefundNo: "RFa0001", ProviderRefundNo: st.ProviderRefundNo}); err != nil {
			t.Fatal(err)
		}
	}
	if st.Status != providers.RefundSucceeded || st.Amount != (providers.Money{Minor: 1000, Currency: "EUR"}) || st.OutRefundNo != "RFa0001" {
		t.Fatalf("refund = %+v", st)
	}
	rn, ok := h.WaitNotification(providers.NotifyRefund, order.OutTradeNo, 3*time.Second)
	if !ok || rn.Err != nil || rn.Notification.Refund.Status != providers.RefundSucceeded || rn.Notification.Refund.OutRefundNo != "RFa0001" {
		t.Fatalf("refund notification: %+v", rn)
	}

	// A hosted (pay URL) order: the URL opens the sandbox checkout page.
	hosted, err := p.CreateOrder(ctx, providers.CreateOrderRequest{OutTradeNo: providertest.NewOutTradeNo("YH"),
		Amount: providers.Money{Minor: 990, Currency: "EUR"}, Description: "PayPal order", PayMethod: "paypal", ExpiresAt: expires,
		NotifyURL: h.Channel.NotifyURL})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(hosted.PayURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte("9.90 EUR")) || !bytes.Contains(page, []byte("PayPal/recurring")) {
		t.Fatalf("checkout page %d: %s", resp.StatusCode, page)
	}
}
