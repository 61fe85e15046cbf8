package orders

import (
	"testing"

	"github.com/paygate/paygate/providers"
)

func TestNextOrderStatus(t *testing.T) {
	const (
		paying   = providers.OrderPaying
		paid     = providers.OrderPaid
		closed   = providers.OrderClosed
		failed   = providers.OrderFailed
		refunded = providers.OrderRefunded
	)
	tests := []struct {
		current, reported, want providers.OrderStatus
		changed                 bool
	}{
		{paying, paying, paying, false},
		{paying, paid, paid, true},
		{paying, closed, closed, true},
		{paying, failed, failed, true},
		{paying, refunded, paying, false},
		{paid, paid, paid, false},
		{paid, paying, paid, false},
		{paid, closed, paid, false},
		{paid, failed, paid, false},
		{closed, paid, paid, true},
		{closed, closed, closed, false},
		{closed, paying, closed, false},
		{failed, paid, paid, true},
		{failed, closed, failed, false},
		{refunded, paid, refunded, false},
		{refunded, closed, refunded, false},
		{refunded, paying, refunded, false},
	}
	for _, tt := range tests {
		got, changed := NextOrderStatus(tt.current, tt.reported)
		if got != tt.want || changed != tt.changed {
			t.Errorf("NextOrderStatus(%s, %s) = %s, %v; want %s, %v", tt.current, tt.reported, got, changed, tt.want, tt.changed)
		}
	}
}

func TestNextRefundStatus(t *testing.T) {
	const (
		processing = providers.RefundProcessing
		succeeded  = providers.RefundSucceeded
		failed     = providers.RefundFailed
	)
	tests := []struct {
		current, reported, want providers.RefundStatus
		changed                 bool
	}{
		{processing, processing, processing, false},
		{processing, succeeded, succeeded, true},
		{processing, failed, failed, true},
		{succeeded, failed, succeeded, false},
		{succeeded, processing, succeeded, false},
		{failed, succeeded, succeeded, true}, // the provider refunded after all: applied, never dropped
		{failed, processing, failed, false},
	}
	for _, tt := range tests {
		got, changed := NextRefundStatus(tt.current, tt.reported)
		if got != tt.want || changed != tt.changed {
			t.Errorf("NextRefundStatus(%s, %s) = %s, %v; want %s, %v", tt.current, tt.reported, got, changed, tt.want, tt.changed)
		}
	}
}
