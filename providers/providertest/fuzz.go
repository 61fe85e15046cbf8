package providertest

import (
	"testing"

	"github.com/paygate/paygate/providers"
)

// MaxErrorBytes bounds a parser's error text: errors are logged and
// stored, so they never embed unbounded input.
const MaxErrorBytes = 1024

// CheckParsed is what every fuzz target of a notification parser asserts
// about one ParseNotify result, whatever the input: a bounded error, or
// a notification whose facts are well-formed (a known kind and status,
// money within the gateway's bounds in a known currency).
func CheckParsed(t *testing.T, n providers.Notification, err error) {
	t.Helper()
	if err != nil {
		if len(err.Error()) > MaxErrorBytes {
			t.Fatalf("error of %d bytes embeds unbounded input: %.200q…", len(err.Error()), err.Error())
		}
		return
	}
	switch n.Kind {
	case providers.NotifyPayment, providers.NotifyRefund:
	default:
		t.Fatalf("notification of kind %q", n.Kind)
	}
	if !n.Hint {
		switch n.Order.Status {
		case providers.OrderPaying, providers.OrderPaid, providers.OrderClosed, providers.OrderFailed, providers.OrderUnknown, "":
		default:
			t.Fatalf("order status %q", n.Order.Status)
		}
		if n.Kind == providers.NotifyPayment && n.Order.Status == "" {
			t.Fatal("payment notification without a status")
		}
		if n.Kind == providers.NotifyRefund {
			switch n.Refund.Status {
			case providers.RefundProcessing, providers.RefundSucceeded, providers.RefundFailed, providers.RefundUnknown:
			default:
				t.Fatalf("refund status %q", n.Refund.Status)
			}
		}
	}
	if n.Order.OutTradeNo == "" && n.Order.ProviderTradeNo == "" && n.Order.TransactionID == "" &&
		n.Refund.OutRefundNo == "" && n.Refund.ProviderRefundNo == "" {
		t.Fatal("notification names nothing")
	}
	for _, m := range []providers.Money{n.Order.Amount, n.Refund.Amount} {
		if m.IsZero() {
			continue
		}
		if m.Minor < 0 || m.Minor > providers.MaxMinor || !providers.KnownCurrency(m.Currency) {
			t.Fatalf("amount %+v", m)
		}
	}
}
