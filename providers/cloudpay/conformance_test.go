package cloudpay_test

import (
	"context"
	"os"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/cloudpay"
	_ "github.com/paygate/paygate/providers/cloudpay"
	"github.com/paygate/paygate/providers/providertest"
	"github.com/paygate/paygate/providers/sandbox"
	_ "github.com/paygate/paygate/providers/sandbox/cloudpaysim"
)

func channel(id string) providers.Channel {
	return providers.Channel{ID: id, Kind: cloudpay.Kind, Currency: "CNY", Params: providers.Params{
		"sub_mch_id": "1712734762", "sub_appid": "wxd2565e6a04246fd1", "env_id": "prod-66733tes755tabc",
		"sandbox_refund_delay_ms": "100",
	}}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Config{
		Channel: channel("cloudpay-demo"),
		Order:   providers.CreateOrderRequest{PayerOpenID: "oZp5njTTsWaCeEoXi14oeOVCKlik", Description: "测试微信支付"},
	})
}

// TestCallbacksAreHints: the unsigned payment and refund callbacks reach
// the adapter, name the order, and are marked Hint with no state.
func TestCallbacksAreHints(t *testing.T) {
	cfg := providertest.Config{Channel: channel("cloudpay-hint"), Order: providers.CreateOrderRequest{PayerOpenID: "oZp5njTTsWaCeEoXi14oeOVCKlik"}}
	h := providertest.Start(t, cfg)
	ctx := context.Background()
	no := providertest.NewOutTradeNo("CB")
	req, _ := h.CreateOrder(cfg, no)
	if _, err := h.Sandbox.Pay(ctx, h.Channel.ID, no, sandbox.PayOptions{Duplicates: 1}); err != nil {
		t.Fatal(err)
	}
	r, ok := h.WaitNotification(providers.NotifyPayment, no, 3*time.Second)
	if !ok || r.Err != nil || !r.Notification.Hint || r.Notification.Order.TransactionID == "" {
		t.Fatalf("payment callback: %+v", r)
	}
	if r.Notification.Order.Status != "" || !r.Notification.Order.Amount.IsZero() {
		t.Fatalf("an unsigned callback reported state: %+v", r.Notification.Order)
	}
	st, err := h.Provider.QueryOrder(ctx, providers.OrderRef{OutTradeNo: no, TransactionID: r.Notification.Order.TransactionID})
	if err != nil || st.Status != providers.OrderPaid || st.Amount != req.Amount || st.PaidAt.IsZero() {
		t.Fatalf("query after the hint: %+v, %v", st, err)
	}
	rs, err := h.Provider.Refund(ctx, providers.RefundRequest{Order: providers.OrderRef{OutTradeNo: no, TransactionID: st.TransactionID, Amount: req.Amount},
		OutRefundNo: "RF" + no, Amount: providers.Money{Minor: 1, Currency: "CNY"}})
	if err != nil || rs.Status != providers.RefundProcessing {
		t.Fatalf("refund: %+v, %v", rs, err)
	}
	rr, ok := h.WaitNotification(providers.NotifyRefund, no, 3*time.Second)
	if !ok || rr.Err != nil || !rr.Notification.Hint || rr.Notification.Refund.OutRefundNo != "RF"+no || rr.Notification.Refund.Status != "" {
		t.Fatalf("refund callback: %+v", rr)
	}
	if ack := h.Provider.NotifyAck(true, ""); string(ack.Body) != `{"errcode":0,"errmsg":"OK"}` {
		t.Fatalf("ack = %s", ack.Body)
	}
}

// TestExampleConfigSandboxChannel runs the suite on the sandbox channel of
// configs/examples/wechat_cloudpay.yaml as shipped.
func TestExampleConfigSandboxChannel(t *testing.T) {
	raw, err := os.ReadFile("../../configs/examples/wechat_cloudpay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Merchants []struct {
			Channels []struct {
				ID, Provider, Currency string
				BaseURL                string         `yaml:"base_url"`
				Params                 map[string]any `yaml:"params"`
			}
		}
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, ch := range cfg.Merchants[0].Channels {
		if ch.BaseURL == "sandbox" {
			providertest.Run(t, providertest.Config{
				Channel: providers.Channel{ID: ch.ID, Kind: ch.Provider, Currency: ch.Currency, Params: ch.Params},
				Order:   providers.CreateOrderRequest{PayerOpenID: "oZp5njTTsWaCeEoXi14oeOVCKlik"},
			})
			return
		}
	}
	t.Fatal("no sandbox channel in the example")
}
