package twopaynow

import (
	"context"
	"net/url"

	"github.com/paygate/paygate/providers"
)

// Refund asks for a (partial) refund. UNCONFIRMED (no public code shows
// it): the request is refundParams's; a success envelope means the refund
// is done (SUCCEEDED), since no refund query or refund notification is
// public. 2paynow's number for the refund is not known to be returned.
func (p *Adapter) Refund(ctx context.Context, req providers.RefundRequest) (providers.RefundState, error) {
	if req.Amount.Currency != p.currency {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "2paynow refunds in %s, not %s", p.currency, req.Amount.Currency)
	}
	tradeNo, err := p.tradeNo(ctx, req.Order)
	if err != nil {
		return providers.RefundState{}, err
	}
	a, err := p.call(ctx, p.refundParams(tradeNo, req.Amount))
	if err != nil {
		return providers.RefundState{}, err
	}
	st := providers.RefundState{
		Status:         providers.RefundSucceeded,
		ProviderStatus: "200",
		OutRefundNo:    req.OutRefundNo,
		SucceededAt:    p.now(),
	}
	if amt := a.str("refund_amount"); amt != "" {
		m, err := providers.ParseProviderAmount(amt, req.Amount.Currency)
		if err != nil {
			return providers.RefundState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "refund amount: %v", err)
		}
		st.Amount = m
	}
	return st, nil
}

// refundParams is the whole assumed refund request (README assumption):
// function=refund, the order named by 2paynow's trade_no, refund_amount in
// major units of the order currency, signed like every call.
func (p *Adapter) refundParams(tradeNo string, amount providers.Money) url.Values {
	q := p.signed(fnRefund)
	q.Set("trade_no", tradeNo)
	q.Set("refund_amount", providers.FormatMinor(amount.Minor, amount.Currency))
	return q
}

// QueryRefund: 2paynow has no public refund query (Capabilities says so).
func (p *Adapter) QueryRefund(ctx context.Context, ref providers.RefundRef) (providers.RefundState, error) {
	return providers.RefundState{}, providers.Errorf(providers.ErrCodeUnsupported, "", "2paynow has no public refund query; the refund call's answer is final")
}
