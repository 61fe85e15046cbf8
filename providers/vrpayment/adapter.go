// Package vrpayment is the adapter for VR Payment (VR Payment GmbH), kind
// "vr_payment": the wallee platform's API v1 at {base}/api/..., every call
// authenticated with the x-mac-* headers (HMAC-SHA512).
//
// VR Payment offers no trusted payment callback for this flow: the poller
// owns every order, and a webhook, when one is configured, is only a hint
// to re-read the transaction. Public material shows no WeChat mini-program
// flow on VR Payment, so every unified order answers the hosted payment
// page URL (pay_url). Wire facts and what is UNCONFIRMED:
// docs/providers/vr_payment.md.
package vrpayment

import (
	"fmt"
	"regexp"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
)

// DefaultBaseURL is VR Payment's production host (the wallee white label).
const DefaultBaseURL = "https://gateway.vr-payment.de"

// DefaultCurrency applies when the channel sets none.
const DefaultCurrency = "EUR"

// apiPrefix is prepended to every endpoint path.
const apiPrefix = "/api"

// The endpoints used (API v1; spaceId is always a query parameter).
const (
	pathTransactionCreate = "/transaction/create"
	pathPaymentPageURL    = "/transaction/buildPaymentPageUrl"
	pathTransactionRead   = "/transaction/read"
	pathTransactionSearch = "/transaction/search"
	pathVoidOnline        = "/transaction-void/voidOnline"
	pathRefund            = "/refund/refund"
	pathRefundRead        = "/refund/read"
	pathRefundSearch      = "/refund/search"
)

// PayMethodCard is the gateway's word for card payments.
const PayMethodCard = "card"

// payMethods are the methods a unified order accepts. The method is not
// sent: wallee's TransactionCreate has no portable field for it, so the
// payment page offers whatever payment methods the space has configured.
// "wechat" is accepted so mini-program backends (whose default method is
// wechat) get the payment page link; whether the space offers WeChat Pay
// is the merchant's configuration at VR Payment (UNCONFIRMED: nothing
// public shows WeChat Pay on VR Payment).
var payMethods = []string{providers.PayMethodWeChat, PayMethodCard}

// Kind is the channel's provider word.
const Kind = "vr_payment"

var spec = providers.Spec[Params, *Adapter]{Kind: Kind, DefaultCurrency: DefaultCurrency, BaseURL: DefaultBaseURL, Build: build}

func init() { providers.Register(spec) }

// Params are a VR Payment channel's params: the application user's id and
// its authentication key (base64), and the space.
type Params struct {
	UserID  string           `param:"user_id,required"`
	Secret  providers.Secret `param:"secret,required"`
	SpaceID string           `param:"space_id,required"`
}

// Adapter is one VR Payment channel (one application user and one space).
type Adapter struct {
	ch       providers.Channel
	userID   string
	key      []byte
	spaceID  string
	currency string
	http     *httpx.Client
	now      func() time.Time
}

var idPattern = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)

// New is the vr_payment Factory.
func New(ch providers.Channel, deps providers.Deps) (providers.Provider, error) {
	return spec.New(ch, deps)
}

func build(ch providers.Channel, p Params, deps providers.Deps) (*Adapter, error) {
	if !idPattern.MatchString(p.UserID) {
		return nil, fmt.Errorf("params.user_id must be the numeric id of the application user")
	}
	if !idPattern.MatchString(p.SpaceID) {
		return nil, fmt.Errorf("params.space_id must be the numeric space id")
	}
	key, err := DecodeSecret(p.Secret.Reveal())
	if err != nil {
		return nil, err
	}
	client, err := httpx.New(ch, deps)
	if err != nil {
		return nil, err
	}
	return &Adapter{ch: ch, userID: p.UserID, key: key, spaceID: p.SpaceID, currency: ch.Currency, http: client, now: deps.NowFunc()}, nil
}

// Kind implements providers.Provider.
func (p *Adapter) Kind() string { return Kind }

// Capabilities: no trusted notification (the poller owns the order; a
// webhook is a hint), query/close/refund/refund query by the API. One
// currency per channel: the channel's (default EUR); VR Payment settles
// in the space's currencies and nothing public shows CNY there.
func (p *Adapter) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify: false, RefundNotify: false, Query: true, Close: true, Refund: true, RefundQuery: true,
		Currencies: []string{p.currency}, PayMethods: append([]string(nil), payMethods...),
	}
}
