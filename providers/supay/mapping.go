package supay

import (
	"encoding/json"
	"errors"
	"regexp"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
)

// ParsePayInfo reads data.pay_info: a JSON *string* holding an object
// (appId, timeStamp, nonceStr, package, signType, paySign for JSAPI). An
// object is accepted too. Values become strings; numbers keep their text.
func ParsePayInfo(v any) (map[string]string, error) {
	var raw []byte
	switch t := v.(type) {
	case string:
		raw = []byte(t)
	case map[string]any:
		raw, _ = json.Marshal(t)
	default:
		return nil, errors.New("missing")
	}
	var m map[string]any
	if err := httpx.DecodeJSON(raw, &m); err != nil || m == nil {
		return nil, errors.New("not a JSON object")
	}
	return httpx.PayParams(m)
}

// parseQueryAnswer reads query_trade's data. The shape is an assumption
// (README "Assumptions"): {trade_status, inner_trade_no, outer_trade_no,
// trade_amount}; `currency` is read when present. UNCONFIRMED: this
// function is the one place to change when Supay's real answer is known.
func (p *Adapter) parseQueryAnswer(data map[string]any, ref providers.OrderRef) (providers.OrderState, error) {
	word := scalar(data["trade_status"])
	if word == "" {
		return providers.OrderState{}, providers.BadResponse("supay %s: no trade_status", ServiceQuery)
	}
	status := QueryTradeStatus(word)
	st := providers.OrderState{Status: status, ProviderStatus: word, OutTradeNo: scalar(data["outer_trade_no"]),
		ProviderTradeNo: scalar(data["inner_trade_no"]), TransactionID: scalar(data["transaction_id"])}
	if st.OutTradeNo == "" {
		st.OutTradeNo = ref.OutTradeNo
	} else if st.OutTradeNo != ref.OutTradeNo {
		return providers.OrderState{}, providers.BadResponse("supay %s: answer names order %s, asked for %s", ServiceQuery, st.OutTradeNo, ref.OutTradeNo)
	}
	if amount := scalar(data["trade_amount"]); amount != "" {
		currency := providers.FirstNonEmpty(scalar(data["currency"]), p.ch.Currency)
		money, err := providers.ParseProviderAmount(amount, currency)
		if err != nil {
			return providers.OrderState{}, providers.BadResponse("supay %s: trade_amount: %v", ServiceQuery, err)
		}
		st.Amount = money
	}
	return st, nil
}

// tradeStates are the trade_status words of query_trade and of the
// trade_status_sync notification. The query answer's shape and words are
// not public; the words assumed (README "Assumptions") are Alipay-style:
// WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_CLOSED, and TRADE_FINISHED
// (Alipay's "paid, no refund possible any more") is read as paid.
// UNCONFIRMED beyond TRADE_SUCCESS.
var tradeStates = providers.NewStatuses(providers.FoldUpper, map[providers.OrderStatus][]string{
	providers.OrderPaying: {"WAIT_BUYER_PAY"},
	providers.OrderPaid:   {"TRADE_SUCCESS", "TRADE_FINISHED"},
	providers.OrderClosed: {"TRADE_CLOSED"},
})

// QueryTradeStatus maps query_trade's data.trade_status (case-insensitive);
// any other word is providers.OrderUnknown: no transition, asked again.
func QueryTradeStatus(word string) providers.OrderStatus {
	return tradeStates.Of(word)
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
var refundStates = providers.NewStatuses(providers.FoldUpper, map[providers.RefundStatus][]string{
	providers.RefundSucceeded:  {"REFUND_SUCCESS"},
	providers.RefundProcessing: {"REFUND_PROCESSING"},
	providers.RefundFailed:     {"REFUND_FAIL", "REFUND_FAILED", "REFUND_CLOSED"},
})

// RefundNotifyStatus maps refund_status (case-insensitive).
func RefundNotifyStatus(word string) providers.RefundStatus {
	return refundStates.Of(word)
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
