// Package providers defines what every payment-provider adapter implements
// and the types the gateway and the adapters exchange. It imports neither
// the gateway nor the store: adapters only translate between the gateway's
// shapes and a provider's wire protocol.
package providers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// PayMethodWeChat is the pay method of WeChat mini-program payments, the
// default of every order.
const PayMethodWeChat = "wechat"

// OrderStatus is the gateway's order state; the API shows these words.
type OrderStatus string

const (
	OrderPaying   OrderStatus = "PAYING"
	OrderPaid     OrderStatus = "PAID"
	OrderClosed   OrderStatus = "CLOSED"
	OrderFailed   OrderStatus = "FAILED"
	OrderRefunded OrderStatus = "REFUNDED"
)

// RefundStatus is the gateway's refund state; the API shows these words.
type RefundStatus string

const (
	RefundProcessing RefundStatus = "PROCESSING"
	RefundSucceeded  RefundStatus = "SUCCEEDED"
	RefundFailed     RefundStatus = "FAILED"
)

// Capabilities declares what a provider kind can do, so the gateway never
// calls an operation the provider lacks and knows who must poll.
type Capabilities struct {
	// Notify: the provider sends signed payment notifications the gateway
	// can trust. When false the poller owns the order (a webhook, if one
	// arrives, is only a hint that triggers a query).
	Notify bool
	// RefundNotify: the provider sends refund results asynchronously.
	RefundNotify bool
	Query        bool
	Close        bool
	Refund       bool
	RefundQuery  bool
	// Currencies accepted for orders on this channel.
	Currencies []string
	// RefundCurrency, when set, is the only currency refunds can be made in;
	// empty means refunds are in the order's currency.
	RefundCurrency string
	// PayMethods the channel offers ("wechat", "alipay", "paypal", ...).
	PayMethods []string
	// RequiresOpenID: mini-program payments need payer.openid.
	RequiresOpenID bool
	// RequiresAppID: mini-program payments need payer.appid (the channel
	// has no default mini-program appid).
	RequiresAppID bool
}

// Provider is one merchant's account at one provider (a channel), bound to
// its configuration, keys, HTTP client and circuit breaker.
type Provider interface {
	Kind() string
	Capabilities() Capabilities
	CreateOrder(ctx context.Context, req CreateOrderRequest) (CreateOrderResult, error)
	// QueryOrder asks the provider for the order's state. OrderRef carries
	// all three numbers; the adapter uses the one its provider accepts.
	QueryOrder(ctx context.Context, ref OrderRef) (OrderState, error)
	CloseOrder(ctx context.Context, ref OrderRef) error
	Refund(ctx context.Context, req RefundRequest) (RefundState, error)
	QueryRefund(ctx context.Context, ref RefundRef) (RefundState, error)
	// ParseNotify verifies an inbound notification and only then parses it.
	// On a verification failure it returns an error; the Notification may
	// still carry the numbers it named (marked Hint) so the gateway can
	// settle the order by a query, never by trusting the body.
	ParseNotify(ctx context.Context, r *http.Request, body []byte) (Notification, error)
	// NotifyAck is the answer the provider expects: ok only after the state
	// change is committed; otherwise the provider's failure answer so it
	// retries.
	NotifyAck(ok bool, reason string) Ack
}

// CreateOrderRequest is a unified order, already validated by the gateway.
type CreateOrderRequest struct {
	OutTradeNo  string
	Amount      Money
	Description string
	PayMethod   string // "wechat" or another method the channel offers
	PayerOpenID string
	PayerAppID  string // the appid the openid belongs to; empty = the channel's default
	ClientIP    string // the payer's IP, or the gateway's server IP
	ExpiresAt   time.Time
	NotifyURL   string // where the provider must send notifications (no query string)
	ReturnURL   string // browser return for pay_url methods, optional
}

// CreateOrderResult is what the mini-program needs to pay: either PayParams
// for wx.requestPayment or a PayURL to open in a browser.
type CreateOrderResult struct {
	ProviderTradeNo string
	PayParams       map[string]string
	PayURL          string
	// Status is set when the provider says the order is already settled
	// (e.g. WeChat ORDERPAID); empty means PAYING.
	Status OrderStatus
}

// OrderRef names an order at the provider.
type OrderRef struct {
	OutTradeNo      string
	ProviderTradeNo string
	TransactionID   string
	Amount          Money
	CreatedAt       time.Time
}

// OrderState is the provider's view of an order.
type OrderState struct {
	Status          OrderStatus
	ProviderStatus  string // the provider's own word, for logs and the inbox
	OutTradeNo      string
	ProviderTradeNo string
	TransactionID   string
	Amount          Money // zero when the provider did not say
	PaidAt          time.Time
	PayerID         string
}

// RefundRequest asks for a (partial) refund of a paid order.
type RefundRequest struct {
	Order       OrderRef
	OutRefundNo string
	Amount      Money
	Reason      string
	NotifyURL   string
}

// RefundRef names a refund at the provider.
type RefundRef struct {
	Order            OrderRef
	OutRefundNo      string
	ProviderRefundNo string
	Amount           Money
}

// RefundState is the provider's view of a refund.
type RefundState struct {
	Status           RefundStatus
	ProviderStatus   string
	OutRefundNo      string
	ProviderRefundNo string
	Amount           Money // zero when the provider did not say
	SucceededAt      time.Time
}

// NotificationKind says what a notification is about.
type NotificationKind string

const (
	NotifyPayment NotificationKind = "payment"
	NotifyRefund  NotificationKind = "refund"
)

// Notification is a verified, normalised provider notification.
type Notification struct {
	Kind NotificationKind
	// ID is the provider's notification id when it has one (WeChat v3),
	// used to recognise redeliveries.
	ID string
	// Order identifies the order and, for payment notifications, carries
	// its new state. OutTradeNo, ProviderTradeNo or TransactionID is set.
	Order OrderState
	// Refund carries the refund's state for refund notifications.
	Refund RefundState
	// Hint means the body is not trusted on its own: the gateway queries
	// the provider and applies the answer instead.
	Hint bool
}

// Ack is the HTTP answer a provider expects to a notification.
type Ack struct {
	Status      int
	ContentType string
	Body        []byte
}

// Channel is one merchant's account at one provider, as configured.
type Channel struct {
	ID         string
	MerchantID string
	Kind       string
	Currency   string
	// BaseURL is the provider's root (scheme + host [+ port]); the adapter
	// appends the documented paths. Empty means the provider's real host.
	BaseURL string
	Timeout time.Duration
	// NotifyURL is this channel's notification URL handed to the provider.
	NotifyURL string
	// ServerIP is sent where a provider requires a client IP and the
	// payer's is unknown.
	ServerIP string
	Params   Params
}

// Deps are the shared services an adapter may use.
type Deps struct {
	// HTTPClient, when set, is the transport base for provider calls
	// (tests inject one); adapters add their own timeout and TLS settings.
	HTTPClient *http.Client
	Now        func() time.Time
	// Certificates, when set, is where downloaded provider certificates
	// are shared between replicas; nil keeps them in memory.
	Certificates CertificateStore
	// Log, when set, receives the adapter's background messages
	// (certificate refreshes); nil discards them.
	Log *slog.Logger
}

// Logger returns d.Log or a logger that discards.
func (d Deps) Logger() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// NowFunc returns d.Now or time.Now.
func (d Deps) NowFunc() func() time.Time {
	if d.Now != nil {
		return d.Now
	}
	return time.Now
}
