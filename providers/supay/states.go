package supay

import (
	"regexp"
	"strings"

	"github.com/paygate/paygate/providers"
)

// tradeStates are the trade_status words of query_trade and of the
// trade_status_sync notification. The query answer's shape and words are
// not public; the words assumed (README "Assumptions") are Alipay-style:
// WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_CLOSED, and TRADE_FINISHED
// (Alipay's "paid, no refund possible any more") is read as paid.
// UNCONFIRMED beyond TRADE_SUCCESS.
var tradeStates = map[string]providers.OrderStatus{
	"WAIT_BUYER_PAY": providers.OrderPaying,
	"TRADE_SUCCESS":  providers.OrderPaid,
	"TRADE_FINISHED": providers.OrderPaid,
	"TRADE_CLOSED":   providers.OrderClosed,
}

// QueryTradeStatus maps query_trade's data.trade_status (case-insensitive);
// any other word is providers.OrderUnknown: no transition, asked again.
func QueryTradeStatus(word string) providers.OrderStatus {
	return providers.MapStatus(tradeStates, strings.ToUpper(strings.TrimSpace(word)))
}

// NotifyTradeStatus maps a trade_status_sync notification's trade_status
// with the same words. The integrations treat anything but TRADE_SUCCESS
// as closed (ShopXO plugin); the adapter does not: a word it does not know
// is providers.OrderUnknown, never the terminal CLOSED (an order paid
// later would stay CLOSED with the money taken).
func NotifyTradeStatus(word string) providers.OrderStatus {
	return QueryTradeStatus(word)
}

// refundStates are refund_status words. REFUND_SUCCESS is the only one
// seen in public code; the others are the Alipay-style spellings assumed
// for a refund in progress and a refund refused (UNCONFIRMED). Any other
// word is providers.RefundUnknown: the refund stays PROCESSING with its
// amount reserved, never failed on a guess.
var refundStates = map[string]providers.RefundStatus{
	"REFUND_SUCCESS":    providers.RefundSucceeded,
	"REFUND_PROCESSING": providers.RefundProcessing,
	"REFUND_FAIL":       providers.RefundFailed,
	"REFUND_FAILED":     providers.RefundFailed,
	"REFUND_CLOSED":     providers.RefundFailed,
}

// RefundNotifyStatus maps refund_status (case-insensitive).
func RefundNotifyStatus(word string) providers.RefundStatus {
	return providers.MapStatus(refundStates, strings.ToUpper(strings.TrimSpace(word)))
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
	case service == ServiceRefund && providers.InProgressMessage(message):
		// The same refund is already there: never a final refusal.
		return providers.ErrCodeInProgress
	case service == ServiceRefund && notFoundMessage.MatchString(message):
		return providers.ErrCodeNotFound
	}
	return providers.ErrCodeRejected
}
