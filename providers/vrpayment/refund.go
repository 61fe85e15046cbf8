package vrpayment

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/paygate/paygate/providers"
)

// refundType is RefundCreate.type for a refund the merchant starts through
// the API and the processor executes online.
const refundType = "MERCHANT_INITIATED_ONLINE"

// refundCreate is wallee's RefundCreate. externalId (1-100 chars) is the
// idempotency key: a second create with the same externalId returns the
// first refund instead of refunding twice.
type refundCreate struct {
	ExternalID        string      `json:"externalId"`
	Type              string      `json:"type"`
	Amount            json.Number `json:"amount"`
	Transaction       json.Number `json:"transaction"`
	MerchantReference string      `json:"merchantReference,omitempty"`
}

// Refund creates a refund (POST /api/refund/refund): externalId = our
// out_refund_no, the transaction by id (found by merchantReference when
// the id is unknown), the amount as a JSON number in major units of the
// order currency, merchantReference = the order's out_trade_no.
func (p *Adapter) Refund(ctx context.Context, req providers.RefundRequest) (providers.RefundState, error) {
	if req.Amount.Currency != p.currency {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "VR Payment refunds in the transaction currency %s, not %s", p.currency, req.Amount.Currency)
	}
	txID := req.Order.ProviderTradeNo
	if txID == "" || !idPattern.MatchString(txID) {
		tx, err := p.findTransaction(ctx, req.Order)
		if err != nil {
			return providers.RefundState{}, err
		}
		txID = tx.ID.String()
	}
	body := refundCreate{
		ExternalID:        req.OutRefundNo,
		Type:              refundType,
		Amount:            json.Number(providers.FormatMinor(req.Amount.Minor, req.Amount.Currency)),
		Transaction:       json.Number(txID),
		MerchantReference: req.Order.OutTradeNo,
	}
	raw, err := p.do(ctx, http.MethodPost, pathRefund, p.query(""), body)
	if err != nil {
		return providers.RefundState{}, err
	}
	return p.refundState(raw, req.OutRefundNo, req.Amount.Currency)
}

// QueryRefund reads the refund by id (GET /api/refund/read) or, without
// it, searches by externalId (POST /api/refund/search).
func (p *Adapter) QueryRefund(ctx context.Context, ref providers.RefundRef) (providers.RefundState, error) {
	cur := providers.FirstNonEmpty(ref.Amount.Currency, p.currency)
	if ref.ProviderRefundNo != "" {
		if !idPattern.MatchString(ref.ProviderRefundNo) {
			return providers.RefundState{}, providers.Errorf(providers.ErrCodeNotFound, "", "%q is not a VR Payment refund id", ref.ProviderRefundNo)
		}
		raw, err := p.do(ctx, http.MethodGet, pathRefundRead, p.query(ref.ProviderRefundNo), nil)
		if err != nil {
			return providers.RefundState{}, err
		}
		return p.refundState(raw, ref.OutRefundNo, cur)
	}
	if ref.OutRefundNo == "" {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "VR Payment needs the refund id or out_refund_no")
	}
	raw, err := p.do(ctx, http.MethodPost, pathRefundSearch, p.query(""), equalsQuery("externalId", ref.OutRefundNo))
	if err != nil {
		return providers.RefundState{}, err
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return providers.RefundState{}, providers.BadResponse("refund/search answer is not a list")
	}
	for _, item := range list {
		var r refund
		if json.Unmarshal(item, &r) == nil && r.ExternalID == ref.OutRefundNo {
			return p.refundState(item, ref.OutRefundNo, cur)
		}
	}
	return providers.RefundState{}, providers.Errorf(providers.ErrCodeNotFound, "", "no VR Payment refund with externalId %q", ref.OutRefundNo)
}
