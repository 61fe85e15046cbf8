package wechatv3

import (
	"context"
	"net/url"

	"github.com/paygate/paygate/providers"
)

type refundRequest struct {
	SubMchID      string          `json:"sub_mchid,omitempty"`
	TransactionID string          `json:"transaction_id,omitempty"`
	OutTradeNo    string          `json:"out_trade_no,omitempty"`
	OutRefundNo   string          `json:"out_refund_no"`
	Reason        string          `json:"reason,omitempty"`
	NotifyURL     string          `json:"notify_url,omitempty"`
	Amount        refundAmountReq `json:"amount"`
}

type refundAmountReq struct {
	Refund   int64  `json:"refund"`
	Total    int64  `json:"total"`
	Currency string `json:"currency"`
}

// Refund asks for a (partial) refund. WeChat answers PROCESSING or
// SUCCESS; the result arrives by REFUND.* notification or QueryRefund.
func (p *Adapter) Refund(ctx context.Context, req providers.RefundRequest) (providers.RefundState, error) {
	if req.Amount.Currency != Currency || req.Amount.Minor <= 0 {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "refund must be a positive %s amount, got %d %s", Currency, req.Amount.Minor, req.Amount.Currency)
	}
	if req.Order.Amount.Minor <= 0 || (req.Order.Amount.Currency != "" && req.Order.Amount.Currency != Currency) {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "refund needs the order's %s total (amount.total)", Currency)
	}
	if req.Order.TransactionID == "" && req.Order.OutTradeNo == "" {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "refund needs transaction_id or out_trade_no")
	}
	body := refundRequest{
		OutRefundNo: req.OutRefundNo,
		Reason:      truncateRunes(req.Reason, maxReasonRunes),
		NotifyURL:   providers.FirstNonEmpty(req.NotifyURL, p.ch.NotifyURL),
		Amount:      refundAmountReq{Refund: req.Amount.Minor, Total: req.Order.Amount.Minor, Currency: Currency},
	}
	if req.Order.TransactionID != "" {
		body.TransactionID = req.Order.TransactionID
	} else {
		body.OutTradeNo = req.Order.OutTradeNo
	}
	if p.cfg.partner {
		body.SubMchID = p.cfg.subMchid
	}
	var out refund
	if err := p.call(ctx, "POST", pathRefunds, body, &out); err != nil {
		return providers.RefundState{}, err
	}
	if out.OutRefundNo != "" && out.OutRefundNo != req.OutRefundNo {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "refund answer names another refund (%s)", out.OutRefundNo)
	}
	st, err := out.state()
	if err != nil {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "refund answer: %v", err)
	}
	return st, nil
}

// QueryRefund asks GET /v3/refund/domestic/refunds/{out_refund_no}.
func (p *Adapter) QueryRefund(ctx context.Context, ref providers.RefundRef) (providers.RefundState, error) {
	if ref.OutRefundNo == "" {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "refund query needs out_refund_no")
	}
	path := pathRefunds + "/" + url.PathEscape(ref.OutRefundNo)
	if p.cfg.partner {
		path += "?sub_mchid=" + url.QueryEscape(p.cfg.subMchid)
	}
	var out refund
	if err := p.call(ctx, "GET", path, nil, &out); err != nil {
		return providers.RefundState{}, err
	}
	if out.OutRefundNo != ref.OutRefundNo {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "refund query answer names another refund (%s)", out.OutRefundNo)
	}
	st, err := out.state()
	if err != nil {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "refund query answer: %v", err)
	}
	return st, nil
}
