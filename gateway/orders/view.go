package orders

import (
	"encoding/json"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// OrderView is an order as the API and the merchant webhooks show it.
type OrderView struct {
	ID              string            `json:"id"`
	OutTradeNo      string            `json:"out_trade_no"`
	Channel         string            `json:"channel"`
	Provider        string            `json:"provider"`
	ProviderTradeNo *string           `json:"provider_trade_no"`
	TransactionID   *string           `json:"transaction_id"`
	Status          string            `json:"status"`
	Amount          string            `json:"amount"`
	Currency        string            `json:"currency"`
	RefundedAmount  string            `json:"refunded_amount"`
	Description     string            `json:"description"`
	PayMethod       string            `json:"pay_method"`
	Payer           *PayerView        `json:"payer,omitempty"`
	PayParams       map[string]string `json:"pay_params"`
	PayURL          *string           `json:"pay_url"`
	Metadata        json.RawMessage   `json:"metadata,omitempty"`
	ExpiresAt       time.Time         `json:"expires_at"`
	PaidAt          *time.Time        `json:"paid_at"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
}

// PayerView is who pays.
type PayerView struct {
	OpenID string `json:"openid,omitempty"`
	AppID  string `json:"appid,omitempty"`
}

// ViewOrder renders an order.
func ViewOrder(o *store.Order) OrderView {
	v := OrderView{
		ID: o.ID, OutTradeNo: o.OutTradeNo, Channel: o.ChannelID, Provider: o.Provider,
		ProviderTradeNo: o.ProviderTradeNo, TransactionID: o.TransactionID,
		Status:         o.Status,
		Amount:         providers.FormatMinor(o.AmountMinor, o.Currency),
		Currency:       o.Currency,
		RefundedAmount: providers.FormatMinor(o.RefundedMinor, o.Currency),
		Description:    o.Description, PayMethod: o.PayMethod,
		ExpiresAt: apiTime(o.ExpiresAt), PaidAt: utcPtr(o.PaidAt),
		CreatedAt: apiTime(o.CreatedAt), UpdatedAt: apiTime(o.UpdatedAt),
	}
	if o.PayerOpenID != "" || o.PayerAppID != "" {
		v.Payer = &PayerView{OpenID: o.PayerOpenID, AppID: o.PayerAppID}
	}
	if o.PayParams != "" {
		_ = json.Unmarshal([]byte(o.PayParams), &v.PayParams)
	}
	if o.PayURL != "" {
		u := o.PayURL
		v.PayURL = &u
	}
	if o.Metadata != "" {
		v.Metadata = json.RawMessage(o.Metadata)
	}
	return v
}

// RefundView is a refund as the API and the merchant webhooks show it.
type RefundView struct {
	ID               string  `json:"id"`
	OutRefundNo      string  `json:"out_refund_no"`
	OutTradeNo       string  `json:"out_trade_no"`
	ProviderRefundNo *string `json:"provider_refund_no"`
	Status           string  `json:"status"`
	Amount           string  `json:"amount"`
	Currency         string  `json:"currency"`
	Reason           string  `json:"reason,omitempty"`
	FailureReason    string  `json:"failure_reason,omitempty"`
	// External: made in the provider's console, not through this API.
	External    bool       `json:"external,omitempty"`
	SucceededAt *time.Time `json:"succeeded_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// ViewRefund renders a refund of the order numbered outTradeNo.
func ViewRefund(r *store.Refund, outTradeNo string) RefundView {
	v := RefundView{
		ID: r.ID, OutRefundNo: r.OutRefundNo, OutTradeNo: outTradeNo, Status: r.Status,
		Amount: providers.FormatMinor(r.AmountMinor, r.Currency), Currency: r.Currency,
		Reason: r.Reason, FailureReason: r.FailureReason, External: r.External,
		SucceededAt: utcPtr(r.SucceededAt), CreatedAt: apiTime(r.CreatedAt), UpdatedAt: apiTime(r.UpdatedAt),
	}
	if r.ProviderRefundNo != "" {
		p := r.ProviderRefundNo
		v.ProviderRefundNo = &p
	}
	return v
}

// apiTime is how the API shows a time: UTC, whole seconds (RFC 3339).
func apiTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := apiTime(*t)
	return &u
}
