package cloudpay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate/providers"
)

type unifiedOrderReq struct {
	Body           string `json:"body"`
	OutTradeNo     string `json:"out_trade_no"`
	SpbillCreateIP string `json:"spbill_create_ip"`
	SubMchID       string `json:"sub_mch_id"`
	SubAppID       string `json:"sub_appid,omitempty"`
	TotalFee       int64  `json:"total_fee"`
	NonceStr       string `json:"nonce_str"`
	TradeType      string `json:"trade_type"`
	TimeExpire     string `json:"time_expire,omitempty"`
	callbackFields
}

// withPayer adds the payer's openid under payerField.
func (u unifiedOrderReq) withPayer(openID string) (map[string]any, error) {
	raw, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // total_fee stays an exact integer, never a float64
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	m[payerField] = openID
	return m, nil
}

type unifiedOrderResp struct {
	PrepayID string                     `json:"prepay_id"`
	Payment  map[string]json.RawMessage `json:"payment"`
}

// payerField is the field the payer's openid goes in. The official Cloud
// Run example sends the mini-program user's openid as "openid" (UNCONFIRMED
// whether "sub_openid" is also taken).
const payerField = "openid"

// CreateOrder calls unifiedOrder and passes WeChat's `payment` object
// through as the wx.requestPayment parameters.
func (p *Adapter) CreateOrder(ctx context.Context, req providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
	if req.PayMethod != "" && req.PayMethod != providers.PayMethodWeChat {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeUnsupported, "", "wechat_cloudpay offers pay method %q only", providers.PayMethodWeChat)
	}
	if req.Amount.Currency != Currency || req.Amount.Minor <= 0 {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "amount must be a positive %s amount", Currency)
	}
	if req.PayerOpenID == "" {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "payer openid is required")
	}
	if req.PayerAppID != "" && p.subAppID != "" && req.PayerAppID != p.subAppID {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "payer appid %s is not this channel's sub_appid", req.PayerAppID)
	}
	body := unifiedOrderReq{
		Body:           truncateBytes(firstNonEmpty(strings.TrimSpace(req.Description), req.OutTradeNo), 128),
		OutTradeNo:     req.OutTradeNo,
		SpbillCreateIP: firstNonEmpty(req.ClientIP, p.ch.ServerIP),
		SubMchID:       p.subMchID, SubAppID: p.subAppID,
		TotalFee: req.Amount.Minor, NonceStr: nonce(), TradeType: "JSAPI",
		callbackFields: p.callback,
	}
	if body.SpbillCreateIP == "" {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "spbill_create_ip: no client IP and no server IP configured")
	}
	if !req.ExpiresAt.IsZero() {
		body.TimeExpire = req.ExpiresAt.In(beijing).Format("20060102150405")
	}
	wire, err := body.withPayer(req.PayerOpenID)
	if err != nil {
		return providers.CreateOrderResult{}, fmt.Errorf("cloudpay: encode request: %w", err)
	}
	var out unifiedOrderResp
	if err := p.call(ctx, PathUnifiedOrder, wire, &out); err != nil {
		if providers.IsCode(err, providers.ErrCodeOrderPaid) {
			return providers.CreateOrderResult{Status: providers.OrderPaid}, nil
		}
		return providers.CreateOrderResult{}, err
	}
	params, err := payParams(out.Payment)
	if err != nil {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeBadResponse, "", "unifiedOrder: %v", err)
	}
	return providers.CreateOrderResult{PayParams: params}, nil
}

type orderRefReq struct {
	SubMchID      string `json:"sub_mch_id"`
	NonceStr      string `json:"nonce_str"`
	TransactionID string `json:"transaction_id,omitempty"`
	OutTradeNo    string `json:"out_trade_no,omitempty"`
}

// QueryOrder asks by transaction_id when known, else by out_trade_no.
func (p *Adapter) QueryOrder(ctx context.Context, ref providers.OrderRef) (providers.OrderState, error) {
	req := orderRefReq{SubMchID: p.subMchID, NonceStr: nonce()}
	switch {
	case ref.TransactionID != "":
		req.TransactionID = ref.TransactionID
	case ref.OutTradeNo != "":
		req.OutTradeNo = ref.OutTradeNo
	default:
		return providers.OrderState{}, providers.Errorf(providers.ErrCodeRejected, "", "query needs transaction_id or out_trade_no")
	}
	var q queryResp
	if err := p.call(ctx, PathQueryOrder, req, &q); err != nil {
		return providers.OrderState{}, err
	}
	if (ref.OutTradeNo != "" && q.OutTradeNo != ref.OutTradeNo) || (ref.TransactionID != "" && q.TransactionID != ref.TransactionID) {
		return providers.OrderState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "queryorder answer names another order (%s / %s)", q.OutTradeNo, q.TransactionID)
	}
	out := providers.OrderState{Status: MapTradeState(q.TradeState), ProviderStatus: q.TradeState, OutTradeNo: q.OutTradeNo,
		ProviderTradeNo: q.TransactionID, TransactionID: q.TransactionID, PayerID: firstNonEmpty(q.SubOpenID, q.OpenID)}
	if q.TotalFee != nil {
		cur := firstNonEmpty(q.FeeType, Currency)
		if !providers.KnownCurrency(cur) {
			return providers.OrderState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "queryorder: fee_type %q", cur)
		}
		out.Amount = providers.Money{Minor: int64(*q.TotalFee), Currency: cur}
	}
	if q.TimeEnd != "" {
		t, err := time.ParseInLocation("20060102150405", q.TimeEnd, beijing)
		if err != nil {
			return providers.OrderState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "queryorder: time_end %q", q.TimeEnd)
		}
		out.PaidAt = t
	}
	return out, nil
}

// CloseOrder closes an unpaid order.
func (p *Adapter) CloseOrder(ctx context.Context, ref providers.OrderRef) error {
	if ref.OutTradeNo == "" {
		return providers.Errorf(providers.ErrCodeRejected, "", "close needs out_trade_no")
	}
	return p.call(ctx, PathCloseOrder, orderRefReq{SubMchID: p.subMchID, NonceStr: nonce(), OutTradeNo: ref.OutTradeNo}, nil)
}
