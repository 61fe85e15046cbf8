package cloudpay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/paygate/paygate/providers"
)

// callback is a cloud pay callback: the v2 notification fields in
// camelCase (spec §5.4, Cloud Run callback page). The refund callback's
// names (outRefundNo, refundId, refundStatus) are UNCONFIRMED [C].
type callback struct {
	ReturnCode    string `json:"returnCode"`
	ResultCode    string `json:"resultCode"`
	AppID         string `json:"appid"`
	MchID         string `json:"mchId"`
	SubAppID      string `json:"subAppid"`
	SubMchID      string `json:"subMchId"`
	OutTradeNo    string `json:"outTradeNo"`
	TransactionID string `json:"transactionId"`
	OutRefundNo   string `json:"outRefundNo"`
	RefundID      string `json:"refundId"`
}

// ParseNotify reads a callback. It carries no signature (Cloud Run's
// private link delivers it), so it is never trusted: the result is a Hint
// with the order's numbers only, and the gateway queries queryorder /
// queryrefund for the state and amount. The sub-merchant (and sub_appid
// when both sides name one) must still be the channel's.
func (p *Adapter) ParseNotify(_ context.Context, _ *http.Request, body []byte) (providers.Notification, error) {
	var cb callback
	if err := json.Unmarshal(body, &cb); err != nil {
		return providers.Notification{}, fmt.Errorf("%w: callback is not JSON: %v", providers.ErrMalformed, providers.Clip(err.Error(), 200))
	}
	if cb.SubMchID != p.subMchID {
		return providers.Notification{}, fmt.Errorf("%w: subMchId %q is not the channel's %s", providers.ErrChannelMismatch, providers.Clip(cb.SubMchID, 64), p.subMchID)
	}
	if cb.SubAppID != "" && p.subAppID != "" && cb.SubAppID != p.subAppID {
		return providers.Notification{}, fmt.Errorf("%w: subAppid %q is not the channel's %s", providers.ErrChannelMismatch, providers.Clip(cb.SubAppID, 64), p.subAppID)
	}
	if cb.OutTradeNo == "" {
		return providers.Notification{}, fmt.Errorf("%w: callback has no outTradeNo", providers.ErrMalformed)
	}
	order := providers.OrderState{OutTradeNo: cb.OutTradeNo, TransactionID: cb.TransactionID, ProviderTradeNo: cb.TransactionID}
	if cb.OutRefundNo != "" {
		return providers.Notification{Kind: providers.NotifyRefund, Hint: true, Order: order,
			Refund: providers.RefundState{OutRefundNo: cb.OutRefundNo, ProviderRefundNo: cb.RefundID}}, nil
	}
	return providers.Notification{Kind: providers.NotifyPayment, Hint: true, Order: order}, nil
}

// NotifyAck answers the callback: {"errcode":0,"errmsg":"OK"} when done;
// any other errcode makes WeChat's cloud retry for up to two days. The
// failure answer keeps HTTP 200 with errcode -1, the documented failure
// form.
func (p *Adapter) NotifyAck(ok bool, reason string) providers.Ack {
	v := map[string]any{"errcode": 0, "errmsg": "OK"}
	if !ok {
		if reason == "" {
			reason = "FAIL"
		}
		if r := []rune(reason); len(r) > 200 {
			reason = string(r[:200])
		}
		v = map[string]any{"errcode": -1, "errmsg": reason}
	}
	b, _ := json.Marshal(v)
	return providers.Ack{Status: http.StatusOK, ContentType: "application/json", Body: b}
}
