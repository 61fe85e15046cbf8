package yaband

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
)

// payParams turns `parameters` (the wx.requestPayment object) into string
// values: numbers keep their literal text (timeStamp may come as a number).
func payParams(v any) (map[string]string, error) {
	var m map[string]any
	switch t := v.(type) {
	case map[string]any:
		m = t
	case string:
		var err error
		if m, err = decodeObject(json.RawMessage(strconv.Quote(t))); err != nil {
			return nil, fmt.Errorf("not a JSON object: %w", err)
		}
	default:
		return nil, errors.New("missing or not an object")
	}
	return httpx.PayParams(m)
}

// orderState reads a payment record (transaction_info, or a payment
// notification's data).
func (p *Adapter) orderState(method string, m map[string]any, ref providers.OrderRef) (providers.OrderState, error) {
	state := str(m, "state")
	if state == "" {
		return providers.OrderState{}, providers.BadResponse("yaband %s: no state", method)
	}
	status := PaymentStatus(state)
	st := providers.OrderState{Status: status, ProviderStatus: state, OutTradeNo: str(m, "order_id"),
		ProviderTradeNo: str(m, "trade_id"), TransactionID: str(m, "transaction_id")}
	if st.OutTradeNo == "" {
		st.OutTradeNo = ref.OutTradeNo
	}
	if st.ProviderTradeNo == "" {
		st.ProviderTradeNo = ref.ProviderTradeNo
	}
	if amount := str(m, "amount"); amount != "" {
		currency := providers.FirstNonEmpty(str(m, "currency"), ref.Amount.Currency)
		money, err := providers.ParseProviderAmount(amount, currency)
		if err != nil {
			return providers.OrderState{}, providers.BadResponse("yaband %s: amount: %v", method, err)
		}
		st.Amount = money
	}
	if status == providers.OrderPaid {
		st.PaidAt = parseUnix(str(m, "paid_time"))
	}
	return st, nil
}

// parseUnix reads a Unix-seconds string (createDate, paid_time,
// refund_time); anything else gives the zero time.
func parseUnix(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// refundState reads a refund record (create/query answer or a refund
// notification's data). A record without state is PROCESSING.
func refundState(method string, m map[string]any, outRefundNo, currency string) (providers.RefundState, error) {
	rs := providers.RefundState{
		Status:           providers.RefundProcessing,
		ProviderStatus:   str(m, "state"),
		OutRefundNo:      str(m, "m_refund_id"),
		ProviderRefundNo: str(m, "refund_id"),
	}
	if rs.ProviderStatus != "" {
		rs.Status = RefundStatus(rs.ProviderStatus)
	}
	if rs.OutRefundNo == "" {
		rs.OutRefundNo = outRefundNo
	}
	if amount := str(m, "refund_amount"); amount != "" {
		if c := str(m, "refund_currency"); c != "" {
			currency = c
		}
		money, err := providers.ParseProviderAmount(amount, currency)
		if err != nil {
			return providers.RefundState{}, providers.BadResponse("yaband %s: refund_amount: %v", method, err)
		}
		rs.Amount = money
	}
	if rs.Status == providers.RefundSucceeded {
		rs.SucceededAt = parseUnix(str(m, "refund_time"))
	}
	return rs, nil
}

// paymentStates maps Yaband's payment `state` words (compared in lower
// case; the old docs capitalise them) to the gateway's order states.
// Sources: YB-docs payments/others/notify.html (codes 00-08) and the
// YB-sdk Payment constants (new, refunded, completed, and the spelling
// "canceled"). "verify" is paid but held for risk review; "authorized" is
// authorised, not captured; "refunded" was paid (refunds are tracked
// apart).
var paymentStates = providers.NewStatuses(providers.FoldLower, map[providers.OrderStatus][]string{
	providers.OrderPaid:   {"paid" /* 00 */, "completed", "refunded"},
	providers.OrderPaying: {"authorized", "pending", "processing", "verify" /* 01-04 */, "new"},
	providers.OrderFailed: {"declined", "failed" /* 05, 06 */},
	providers.OrderClosed: {"expired", "cancelled" /* 07, 08 */, "canceled"},
})

// PaymentStatus maps a payment state word (case-insensitively). An unknown
// word is providers.OrderUnknown: no transition, the word recorded, the
// provider asked again.
func PaymentStatus(state string) providers.OrderStatus { return paymentStates.Of(state) }

// refundStates maps Yaband's refund `state` words (YB-docs
// payments/refund/queryrefund.html codes 20-23: to-be-approval waits for
// an admin, refund pending for balance, refund processing is submitted;
// the failure words come from the merchant manual
// docs.yabandpay.com/manual/refunds.html, whose table adds "Refund
// failed", "Refund error" ("contact our staff") and "Refund cancel"). The
// word of API code 24 is cut off in the stored copy of the API page:
// UNCONFIRMED, it is assumed to be one of the failure words below.
var refundStates = providers.NewStatuses(providers.FoldLower, map[providers.RefundStatus][]string{
	providers.RefundProcessing: {"to-be-approval", "refund pending", "refund processing" /* 20-22 */},
	providers.RefundSucceeded:  {"refunded" /* 23 */},
	providers.RefundFailed: {"refund failed", "refund error", "refund cancel", "refund cancelled", "refund canceled",
		"failed", "declined", "cancelled"},
})

// RefundStatus maps a refund state word (case-insensitively). An unknown
// word is providers.RefundUnknown: the refund is not settled until a known
// word says so.
func RefundStatus(state string) providers.RefundStatus { return refundStates.Of(state) }

// Failure-message heuristics. Yaband publishes no error-code table: a
// failed call answers {"status":false,"message":"..."} with a free-text
// reason. These patterns are UNCONFIRMED guesses at those texts
// (docs/providers/yaband.md); classifyFailure is the one place to fix them.
var (
	notFoundMessage  = regexp.MustCompile(`(?i)not\s*(be\s*)?found|not\s*exist|does\s*not\s*exist|no\s+such|no\s+(order|record|data|transaction)|invalid\s+(trade_id|refund_id)|不存在|未找到`)
	duplicateMessage = regexp.MustCompile(`(?i)duplicate|already\s+(exist|used)|order_id\s+(is\s+)?(exist|used|repeat)|重复|已存在`)
	paidMessage      = regexp.MustCompile(`(?i)already\s+paid|has\s+been\s+paid|is\s+paid|state\s*(is\s*)?paid|已支付`)
	systemMessage    = regexp.MustCompile(`(?i)system\s*(error|busy)|server\s*error|internal\s*error|try\s+again|timeout|系统繁忙|系统错误`)
)

// classifyFailure turns a status:false answer to method into a gateway
// error code.
func classifyFailure(method, message string) providers.ErrorCode {
	switch {
	case systemMessage.MatchString(message):
		return providers.ErrCodeUnavailable
	case method == MethodCreateMiniPay || method == MethodCreatePayments:
		if duplicateMessage.MatchString(message) {
			return providers.ErrCodeDuplicate
		}
	case method == MethodQueryOrder || method == MethodQueryRefund:
		if notFoundMessage.MatchString(message) {
			return providers.ErrCodeNotFound
		}
	case method == MethodCancelPayment:
		if paidMessage.MatchString(message) {
			return providers.ErrCodeOrderPaid
		}
		if notFoundMessage.MatchString(message) {
			return providers.ErrCodeNotFound
		}
	case method == MethodCreateRefund:
		if providers.InProgressMessage(message) {
			// The same refund is already there: never a final refusal.
			return providers.ErrCodeInProgress
		}
		if notFoundMessage.MatchString(message) {
			return providers.ErrCodeNotFound
		}
	}
	return providers.ErrCodeRejected
}
