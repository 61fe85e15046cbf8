// Package twopaynow is the adapter for 2paynow (Europe Sepay B.V.), kind
// "2paynow": HTTP GET {base}/zhifu/mc_itf?<query>, every call signed with
// md5(function + mid + timestamp_ms + key).
//
// Public material is one Omnipay driver (Huozhangqi/omnipay-2paynow); the
// wire facts and what is UNCONFIRMED are in docs/providers/2paynow.md. Each
// unconfirmed fact lives in one constant or one function named there.
package twopaynow

import (
	"fmt"
	"regexp"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
)

// DefaultBaseURL is 2paynow's production host.
const DefaultBaseURL = "https://www.2paynow.com"

// DefaultCurrency applies when the channel sets none (every public sample
// is in EUR).
const DefaultCurrency = "EUR"

// apiPath is the single server-side endpoint; the operation is the
// `function` query parameter.
const apiPath = "/zhifu/mc_itf"

// WAP redirect pages (the driver builds these URLs and redirects the payer;
// it never calls them server-side). With the default base the published
// URLs are used as they are (plain http, Alipay without "www"); with a
// custom base (sandbox) the paths are appended to it.
const (
	realWeChatWapURL = "http://www.2paynow.com/wap/WxpayAPI/jsapi.php"
	realAlipayWapURL = "http://2paynow.com/wap/wappay/pay.html"
	weChatWapPath    = "/wap/WxpayAPI/jsapi.php"
	alipayWapPath    = "/wap/wappay/pay.html"
)

// The `function` values.
const (
	fnPrecreate    = "precreate"
	fnWapPrecreate = "wap_precreate"
	fnQuery        = "query"
	fnWapQuery     = "wap_query"
	fnCancel       = "cancel"
	// fnRefund is UNCONFIRMED: no public code shows 2paynow's refund call.
	// See refundParams for the whole assumed request.
	fnRefund = "refund"
)

// 2paynow's `type`: 0 = Alipay, 1 = WeChat Pay.
const (
	typeAlipay = "0"
	typeWeChat = "1"
)

// PayMethodAlipay is the gateway's word for Alipay.
const PayMethodAlipay = "alipay"

// NotifyMaxSkew bounds how far a notification's timestamp may be from now
// (either way). 2paynow's signature covers only function+mid+timestamp, so
// without this guard a captured notification could be replayed forever.
// Our choice, not 2paynow's rule: a 2paynow retry that re-sends an old
// timestamp is refused too, and the poller settles that order instead.
const NotifyMaxSkew = 10 * time.Minute

// createFlow selects how the unified order is placed. UNCONFIRMED: public
// material shows no mini-program (JSAPI with sub_appid/openid) call at
// 2paynow, so the order is a pay link either way:
//   - flowQR (default): server-side `precreate`; 2paynow answers trade_no at
//     once, so query, cancel and refund work from the start. PayURL is the
//     answer's qr_code (or pic_url, see payURLFromAnswer).
//   - flowWAP: `wap_precreate`; the adapter only builds the signed redirect
//     URL of the WeChat JSAPI / Alipay WAP page (as the driver does). 2paynow
//     learns of the order only when the payer opens it, so the provider
//     number is unknown at create and queries go by our number (wap_query).
//
// Switching is this one constant.
const createFlow = flowQR

type flow int

const (
	flowQR flow = iota
	flowWAP
)

// Kind is the channel's provider word.
const Kind = "2paynow"

var spec = providers.Spec[Params, *Adapter]{Kind: Kind, DefaultCurrency: DefaultCurrency, BaseURL: DefaultBaseURL, Build: build}

func init() { providers.Register(spec) }

// Params are a 2paynow channel's params: the numeric merchant id and the
// signing key.
type Params struct {
	MID string           `param:"mid,required"`
	Key providers.Secret `param:"key,required"`
}

// Adapter is one 2paynow channel.
type Adapter struct {
	ch       providers.Channel
	mid      string
	key      string
	currency string
	realHost bool
	flow     flow
	http     *httpx.Client
	now      func() time.Time
}

var digits = regexp.MustCompile(`^[0-9]+$`)

// New is the 2paynow Factory.
func New(ch providers.Channel, deps providers.Deps) (providers.Provider, error) {
	return spec.New(ch, deps)
}

func build(ch providers.Channel, p Params, deps providers.Deps) (*Adapter, error) {
	if !digits.MatchString(p.MID) {
		return nil, fmt.Errorf("params.mid must be 2paynow's numeric merchant id")
	}
	client, err := httpx.New(ch, deps)
	if err != nil {
		return nil, err
	}
	return &Adapter{ch: ch, mid: p.MID, key: p.Key.Reveal(), currency: ch.Currency, realHost: ch.BaseURL == DefaultBaseURL,
		flow: createFlow, http: client, now: deps.NowFunc()}, nil
}

// Kind implements providers.Provider.
func (p *Adapter) Kind() string { return Kind }

// Capabilities: the notification's signature covers neither amount nor
// order (md5 of function+mid+timestamp+key), so it is not trusted on its
// own: Notify is false, the poller owns the order and a notification is a
// hint. There is no public refund query; the refund call's answer is final.
func (p *Adapter) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify: false, RefundNotify: false, Query: true, Close: true, Refund: true, RefundQuery: false,
		Currencies: []string{p.currency}, PayMethods: []string{providers.PayMethodWeChat, PayMethodAlipay},
	}
}
