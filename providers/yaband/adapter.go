// Package yaband speaks Yaband Pay's v3 API (Yaband Telecom B.V., NL):
// one JSON endpoint, POST {base}/Payments, the operation chosen by
// `method`, every request signed with HMAC-SHA256 over the sorted raw
// k=v string of user, method, time and the data fields. WeChat
// mini-program payments use v3.CreatePaymentsWechatMiniPay; other methods
// (Alipay, PayPal, iDEAL, ...) use v3.CreatePayments and answer a pay URL.
// Yaband's own number (trade_id) is the only key its query, cancel and
// refund accept. See docs/providers/yaband.md.
package yaband

import (
	"fmt"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
)

// Wire constants (YB-docs, every payments page).
const (
	DefaultBaseURL  = "https://mapi.yabandpay.com"
	PaymentsPath    = "/Payments"
	DefaultCurrency = "EUR"

	MethodCreateMiniPay  = "v3.CreatePaymentsWechatMiniPay"
	MethodCreatePayments = "v3.CreatePayments"
	MethodQueryOrder     = "v3.QueryOrder"
	MethodCancelPayment  = "v3.CancelPayment"
	MethodCreateRefund   = "v3.CreateRefund"
	MethodQueryRefund    = "v3.QueryRefundOrder"

	payMethodOnline    = "online"
	subPayMethodWeChat = "WeChat Pay"

	// MaxTimeoutMinutes is Yaband's largest `timeout` (0 means the same).
	MaxTimeoutMinutes = 1440
	// defaultRefundDescription fills refund_description (required by
	// Yaband) when the merchant gave no reason.
	defaultRefundDescription = "refund"
)

// SubPayMethods maps the gateway's pay_method words (other than "wechat")
// to Yaband's sub_pay_method words for v3.CreatePayments. Sources:
// Alipay, iDEAL, Bancontact: YB-docs (alipayplus/*, ideal/ideal.html,
// bancontact.html); "Sofort/Digital": YB-sdk Payment.php (YB-woo writes
// "SOFORT/DIGITAL"); "PayPal/recurring" and "UnionPay": YB-woo plugin
// constants only. The last three are UNCONFIRMED by Yaband's API docs.
var SubPayMethods = map[string]string{
	"alipay":     "Alipay",
	"paypal":     "PayPal/recurring", // UNCONFIRMED (YB-woo only)
	"ideal":      "iDEAL",
	"bancontact": "Bancontact",
	"sofort":     "Sofort/Digital", // UNCONFIRMED (YB-sdk constant)
	"unionpay":   "UnionPay",       // UNCONFIRMED (YB-woo only)
}

// payMethods is the order Capabilities lists them in.
var payMethods = []string{providers.PayMethodWeChat, "alipay", "paypal", "ideal", "bancontact", "sofort", "unionpay"}

// Kind is the channel's provider word.
const Kind = "yaband"

var spec = providers.Spec[Params, *Adapter]{Kind: Kind, DefaultCurrency: DefaultCurrency, BaseURL: DefaultBaseURL, Build: build}

func init() { providers.Register(spec) }

// Params are a Yaband channel's params: the cashier account (user, its
// UID, and secret_key); refund_currency when refunds must be in one
// currency; sub_app_id, the merchant's mini-program appid for orders whose
// payer names none; report_user and report_secret_key, the super-admin
// account that reads statements (else the cashier's).
type Params struct {
	User            string           `param:"user,required"`
	SecretKey       providers.Secret `param:"secret_key,required"`
	RefundCurrency  string           `param:"refund_currency"`
	SubAppID        string           `param:"sub_app_id"`
	ReportUser      string           `param:"report_user"`
	ReportSecretKey providers.Secret `param:"report_secret_key"`
}

// Adapter is one Yaband cashier account (a channel).
type Adapter struct {
	ch             providers.Channel
	user           string
	secret         string
	reportUser     string
	reportSecret   string
	refundCurrency string
	subAppID       string // the mini-program's appid when the payer names none
	currencies     []string
	http           *httpx.Client
	now            func() time.Time
}

// New is the yaband Factory.
func New(ch providers.Channel, deps providers.Deps) (providers.Provider, error) {
	return spec.New(ch, deps)
}

func build(ch providers.Channel, p Params, deps providers.Deps) (*Adapter, error) {
	if p.RefundCurrency != "" && !providers.KnownCurrency(p.RefundCurrency) {
		return nil, fmt.Errorf("params.refund_currency %q is not an ISO-4217 code", providers.Clip(p.RefundCurrency, 8))
	}
	client, err := httpx.New(ch, deps)
	if err != nil {
		return nil, err
	}
	currencies := []string{ch.Currency}
	if ch.Currency != "CNY" {
		currencies = append(currencies, "CNY")
	}
	return &Adapter{
		ch: ch, user: p.User, secret: p.SecretKey.Reveal(), reportUser: p.ReportUser, reportSecret: p.ReportSecretKey.Reveal(),
		refundCurrency: p.RefundCurrency, subAppID: p.SubAppID, currencies: currencies, http: client, now: deps.NowFunc(),
	}, nil
}

// Kind implements providers.Provider.
func (p *Adapter) Kind() string { return Kind }

// Capabilities: Yaband notifies payments and refunds and has query,
// cancel, refund and refund query. Orders are taken in the channel's
// currency or CNY (the SDK's Currency knows EUR and CNY; field report:
// "orders can be in CNY or the local currency").
func (p *Adapter) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify: true, RefundNotify: true, Query: true, Close: true, Refund: true, RefundQuery: true,
		Currencies: append([]string(nil), p.currencies...), RefundCurrency: p.refundCurrency,
		PayMethods: append([]string(nil), payMethods...), RequiresOpenID: true, RequiresAppID: p.subAppID == "",
	}
}

func (p *Adapter) acceptsCurrency(c string) bool {
	for _, x := range p.currencies {
		if x == c {
			return true
		}
	}
	return false
}
