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
	"net/url"
	"regexp"
	"strings"
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

// Provider is one VR Payment channel (one application user and one space).
type Provider struct {
	ch       providers.Channel
	userID   string
	key      []byte
	spaceID  string
	currency string
	client   *httpx.Client
	now      func() time.Time
}

func init() {
	providers.Register(providers.KindVRPayment, New)
}

var idPattern = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)

// New builds a VR Payment channel from params user_id, secret (base64)
// and space_id.
func New(ch providers.Channel, deps providers.Deps) (providers.Provider, error) {
	if err := ch.Params.Require("user_id", "secret", "space_id"); err != nil {
		return nil, err
	}
	userID := strings.TrimSpace(ch.Params.String("user_id"))
	if !idPattern.MatchString(userID) {
		return nil, fmt.Errorf("params.user_id must be the numeric id of the application user")
	}
	spaceID := strings.TrimSpace(ch.Params.String("space_id"))
	if !idPattern.MatchString(spaceID) {
		return nil, fmt.Errorf("params.space_id must be the numeric space id")
	}
	key, err := DecodeSecret(ch.Params.String("secret"))
	if err != nil {
		return nil, err
	}
	if ch.Currency == "" {
		ch.Currency = DefaultCurrency
	}
	if !providers.KnownCurrency(ch.Currency) {
		return nil, fmt.Errorf("currency %q is not an ISO-4217 code", ch.Currency)
	}
	if ch.BaseURL == "" {
		ch.BaseURL = DefaultBaseURL
	}
	ch.BaseURL = strings.TrimRight(ch.BaseURL, "/")
	if u, err := url.Parse(ch.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("base_url %q is not an http(s) root URL", ch.BaseURL)
	}
	client, err := httpx.New(ch, deps)
	if err != nil {
		return nil, err
	}
	return &Provider{ch: ch, userID: userID, key: key, spaceID: spaceID, currency: ch.Currency, client: client, now: deps.NowFunc()}, nil
}

// Kind implements providers.Provider.
func (p *Provider) Kind() string { return providers.KindVRPayment }

// Capabilities: no trusted notification (the poller owns the order; a
// webhook is a hint), query/close/refund/refund query by the API. One
// currency per channel: the channel's (default EUR); VR Payment settles
// in the space's currencies and nothing public shows CNY there.
func (p *Provider) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify:       false,
		RefundNotify: false,
		Query:        true,
		Close:        true,
		Refund:       true,
		RefundQuery:  true,
		Currencies:   []string{p.currency},
		PayMethods:   append([]string(nil), payMethods...),
	}
}
