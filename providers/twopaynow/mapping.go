package twopaynow

import (
	"net/url"
	"strings"
	"time"

	"github.com/paygate/paygate/providers"
)

// payType maps the gateway's pay method to 2paynow's `type`.
func payType(method string) (string, error) {
	switch method {
	case "", providers.PayMethodWeChat:
		return typeWeChat, nil
	case PayMethodAlipay:
		return typeAlipay, nil
	default:
		return "", providers.Errorf(providers.ErrCodeRejected, "", "2paynow offers wechat and alipay, not %q", method)
	}
}

// mapError maps a 2paynow error envelope {"status":403,"error_info":"..."}.
// 2paynow publishes no error-code table; the only observed answer is
// 403 "mid not exist" (driver test against the live API). So:
//   - status 5xx: PROVIDER_UNAVAILABLE (retry);
//   - error_info saying an order/trade does not exist: PROVIDER_NOT_FOUND
//     (isNotFound; UNCONFIRMED wording);
//   - anything else: PROVIDER_REJECTED, ProviderCode = the status.
func mapError(status, info string) error {
	code := status
	if code == "" || strings.HasPrefix(code, `"`) || strings.HasPrefix(code, "null") {
		return providers.Errorf(providers.ErrCodeBadResponse, "", "2paynow answer has no integer status (error_info %q)", info)
	}
	if strings.HasPrefix(code, "5") && len(code) == 3 {
		return providers.Errorf(providers.ErrCodeUnavailable, code, "2paynow: %s", info)
	}
	if isNotFound(info) {
		return providers.Errorf(providers.ErrCodeNotFound, code, "2paynow: %s", info)
	}
	if providers.InProgressMessage(info) {
		// e.g. a refund already under way: never a final refusal.
		return providers.Errorf(providers.ErrCodeInProgress, code, "2paynow: %s", info)
	}
	return providers.Errorf(providers.ErrCodeRejected, code, "2paynow: %s", info)
}

// isNotFound decides whether error_info says the order is unknown.
// UNCONFIRMED: 2paynow's wording for an unknown trade_no is not public; we
// take "not exist", "not found", "no such", "no record" and 不存在, except
// when the subject is the account ("mid not exist" is a configuration
// error, observed live) or the signature.
func isNotFound(info string) bool {
	s := strings.ToLower(info)
	for _, acct := range []string{"mid", "merchant", "key", "sign"} {
		if strings.HasPrefix(s, acct) {
			return false
		}
	}
	for _, w := range []string{"not exist", "not found", "no such", "no record", "不存在"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// payURLFromAnswer picks the link the payer opens from a precreate answer.
// UNCONFIRMED: the form of qr_code is not public. When it is an http(s)
// URL (a hosted pay page, or Alipay's qr.alipay.com link) it is the pay
// link; otherwise (e.g. a weixin:// code URL no browser opens) pic_url, the
// QR image, is handed out instead.
func payURLFromAnswer(qrCode, picURL string) string {
	if isHTTPURL(qrCode) {
		return qrCode
	}
	if isHTTPURL(picURL) {
		return picURL
	}
	return ""
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// transStatuses are query's trans_status words (the driver's
// QueryResponse). 2paynow's own word for "pending" is UNKNOWN. A refunded
// order stays TRADE_SUCCESS with refund_amount > 0: it is PAID here,
// refunds are tracked by the gateway.
var transStatuses = providers.NewStatuses(nil, map[providers.OrderStatus][]string{
	providers.OrderPaid:   {"TRADE_SUCCESS"},
	providers.OrderFailed: {"TRADE_FAILED"},
	providers.OrderClosed: {"TRADE_CLOSED"},
	providers.OrderPaying: {"UNKNOWN"},
})

// mapTransStatus maps a trans_status word; any other word is
// providers.OrderUnknown (providers.MapStatus).
func mapTransStatus(word string) providers.OrderStatus {
	return transStatuses.Of(word)
}

// beijing is the zone of 2paynow's wall-clock times: trade numbers
// embed yyMMddHHmmss in UTC+8 (the driver's sample A19101413542297869 was
// notified at 2019-10-14 06:31 UTC, 37 minutes after 13:54 UTC+8).
var beijing = providers.ChinaTime

// parseTransTime reads trans_time. UNCONFIRMED format; "2006-01-02
// 15:04:05" in UTC+8 is assumed, and an unreadable value gives zero.
func parseTransTime(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, beijing)
	if err != nil {
		return time.Time{}
	}
	return t
}

// mapTradeStatus maps the notification's trade_status. Only TRADE_SUCCESS
// is documented (the driver's CompleteResponse); the rest reuse query's
// words, and anything else is providers.OrderUnknown. The notification is
// a hint anyway: the gateway re-queries.
func mapTradeStatus(word string) providers.OrderStatus {
	return mapTransStatus(word)
}
