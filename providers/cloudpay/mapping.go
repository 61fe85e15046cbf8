package cloudpay

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/wechatv2"
)

// ErrorCode maps a v2 err_code (spec §8): cloud pay answers with
// WeChat Pay v2's codes.
func ErrorCode(errCode string) providers.ErrorCode { return wechatv2.ErrorCode(errCode) }

// payParams passes the `payment` object through, values as strings
// (timeStamp is a string for wx.requestPayment).
func payParams(payment map[string]json.RawMessage) (map[string]string, error) {
	if len(payment) == 0 {
		return nil, errors.New("answer has no payment object")
	}
	out := make(map[string]string, len(payment))
	for k, raw := range payment {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			out[k] = s
			continue
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, fmt.Errorf("payment.%s is neither a string nor a number", k)
		}
		out[k] = n.String()
	}
	for _, k := range []string{"timeStamp", "nonceStr", "package", "signType", "paySign"} {
		if out[k] == "" {
			return nil, fmt.Errorf("payment.%s is missing", k)
		}
	}
	return out, nil
}

type queryResp struct {
	TradeState     string `json:"trade_state"`
	TradeStateDesc string `json:"trade_state_desc"`
	OutTradeNo     string `json:"out_trade_no"`
	TransactionID  string `json:"transaction_id"`
	TotalFee       *Fen   `json:"total_fee"`
	FeeType        string `json:"fee_type"`
	TimeEnd        string `json:"time_end"`
	OpenID         string `json:"openid"`
	SubOpenID      string `json:"sub_openid"`
}

// MapTradeState maps a v2 trade_state (spec §2.3): cloud pay answers
// with WeChat Pay v2's words.
func MapTradeState(s string) providers.OrderStatus { return wechatv2.MapTradeState(s) }

// MapRefundStatus maps a v2 refund_status (spec §2.4): CHANGE (the
// payer's account is abnormal) needs manual handling and stays PROCESSING.
func MapRefundStatus(s string) providers.RefundStatus { return wechatv2.MapRefundState(s) }

// parseRefundQuery reads the v2 refundquery answer, whose per-refund fields
// carry a _$n suffix (out_refund_no_0, refund_status_0, refund_fee_0,
// refund_id_0, refund_success_time_0). UNCONFIRMED: that the Cloud Run JSON
// keeps the v2 flat _$n keys; this is the one function to change if it
// nests them.
func parseRefundQuery(data map[string]json.RawMessage, outRefundNo string) (providers.RefundState, error) {
	str := func(k string) string {
		var s string
		if raw, ok := data[k]; ok {
			if json.Unmarshal(raw, &s) != nil {
				var n json.Number
				if json.Unmarshal(raw, &n) == nil {
					s = n.String()
				}
			}
		}
		return s
	}
	for n := 0; n < 50; n++ { // at most 50 partial refunds per order
		sfx := "_" + strconv.Itoa(n)
		no := str("out_refund_no" + sfx)
		if no == "" {
			break
		}
		if no != outRefundNo {
			continue
		}
		status := str("refund_status" + sfx)
		rs := MapRefundStatus(status)
		st := providers.RefundState{Status: rs, ProviderStatus: status, OutRefundNo: no, ProviderRefundNo: str("refund_id" + sfx)}
		if fee := str("refund_fee" + sfx); fee != "" {
			v, err := strconv.ParseInt(fee, 10, 64)
			if err != nil || v < 0 {
				return providers.RefundState{}, fmt.Errorf("refund_fee%s %q is not integer fen", sfx, fee)
			}
			st.Amount = providers.Money{Minor: v, Currency: Currency}
		}
		if ts := str("refund_success_time" + sfx); ts != "" && rs == providers.RefundSucceeded {
			t, err := time.ParseInLocation("2006-01-02 15:04:05", ts, beijing)
			if err != nil {
				return providers.RefundState{}, fmt.Errorf("refund_success_time%s %q", sfx, ts)
			}
			st.SucceededAt = t
		}
		return st, nil
	}
	return providers.RefundState{}, fmt.Errorf("answer does not list out_refund_no %s", outRefundNo)
}

// Fen is an integer amount in fen that WeChat may write as a JSON number
// or a string of digits; fractions are refused (never float64).
type Fen int64

// UnmarshalJSON implements json.Unmarshaler.
func (f *Fen) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("amount %s is not integer fen", b)
	}
	*f = Fen(v)
	return nil
}
