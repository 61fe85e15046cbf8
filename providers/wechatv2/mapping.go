package wechatv2

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/providers"
)

// errCodes maps v2 err_code words (result_code FAIL) to the gateway's
// codes (wechatpay.md §8). Anything not listed is PROVIDER_REJECTED.
var errCodes = map[string]providers.ErrorCode{
	// The order was paid: CreateOrder/CloseOrder say so and the gateway
	// queries the order for the payment facts.
	"ORDERPAID": providers.ErrCodeOrderPaid,
	// Closed: a new out_trade_no is needed.
	"ORDERCLOSED": providers.ErrCodeOrderClosed,
	// Same out_trade_no with other parameters.
	"OUT_TRADE_NO_USED": providers.ErrCodeDuplicate,
	"ORDERNOTEXIST":     providers.ErrCodeNotFound,
	"REFUNDNOTEXIST":    providers.ErrCodeNotFound,
	// Retry later with the same parameters (same out_refund_no).
	"SYSTEMERROR":       providers.ErrCodeUnavailable,
	"BIZERR_NEED_RETRY": providers.ErrCodeUnavailable,
	"FREQUENCY_LIMITED": providers.ErrCodeUnavailable,
	// Refund: "too many requests for this order, retry in a minute" (§8).
	"INVALID_REQ_TOO_MUCH": providers.ErrCodeUnavailable,
}

// ErrorCode maps a v2 err_code word; a word not listed is
// PROVIDER_REJECTED. Cloud pay, which answers with v2 codes, uses it too.
func ErrorCode(errCode string) providers.ErrorCode {
	if code, ok := errCodes[errCode]; ok {
		return code
	}
	return providers.ErrCodeRejected
}

// mapErrCode turns an err_code into a *providers.Error keeping the word.
func mapErrCode(errCode, msg string) *providers.Error {
	code := ErrorCode(errCode)
	if code == providers.ErrCodeRejected {
		if providers.InProgressMessage(msg) {
			// e.g. a refund "处理中": the same request is already there.
			code = providers.ErrCodeInProgress
		}
	}
	return &providers.Error{Code: code, ProviderCode: errCode, Message: msg}
}

var codeWord = regexp.MustCompile(`^[A-Z][A-Z0-9_]{2,40}$`)

// returnFailCode names a return_code=FAIL answer for people: WeChat puts
// a sentence in return_msg ("签名错误", "缺少参数", "mch_id参数格式错误"),
// sometimes a code word.
func returnFailCode(returnMsg string) string {
	switch {
	case codeWord.MatchString(returnMsg):
		return returnMsg
	case strings.Contains(returnMsg, "签名错误"), strings.Contains(strings.ToLower(returnMsg), "sign"):
		return "SIGNERROR"
	case strings.Contains(returnMsg, "缺少参数"):
		return "LACK_PARAMS"
	default:
		return codeFail
	}
}

// tradeStates maps v2 trade_state (orderquery) to the gateway's status
// (wechatpay.md §2.3). REFUND means "paid, then a refund was started": the
// order stays PAID and the refunds carry their own states.
var tradeStates = providers.NewStatuses(nil, map[providers.OrderStatus][]string{
	providers.OrderPaid:   {"SUCCESS", "REFUND"},
	providers.OrderPaying: {"NOTPAY", "USERPAYING", "ACCEPT"},
	providers.OrderClosed: {"CLOSED", "REVOKED"},
	providers.OrderFailed: {"PAYERROR"},
})

// refundStates maps refund_status / refund_status_$n (§2.4). CHANGE is the
// abnormal state (the refund could not reach the payer's card/account):
// not final, needs manual handling in the merchant platform, so it stays
// PROCESSING with ProviderStatus CHANGE for people to see.
var refundStates = providers.NewStatuses(nil, map[providers.RefundStatus][]string{
	providers.RefundSucceeded:  {"SUCCESS"},
	providers.RefundProcessing: {"PROCESSING", "CHANGE"},
	providers.RefundFailed:     {"REFUNDCLOSE"},
})

// MapTradeState returns the status of a v2 trade_state word; an unknown
// word is providers.OrderUnknown, never a guess. Cloud pay, which answers
// with v2 fields, uses it too.
func MapTradeState(s string) providers.OrderStatus { return tradeStates.Of(s) }

// MapRefundState returns the status of a v2 refund_status word; an
// unknown word is providers.RefundUnknown.
func MapRefundState(s string) providers.RefundStatus { return refundStates.Of(s) }

// parseFen parses an integer amount in minor units ("100" fen): digits
// only, at most providers.MaxMinor; currency is fee_type (default CNY).
func parseFen(s, currency string) (providers.Money, error) {
	if currency == "" {
		currency = currencyCNY
	}
	if !providers.KnownCurrency(currency) {
		return providers.Money{}, fmt.Errorf("unknown fee_type %q", clip(currency, 16))
	}
	if s == "" || len(s) > 18 {
		return providers.Money{}, fmt.Errorf("bad fen amount %q", clip(s, 24))
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return providers.Money{}, fmt.Errorf("bad fen amount %q", clip(s, 24))
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > providers.MaxMinor {
		return providers.Money{}, fmt.Errorf("bad fen amount %q", clip(s, 24))
	}
	return providers.Money{Minor: n, Currency: currency}, nil
}

// parseTimeEnd parses yyyyMMddHHmmss in UTC+8 (time_end).
func parseTimeEnd(s string) (time.Time, error) {
	return time.ParseInLocation("20060102150405", s, cst)
}

// parseSuccessTime parses "yyyy-MM-dd HH:mm:ss" in UTC+8 (refund
// success_time and refund_success_time_$n).
func parseSuccessTime(s string) (time.Time, error) {
	return time.ParseInLocation("2006-01-02 15:04:05", s, cst)
}

// formatTimeExpire formats t as yyyyMMddHHmmss in UTC+8.
func formatTimeExpire(t time.Time) string {
	return t.In(cst).Format("20060102150405")
}

// orderState reads a verified orderquery answer.
func orderState(m map[string]string, ref providers.OrderRef) (providers.OrderState, error) {
	ts := m["trade_state"]
	status := MapTradeState(ts)
	if ref.OutTradeNo != "" && m["out_trade_no"] != "" && m["out_trade_no"] != ref.OutTradeNo {
		return providers.OrderState{}, providers.BadResponse("%s: answer is about another out_trade_no", PathOrderQuery)
	}
	if ref.TransactionID != "" && m["transaction_id"] != "" && m["transaction_id"] != ref.TransactionID {
		return providers.OrderState{}, providers.BadResponse("%s: answer is about another transaction_id", PathOrderQuery)
	}
	st := providers.OrderState{
		Status:         status,
		ProviderStatus: ts,
		OutTradeNo:     m["out_trade_no"],
		TransactionID:  m["transaction_id"],
		// WeChat is the acquirer: its number is the provider's number too.
		ProviderTradeNo: m["transaction_id"],
		PayerID:         payerID(m),
	}
	if st.OutTradeNo == "" {
		st.OutTradeNo = ref.OutTradeNo
	}
	var err error
	if v := m["total_fee"]; v != "" {
		if st.Amount, err = parseFen(v, m["fee_type"]); err != nil {
			return providers.OrderState{}, providers.BadResponse("%s: total_fee: %v", PathOrderQuery, err)
		}
	}
	if v := m["time_end"]; v != "" {
		if st.PaidAt, err = parseTimeEnd(v); err != nil {
			return providers.OrderState{}, providers.BadResponse("%s: time_end %q", PathOrderQuery, v)
		}
	}
	if status == providers.OrderPaid && (st.TransactionID == "" || st.Amount.IsZero()) {
		return providers.OrderState{}, providers.BadResponse("%s: paid order without transaction_id or total_fee", PathOrderQuery)
	}
	return st, nil
}

// payerID is the payer's openid under the order's appid: sub_openid in
// service-provider mode when the order used sub_appid, else openid.
func payerID(m map[string]string) string {
	if v := m["sub_openid"]; v != "" {
		return v
	}
	return m["openid"]
}

// refundState finds out_refund_no among the refund_$n entries of a
// verified refundquery answer.
func refundState(m map[string]string, outRefundNo string) (providers.RefundState, error) {
	n, err := strconv.Atoi(m["refund_count"])
	if err != nil || n < 0 || n > maxRefundCount {
		return providers.RefundState{}, providers.BadResponse("%s: refund_count %q", PathRefundQuery, m["refund_count"])
	}
	for i := 0; i < n; i++ {
		idx := strconv.Itoa(i)
		if m["out_refund_no_"+idx] != outRefundNo {
			continue
		}
		word := m["refund_status_"+idx]
		st := providers.RefundState{
			Status:           MapRefundState(word),
			ProviderStatus:   word,
			OutRefundNo:      outRefundNo,
			ProviderRefundNo: m["refund_id_"+idx],
		}
		var err error
		if v := m["refund_fee_"+idx]; v != "" {
			if st.Amount, err = parseFen(v, currencyCNY); err != nil {
				return providers.RefundState{}, providers.BadResponse("%s: refund_fee_%d: %v", PathRefundQuery, i, err)
			}
		}
		if v := m["refund_success_time_"+idx]; v != "" {
			if st.SucceededAt, err = parseSuccessTime(v); err != nil {
				return providers.RefundState{}, providers.BadResponse("%s: refund_success_time_%d %q", PathRefundQuery, i, v)
			}
		}
		return st, nil
	}
	return providers.RefundState{}, providers.Errorf(providers.ErrCodeNotFound, "REFUNDNOTEXIST", "%s: out_refund_no not in the answer", PathRefundQuery)
}
