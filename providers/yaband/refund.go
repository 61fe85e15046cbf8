package yaband

import (
	"context"
	"strings"

	"github.com/paygate/paygate/providers"
)

// refundCurrencyFor is the currency a refund must be made in: the
// channel's refund_currency when configured, else the order's.
func (p *Adapter) refundCurrencyFor(req providers.RefundRequest) string {
	if p.refundCurrency != "" {
		return p.refundCurrency
	}
	if req.Order.Amount.Currency != "" {
		return req.Order.Amount.Currency
	}
	return req.Amount.Currency
}

// Refund asks v3.CreateRefund {trade_id, m_refund_id, refund_amount,
// refund_currency, refund_description, notify_url} -> refund_id.
func (p *Adapter) Refund(ctx context.Context, req providers.RefundRequest) (providers.RefundState, error) {
	if err := needTradeID("refund", req.Order.ProviderTradeNo); err != nil {
		return providers.RefundState{}, err
	}
	if want := p.refundCurrencyFor(req); req.Amount.Currency != want {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "",
			"yaband: refunds on this channel are in %s, not %s", want, req.Amount.Currency)
	}
	if req.Amount.Minor <= 0 {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "yaband: refund amount must be positive")
	}
	reason := providers.FirstNonEmpty(strings.TrimSpace(req.Reason), defaultRefundDescription)
	notifyURL := providers.FirstNonEmpty(req.NotifyURL, p.ch.NotifyURL)
	raw, err := p.call(ctx, MethodCreateRefund, map[string]string{
		"trade_id":           req.Order.ProviderTradeNo,
		"m_refund_id":        req.OutRefundNo,
		"refund_amount":      providers.FormatMinor(req.Amount.Minor, req.Amount.Currency),
		"refund_currency":    req.Amount.Currency,
		"refund_description": reason,
		"notify_url":         notifyURL,
	})
	if err != nil {
		return providers.RefundState{}, err
	}
	m, err := decodeObject(raw)
	if err != nil {
		return providers.RefundState{}, providers.BadResponse("yaband %s: data: %v", MethodCreateRefund, err)
	}
	rs, err := refundState(MethodCreateRefund, m, req.OutRefundNo, req.Amount.Currency)
	if err != nil {
		return providers.RefundState{}, err
	}
	if rs.ProviderRefundNo == "" {
		return providers.RefundState{}, providers.BadResponse("yaband %s: no refund_id in the answer", MethodCreateRefund)
	}
	if rs.Amount.IsZero() {
		rs.Amount = req.Amount
	}
	return rs, nil
}

// QueryRefund asks v3.QueryRefundOrder {refund_id}.
func (p *Adapter) QueryRefund(ctx context.Context, ref providers.RefundRef) (providers.RefundState, error) {
	if strings.TrimSpace(ref.ProviderRefundNo) == "" {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "",
			"yaband: refund query needs Yaband's refund_id (RefundRef.ProviderRefundNo) and it is empty")
	}
	raw, err := p.call(ctx, MethodQueryRefund, map[string]string{"refund_id": ref.ProviderRefundNo})
	if err != nil {
		return providers.RefundState{}, err
	}
	m, err := decodeObject(raw)
	if err != nil {
		return providers.RefundState{}, providers.BadResponse("yaband %s: data: %v", MethodQueryRefund, err)
	}
	currency := ref.Amount.Currency
	rs, err := refundState(MethodQueryRefund, m, ref.OutRefundNo, currency)
	if err != nil {
		return providers.RefundState{}, err
	}
	if rs.ProviderRefundNo == "" {
		rs.ProviderRefundNo = ref.ProviderRefundNo
	}
	return rs, nil
}
