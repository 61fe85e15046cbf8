// Package supay speaks the Supay Technology gateway API (Australia;
// gate.supaytechnology.com): one JSON endpoint, POST
// {base}/api/gateway/merchant/order, the operation chosen by `service`
// (create_instant_trade, query_trade, create_refund), every request signed
// with an upper-case MD5 over the sorted k=v string plus &key=<md5_key>.
// Notifications are form posts (trade_status_sync, refund_status_sync).
// Refunds and queries key on the merchant's numbers. See
// docs/providers/supay.md for what is UNCONFIRMED.
package supay

import (
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
)

// Wire constants (SuperPayConfig; ShopXO/ThinkCMF integrations).
const (
	DefaultBaseURL  = "https://gate.supaytechnology.com"
	GatewayPath     = "/api/gateway/merchant/order"
	DefaultCurrency = "AUD"

	ServiceCreate = "create_instant_trade"
	ServiceQuery  = "query_trade"
	ServiceRefund = "create_refund"

	Charset     = "UTF-8"
	Version     = "1.0"
	SignTypeMD5 = "MD5"

	// FieldReceiveID is the wire name of the receiving merchant id. The
	// misspelling is Supay's own (SuperPayConfig, both integrations): the
	// channel param is `receive_id`, the field sent is `recevice_id`.
	FieldReceiveID = "recevice_id"
	// FieldSubOpenID is the payer's openid, in camelCase on the wire.
	FieldSubOpenID = "subOpenId"

	// PayWayJSAPI covers official accounts and mini-programs.
	PayWayJSAPI = "JSAPI"

	// QueryTradeType is query_trade's trade_type. The SDK requires it but
	// its values are not public; the WeChat trade type of every order this
	// adapter creates (JSAPI, the pay_way sent) is the assumption.
	// UNCONFIRMED: docs/providers/supay.md.
	QueryTradeType = PayWayJSAPI

	NotifyTypeTrade  = "trade_status_sync"
	NotifyTypeRefund = "refund_status_sync"

	statusOK = "T"

	// maxTimeoutMinutes caps timeout_express at 15 days (the Alipay-style
	// maximum the "30m"/"1d" notation comes from).
	maxTimeoutMinutes = 15 * 24 * 60
	defaultRefundNote = "refund"
)

// payChannels maps the gateway's pay methods to Supay's pay_channel.
var payChannels = map[string]string{
	providers.PayMethodWeChat: "WXPAY",
	"alipay":                  "ALIPAY",
}

// Kind is the channel's provider word.
const Kind = "supay"

var spec = providers.Spec[Params, *Adapter]{Kind: Kind, DefaultCurrency: DefaultCurrency, BaseURL: DefaultBaseURL, Build: build}

func init() { providers.Register(spec) }

// Params are a Supay channel's params, all required (the SDK refuses a
// unified order without recevice_id and store_name).
type Params struct {
	MchID     string           `param:"mch_id,required"`
	MD5Key    providers.Secret `param:"md5_key,required"`
	ReceiveID string           `param:"receive_id,required"`
	StoreName string           `param:"store_name,required"`
}

// Adapter is one Supay merchant (for mini-programs: the mini-program's
// sub-merchant, whose mch_id and key sign the calls).
type Adapter struct {
	ch        providers.Channel
	mchID     string
	key       string
	receiveID string
	storeName string
	http      *httpx.Client
	now       func() time.Time
}

// New is the supay Factory.
func New(ch providers.Channel, deps providers.Deps) (providers.Provider, error) {
	return spec.New(ch, deps)
}

func build(ch providers.Channel, p Params, deps providers.Deps) (*Adapter, error) {
	client, err := httpx.New(ch, deps)
	if err != nil {
		return nil, err
	}
	return &Adapter{ch: ch, mchID: p.MchID, key: p.MD5Key.Reveal(), receiveID: p.ReceiveID, storeName: p.StoreName,
		http: client, now: deps.NowFunc()}, nil
}

// Kind implements providers.Provider.
func (p *Adapter) Kind() string { return Kind }

// Capabilities: no close/cancel service and no refund query are public, so
// both are off; refunds settle by the refund notification. Orders only in
// the channel's currency (every public sample is AUD; nothing suggests CNY).
func (p *Adapter) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify: true, RefundNotify: true, Query: true, Close: false, Refund: true, RefundQuery: false,
		Currencies: []string{p.ch.Currency}, PayMethods: []string{providers.PayMethodWeChat, "alipay"}, RequiresOpenID: true,
	}
}
