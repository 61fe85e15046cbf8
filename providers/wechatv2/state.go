package wechatv2

import (
	"fmt"
	"strconv"
	"time"

	"github.com/paygate/paygate/providers"
)

// tradeStates maps v2 trade_state (orderquery) to the gateway's status
// (wechatpay.md §2.3). REFUND means "paid, then a refund was started": the
// order stays PAID and the refunds carry their own states.
var tradeStates = map[string]providers.OrderStatus{
	"SUCCESS":    providers.OrderPaid,
	"REFUND":     providers.OrderPaid,
	"NOTPAY":     providers.OrderPaying,
	"USERPAYING": providers.OrderPaying,
	"ACCEPT":     providers.OrderPaying,
	"CLOSED":     providers.OrderClosed,
	"REVOKED":    providers.OrderClosed,
	"PAYERROR":   providers.OrderFailed,
}

// refundStates maps refund_status / refund_status_$n (§2.4). CHANGE is the
// abnormal state (the refund could not reach the payer's card/account):
// not final, needs manual handling in the merchant platform, so it stays
// PROCESSING with ProviderStatus CHANGE for people to see.
var refundStates = map[string]providers.RefundStatus{
	"SUCCESS":     providers.RefundSucceeded,
	"PROCESSING":  providers.RefundProcessing,
	"CHANGE":      providers.RefundProcessing,
	"REFUNDCLOSE": providers.RefundFailed,
}

// MapTradeState returns the status of a v2 trade_state word; an unknown
// word is providers.OrderUnknown (providers.MapStatus), never a guess.
// Cloud pay, which answers with v2 fields, uses it too.
func MapTradeState(s string) providers.OrderStatus {
	return providers.MapStatus(tradeStates, s)
}

// MapRefundState returns the status of a v2 refund_status word; an
// unknown word is providers.RefundUnknown.
func MapRefundState(s string) providers.RefundStatus {
	return providers.MapStatus(refundStates, s)
}

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
