// Package supay speaks the Supay Technology gateway API (Australia;
// gate.supaytechnology.com): one JSON endpoint, POST
// {base}/api/gateway/merchant/order, the operation chosen by `service`
// (create_instant_trade, query_trade, create_refund), every request signed
// with an upper-case MD5 over the sorted k=v string plus &key=<md5_key>.
// Notifications are form posts (trade_status_sync, refund_status_sync).
// Refunds and queries key on the merchant's numbers. See
// docs/providers/supay.md for what is UNCONFIRMED.
package supay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
)

// Wire constants (SuperPayConfig; ShopXO/ThinkCMF integrations).
const (
	DefaultBaseURL  = "https://gate.supaytechnology.com"
	GatewayPath     = "/api/gateway/merchant/order"
	DefaultCurrency = "AUD"

	ServiceCreate = "create_instant_trade"
	ServiceQuery  = "query_trade"
	ServiceRefund = "create_refund"

	Charset     = "UTF-8"
	Version     = "1.0"
	SignTypeMD5 = "MD5"

	// FieldReceiveID is the wire name of the receiving merchant id. The
	// misspelling is Supay's own (SuperPayConfig, both integrations): the
	// channel param is `receive_id`, the field sent is `recevice_id`.
	FieldReceiveID = "recevice_id"
	// FieldSubOpenID is the payer's openid, in camelCase on the wire.
	FieldSubOpenID = "subOpenId"

	// PayWayJSAPI covers official accounts and mini-programs.
	PayWayJSAPI = "JSAPI"

	// QueryTradeType is query_trade's trade_type. The SDK requires it but
	// its values are not public; the WeChat trade type of every order this
	// adapter creates (JSAPI, the pay_way sent) is the assumption.
	// UNCONFIRMED: docs/providers/supay.md.
	QueryTradeType = PayWayJSAPI

	NotifyTypeTrade  = "trade_status_sync"
	NotifyTypeRefund = "refund_status_sync"

	statusOK = "T"

	// maxTimeoutMinutes caps timeout_express at 15 days (the Alipay-style
	// maximum the "30m"/"1d" notation comes from).
	maxTimeoutMinutes = 15 * 24 * 60
	defaultRefundNote = "refund"
)

// payChannels maps the gateway's pay methods to Supay's pay_channel.
var payChannels = map[string]string{
	providers.PayMethodWeChat: "WXPAY",
	"alipay":                  "ALIPAY",
}

func init() {
	providers.Register(providers.KindSupay, New)
}

// Provider is one Supay merchant (for mini-programs: the mini-program's
// sub-merchant, whose mch_id and key sign the calls).
type Provider struct {
	ch        providers.Channel
	mchID     string
	key       string
	receiveID string
	storeName string
	http      *httpx.Client
	now       func() time.Time
}

// New builds a Supay channel. Params: mch_id, md5_key, receive_id,
// store_name (all required: the SDK refuses a unified order without
// recevice_id and store_name).
func New(ch providers.Channel, deps providers.Deps) (providers.Provider, error) {
	if err := ch.Params.Require("mch_id", "md5_key", "receive_id", "store_name"); err != nil {
		return nil, err
	}
	if ch.Currency == "" {
		ch.Currency = DefaultCurrency
	}
	if !providers.KnownCurrency(ch.Currency) {
		return nil, fmt.Errorf("currency %q is not an ISO-4217 code", ch.Currency)
	}
	if ch.BaseURL == "" {
		ch.BaseURL = DefaultBaseURL
	}
	ch.BaseURL = strings.TrimRight(ch.BaseURL, "/")
	client, err := httpx.New(ch, deps)
	if err != nil {
		return nil, err
	}
	return &Provider{
		ch:        ch,
		mchID:     strings.TrimSpace(ch.Params.String("mch_id")),
		key:       ch.Params.String("md5_key"),
		receiveID: strings.TrimSpace(ch.Params.String("receive_id")),
		storeName: ch.Params.String("store_name"),
		http:      client,
		now:       deps.NowFunc(),
	}, nil
}

// Kind implements providers.Provider.
func (p *Provider) Kind() string { return providers.KindSupay }

// Capabilities: no close/cancel service and no refund query are public, so
// both are off; refunds settle by the refund notification. Orders only in
// the channel's currency (every public sample is AUD; nothing suggests CNY).
func (p *Provider) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify:         true,
		RefundNotify:   true,
		Query:          true,
		Close:          false,
		Refund:         true,
		RefundQuery:    false,
		Currencies:     []string{p.ch.Currency},
		PayMethods:     []string{providers.PayMethodWeChat, "alipay"},
		RequiresOpenID: true,
	}
}

// answer is Supay's response: {status:"T"|..., message, data:{...}}.
type answer struct {
	Status  string          `json:"status"`
	Code    any             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// call signs and sends one service. Empty values are left out of the body
// (and so out of the signature).
func (p *Provider) call(ctx context.Context, service string, fields map[string]string) (map[string]any, error) {
	params := map[string]string{
		"service":   service,
		"mch_id":    p.mchID,
		"charset":   Charset,
		"version":   Version,
		"sign_type": SignTypeMD5,
	}
	for k, v := range fields {
		if v != "" {
			params[k] = v
		}
	}
	params["sign"] = Sign(params, p.key)
	body, err := httpx.EncodeJSON(params)
	if err != nil {
		return nil, fmt.Errorf("supay: encode %s: %w", service, err)
	}
	resp, err := p.http.Do(func() (*resty.Response, error) {
		return p.http.R(ctx).
			SetHeader("Content-Type", "application/json").
			SetHeader("Accept", "application/json").
			SetBody(body).
			Post(GatewayPath)
	})
	if err != nil {
		return nil, err
	}
	var a answer
	if err := httpx.DecodeJSON(resp.Body(), &a); err != nil || a.Status == "" {
		return nil, badResponse(service, "HTTP %d with an unparsable answer", resp.StatusCode())
	}
	if !strings.EqualFold(a.Status, statusOK) {
		msg := strings.TrimSpace(a.Message)
		if msg == "" {
			msg = "status " + a.Status + " without a message"
		}
		code := a.Status
		if c := scalar(a.Code); c != "" {
			code = c
		}
		return nil, &providers.Error{Code: classifyFailure(service, msg), ProviderCode: code, Message: "supay " + service + ": " + msg}
	}
	data := map[string]any{}
	if raw := bytes.TrimSpace(a.Data); len(raw) > 0 && string(raw) != "null" {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&data); err != nil {
			return nil, badResponse(service, "data is not an object")
		}
	}
	// data.result == false is a refusal even under status T.
	if r, present := data["result"]; present && !truthy(r) {
		msg := strings.TrimSpace(a.Message)
		if msg == "" {
			msg = "data.result is false"
		}
		return nil, &providers.Error{Code: classifyFailure(service, msg), ProviderCode: a.Status, Message: "supay " + service + ": " + msg}
	}
	return data, nil
}

func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return strings.EqualFold(t, "true") || t == "1" || strings.EqualFold(t, "T")
	case json.Number:
		return t.String() == "1"
	}
	return false
}

// scalar renders a decoded JSON scalar as text ("" for null, objects, arrays).
func scalar(v any) string {
	switch t := v.(type) {
	case string:
		return strings.TrimSpace(t)
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}

func badResponse(service, format string, args ...any) error {
	return &providers.Error{Code: providers.ErrCodeBadResponse, Message: "supay " + service + ": " + fmt.Sprintf(format, args...)}
}

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
func (p *Provider) CreateOrder(ctx context.Context, req providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
	if req.Amount.Currency != p.ch.Currency {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "",
			"supay: currency %s not accepted on this channel (only %s)", req.Amount.Currency, p.ch.Currency)
	}
	if req.Amount.Minor <= 0 {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "supay: amount must be positive")
	}
	payMethod := req.PayMethod
	if payMethod == "" {
		payMethod = providers.PayMethodWeChat
	}
	channel, ok := payChannels[payMethod]
	if !ok {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "",
			"supay: pay method %q is not offered (offered: wechat, alipay)", payMethod)
	}
	if payMethod == providers.PayMethodWeChat && req.PayerOpenID == "" {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "",
			"supay: payer openid (subOpenId) is required for WeChat mini-program payments")
	}
	notifyURL := req.NotifyURL
	if notifyURL == "" {
		notifyURL = p.ch.NotifyURL
	}
	if notifyURL == "" {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "supay: call_back_url is required and the channel has no notify URL")
	}
	description := strings.TrimSpace(req.Description)
	if description == "" {
		description = req.OutTradeNo // goods_name is required by the SDK
	}
	clientIP := req.ClientIP
	if clientIP == "" {
		clientIP = p.ch.ServerIP
	}
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
		return providers.CreateOrderResult{}, badResponse(ServiceCreate, "pay_info: %v", err)
	}
	if payMethod == providers.PayMethodWeChat {
		for _, k := range []string{"timeStamp", "nonceStr", "package", "signType", "paySign"} {
			if params[k] == "" {
				return providers.CreateOrderResult{}, badResponse(ServiceCreate, "pay_info has no %s", k)
			}
		}
	}
	return providers.CreateOrderResult{PayParams: params}, nil
}

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
	out := make(map[string]string, len(m))
	for k, val := range m {
		switch x := val.(type) {
		case nil:
		case string:
			out[k] = x
		case json.Number:
			out[k] = x.String()
		case bool:
			out[k] = strconv.FormatBool(x)
		default:
			b, _ := json.Marshal(x)
			out[k] = string(b)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty object")
	}
	return out, nil
}

// QueryOrder asks query_trade {mch_order_no, trade_type}.
func (p *Provider) QueryOrder(ctx context.Context, ref providers.OrderRef) (providers.OrderState, error) {
	if strings.TrimSpace(ref.OutTradeNo) == "" {
		return providers.OrderState{}, providers.Errorf(providers.ErrCodeRejected, "", "supay: query needs the merchant's order number")
	}
	data, err := p.call(ctx, ServiceQuery, map[string]string{"mch_order_no": ref.OutTradeNo, "trade_type": QueryTradeType})
	if err != nil {
		return providers.OrderState{}, err
	}
	return p.parseQueryAnswer(data, ref)
}

// parseQueryAnswer reads query_trade's data. The shape is an assumption
// (README "Assumptions"): {trade_status, inner_trade_no, outer_trade_no,
// trade_amount}; `currency` is read when present. UNCONFIRMED: this
// function is the one place to change when Supay's real answer is known.
func (p *Provider) parseQueryAnswer(data map[string]any, ref providers.OrderRef) (providers.OrderState, error) {
	word := scalar(data["trade_status"])
	if word == "" {
		return providers.OrderState{}, badResponse(ServiceQuery, "no trade_status")
	}
	status := QueryTradeStatus(word)
	st := providers.OrderState{
		Status:          status,
		ProviderStatus:  word,
		OutTradeNo:      scalar(data["outer_trade_no"]),
		ProviderTradeNo: scalar(data["inner_trade_no"]),
		TransactionID:   scalar(data["transaction_id"]),
	}
	if st.OutTradeNo == "" {
		st.OutTradeNo = ref.OutTradeNo
	} else if st.OutTradeNo != ref.OutTradeNo {
		return providers.OrderState{}, badResponse(ServiceQuery, "answer names order %s, asked for %s", st.OutTradeNo, ref.OutTradeNo)
	}
	if amount := scalar(data["trade_amount"]); amount != "" {
		currency := scalar(data["currency"])
		if currency == "" {
			currency = p.ch.Currency
		}
		money, err := providers.ParseProviderAmount(amount, currency)
		if err != nil {
			return providers.OrderState{}, badResponse(ServiceQuery, "trade_amount: %v", err)
		}
		st.Amount = money
	}
	return st, nil
}

// CloseOrder: Supay has no public close/cancel service.
func (p *Provider) CloseOrder(context.Context, providers.OrderRef) error {
	return providers.Errorf(providers.ErrCodeUnsupported, "", "supay: no close service is known; the order expires by timeout_express")
}

// Refund asks create_refund {mch_order_no = the refund's own new number,
// orig_mch_order_no = the order's number, refund_amount, refund_note,
// call_back_url}. The answer only says accepted (data.result); the refund
// settles with the refund_status_sync notification.
func (p *Provider) Refund(ctx context.Context, req providers.RefundRequest) (providers.RefundState, error) {
	if req.Amount.Currency != p.ch.Currency {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "",
			"supay: refunds on this channel are in %s, not %s", p.ch.Currency, req.Amount.Currency)
	}
	if req.Amount.Minor <= 0 || req.OutRefundNo == "" || req.Order.OutTradeNo == "" {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "",
			"supay: a refund needs a positive amount, its own number and the order's number")
	}
	note := strings.TrimSpace(req.Reason)
	if note == "" {
		note = defaultRefundNote
	}
	notifyURL := req.NotifyURL
	if notifyURL == "" {
		notifyURL = p.ch.NotifyURL
	}
	data, err := p.call(ctx, ServiceRefund, map[string]string{
		"mch_order_no":      req.OutRefundNo,
		"orig_mch_order_no": req.Order.OutTradeNo,
		"refund_amount":     providers.FormatMinor(req.Amount.Minor, req.Amount.Currency),
		"refund_note":       note,
		"call_back_url":     notifyURL,
	})
	if err != nil {
		return providers.RefundState{}, err
	}
	rs := providers.RefundState{
		Status:           providers.RefundProcessing,
		ProviderStatus:   "ACCEPTED",
		OutRefundNo:      req.OutRefundNo,
		ProviderRefundNo: scalar(data["inner_trade_no"]),
		Amount:           req.Amount,
	}
	if word := scalar(data["refund_status"]); word != "" {
		rs.Status, rs.ProviderStatus = RefundNotifyStatus(word), word
	}
	return rs, nil
}

// QueryRefund: Supay has no public refund query service.
func (p *Provider) QueryRefund(context.Context, providers.RefundRef) (providers.RefundState, error) {
	return providers.RefundState{}, providers.Errorf(providers.ErrCodeUnsupported, "", "supay: no refund query service is known; refunds settle by notification")
}

// NotifyAck: `success` as plain text (assumed by analogy with this
// Alipay-style protocol; README "Assumptions"). Failure: `fail` with HTTP
// 400, so the delivery counts as failed whether Supay reads the body or
// the status.
func (p *Provider) NotifyAck(ok bool, _ string) providers.Ack {
	if ok {
		return providers.Ack{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("success")}
	}
	return providers.Ack{Status: http.StatusBadRequest, ContentType: "text/plain; charset=utf-8", Body: []byte("fail")}
}

var _ providers.Provider = (*Provider)(nil)
