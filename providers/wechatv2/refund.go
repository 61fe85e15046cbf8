package wechatv2

import (
	"context"
	"strconv"
	"strings"

	"github.com/paygate/paygate/providers"
)

// maxRefundCount bounds the refund_count WeChat may report (≤ 50 partial
// refunds per order, §7); larger values are a bad answer.
const maxRefundCount = 50

// Refund asks /secapi/pay/refund (mutual TLS on the real host). A SUCCESS
// answer means "accepted": the refund is PROCESSING until the refund
// notification or a refund query says otherwise. Retrying after a
// failure or timeout with the same out_refund_no refunds at most once.
func (a *Adapter) Refund(ctx context.Context, req providers.RefundRequest) (providers.RefundState, error) {
	switch {
	case req.OutRefundNo == "":
		return providers.RefundState{}, providers.Rejected("out_refund_no is required")
	case req.Amount.Minor <= 0:
		return providers.RefundState{}, providers.Rejected("refund amount must be positive")
	case req.Amount.Currency != currencyCNY:
		return providers.RefundState{}, providers.Rejected("refund currency %q: wechat_v2 refunds in CNY", req.Amount.Currency)
	case req.Order.Amount.Minor <= 0 || req.Order.Amount.Currency != currencyCNY:
		return providers.RefundState{}, providers.Rejected("refund needs the order's CNY total (total_fee)")
	case req.Order.TransactionID == "" && req.Order.OutTradeNo == "":
		return providers.RefundState{}, providers.Rejected("refund needs transaction_id or out_trade_no")
	}
	f := a.baseFields()
	if req.Order.TransactionID != "" {
		f["transaction_id"] = req.Order.TransactionID
	} else {
		f["out_trade_no"] = req.Order.OutTradeNo
	}
	f["out_refund_no"] = req.OutRefundNo
	f["total_fee"] = strconv.FormatInt(req.Order.Amount.Minor, 10)
	f["refund_fee"] = strconv.FormatInt(req.Amount.Minor, 10)
	f["refund_fee_type"] = currencyCNY
	if d := truncateUTF8(strings.ToValidUTF8(req.Reason, ""), maxRefundDescField); d != "" {
		f["refund_desc"] = d
	}
	notifyURL := providers.FirstNonEmpty(req.NotifyURL, a.cfg.notifyURL)
	if strings.Contains(notifyURL, "?") {
		return providers.RefundState{}, providers.Rejected("refund notify_url must carry no query string")
	}
	f["notify_url"] = notifyURL // empty: WeChat uses the one set in the merchant platform
	m, err := a.call(ctx, PathRefund, f)
	if err != nil {
		return providers.RefundState{}, err
	}
	if v := m["out_refund_no"]; v != "" && v != req.OutRefundNo {
		return providers.RefundState{}, providers.BadResponse("%s: answer is about another out_refund_no", PathRefund)
	}
	st := providers.RefundState{
		Status:           providers.RefundProcessing,
		ProviderStatus:   "PROCESSING", // accepted; the result comes later
		OutRefundNo:      req.OutRefundNo,
		ProviderRefundNo: m["refund_id"],
	}
	if v := m["refund_fee"]; v != "" {
		if st.Amount, err = parseFen(v, currencyCNY); err != nil {
			return providers.RefundState{}, providers.BadResponse("%s: refund_fee: %v", PathRefund, err)
		}
	}
	return st, nil
}

// QueryRefund asks /pay/refundquery by out_refund_no and reads the
// indexed refund fields (out_refund_no_$n, refund_status_$n, ...) of the
// entry with that number.
func (a *Adapter) QueryRefund(ctx context.Context, ref providers.RefundRef) (providers.RefundState, error) {
	if ref.OutRefundNo == "" {
		return providers.RefundState{}, providers.Rejected("refund query needs out_refund_no")
	}
	f := a.baseFields()
	f["out_refund_no"] = ref.OutRefundNo
	m, err := a.call(ctx, PathRefundQuery, f)
	if err != nil {
		return providers.RefundState{}, err
	}
	return refundState(m, ref.OutRefundNo)
}
