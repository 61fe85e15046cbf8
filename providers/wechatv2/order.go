package wechatv2

import (
	"context"
	"strconv"
	"strings"

	"github.com/paygate/paygate/providers"
)

// payer decides where the payer's openid goes and which appid the order
// (and so paySign's appId) is bound to. Direct mode: openid under appid.
// Service-provider mode: sub_openid under sub_appid when the payer's appid
// is empty or sub_appid, else openid under the provider's appid.
func (a *Adapter) payer(payerAppID string) (field, appID string, err error) {
	c := a.cfg
	if c.sp() && c.subAppID != "" && (payerAppID == "" || payerAppID == c.subAppID) {
		return "sub_openid", c.subAppID, nil
	}
	if payerAppID == "" || payerAppID == c.appID {
		return "openid", c.appID, nil
	}
	if c.sp() {
		return "", "", providers.Rejected("payer appid %q is neither the channel's sub_appid nor its appid", payerAppID)
	}
	return "", "", providers.Rejected("payer appid %q is not the channel's appid", payerAppID)
}

// CreateOrder places a JSAPI (mini-program) order with /pay/unifiedorder
// and returns the wx.requestPayment parameters.
func (a *Adapter) CreateOrder(ctx context.Context, req providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
	if req.PayMethod != "" && req.PayMethod != providers.PayMethodWeChat {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeUnsupported, "", "pay method %q: wechat_v2 offers only %q", req.PayMethod, providers.PayMethodWeChat)
	}
	if req.Amount.Currency != currencyCNY {
		return providers.CreateOrderResult{}, providers.Rejected("currency %q: wechat_v2 takes CNY only", req.Amount.Currency)
	}
	if req.Amount.Minor <= 0 {
		return providers.CreateOrderResult{}, providers.Rejected("amount must be positive")
	}
	if req.OutTradeNo == "" {
		return providers.CreateOrderResult{}, providers.Rejected("out_trade_no is required")
	}
	if req.PayerOpenID == "" {
		return providers.CreateOrderResult{}, providers.Rejected("payer openid is required for a mini-program payment")
	}
	notifyURL := providers.FirstNonEmpty(req.NotifyURL, a.cfg.notifyURL)
	if notifyURL == "" || strings.Contains(notifyURL, "?") {
		return providers.CreateOrderResult{}, providers.Rejected("notify_url must be set and carry no query string")
	}
	ip := providers.FirstNonEmpty(req.ClientIP, a.cfg.serverIP)
	if ip == "" {
		return providers.CreateOrderResult{}, providers.Rejected("spbill_create_ip: neither the client IP nor the server IP is known")
	}
	openidField, orderAppID, err := a.payer(req.PayerAppID)
	if err != nil {
		return providers.CreateOrderResult{}, err
	}
	body := providers.FirstNonEmpty(truncateUTF8(strings.ToValidUTF8(req.Description, ""), maxBodyField), req.OutTradeNo) // body is required by WeChat

	f := a.baseFields()
	if a.cfg.sp() && a.cfg.subAppID != "" {
		f["sub_appid"] = a.cfg.subAppID
	}
	f["body"] = body
	f["out_trade_no"] = req.OutTradeNo
	f["total_fee"] = strconv.FormatInt(req.Amount.Minor, 10)
	f["fee_type"] = currencyCNY
	f["spbill_create_ip"] = ip
	f["notify_url"] = notifyURL
	f["trade_type"] = tradeJSAPI
	f[openidField] = req.PayerOpenID
	if !req.ExpiresAt.IsZero() {
		f["time_expire"] = formatTimeExpire(req.ExpiresAt)
	}
	m, err := a.call(ctx, PathUnifiedOrder, f)
	if err != nil {
		return providers.CreateOrderResult{}, err
	}
	prepayID := m["prepay_id"]
	if prepayID == "" {
		return providers.CreateOrderResult{}, providers.BadResponse("%s: no prepay_id", PathUnifiedOrder)
	}
	if tt := m["trade_type"]; tt != "" && tt != tradeJSAPI {
		return providers.CreateOrderResult{}, providers.BadResponse("%s: trade_type %q", PathUnifiedOrder, tt)
	}
	params, err := a.payParams(orderAppID, prepayID)
	if err != nil {
		return providers.CreateOrderResult{}, err
	}
	return providers.CreateOrderResult{PayParams: params}, nil
}

// payParams builds wx.requestPayment's parameters (wechatpay.md §6):
// paySign is the v2 signature over exactly appId, nonceStr, package,
// signType and timeStamp, with the channel's sign type. appId is signed
// but not passed to wx.requestPayment; it is returned for the caller to
// see which mini-program must run the payment.
func (a *Adapter) payParams(appID, prepayID string) (map[string]string, error) {
	p := map[string]string{
		"appId":     appID,
		"timeStamp": strconv.FormatInt(a.now().Unix(), 10),
		"nonceStr":  nonceStr(),
		"package":   "prepay_id=" + prepayID,
		"signType":  a.cfg.signType,
	}
	s, err := sign(p, a.cfg.apiKey, a.cfg.signType)
	if err != nil {
		return nil, providers.Rejected("%v", err)
	}
	p["paySign"] = s
	return p, nil
}

// QueryOrder asks /pay/orderquery, by transaction_id when known (WeChat's
// preferred key), else by out_trade_no.
func (a *Adapter) QueryOrder(ctx context.Context, ref providers.OrderRef) (providers.OrderState, error) {
	f := a.baseFields()
	switch {
	case ref.TransactionID != "":
		f["transaction_id"] = ref.TransactionID
	case ref.OutTradeNo != "":
		f["out_trade_no"] = ref.OutTradeNo
	default:
		return providers.OrderState{}, providers.Rejected("order query needs transaction_id or out_trade_no")
	}
	m, err := a.call(ctx, PathOrderQuery, f)
	if err != nil {
		return providers.OrderState{}, err
	}
	return orderState(m, ref)
}

// CloseOrder closes an unpaid order with /pay/closeorder. ORDERPAID and
// ORDERCLOSED come back as ORDER_PAID / ORDER_CLOSED errors.
func (a *Adapter) CloseOrder(ctx context.Context, ref providers.OrderRef) error {
	if ref.OutTradeNo == "" {
		return providers.Rejected("close needs out_trade_no")
	}
	f := a.baseFields()
	f["out_trade_no"] = ref.OutTradeNo
	_, err := a.call(ctx, PathCloseOrder, f)
	return err
}
