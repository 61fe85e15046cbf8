package wechatv3_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/providertest"
	"github.com/paygate/paygate/providers/sandbox"
	"github.com/paygate/paygate/providers/sandbox/wechatv3sim"
	"github.com/paygate/paygate/providers/wechatv3"
	_ "github.com/paygate/paygate/providers/wechatv3"
)

const demo = "../../configs/sandbox/wechat_v3/"

// Demo account numbers (the demo keys are public: sandbox only).
const (
	demoAPIv3Key    = "DEMO0SANDBOX0APIV3KEY00000000000"
	demoCertSerial  = "5D1A2B3C4D5E6F708192A3B4C5D6E7F801234567"
	demoPubKeyID    = "PUB_KEY_ID_0000000000000099000000000000000001"
	demoOpenID      = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	demoAppID       = "wxd678efh567hg6787"
	demoMchID       = "1900000109"
	demoSpAppID     = "wx8888888888888888"
	demoSpMchID     = "1900000100"
	demoSubMchID    = "1900000111"
	demoSubAppID    = "wxdace645e0bc2cXXX"
	demoPlatformSer = "3775B6A45ACD588826D15E583A95F5DD2B0C9E11"
)

// demoParams is a channel with both WeChat keys (public key + platform
// certificate) and the sandbox-only private halves for the simulator.
func demoParams(extra providers.Params) providers.Params {
	p := providers.Params{
		"appid": demoAppID, "mchid": demoMchID, "api_v3_key": demoAPIv3Key,
		"private_key_file": demo + "apiclient_key.pem", "merchant_cert_file": demo + "apiclient_cert.pem",
		"cert_serial_no":            demoCertSerial,
		"wechatpay_public_key_file": demo + "wechatpay_public_key.pem", "wechatpay_public_key_id": demoPubKeyID,
		"platform_cert_files":                 []any{demo + "platform_cert.pem"},
		wechatv3sim.ParamPublicKeyPrivateFile: demo + "sandbox_wechatpay_private_key.pem",
		wechatv3sim.ParamPlatformPrivateFile:  demo + "sandbox_platform_private_key.pem",
		wechatv3sim.ParamRefundDelayMS:        "100",
	}
	for k, v := range extra {
		if v == nil {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	return p
}

func partnerParams(extra providers.Params) providers.Params {
	p := demoParams(providers.Params{"appid": demoSpAppID, "mchid": demoSpMchID, "sub_mchid": demoSubMchID, "sub_appid": demoSubAppID})
	for k, v := range extra {
		if v == nil {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	return p
}

// forge flips one bit of the signature: still base64, no longer valid.
func forge(t *testing.T, g providertest.RecordedRequest) providertest.RecordedRequest {
	f := g
	f.Header = g.Header.Clone()
	sig, err := base64.StdEncoding.DecodeString(g.Header.Get("Wechatpay-Signature"))
	if err != nil {
		t.Fatalf("genuine signature: %v", err)
	}
	sig[10] ^= 0x01
	f.Header.Set("Wechatpay-Signature", base64.StdEncoding.EncodeToString(sig))
	return f
}

func TestConformanceDirect(t *testing.T) {
	providertest.Run(t, providertest.Config{
		Channel: providers.Channel{ID: "wxv3-direct", Kind: wechatv3.Kind, Currency: "CNY", Params: demoParams(nil)},
		Order:   providers.CreateOrderRequest{PayerOpenID: demoOpenID, Description: "Image形象店-深圳腾大-QQ公仔"},
		Forge:   forge,
	})
}

func TestConformancePartnerSubOpenID(t *testing.T) {
	providertest.Run(t, providertest.Config{
		Channel: providers.Channel{ID: "wxv3-partner", Kind: wechatv3.Kind, Currency: "CNY", Params: partnerParams(nil)},
		Order:   providers.CreateOrderRequest{PayerOpenID: demoOpenID, PayerAppID: demoSubAppID},
		Forge:   forge,
	})
}

func TestConformancePartnerSpOpenIDCertOnly(t *testing.T) {
	// Partner channel paying with the provider's openid, WeChat's side on
	// platform certificates only (the pre-2024 set-up).
	providertest.Run(t, providertest.Config{
		Channel: providers.Channel{ID: "wxv3-partner-sp", Kind: wechatv3.Kind, Currency: "CNY",
			Params: partnerParams(providers.Params{"sub_appid": nil, "wechatpay_public_key_file": nil, "wechatpay_public_key_id": nil,
				wechatv3sim.ParamPublicKeyPrivateFile: nil})},
		Order: providers.CreateOrderRequest{PayerOpenID: demoOpenID},
		Forge: forge,
	})
}

func simOf(t *testing.T, h *providertest.Harness) *wechatv3sim.Simulator {
	t.Helper()
	s, ok := h.Sandbox.Simulator(wechatv3.Kind)
	if !ok {
		t.Fatal("no wechat_v3 simulator")
	}
	return s.(*wechatv3sim.Simulator)
}

func newOrder(t *testing.T, h *providertest.Harness, cfg providertest.Config) (string, providers.OrderRef) {
	t.Helper()
	no := providertest.NewOutTradeNo("RT")
	req, _ := h.CreateOrder(cfg, no)
	return no, providers.OrderRef{OutTradeNo: no, Amount: req.Amount}
}

// TestRotationCertToPublicKey: WeChat moves from platform-certificate
// signing to public-key signing while an order is in flight; an adapter
// configured with both keys keeps verifying answers and notifications.
func TestRotationCertToPublicKey(t *testing.T) {
	cfg := providertest.Config{
		Channel: providers.Channel{ID: "wxv3-rotate", Kind: wechatv3.Kind, Currency: "CNY",
			Params: demoParams(providers.Params{wechatv3sim.ParamSignWith: string(wechatv3sim.KeyPlatformCert)})},
		Order: providers.CreateOrderRequest{PayerOpenID: demoOpenID},
	}
	h := providertest.Start(t, cfg)
	sim := simOf(t, h)
	ctx := context.Background()

	no, ref := newOrder(t, h, cfg) // answered with the platform certificate
	st, err := h.Provider.QueryOrder(ctx, ref)
	if err != nil || st.Status != providers.OrderPaying {
		t.Fatalf("query under certificate signing: %+v, %v", st, err)
	}
	if err := sim.UseKey(cfg.Channel.ID, wechatv3sim.KeyPublicKey); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Sandbox.Pay(ctx, cfg.Channel.ID, no, sandbox.PayOptions{}); err != nil {
		t.Fatal(err)
	}
	r, ok := h.WaitNotification(providers.NotifyPayment, no, 3*time.Second)
	if !ok || r.Err != nil || r.Notification.Order.Status != providers.OrderPaid || r.Notification.Hint {
		t.Fatalf("notification after rotation: %+v", r)
	}
	if got := r.Raw.Header.Get("Wechatpay-Serial"); got != demoPubKeyID {
		t.Fatalf("notification signed by %q, want the public key %s", got, demoPubKeyID)
	}
	st, err = h.Provider.QueryOrder(ctx, ref)
	if err != nil || st.Status != providers.OrderPaid || st.TransactionID == "" {
		t.Fatalf("query under public-key signing: %+v, %v", st, err)
	}

	// An adapter that knows only the platform certificate refuses the
	// public-key-signed notification (unknown serial) but still names the
	// order, as a Hint without status or amount.
	ch := h.Channel
	ch.Params = demoParams(providers.Params{"wechatpay_public_key_file": nil, "wechatpay_public_key_id": nil})
	certOnly, err := providers.New(ch, providers.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := certOnly.ParseNotify(ctx, r.Raw.Request(), r.Raw.Body)
	if !errors.Is(err, providers.ErrVerification) {
		t.Fatalf("cert-only adapter: err = %v, want ErrVerification", err)
	}
	if !n.Hint || n.Order.OutTradeNo != no || n.Order.TransactionID != st.TransactionID || n.Kind != providers.NotifyPayment {
		t.Fatalf("hint = %+v", n)
	}
	if n.Order.Status != "" || !n.Order.Amount.IsZero() || !n.Order.PaidAt.IsZero() {
		t.Fatalf("hint reports untrusted state: %+v", n.Order)
	}
	// And back: a certificate-signed notification still verifies.
	if err := sim.UseKey(cfg.Channel.ID, wechatv3sim.KeyPlatformCert); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Sandbox.Pay(ctx, cfg.Channel.ID, no, sandbox.PayOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		var seen bool
		for _, r := range h.Received() {
			if r.Raw.Header.Get("Wechatpay-Serial") == demoPlatformSer {
				if r.Err != nil || r.Notification.Order.Status != providers.OrderPaid {
					t.Fatalf("certificate-signed notification: %+v, %v", r.Notification, r.Err)
				}
				seen = true
			}
		}
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no certificate-signed notification")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExampleConfigSandboxChannel runs the conformance suite on the
// sandbox channel of configs/examples/wechat_v3.yaml exactly as shipped
// (paths made relative to this package), so the example and the demo
// keys cannot drift apart.
func TestExampleConfigSandboxChannel(t *testing.T) {
	raw, err := os.ReadFile("../../configs/examples/wechat_v3.yaml")
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
		if ch.BaseURL != "sandbox" {
			continue
		}
		params := providers.Params{}
		for k, v := range ch.Params {
			switch x := v.(type) {
			case string:
				if strings.HasPrefix(x, "configs/") {
					v = "../../" + x
				}
			case []any:
				for i, e := range x {
					if s, ok := e.(string); ok && strings.HasPrefix(s, "configs/") {
						x[i] = "../../" + s
					}
				}
			}
			params[k] = v
		}
		providertest.Run(t, providertest.Config{
			Channel: providers.Channel{ID: ch.ID, Kind: ch.Provider, Currency: ch.Currency, Params: params},
			Order:   providers.CreateOrderRequest{PayerOpenID: demoOpenID},
			Forge:   forge,
		})
		return
	}
	t.Fatal("no sandbox channel in the example")
}
