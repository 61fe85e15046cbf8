package supay

import (
	"regexp"
	"strings"

	"github.com/paygate/paygate/providers"
)

// QueryTradeStatus maps query_trade's data.trade_status. The answer's shape
// and words are not public; the words assumed (README "Assumptions") are
// Alipay-style: WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_CLOSED. TRADE_FINISHED
// (Alipay's "paid, no refund possible any more") is read as paid. Unknown
// words stay PAYING (ok=false) so the poller keeps asking. UNCONFIRMED.
func QueryTradeStatus(word string) (providers.OrderStatus, bool) {
	switch strings.ToUpper(strings.TrimSpace(word)) {
	case "WAIT_BUYER_PAY":
		return providers.OrderPaying, true
	case "TRADE_SUCCESS", "TRADE_FINISHED":
		return providers.OrderPaid, true
	case "TRADE_CLOSED":
		return providers.OrderClosed, true
	}
	return providers.OrderPaying, false
}

// NotifyTradeStatus maps a trade_status_sync notification's trade_status.
// The integrations treat TRADE_SUCCESS as paid and anything else as
// closed (ShopXO plugin); the adapter keeps that, except that
// WAIT_BUYER_PAY (not final by its very name) stays PAYING and
// TRADE_FINISHED is paid.
func NotifyTradeStatus(word string) providers.OrderStatus {
	switch strings.ToUpper(strings.TrimSpace(word)) {
	case "TRADE_SUCCESS", "TRADE_FINISHED":
		return providers.OrderPaid
	case "WAIT_BUYER_PAY":
		return providers.OrderPaying
	}
	return providers.OrderClosed
}

var refundFailure = regexp.MustCompile(`(?i)FAIL|CLOSE|REJECT`)

// RefundNotifyStatus maps refund_status: REFUND_SUCCESS is the only word
// seen in public code; failure-looking words (…FAIL…, …CLOSE…, …REJECT…)
// are FAILED, anything else PROCESSING. UNCONFIRMED beyond REFUND_SUCCESS.
func RefundNotifyStatus(word string) providers.RefundStatus {
	w := strings.ToUpper(strings.TrimSpace(word))
	switch {
	case w == "REFUND_SUCCESS":
		return providers.RefundSucceeded
	case refundFailure.MatchString(w):
		return providers.RefundFailed
	}
	return providers.RefundProcessing
}

// Failure-message heuristics: Supay answers status != "T" with a free-text
// `message`; no code table is public. UNCONFIRMED; this is the one place
// to fix them.
var (
	notFoundMessage  = regexp.MustCompile(`(?i)not\s*(be\s*)?found|not\s*exist|does\s*not\s*exist|no\s+such|no\s+(order|record|trade)|不存在|未找到`)
	duplicateMessage = regexp.MustCompile(`(?i)duplicate|already\s+(exist|used)|repeat|重复|已存在`)
	systemMessage    = regexp.MustCompile(`(?i)system\s*(error|busy)|server\s*error|internal\s*error|try\s+again|timeout|系统繁忙|系统错误`)
)

func classifyFailure(service, message string) providers.ErrorCode {
	switch {
	case systemMessage.MatchString(message):
		return providers.ErrCodeUnavailable
	case service == ServiceCreate && duplicateMessage.MatchString(message):
		return providers.ErrCodeDuplicate
	case service == ServiceQuery && notFoundMessage.MatchString(message):
		return providers.ErrCodeNotFound
	case service == ServiceRefund && notFoundMessage.MatchString(message):
		return providers.ErrCodeNotFound
	}
	return providers.ErrCodeRejected
}
