package yaband

import (
	"testing"

	"github.com/paygate/paygate/providers"
)

func TestPaymentStatus(t *testing.T) {
	tests := []struct {
		state string
		want  providers.OrderStatus
		known bool
	}{
		{"paid", providers.OrderPaid, true},
		{"Paid", providers.OrderPaid, true}, // the old docs capitalise
		{"authorized", providers.OrderPaying, true},
		{"pending", providers.OrderPaying, true},
		{"Processing", providers.OrderPaying, true},
		{"verify", providers.OrderPaying, true},
		{"new", providers.OrderPaying, true},
		{"declined", providers.OrderFailed, true},
		{"failed", providers.OrderFailed, true},
		{"expired", providers.OrderClosed, true},
		{"Cancelled", providers.OrderClosed, true},
		{"canceled", providers.OrderClosed, true},
		{"refunded", providers.OrderPaid, true},
		{"completed", providers.OrderPaid, true},
		{" paid ", providers.OrderPaid, true},
		{"chargeback", providers.OrderUnknown, false}, // never guessed: no transition
		{"", providers.OrderUnknown, false},
	}
	for _, tt := range tests {
		got := PaymentStatus(tt.state)
		if got != tt.want || (got != providers.OrderUnknown) != tt.known {
			t.Errorf("PaymentStatus(%q) = %s; want %s", tt.state, got, tt.want)
		}
	}
}

func TestRefundStatus(t *testing.T) {
	tests := []struct {
		state string
		want  providers.RefundStatus
		known bool
	}{
		{"to-be-approval", providers.RefundProcessing, true},
		{"refund pending", providers.RefundProcessing, true},
		{"Refund processing", providers.RefundProcessing, true},
		{"refunded", providers.RefundSucceeded, true},
		{"Refunded", providers.RefundSucceeded, true},
		{"refund failed", providers.RefundFailed, true},
		{"Refund error", providers.RefundFailed, true},
		{"refund cancel", providers.RefundFailed, true},
		{"failed", providers.RefundFailed, true},
		{"refund_processing", providers.RefundUnknown, false}, // unknown spelling: not settled
		{"", providers.RefundUnknown, false},
	}
	for _, tt := range tests {
		got := RefundStatus(tt.state)
		if got != tt.want || (got != providers.RefundUnknown) != tt.known {
			t.Errorf("RefundStatus(%q) = %s; want %s", tt.state, got, tt.want)
		}
	}
}

func TestClassifyFailure(t *testing.T) {
	tests := []struct {
		method, message string
		want            providers.ErrorCode
	}{
		{MethodQueryOrder, "trade_id does not exist", providers.ErrCodeNotFound},
		{MethodQueryOrder, "Order not found", providers.ErrCodeNotFound},
		{MethodQueryOrder, "订单不存在", providers.ErrCodeNotFound},
		{MethodQueryOrder, "sign error", providers.ErrCodeRejected},
		{MethodQueryRefund, "refund_id does not exist", providers.ErrCodeNotFound},
		{MethodCreateMiniPay, "order_id ORD1 already exists with different content", providers.ErrCodeDuplicate},
		{MethodCreatePayments, "Duplicate order_id", providers.ErrCodeDuplicate},
		{MethodCreateMiniPay, "amount is below the minimum", providers.ErrCodeRejected},
		{MethodCreateMiniPay, "system busy, please try again", providers.ErrCodeUnavailable},
		{MethodCancelPayment, "payment is already paid and cannot be cancelled", providers.ErrCodeOrderPaid},
		{MethodCancelPayment, "trade_id does not exist", providers.ErrCodeNotFound},
		{MethodCreateRefund, "refund amount exceeds the refundable amount 7.50", providers.ErrCodeRejected},
		// "the same refund is already there" is never a final refusal
		{MethodCreateRefund, "refund is in progress", providers.ErrCodeInProgress},
		{MethodCreateRefund, "Duplicate m_refund_id", providers.ErrCodeInProgress},
		{MethodCreateRefund, "退款处理中", providers.ErrCodeInProgress},
		// a create never maps to NOT_FOUND: that would read as "order unknown" to the gateway
		{MethodCreateMiniPay, "sub_app_id does not exist", providers.ErrCodeRejected},
	}
	for _, tt := range tests {
		if got := classifyFailure(tt.method, tt.message); got != tt.want {
			t.Errorf("classifyFailure(%s, %q) = %s, want %s", tt.method, tt.message, got, tt.want)
		}
	}
}
