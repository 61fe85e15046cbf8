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
	"net/url"
	"regexp"
	"strconv"
	"strings"
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

// Provider is one 2paynow channel.
type Provider struct {
	ch       providers.Channel
	mid      string
	key      string
	currency string
	realHost bool
	flow     flow
	client   *httpx.Client
	now      func() time.Time
}

func init() {
	providers.Register(providers.KindTwoPayNow, New)
}

var digits = regexp.MustCompile(`^[0-9]+$`)

// New builds a 2paynow channel from params mid and key.
func New(ch providers.Channel, deps providers.Deps) (providers.Provider, error) {
	if err := ch.Params.Require("mid", "key"); err != nil {
		return nil, err
	}
	mid := strings.TrimSpace(ch.Params.String("mid"))
	if !digits.MatchString(mid) {
		return nil, fmt.Errorf("params.mid must be 2paynow's numeric merchant id")
	}
	if ch.Currency == "" {
		ch.Currency = DefaultCurrency
	}
	if !providers.KnownCurrency(ch.Currency) {
		return nil, fmt.Errorf("currency %q is not an ISO-4217 code", ch.Currency)
	}
	realHost := ch.BaseURL == ""
	if realHost {
		ch.BaseURL = DefaultBaseURL
	}
	ch.BaseURL = strings.TrimRight(ch.BaseURL, "/")
	if u, err := url.Parse(ch.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base_url %q is not an http(s) URL", ch.BaseURL)
	}
	client, err := httpx.New(ch, deps)
	if err != nil {
		return nil, err
	}
	return &Provider{
		ch:       ch,
		mid:      mid,
		key:      ch.Params.String("key"),
		currency: ch.Currency,
		realHost: realHost,
		flow:     createFlow,
		client:   client,
		now:      deps.NowFunc(),
	}, nil
}

// Kind implements providers.Provider.
func (p *Provider) Kind() string { return providers.KindTwoPayNow }

// Capabilities: the notification's signature covers neither amount nor
// order (md5 of function+mid+timestamp+key), so it is not trusted on its
// own: Notify is false, the poller owns the order and a notification is a
// hint. There is no public refund query; the refund call's answer is final.
func (p *Provider) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify:       false,
		RefundNotify: false,
		Query:        true,
		Close:        true,
		Refund:       true,
		RefundQuery:  false,
		Currencies:   []string{p.currency},
		PayMethods:   []string{providers.PayMethodWeChat, PayMethodAlipay},
	}
}

// signed starts a query with function, mid, the current timestamp in Unix
// milliseconds and the signature.
func (p *Provider) signed(function string) url.Values {
	ts := strconv.FormatInt(p.now().UnixMilli(), 10)
	q := url.Values{}
	q.Set("function", function)
	q.Set("mid", p.mid)
	q.Set("timestamp", ts)
	q.Set("sign", Sign(function, p.mid, ts, p.key))
	return q
}

// payType maps the gateway's pay method to 2paynow's `type`.
func payType(method string) (string, error) {
	switch method {
	case "", providers.PayMethodWeChat:
		return typeWeChat, nil
	case PayMethodAlipay:
		return typeAlipay, nil
	default:
		return "", providers.Errorf(providers.ErrCodeRejected, "", "2paynow offers wechat and alipay, not %q", method)
	}
}

// itBPay turns the order's expiry into 2paynow's `it_b_pay` ("30m"):
// whole minutes rounded up, at least 1, at most 15 days (the Alipay-style
// range); no expiry gives the driver's default 30m.
func itBPay(expiresAt, now time.Time) string {
	if expiresAt.IsZero() {
		return "30m"
	}
	d := expiresAt.Sub(now)
	minutes := int64((d + time.Minute - 1) / time.Minute)
	if minutes < 1 {
		minutes = 1
	}
	if minutes > 15*24*60 {
		minutes = 15 * 24 * 60
	}
	return strconv.FormatInt(minutes, 10) + "m"
}
