// Package wechatv2 is the WeChat Pay API v2 adapter (kind wechat_v2): XML
// over HTTPS, MD5 or HMAC-SHA256 signatures with the APIv2 key, integer
// fen amounts, mini-program (JSAPI) payments, in direct mode or in
// service-provider mode (params.sub_mch_id set). Wire facts and their
// sources: docs/providers/wechat_v2.md.
package wechatv2

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
	"github.com/paygate/paygate/providers/wechatbill"
)

// ProductionBaseURL is the real API host (backup: https://api2.mch.weixin.qq.com).
const ProductionBaseURL = "https://api.mch.weixin.qq.com"

// API v2 paths, the same in direct and service-provider mode.
const (
	PathUnifiedOrder = "/pay/unifiedorder"
	PathOrderQuery   = "/pay/orderquery"
	PathCloseOrder   = "/pay/closeorder"
	PathRefund       = "/secapi/pay/refund" // mutual TLS on the real host
	PathRefundQuery  = "/pay/refundquery"
)

// Wire words.
const (
	codeSuccess = "SUCCESS"
	codeFail    = "FAIL"
	tradeJSAPI  = "JSAPI"
	currencyCNY = "CNY"
)

// Field length limits (bytes; WeChat counts bytes of UTF-8).
const (
	maxBodyField       = 127 // body
	maxRefundDescField = 80  // refund_desc
)

// cst is China Standard Time: time_expire, time_end and success_time are in it.
var cst = providers.ChinaTime

// Kind is the channel's provider word.
const Kind = "wechat_v2"

var spec = providers.Spec[Params, *Adapter]{
	Kind: Kind, DefaultCurrency: currencyCNY, Currencies: []string{currencyCNY}, BaseURL: ProductionBaseURL,
	Build: build,
}

func init() { providers.Register(spec) }

// Params are a wechat_v2 channel's params. sub_mch_id set means
// service-provider mode.
type Params struct {
	AppID    string           `param:"appid,required"`
	MchID    string           `param:"mch_id,required"`
	APIKey   providers.Secret `param:"api_key,required"`
	SignType string           `param:"sign_type"` // MD5 (default) or HMAC-SHA256
	SubMchID string           `param:"sub_mch_id"`
	SubAppID string           `param:"sub_appid"`
	CertFile string           `param:"cert_file"` // the merchant certificate for refunds (mutual TLS)
	KeyFile  string           `param:"key_file"`
}

// config is a channel's validated params.
type config struct {
	appID     string
	mchID     string
	apiKey    string
	signType  string
	subMchID  string // set: service-provider mode
	subAppID  string
	notifyURL string
	serverIP  string
}

func (c config) sp() bool { return c.subMchID != "" }

// Adapter is one wechat_v2 channel.
type Adapter struct {
	wechatbill.Format // statements: the trade bill
	ch                providers.Channel
	cfg               config
	http              *httpx.Client
	now               func() time.Time
}

// New is the wechat_v2 Factory: it validates params and loads the client
// certificate so a bad channel fails at start-up.
func New(ch providers.Channel, deps providers.Deps) (providers.Provider, error) {
	return spec.New(ch, deps)
}

func build(ch providers.Channel, p Params, deps providers.Deps) (*Adapter, error) {
	cfg := config{
		appID: p.AppID, mchID: p.MchID, apiKey: p.APIKey.Reveal(), signType: strings.ToUpper(p.SignType),
		subMchID: p.SubMchID, subAppID: p.SubAppID, notifyURL: ch.NotifyURL, serverIP: ch.ServerIP,
	}
	switch cfg.signType {
	case "":
		cfg.signType = SignMD5
	case SignMD5, SignHMACSHA256:
	default:
		return nil, fmt.Errorf("params.sign_type must be %s or %s, got %q", SignMD5, SignHMACSHA256, p.SignType)
	}
	// The APIv2 key is 32 characters in the merchant platform; the refund
	// notification's AES-256 key is derived from it, so any length works,
	// but an obviously truncated key is a config mistake.
	if len(cfg.apiKey) < 16 {
		return nil, errors.New("params.api_key looks truncated (WeChat APIv2 keys are 32 characters)")
	}
	if cfg.subAppID != "" && cfg.subMchID == "" {
		return nil, errors.New("params.sub_appid is set but params.sub_mch_id is not (sub_appid is only for service-provider mode)")
	}
	if (p.CertFile == "") != (p.KeyFile == "") {
		return nil, errors.New("params.cert_file and params.key_file must be given together")
	}
	opts := []httpx.Option{httpx.WithResponseLimit(MaxBodyBytes)}
	// The client certificate is presented only when a server asks for it,
	// so one client (one breaker per channel) serves every path. Without a
	// certificate refunds on the real host fail with a TLS/CERT error;
	// see docs/providers/wechat_v2.md.
	if p.CertFile != "" {
		opts = append(opts, httpx.WithClientCert(p.CertFile, p.KeyFile))
	} else if ch.BaseURL == ProductionBaseURL {
		deps.Logger().Warn("channel on WeChat's real host has no merchant certificate: refunds (mutual TLS) will fail")
	}
	hc, err := httpx.New(ch, deps, opts...)
	if err != nil {
		return nil, fmt.Errorf("params.cert_file/params.key_file: %w", err)
	}
	return &Adapter{ch: ch, cfg: cfg, http: hc, now: deps.NowFunc()}, nil
}

// Kind implements providers.Provider.
func (a *Adapter) Kind() string { return Kind }

// Capabilities implements providers.Provider.
func (a *Adapter) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify: true, RefundNotify: true, Query: true, Close: true, Refund: true, RefundQuery: true,
		Currencies: []string{currencyCNY}, PayMethods: []string{providers.PayMethodWeChat}, RequiresOpenID: true,
	}
}
