package cloudpay

import (
	"context"
	"encoding/json"

	"github.com/paygate/paygate/providers"
)

type refundReq struct {
	SubMchID      string `json:"sub_mch_id"`
	NonceStr      string `json:"nonce_str"`
	TransactionID string `json:"transaction_id,omitempty"`
	OutTradeNo    string `json:"out_trade_no,omitempty"`
	OutRefundNo   string `json:"out_refund_no"`
	TotalFee      int64  `json:"total_fee"`
	RefundFee     int64  `json:"refund_fee"`
	RefundDesc    string `json:"refund_desc,omitempty"`
	callbackFields
}

type refundResp struct {
	OutRefundNo string `json:"out_refund_no"`
	RefundID    string `json:"refund_id"`
	RefundFee   *Fen   `json:"refund_fee"`
}

// Refund asks for a (partial) refund; a v2 success means "accepted", so
// the state is PROCESSING until QueryRefund says otherwise.
func (p *Adapter) Refund(ctx context.Context, req providers.RefundRequest) (providers.RefundState, error) {
	if req.Amount.Currency != Currency || req.Amount.Minor <= 0 {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "refund must be a positive %s amount", Currency)
	}
	if req.Order.Amount.Minor <= 0 {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "refund needs the order total (total_fee)")
	}
	body := refundReq{SubMchID: p.subMchID, NonceStr: nonce(), OutRefundNo: req.OutRefundNo,
		TotalFee: req.Order.Amount.Minor, RefundFee: req.Amount.Minor, RefundDesc: truncateBytes(req.Reason, 80),
		callbackFields: p.callback}
	switch {
	case req.Order.TransactionID != "":
		body.TransactionID = req.Order.TransactionID
	case req.Order.OutTradeNo != "":
		body.OutTradeNo = req.Order.OutTradeNo
	default:
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "refund needs transaction_id or out_trade_no")
	}
	var out refundResp
	if err := p.call(ctx, PathRefund, body, &out); err != nil {
		return providers.RefundState{}, err
	}
	if out.OutRefundNo != "" && out.OutRefundNo != req.OutRefundNo {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "refund answer names refund %s", out.OutRefundNo)
	}
	st := providers.RefundState{Status: providers.RefundProcessing, ProviderStatus: "PROCESSING", OutRefundNo: req.OutRefundNo, ProviderRefundNo: out.RefundID}
	if out.RefundFee != nil {
		st.Amount = providers.Money{Minor: int64(*out.RefundFee), Currency: Currency}
	}
	return st, nil
}

// QueryRefund asks queryrefund by out_refund_no.
func (p *Adapter) QueryRefund(ctx context.Context, ref providers.RefundRef) (providers.RefundState, error) {
	if ref.OutRefundNo == "" {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "refund query needs out_refund_no")
	}
	var data map[string]json.RawMessage
	req := map[string]string{"sub_mch_id": p.subMchID, "nonce_str": nonce(), "out_refund_no": ref.OutRefundNo}
	if err := p.call(ctx, PathQueryRefund, req, &data); err != nil {
		return providers.RefundState{}, err
	}
	st, err := parseRefundQuery(data, ref.OutRefundNo)
	if err != nil {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "queryrefund: %v", err)
	}
	return st, nil
}
