package wechatv2_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/providertest"
	"github.com/paygate/paygate/providers/sandbox"
	"github.com/paygate/paygate/providers/sandbox/wechatv2sim"
	"github.com/paygate/paygate/providers/wechatv2"
)

func simOf(t *testing.T, h *providertest.Harness) *wechatv2sim.Simulator {
	t.Helper()
	s, ok := h.Sandbox.Simulator(wechatv2.Kind)
	if !ok {
		t.Fatal("no wechat_v2 simulator")
	}
	return s.(*wechatv2sim.Simulator)
}

func order(no string, minor int64, openid, appid string) providers.CreateOrderRequest {
	return providers.CreateOrderRequest{
		OutTradeNo: no, Amount: providers.Money{Minor: minor, Currency: "CNY"}, Description: "d",
		PayerOpenID: openid, PayerAppID: appid, ClientIP: "203.0.113.7", ExpiresAt: time.Now().Add(time.Hour),
	}
}

// Service-provider mode on the wire, as the simulator received it:
// sub_mch_id always; sub_openid + sub_appid when the payer is the
// sub-merchant's mini-program user, openid when the payer's appid is the
// provider's; paySign's appId follows the order's appid.
func TestServiceProviderFieldPlacement(t *testing.T) {
	ch := spChannel("sp-fields")
	h := providertest.Start(t, providertest.Config{Channel: ch})
	sim := simOf(t, h)
	ctx := context.Background()
	for _, tc := range []struct {
		name, payerAppID       string
		wantOpenID, wantSubOID bool
		wantAppID              string
	}{
		{"payer appid empty", "", false, true, "wx1234567890abcdef"},
		{"payer appid = sub_appid", "wx1234567890abcdef", false, true, "wx1234567890abcdef"},
		{"payer appid = provider appid", "wx8888888888888888", true, false, "wx8888888888888888"},
	} {
		no := providertest.NewOutTradeNo("SP")
		res, err := h.Provider.CreateOrder(ctx, order(no, 300, "oPayer0000000000000000000001", tc.payerAppID))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		v, ok := sim.Order(ch.ID, no)
		if !ok {
			t.Fatalf("%s: simulator has no order", tc.name)
		}
		if v.MchID != "1900000109" || v.SubMchID != "1900000110" || v.AppID != "wx8888888888888888" || v.SubAppID != "wx1234567890abcdef" {
			t.Errorf("%s: accounts on the wire %+v", tc.name, v)
		}
		if (v.OpenID != "") != tc.wantOpenID || (v.SubOpenID != "") != tc.wantSubOID {
			t.Errorf("%s: openid %q sub_openid %q", tc.name, v.OpenID, v.SubOpenID)
		}
		if res.PayParams["appId"] != tc.wantAppID || res.PayParams["signType"] != "HMAC-SHA256" {
			t.Errorf("%s: pay params %v", tc.name, res.PayParams)
		}
		if v.SpbillCreateIP != "203.0.113.7" || v.TotalFee != 300 || len(v.TimeExpire) != 14 {
			t.Errorf("%s: order %+v", tc.name, v)
		}
	}
	// A payer of some third appid is refused before any call.
	no := providertest.NewOutTradeNo("SP")
	if _, err := h.Provider.CreateOrder(ctx, order(no, 300, "o", "wxthird")); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Fatalf("third appid: %v", err)
	}
	if _, ok := sim.Order(ch.ID, no); ok {
		t.Fatal("third appid reached the simulator")
	}

	// Pay a sub_openid order: the notification carries sub_mch_id and the
	// sub_openid, and the adapter reports the sub_openid as the payer.
	no = providertest.NewOutTradeNo("SP")
	if _, err := h.Provider.CreateOrder(ctx, order(no, 500, "oSubPayer000000000000000001", "")); err != nil {
		t.Fatal(err)
	}
	view, err := h.Sandbox.Pay(ctx, ch.ID, no, sandbox.PayOptions{Duplicates: 2})
	if err != nil {
		t.Fatal(err)
	}
	ov := view.(wechatv2sim.OrderView)
	if len(ov.Notifications) != 3 {
		t.Fatalf("deliveries %+v", ov.Notifications)
	}
	for _, d := range ov.Notifications {
		if d.Status != 200 || d.Body != "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>" {
			t.Errorf("delivery %+v", d)
		}
	}
	r, ok := h.WaitNotification(providers.NotifyPayment, no, time.Second)
	if !ok || r.Err != nil || r.Notification.Order.PayerID != "oSubPayer000000000000000001" || r.Notification.Order.Amount.Minor != 500 {
		t.Fatalf("notification %+v", r)
	}
	if len(ov.TransactionID) != 28 || ov.TransactionID[:7] != "4200000" {
		t.Errorf("transaction_id %q", ov.TransactionID)
	}
}

// The direct channel sends no service-provider field.
func TestDirectFieldPlacement(t *testing.T) {
	ch := directChannel("direct-fields")
	h := providertest.Start(t, providertest.Config{Channel: ch})
	no := providertest.NewOutTradeNo("DF")
	res, err := h.Provider.CreateOrder(context.Background(), order(no, 1, "oDirect", ""))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := simOf(t, h).Order(ch.ID, no)
	if v.OpenID != "oDirect" || v.SubOpenID != "" || v.SubAppID != "" || v.SubMchID != "" || res.PayParams["appId"] != "wxd930ea5d5a258f4f" {
		t.Fatalf("order %+v, pay params %v", v, res.PayParams)
	}
}

// WeChat's error answers from the simulator, through the adapter.
func TestErrorAnswersThroughTheSimulator(t *testing.T) {
	ch := directChannel("errors")
	h := providertest.Start(t, providertest.Config{Channel: ch})
	sim := simOf(t, h)
	p := h.Provider
	ctx := context.Background()
	code := func(err error) (providers.ErrorCode, string) {
		var pe *providers.Error
		if errors.As(err, &pe) {
			return pe.Code, pe.ProviderCode
		}
		return "", ""
	}
	expect := func(name string, err error, want providers.ErrorCode, wantProvider string) {
		t.Helper()
		c, pc := code(err)
		if c != want || pc != wantProvider {
			t.Errorf("%s: %v; want %s (%s)", name, err, want, wantProvider)
		}
	}

	no := providertest.NewOutTradeNo("ER")
	if _, err := p.CreateOrder(ctx, order(no, 100, "o1", "")); err != nil {
		t.Fatal(err)
	}
	// Same number, same content: the same prepay_id; other amount: USED.
	if _, err := p.CreateOrder(ctx, order(no, 100, "o1", "")); err != nil {
		t.Fatalf("identical repeat: %v", err)
	}
	_, err := p.CreateOrder(ctx, order(no, 101, "o1", ""))
	expect("other total_fee", err, providers.ErrCodeDuplicate, "OUT_TRADE_NO_USED")

	if _, err := h.Sandbox.Pay(ctx, ch.ID, no, sandbox.PayOptions{SkipNotify: true}); err != nil {
		t.Fatal(err)
	}
	_, err = p.CreateOrder(ctx, order(no, 100, "o1", ""))
	expect("create a paid order", err, providers.ErrCodeOrderPaid, "ORDERPAID")
	expect("close a paid order", p.CloseOrder(ctx, providers.OrderRef{OutTradeNo: no}), providers.ErrCodeOrderPaid, "ORDERPAID")

	st, err := p.QueryOrder(ctx, providers.OrderRef{OutTradeNo: no})
	if err != nil || st.Status != providers.OrderPaid {
		t.Fatalf("query %+v %v", st, err)
	}
	ref := providers.OrderRef{OutTradeNo: no, TransactionID: st.TransactionID, Amount: providers.Money{Minor: 100, Currency: "CNY"}}
	_, err = p.Refund(ctx, providers.RefundRequest{Order: ref, OutRefundNo: providertest.NewOutTradeNo("RF"), Amount: providers.Money{Minor: 101, Currency: "CNY"}})
	expect("refund more than paid", err, providers.ErrCodeRejected, "NOTENOUGH")
	rno := providertest.NewOutTradeNo("RF")
	if _, err := p.Refund(ctx, providers.RefundRequest{Order: ref, OutRefundNo: rno, Amount: providers.Money{Minor: 60, Currency: "CNY"}}); err != nil {
		t.Fatal(err)
	}
	// Same out_refund_no again: the same refund, not a second one.
	if _, err := p.Refund(ctx, providers.RefundRequest{Order: ref, OutRefundNo: rno, Amount: providers.Money{Minor: 60, Currency: "CNY"}}); err != nil {
		t.Fatalf("refund retry: %v", err)
	}
	_, err = p.Refund(ctx, providers.RefundRequest{Order: ref, OutRefundNo: providertest.NewOutTradeNo("RF"), Amount: providers.Money{Minor: 41, Currency: "CNY"}})
	expect("refund the rest + 1", err, providers.ErrCodeRejected, "NOTENOUGH")
	if st, err := p.QueryOrder(ctx, ref); err != nil || st.Status != providers.OrderPaid || st.ProviderStatus != "REFUND" {
		t.Fatalf("query after refund: %+v %v", st, err)
	}
	_, err = p.QueryRefund(ctx, providers.RefundRef{Order: ref, OutRefundNo: "RFunknown000001"})
	expect("unknown refund", err, providers.ErrCodeNotFound, "REFUNDNOTEXIST")

	closed := providertest.NewOutTradeNo("ER")
	if _, err := p.CreateOrder(ctx, order(closed, 100, "o1", "")); err != nil {
		t.Fatal(err)
	}
	if err := p.CloseOrder(ctx, providers.OrderRef{OutTradeNo: closed}); err != nil {
		t.Fatal(err)
	}
	expect("close twice", p.CloseOrder(ctx, providers.OrderRef{OutTradeNo: closed}), providers.ErrCodeOrderClosed, "ORDERCLOSED")
	_, err = p.CreateOrder(ctx, order(closed, 100, "o1", ""))
	expect("create a closed order", err, providers.ErrCodeOrderClosed, "ORDERCLOSED")
	expect("close unknown", p.CloseOrder(ctx, providers.OrderRef{OutTradeNo: "NX0000000001"}), providers.ErrCodeNotFound, "ORDERNOTEXIST")

	for _, ec := range []string{"SYSTEMERROR", "BIZERR_NEED_RETRY", "FREQUENCY_LIMITED"} {
		if err := sim.InjectError(ch.ID, "/pay/orderquery", ec); err != nil {
			t.Fatal(err)
		}
		_, err = p.QueryOrder(ctx, ref)
		expect("injected "+ec, err, providers.ErrCodeUnavailable, ec)
	}

	// A channel whose key differs from the one registered at "WeChat":
	// the simulator answers SIGNERROR (unsigned return_code FAIL).
	bad := h.Channel
	bad.ID = "errors-badkey"
	bad.Params = providers.Params{"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "api_key": "00000000000000000000000000000000"}
	bp, err := providers.New(bad, providers.Deps{HTTPClient: h.Server.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bp.QueryOrder(ctx, ref)
	expect("wrong key", err, providers.ErrCodeRejected, "SIGNERROR")
}
