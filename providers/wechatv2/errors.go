package wechatv2

import (
	"regexp"
	"strings"

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

// mapErrCode turns an err_code into a *providers.Error keeping the word.
func mapErrCode(errCode, msg string) *providers.Error {
	code, ok := errCodes[errCode]
	if !ok {
		code = providers.ErrCodeRejected
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
