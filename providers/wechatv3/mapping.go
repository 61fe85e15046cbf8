package wechatv3

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/paygate/paygate/providers"
)

// transaction is a query answer and a decrypted TRANSACTION.* resource;
// direct and partner field names side by side.
type transaction struct {
	AppID          string      `json:"appid"`
	MchID          string      `json:"mchid"`
	SpAppID        string      `json:"sp_appid"`
	SpMchID        string      `json:"sp_mchid"`
	SubAppID       string      `json:"sub_appid"`
	SubMchID       string      `json:"sub_mchid"`
	OutTradeNo     string      `json:"out_trade_no"`
	TransactionID  string      `json:"transaction_id"`
	TradeType      string      `json:"trade_type"`
	TradeState     string      `json:"trade_state"`
	TradeStateDesc string      `json:"trade_state_desc"`
	SuccessTime    string      `json:"success_time"`
	Payer          payerAnswer `json:"payer"`
	Amount         *txAmount   `json:"amount"`
}

type payerAnswer struct {
	OpenID    string `json:"openid"`
	SpOpenID  string `json:"sp_openid"`
	SubOpenID string `json:"sub_openid"`
}

// txAmount: integer fen. encoding/json refuses a fraction for an int64,
// so no amount passes through float64.
type txAmount struct {
	Total         *int64 `json:"total"`
	PayerTotal    *int64 `json:"payer_total"`
	Currency      string `json:"currency"`
	PayerCurrency string `json:"payer_currency"`
}

// MapTradeState maps trade_state to the gateway's order status (spec §2.3):
// SUCCESS and REFUND (a refund was started, so it was paid) are PAID;
// NOTPAY and USERPAYING are PAYING; CLOSED and REVOKED are CLOSED; PAYERROR
// is FAILED.
// Any other word is providers.OrderUnknown.
func MapTradeState(s string) providers.OrderStatus {
	return tradeStates.Of(s)
}

var tradeStates = providers.NewStatuses(nil, map[providers.OrderStatus][]string{
	providers.OrderPaid:   {"SUCCESS", "REFUND"},
	providers.OrderPaying: {"NOTPAY", "USERPAYING"},
	providers.OrderClosed: {"CLOSED", "REVOKED"},
	providers.OrderFailed: {"PAYERROR"},
})

// MapRefundStatus maps a v3 refund status (spec §2.4). ABNORMAL is not
// final: the refund needs manual handling on the merchant platform (the
// payer's account is frozen or closed), so it stays PROCESSING.
// Any other word is providers.RefundUnknown.
func MapRefundStatus(s string) providers.RefundStatus {
	return refundStates.Of(s)
}

var refundStates = providers.NewStatuses(nil, map[providers.RefundStatus][]string{
	providers.RefundSucceeded:  {"SUCCESS"},
	providers.RefundProcessing: {"PROCESSING", "ABNORMAL"},
	providers.RefundFailed:     {"CLOSED"},
})

func (t transaction) payerID() string {
	return providers.FirstNonEmpty(t.Payer.SubOpenID, t.Payer.OpenID, t.Payer.SpOpenID)
}

func (t transaction) money() (providers.Money, error) {
	if t.Amount == nil || t.Amount.Total == nil {
		return providers.Money{}, nil
	}
	cur := providers.FirstNonEmpty(t.Amount.Currency, Currency)
	if !providers.KnownCurrency(cur) {
		return providers.Money{}, fmt.Errorf("unknown currency %q", providers.Clip(cur, 8))
	}
	if *t.Amount.Total < 0 {
		return providers.Money{}, fmt.Errorf("negative amount.total %d", *t.Amount.Total)
	}
	return providers.Money{Minor: *t.Amount.Total, Currency: cur}, nil
}

// state converts a transaction to the gateway's OrderState. WeChat is the
// acquirer, so the provider number is the transaction_id.
func (t transaction) state() (providers.OrderState, error) {
	st := MapTradeState(t.TradeState)
	m, err := t.money()
	if err != nil {
		return providers.OrderState{}, err
	}
	out := providers.OrderState{
		Status: st, ProviderStatus: t.TradeState, OutTradeNo: t.OutTradeNo,
		ProviderTradeNo: t.TransactionID, TransactionID: t.TransactionID,
		Amount: m, PayerID: t.payerID(),
	}
	if t.SuccessTime != "" {
		if out.PaidAt, err = time.Parse(time.RFC3339, t.SuccessTime); err != nil {
			return providers.OrderState{}, fmt.Errorf("bad success_time %q", providers.Clip(t.SuccessTime, 40))
		}
	}
	return out, nil
}

// checkTransactionAccount: the transaction must be this channel's:
// mchid+appid, or sp_mchid+sub_mchid+sp_appid (+sub_appid when both sides
// name one).
func (p *Adapter) checkTransactionAccount(t transaction) error {
	c := p.cfg
	if !c.partner {
		if t.MchID != c.mchid || t.AppID != c.appid {
			return fmt.Errorf("mchid/appid %s/%s are not the channel's %s/%s", t.MchID, t.AppID, c.mchid, c.appid)
		}
		return nil
	}
	if t.SpMchID != c.mchid || t.SubMchID != c.subMchid || t.SpAppID != c.appid {
		return fmt.Errorf("sp_mchid/sub_mchid/sp_appid %s/%s/%s are not the channel's %s/%s/%s", t.SpMchID, t.SubMchID, t.SpAppID, c.mchid, c.subMchid, c.appid)
	}
	if t.SubAppID != "" && c.subAppid != "" && t.SubAppID != c.subAppid {
		return fmt.Errorf("sub_appid %s is not the channel's %s", t.SubAppID, c.subAppid)
	}
	return nil
}

// refund is a refund answer, a refund query answer and a decrypted
// REFUND.* resource (which says refund_status instead of status).
type refund struct {
	MchID         string        `json:"mchid"`
	SpMchID       string        `json:"sp_mchid"`
	SubMchID      string        `json:"sub_mchid"`
	RefundID      string        `json:"refund_id"`
	OutRefundNo   string        `json:"out_refund_no"`
	TransactionID string        `json:"transaction_id"`
	OutTradeNo    string        `json:"out_trade_no"`
	Status        string        `json:"status"`
	RefundStatus  string        `json:"refund_status"`
	SuccessTime   string        `json:"success_time"`
	Amount        *refundAmount `json:"amount"`
}

type refundAmount struct {
	Total       *int64 `json:"total"`
	Refund      *int64 `json:"refund"`
	PayerTotal  *int64 `json:"payer_total"`
	PayerRefund *int64 `json:"payer_refund"`
	Currency    string `json:"currency"`
}

func (r refund) status() string { return providers.FirstNonEmpty(r.Status, r.RefundStatus) }

func (r refund) state() (providers.RefundState, error) {
	st := MapRefundStatus(r.status())
	var err error
	out := providers.RefundState{Status: st, ProviderStatus: r.status(), OutRefundNo: r.OutRefundNo, ProviderRefundNo: r.RefundID}
	if r.Amount != nil && r.Amount.Refund != nil {
		if *r.Amount.Refund < 0 {
			return providers.RefundState{}, fmt.Errorf("negative amount.refund %d", *r.Amount.Refund)
		}
		cur := providers.FirstNonEmpty(r.Amount.Currency, Currency)
		if !providers.KnownCurrency(cur) {
			return providers.RefundState{}, fmt.Errorf("unknown currency %q", providers.Clip(cur, 8))
		}
		out.Amount = providers.Money{Minor: *r.Amount.Refund, Currency: cur}
	}
	if r.SuccessTime != "" && st == providers.RefundSucceeded {
		if out.SucceededAt, err = time.Parse(time.RFC3339, r.SuccessTime); err != nil {
			return providers.RefundState{}, fmt.Errorf("bad success_time %q", providers.Clip(r.SuccessTime, 40))
		}
	}
	return out, nil
}

// checkRefundAccount: a refund notification names mchid (partner:
// sp_mchid and sub_mchid).
func (p *Adapter) checkRefundAccount(r refund) error {
	c := p.cfg
	if !c.partner {
		if r.MchID != c.mchid {
			return fmt.Errorf("mchid %s is not the channel's %s", r.MchID, c.mchid)
		}
		return nil
	}
	if r.SpMchID != c.mchid || r.SubMchID != c.subMchid {
		return fmt.Errorf("sp_mchid/sub_mchid %s/%s are not the channel's %s/%s", r.SpMchID, r.SubMchID, c.mchid, c.subMchid)
	}
	return nil
}

// truncateRunes cuts s to at most n characters without splitting one.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}
