package wechatv2

import (
	"context"
	"strconv"
	"strings"

	"github.com/paygate/paygate/providers"
)

func rejected(format string, args ...any) *providers.Error {
	return providers.Errorf(providers.ErrCodeRejected, "", format, args...)
}

func badResponse(format string, args ...any) *providers.Error {
	return providers.Errorf(providers.ErrCodeBadResponse, "", format, args...)
}

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
		return "", "", rejected("payer appid %q is neither the channel's sub_appid nor its appid", payerAppID)
	}
	return "", "", rejected("payer appid %q is not the channel's appid", payerAppID)
}

// CreateOrder places a JSAPI (mini-program) order with /pay/unifiedorder
// and returns the wx.requestPayment parameters.
func (a *Adapter) CreateOrder(ctx context.Context, req providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
	if req.PayMethod != "" && req.PayMethod != providers.PayMethodWeChat {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeUnsupported, "", "pay method %q: wechat_v2 offers only %q", req.PayMethod, providers.PayMethodWeChat)
	}
	if req.Amount.Currency != currencyCNY {
		return providers.CreateOrderResult{}, rejected("currency %q: wechat_v2 takes CNY only", req.Amount.Currency)
	}
	if req.Amount.Minor <= 0 {
		return providers.CreateOrderResult{}, rejected("amount must be positive")
	}
	if req.OutTradeNo == "" {
		return providers.CreateOrderResult{}, rejected("out_trade_no is required")
	}
	if req.PayerOpenID == "" {
		return providers.CreateOrderResult{}, rejected("payer openid is required for a mini-program payment")
	}
	notifyURL := req.NotifyURL
	if notifyURL == "" {
		notifyURL = a.cfg.notifyURL
	}
	if notifyURL == "" || strings.Contains(notifyURL, "?") {
		return providers.CreateOrderResult{}, rejected("notify_url must be set and carry no query string")
	}
	ip := req.ClientIP
	if ip == "" {
		ip = a.cfg.serverIP
	}
	if ip == "" {
		return providers.CreateOrderResult{}, rejected("spbill_create_ip: neither the client IP nor the server IP is known")
	}
	openidField, orderAppID, err := a.payer(req.PayerAppID)
	if err != nil {
		return providers.CreateOrderResult{}, err
	}
	body := truncateUTF8(strings.ToValidUTF8(req.Description, ""), maxBodyField)
	if body == "" {
		body = req.OutTradeNo // body is required by WeChat
	}

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
		return providers.CreateOrderResult{}, badResponse("%s: no prepay_id", PathUnifiedOrder)
	}
	if tt := m["trade_type"]; tt != "" && tt != tradeJSAPI {
		return providers.CreateOrderResult{}, badResponse("%s: trade_type %q", PathUnifiedOrder, tt)
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
		return nil, rejected("%v", err)
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
		return providers.OrderState{}, rejected("order query needs transaction_id or out_trade_no")
	}
	m, err := a.call(ctx, PathOrderQuery, f)
	if err != nil {
		return providers.OrderState{}, err
	}
	return orderState(m, ref)
}

// orderState reads a verified orderquery answer.
func orderState(m map[string]string, ref providers.OrderRef) (providers.OrderState, error) {
	ts := m["trade_state"]
	status := MapTradeState(ts)
	if ref.OutTradeNo != "" && m["out_trade_no"] != "" && m["out_trade_no"] != ref.OutTradeNo {
		return providers.OrderState{}, badResponse("%s: answer is about another out_trade_no", PathOrderQuery)
	}
	if ref.TransactionID != "" && m["transaction_id"] != "" && m["transaction_id"] != ref.TransactionID {
		return providers.OrderState{}, badResponse("%s: answer is about another transaction_id", PathOrderQuery)
	}
	st := providers.OrderState{
		Status:         status,
		ProviderStatus: ts,
		OutTradeNo:     m["out_trade_no"],
		TransactionID:  m["transaction_id"],
		// WeChat is the acquirer: its number is the provider's number too.
		ProviderTradeNo: m["transaction_id"],
		PayerID:         payerID(m),
	}
	if st.OutTradeNo == "" {
		st.OutTradeNo = ref.OutTradeNo
	}
	var err error
	if v := m["total_fee"]; v != "" {
		if st.Amount, err = parseFen(v, m["fee_type"]); err != nil {
			return providers.OrderState{}, badResponse("%s: total_fee: %v", PathOrderQuery, err)
		}
	}
	if v := m["time_end"]; v != "" {
		if st.PaidAt, err = parseTimeEnd(v); err != nil {
			return providers.OrderState{}, badResponse("%s: time_end %q", PathOrderQuery, v)
		}
	}
	if status == providers.OrderPaid && (st.TransactionID == "" || st.Amount.IsZero()) {
		return providers.OrderState{}, badResponse("%s: paid order without transaction_id or total_fee", PathOrderQuery)
	}
	return st, nil
}

// payerID is the payer's openid under the order's appid: sub_openid in
// service-provider mode when the order used sub_appid, else openid.
func payerID(m map[string]string) string {
	if v := m["sub_openid"]; v != "" {
		return v
	}
	return m["openid"]
}

// CloseOrder closes an unpaid order with /pay/closeorder. ORDERPAID and
// ORDERCLOSED come back as ORDER_PAID / ORDER_CLOSED errors.
func (a *Adapter) CloseOrder(ctx context.Context, ref providers.OrderRef) error {
	if ref.OutTradeNo == "" {
		return rejected("close needs out_trade_no")
	}
	f := a.baseFields()
	f["out_trade_no"] = ref.OutTradeNo
	_, err := a.call(ctx, PathCloseOrder, f)
	return err
}
