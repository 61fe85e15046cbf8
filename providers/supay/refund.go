package supay

import (
	"context"
	"strings"

	"github.com/paygate/paygate/providers"
)

// Refund asks create_refund {mch_order_no = the refund's own new number,
// orig_mch_order_no = the order's number, refund_amount, refund_note,
// call_back_url}. The answer only says accepted (data.result); the refund
// settles with the refund_status_sync notification.
func (p *Adapter) Refund(ctx context.Context, req providers.RefundRequest) (providers.RefundState, error) {
	if req.Amount.Currency != p.ch.Currency {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "",
			"supay: refunds on this channel are in %s, not %s", p.ch.Currency, req.Amount.Currency)
	}
	if req.Amount.Minor <= 0 || req.OutRefundNo == "" || req.Order.OutTradeNo == "" {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "",
			"supay: a refund needs a positive amount, its own number and the order's number")
	}
	note := providers.FirstNonEmpty(strings.TrimSpace(req.Reason), defaultRefundNote)
	notifyURL := providers.FirstNonEmpty(req.NotifyURL, p.ch.NotifyURL)
	data, err := p.call(ctx, ServiceRefund, map[string]string{
		"mch_order_no":      req.OutRefundNo,
		"orig_mch_order_no": req.Order.OutTradeNo,
		"refund_amount":     providers.FormatMinor(req.Amount.Minor, req.Amount.Currency),
		"refund_note":       note,
		"call_back_url":     notifyURL,
	})
	if err != nil {
		return providers.RefundState{}, err
	}
	rs := providers.RefundState{
		Status:           providers.RefundProcessing,
		ProviderStatus:   "ACCEPTED",
		OutRefundNo:      req.OutRefundNo,
		ProviderRefundNo: scalar(data["inner_trade_no"]),
		Amount:           req.Amount,
	}
	if word := scalar(data["refund_status"]); word != "" {
		rs.Status, rs.ProviderStatus = RefundNotifyStatus(word), word
	}
	return rs, nil
}

// QueryRefund: Supay has no public refund query service.
func (p *Adapter) QueryRefund(context.Context, providers.RefundRef) (providers.RefundState, error) {
	return providers.RefundState{}, providers.Errorf(providers.ErrCodeUnsupported, "", "supay: no refund query service is known; refunds settle by notification")
}
