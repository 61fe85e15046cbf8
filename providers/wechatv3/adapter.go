// Package wechatv3 is the WeChat Pay API v3 adapter (kind wechat_v3):
// JSAPI / mini-program payments for direct merchants and, when
// params.sub_mchid is set, for service providers (partner mode). It signs
// requests with the merchant API key (SHA256withRSA), verifies every
// answer and notification with the WeChat Pay public key and/or platform
// certificates, and decrypts notifications with the APIv3 key
// (AES-256-GCM). Standard library crypto only.
package wechatv3

import (
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
	"github.com/paygate/paygate/providers/wechatbill"
)

// DefaultBaseURL is WeChat Pay's production host (backup: api2.mch.weixin.qq.com).
const DefaultBaseURL = "https://api.mch.weixin.qq.com"

// Currency: domestic API v3 orders and refunds are in CNY only.
const Currency = "CNY"

// API paths (spec §1.2, §1.3).
const (
	pathJSAPI             = "/v3/pay/transactions/jsapi"
	pathPartnerJSAPI      = "/v3/pay/partner/transactions/jsapi"
	pathByID              = "/v3/pay/transactions/id/"
	pathPartnerByID       = "/v3/pay/partner/transactions/id/"
	pathByOutTradeNo      = "/v3/pay/transactions/out-trade-no/"
	pathPartnerByOutTrade = "/v3/pay/partner/transactions/out-trade-no/"
	pathRefunds           = "/v3/refund/domestic/refunds"
)

// Field limits (spec §2.2, §2.4).
const (
	maxDescriptionRunes = 127
	maxReasonRunes      = 80
)

// beijing is the zone of every time WeChat Pay writes.
var beijing = providers.ChinaTime

// Kind is the channel's provider word.
const Kind = "wechat_v3"

var spec = providers.Spec[Params, *Adapter]{
	Kind: Kind, DefaultCurrency: Currency, Currencies: []string{Currency}, BaseURL: DefaultBaseURL, Build: build,
}

func init() { providers.Register(spec) }

// Adapter is one wechat_v3 channel.
type Adapter struct {
	wechatbill.Format // statements: the trade bill
	ch                providers.Channel
	cfg               *config
	verifier          *verifier
	certs             *certKeeper // nil: no platform certificate to keep (public-key only)
	http              *httpx.Client
	now               func() time.Time
	nonce             func() string
}

// New is the wechat_v3 Factory.
func New(ch providers.Channel, deps providers.Deps) (providers.Provider, error) {
	return spec.New(ch, deps)
}

func build(ch providers.Channel, params Params, deps providers.Deps) (*Adapter, error) {
	cfg, err := loadConfig(params)
	if err != nil {
		return nil, err
	}
	p := &Adapter{ch: ch, cfg: cfg, now: deps.NowFunc(), nonce: newNonce}
	p.verifier = newVerifier(cfg.pubKeyID, cfg.pubKey, cfg.certs, p.now)
	if p.http, err = httpx.New(ch, deps, p.signingOption()); err != nil {
		return nil, err
	}
	if cfg.certDownload || len(cfg.certs) > 0 {
		p.certs = newCertKeeper(p, ch, deps)
	}
	return p, nil
}

// Kind implements providers.Provider.
func (p *Adapter) Kind() string { return Kind }

// Capabilities implements providers.Provider.
func (p *Adapter) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify: true, RefundNotify: true, Query: true, Close: true, Refund: true, RefundQuery: true,
		Currencies:     []string{Currency},
		PayMethods:     []string{providers.PayMethodWeChat},
		RequiresOpenID: true,
	}
}
