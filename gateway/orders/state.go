package orders

import "github.com/paygate/paygate/providers"

// NextOrderStatus is the order state machine: given the stored status and
// the status a provider reports, it returns the status to store and
// whether that is a change.
//
//	PAYING -> PAID | CLOSED | FAILED
//	CLOSED | FAILED -> PAID   a late payment: the money was taken, the
//	                          provider's word wins (logged as such)
//	PAID -> REFUNDED          only through refunds, never from a report
//
// Everything else (a stale PAYING after PAID, a CLOSED report for a paid
// order, a repeat of the current status) changes nothing.
func NextOrderStatus(current, reported providers.OrderStatus) (providers.OrderStatus, bool) {
	switch current {
	case providers.OrderPaying:
		switch reported {
		case providers.OrderPaid, providers.OrderClosed, providers.OrderFailed:
			return reported, true
		}
	case providers.OrderClosed, providers.OrderFailed:
		if reported == providers.OrderPaid {
			return providers.OrderPaid, true
		}
	}
	return current, false
}

// NextRefundStatus is the refund state machine:
//
//	PROCESSING -> SUCCEEDED | FAILED
//	FAILED -> SUCCEEDED   a late success: the provider refunded after all,
//	                      its word wins (logged and counted as such)
//	SUCCEEDED is final.
func NextRefundStatus(current, reported providers.RefundStatus) (providers.RefundStatus, bool) {
	switch {
	case current == providers.RefundProcessing && (reported == providers.RefundSucceeded || reported == providers.RefundFailed):
		return reported, true
	case current == providers.RefundFailed && reported == providers.RefundSucceeded:
		return reported, true
	}
	return current, false
}

// Event types sent to the merchant's webhook.
const (
	EventOrderPaid       = "order.paid"
	EventOrderClosed     = "order.closed"
	EventRefundSucceeded = "refund.succeeded"
	EventRefundFailed    = "refund.failed"
)

// orderEvent is the merchant event a transition into status emits.
func orderEvent(status providers.OrderStatus) string {
	switch status {
	case providers.OrderPaid:
		return EventOrderPaid
	case providers.OrderClosed:
		return EventOrderClosed
	}
	return ""
}

func refundEvent(status providers.RefundStatus) string {
	switch status {
	case providers.RefundSucceeded:
		return EventRefundSucceeded
	case providers.RefundFailed:
		return EventRefundFailed
	}
	return ""
}
