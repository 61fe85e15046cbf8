package yaband

import (
	"regexp"
	"strings"

	"github.com/paygate/paygate/providers"
)

// paymentStates maps Yaband's payment `state` words (compared in lower
// case; the old docs capitalise them) to the gateway's order states.
// Sources: YB-docs payments/others/notify.html (codes 00-08) and the
// YB-sdk Payment constants (new, refunded, completed, and the spelling
// "canceled").
var paymentStates = map[string]providers.OrderStatus{
	"paid":       providers.OrderPaid,   // 00
	"authorized": providers.OrderPaying, // 01: authorised, not captured
	"pending":    providers.OrderPaying, // 02: payment initiated
	"processing": providers.OrderPaying, // 03: waiting for the payer
	"verify":     providers.OrderPaying, // 04: paid but held for risk review
	"declined":   providers.OrderFailed, // 05
	"failed":     providers.OrderFailed, // 06
	"expired":    providers.OrderClosed, // 07
	"cancelled":  providers.OrderClosed, // 08
	"canceled":   providers.OrderClosed, // YB-sdk spelling
	"new":        providers.OrderPaying, // YB-sdk
	"refunded":   providers.OrderPaid,   // YB-sdk: the payment was paid; refunds are tracked apart
	"completed":  providers.OrderPaid,   // YB-sdk
}

// PaymentStatus maps a payment state word (case-insensitively). An unknown
// word is providers.OrderUnknown (providers.MapStatus): no transition, the
// word recorded, the provider asked again.
func PaymentStatus(state string) providers.OrderStatus {
	return providers.MapStatus(paymentStates, strings.ToLower(strings.TrimSpace(state)))
}

// refundStates maps Yaband's refund `state` words (YB-docs
// payments/refund/queryrefund.html codes 20-23; the failure words come
// from the merchant manual docs.yabandpay.com/manual/refunds.html, whose
// table adds "Refund failed", "Refund error" and "Refund cancel"). The
// word of API code 24 is cut off in the stored copy of the API page:
// UNCONFIRMED, it is assumed to be one of the failure words below.
var refundStates = map[string]providers.RefundStatus{
	"to-be-approval":    providers.RefundProcessing, // 20: waits for an admin
	"refund pending":    providers.RefundProcessing, // 21: waits for balance
	"refund processing": providers.RefundProcessing, // 22: submitted
	"refunded":          providers.RefundSucceeded,  // 23
	"refund failed":     providers.RefundFailed,     // manual
	"refund error":      providers.RefundFailed,     // manual: "contact our staff"
	"refund cancel":     providers.RefundFailed,     // manual: refund order cancelled
	"refund cancelled":  providers.RefundFailed,
	"refund canceled":   providers.RefundFailed,
	"failed":            providers.RefundFailed,
	"declined":          providers.RefundFailed,
	"cancelled":         providers.RefundFailed,
}

// RefundStatus maps a refund state word (case-insensitively). An unknown
// word is providers.RefundUnknown: the refund is not settled until a known
// word says so.
func RefundStatus(state string) providers.RefundStatus {
	return providers.MapStatus(refundStates, strings.ToLower(strings.TrimSpace(state)))
}

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
