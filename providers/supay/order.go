package supay

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/providers"
)

// TimeoutExpress turns the order's expiry into timeout_express ("30m"),
// in whole minutes rounded down, at least 1m and at most 15 days. No
// expiry: "" (the field is left out; Supay's default applies).
func TimeoutExpress(now, expires time.Time) string {
	if expires.IsZero() {
		return ""
	}
	m := int64(expires.Sub(now) / time.Minute)
	if m < 1 {
		m = 1
	}
	if m > maxTimeoutMinutes {
		m = maxTimeoutMinutes
	}
	return strconv.FormatInt(m, 10) + "m"
}

// CreateOrder places create_instant_trade with pay_way JSAPI and parses
// data.pay_info (a JSON string) into the wx.requestPayment parameters.
// Supay gives no number of its own here: inner_trade_no arrives with the
// notification or the query.
func (p *Adapter) CreateOrder(ctx context.Context, req providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
	if req.Amount.Currency != p.ch.Currency {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "",
			"supay: currency %s not accepted on this channel (only %s)", req.Amount.Currency, p.ch.Currency)
	}
	if req.Amount.Minor <= 0 {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "supay: amount must be positive")
	}
	payMethod := providers.FirstNonEmpty(req.PayMethod, providers.PayMethodWeChat)
	channel, ok := payChannels[payMethod]
	if !ok {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "",
			"supay: pay method %q is not offered (offered: wechat, alipay)", payMethod)
	}
	if payMethod == providers.PayMethodWeChat && req.PayerOpenID == "" {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "",
			"supay: payer openid (subOpenId) is required for WeChat mini-program payments")
	}
	notifyURL := providers.FirstNonEmpty(req.NotifyURL, p.ch.NotifyURL)
	if notifyURL == "" {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "supay: call_back_url is required and the channel has no notify URL")
	}
	description := providers.FirstNonEmpty(strings.TrimSpace(req.Description), req.OutTradeNo) // goods_name is required by the SDK
	clientIP := providers.FirstNonEmpty(req.ClientIP, p.ch.ServerIP)
	amount := providers.FormatMinor(req.Amount.Minor, req.Amount.Currency)
	data, err := p.call(ctx, ServiceCreate, map[string]string{
		"call_back_url":   notifyURL,
		"store_name":      p.storeName,
		FieldReceiveID:    p.receiveID,
		"mch_order_no":    req.OutTradeNo,
		"pay_way":         PayWayJSAPI,
		"pay_channel":     channel,
		FieldSubOpenID:    req.PayerOpenID,
		"currency":        req.Amount.Currency,
		"pay_amount":      amount,
		"goods_name":      description,
		"goods_price":     amount,
		"quantity":        "1",
		"goods_desc":      description,
		"timeout_express": TimeoutExpress(p.now(), req.ExpiresAt),
		"client_ip":       clientIP,
	})
	if err != nil {
		return providers.CreateOrderResult{}, err
	}
	params, err := ParsePayInfo(data["pay_info"])
	if err != nil {
		return providers.CreateOrderResult{}, providers.BadResponse("supay %s: pay_info: %v", ServiceCreate, err)
	}
	if payMethod == providers.PayMethodWeChat {
		for _, k := range []string{"timeStamp", "nonceStr", "package", "signType", "paySign"} {
			if params[k] == "" {
				return providers.CreateOrderResult{}, providers.BadResponse("supay %s: pay_info has no %s", ServiceCreate, k)
			}
		}
	}
	return providers.CreateOrderResult{PayParams: params}, nil
}

// QueryOrder asks query_trade {mch_order_no, trade_type}.
func (p *Adapter) QueryOrder(ctx context.Context, ref providers.OrderRef) (providers.OrderState, error) {
	if strings.TrimSpace(ref.OutTradeNo) == "" {
		return providers.OrderState{}, providers.Errorf(providers.ErrCodeRejected, "", "supay: query needs the merchant's order number")
	}
	data, err := p.call(ctx, ServiceQuery, map[string]string{"mch_order_no": ref.OutTradeNo, "trade_type": QueryTradeType})
	if err != nil {
		return providers.OrderState{}, err
	}
	return p.parseQueryAnswer(data, ref)
}

// CloseOrder: Supay has no public close/cancel service.
func (p *Adapter) CloseOrder(context.Context, providers.OrderRef) error {
	return providers.Errorf(providers.ErrCodeUnsupported, "", "supay: no close service is known; the order expires by timeout_express")
}
