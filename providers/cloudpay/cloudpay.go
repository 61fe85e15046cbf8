// Package cloudpay is the WeChat Cloud Run "cloud pay" adapter (kind
// wechat_cloudpay): WeChat Pay v2 semantics spoken as JSON through the
// Cloud Run open-interface service (http://api.weixin.qq.com/_/pay/...),
// where WeChat's cloud is the service provider and the merchant is the
// sub-merchant (sub_mch_id). Cloud Run authenticates the calling
// container, so requests carry no signature, and callbacks carry none
// either: a callback is only a hint and the gateway settles the order by
// querying (Capabilities.Notify is false).
package cloudpay

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-resty/resty/v2"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
	"github.com/paygate/paygate/providers/wechatv2"
)

// DefaultBaseURL is the open-interface root inside Cloud Run.
const DefaultBaseURL = "http://api.weixin.qq.com"

// Interface paths below the base URL (spec §1.4). The pay index page
// writes unifiedOrder in camelCase and the others in lower case; one copy
// of the unified order page writes "unifiedorder" (UNCONFIRMED which
// casing the server requires, if it cares).
const (
	PathUnifiedOrder = "/_/pay/unifiedOrder"
	PathQueryOrder   = "/_/pay/queryorder"
	PathCloseOrder   = "/_/pay/closeorder"
	PathRefund       = "/_/pay/refund"
	PathQueryRefund  = "/_/pay/queryrefund"
)

// Channel params of kind wechat_cloudpay.
const (
	ParamSubMchID         = "sub_mch_id"
	ParamSubAppID         = "sub_appid"
	ParamEnvID            = "env_id"
	ParamContainerService = "container_service"
	ParamContainerPath    = "container_path"
	ParamFunctionName     = "function_name"
)

// DefaultContainerService is the Cloud Run service the callbacks are sent
// to when params.container_service and params.function_name are unset.
const DefaultContainerService = "paygate"

// Callback types of the open interface: 1 cloud function, 2 Cloud Run.
const (
	CallbackFunction  = 1
	CallbackContainer = 2
)

// Currency: cloud pay orders are CNY (fee_type defaults to CNY).
const Currency = "CNY"

var beijing = time.FixedZone("CST", 8*3600)

func init() {
	providers.Register(providers.KindCloudPay, New)
}

// Provider is one wechat_cloudpay channel.
type Provider struct {
	ch       providers.Channel
	subMchID string
	subAppID string
	envID    string
	callback callbackFields
	http     *httpx.Client
	now      func() time.Time
}

// callbackFields say where WeChat's cloud sends payment/refund callbacks.
type callbackFields struct {
	EnvID        string     `json:"env_id"`
	CallbackType int        `json:"callback_type"`
	FunctionName string     `json:"function_name,omitempty"`
	Container    *container `json:"container,omitempty"`
}

type container struct {
	Service string `json:"service"`
	Path    string `json:"path"`
}

// New is the wechat_cloudpay Factory.
func New(ch providers.Channel, deps providers.Deps) (providers.Provider, error) {
	return newProvider(ch, deps)
}

func newProvider(ch providers.Channel, deps providers.Deps) (*Provider, error) {
	if ch.Currency != "" && ch.Currency != Currency {
		return nil, fmt.Errorf("currency %s: wechat_cloudpay takes %s only", ch.Currency, Currency)
	}
	p := ch.Params
	if err := p.Require(ParamSubMchID, ParamEnvID); err != nil {
		return nil, err
	}
	cp := &Provider{
		ch: ch, subMchID: strings.TrimSpace(p.String(ParamSubMchID)), subAppID: strings.TrimSpace(p.String(ParamSubAppID)),
		envID: strings.TrimSpace(p.String(ParamEnvID)), now: deps.NowFunc(),
	}
	fn := strings.TrimSpace(p.String(ParamFunctionName))
	svc := strings.TrimSpace(p.String(ParamContainerService))
	switch {
	case fn != "" && svc != "":
		return nil, fmt.Errorf("params.%s and params.%s exclude each other (cloud function or Cloud Run callback)", ParamFunctionName, ParamContainerService)
	case fn != "":
		cp.callback = callbackFields{EnvID: cp.envID, CallbackType: CallbackFunction, FunctionName: fn}
	default:
		if svc == "" {
			svc = DefaultContainerService
		}
		path := strings.TrimSpace(p.String(ParamContainerPath))
		if path == "" && ch.NotifyURL != "" {
			u, err := url.Parse(ch.NotifyURL)
			if err != nil {
				return nil, fmt.Errorf("channel notify URL %q: %v", ch.NotifyURL, err)
			}
			path = u.Path
		}
		if path == "" {
			path = "/"
		}
		cp.callback = callbackFields{EnvID: cp.envID, CallbackType: CallbackContainer, Container: &container{Service: svc, Path: path}}
	}
	hc := ch
	hc.BaseURL = strings.TrimRight(ch.BaseURL, "/")
	if hc.BaseURL == "" {
		hc.BaseURL = DefaultBaseURL
	}
	var err error
	if cp.http, err = httpx.New(hc, deps); err != nil {
		return nil, err
	}
	return cp, nil
}

// Kind implements providers.Provider.
func (p *Provider) Kind() string { return providers.KindCloudPay }

// Capabilities: callbacks are unsigned, so the poller owns the orders and
// a callback only triggers a query.
func (p *Provider) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify: false, RefundNotify: false, Query: true, Close: true, Refund: true, RefundQuery: true,
		Currencies: []string{Currency}, PayMethods: []string{providers.PayMethodWeChat}, RequiresOpenID: true,
	}
}

// envelope is the open interface's answer.
type envelope struct {
	ErrCode  *int64          `json:"errcode"`
	ErrMsg   string          `json:"errmsg"`
	RespData json.RawMessage `json:"respdata"`
}

// v2 is the part of respdata every interface shares.
type v2 struct {
	ReturnCode string `json:"return_code"`
	ReturnMsg  string `json:"return_msg"`
	ResultCode string `json:"result_code"`
	ErrCode    string `json:"err_code"`
	ErrCodeDes string `json:"err_code_des"`
	SubMchID   string `json:"sub_mch_id"`
}

// call posts body to path and decodes respdata into out after the three
// levels of success: errcode 0, return_code SUCCESS, result_code SUCCESS.
func (p *Provider) call(ctx context.Context, path string, body any, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("cloudpay: encode request: %w", err)
	}
	resp, err := p.http.Do(func() (*resty.Response, error) {
		return p.http.R(ctx).SetHeader("Content-Type", "application/json").SetHeader("Accept", "application/json").
			SetBody(raw).Post(path)
	})
	if err != nil {
		return err
	}
	if s := resp.StatusCode(); s < 200 || s > 299 {
		code := providers.ErrCodeRejected
		if s == http.StatusTooManyRequests {
			code = providers.ErrCodeUnavailable
		}
		return providers.Errorf(code, "", "%s: HTTP %d", path, s)
	}
	var env envelope
	if err := json.Unmarshal(resp.Body(), &env); err != nil || env.ErrCode == nil {
		return providers.Errorf(providers.ErrCodeBadResponse, "", "%s: not an open-interface answer", path)
	}
	if *env.ErrCode != 0 {
		code := providers.ErrCodeRejected
		if *env.ErrCode == -1 { // "system busy" on WeChat's open interfaces
			code = providers.ErrCodeUnavailable
		}
		return providers.Errorf(code, strconv.FormatInt(*env.ErrCode, 10), "%s: %s", path, env.ErrMsg)
	}
	var head v2
	if err := json.Unmarshal(env.RespData, &head); err != nil {
		return providers.Errorf(providers.ErrCodeBadResponse, "", "%s: respdata: %v", path, err)
	}
	if head.ReturnCode != "SUCCESS" {
		// e.g. "受理关系不存在": bind the mch id in the Cloud Run console.
		return providers.Errorf(providers.ErrCodeRejected, "", "%s: return_code %q: %s", path, head.ReturnCode, head.ReturnMsg)
	}
	if head.ResultCode != "SUCCESS" {
		msg := firstNonEmpty(head.ErrCodeDes, head.ReturnMsg)
		code := ErrorCode(head.ErrCode)
		if code == providers.ErrCodeRejected && providers.InProgressMessage(msg) {
			code = providers.ErrCodeInProgress // the same request is already there
		}
		return providers.Errorf(code, head.ErrCode, "%s: %s", path, msg)
	}
	if head.SubMchID != "" && head.SubMchID != p.subMchID {
		return providers.Errorf(providers.ErrCodeBadResponse, "", "%s: answer names sub_mch_id %s", path, head.SubMchID)
	}
	if out != nil {
		if err := json.Unmarshal(env.RespData, out); err != nil {
			return providers.Errorf(providers.ErrCodeBadResponse, "", "%s: respdata: %v", path, err)
		}
	}
	return nil
}

// ErrorCode maps a v2 err_code (spec §8).
func ErrorCode(errCode string) providers.ErrorCode {
	switch errCode {
	case "ORDERNOTEXIST", "REFUNDNOTEXIST":
		return providers.ErrCodeNotFound
	case "ORDERPAID":
		return providers.ErrCodeOrderPaid
	case "ORDERCLOSED":
		return providers.ErrCodeOrderClosed
	case "OUT_TRADE_NO_USED":
		return providers.ErrCodeDuplicate
	case "SYSTEMERROR", "BIZERR_NEED_RETRY", "FREQUENCY_LIMITED":
		return providers.ErrCodeUnavailable
	}
	return providers.ErrCodeRejected
}

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
func (p *Provider) CreateOrder(ctx context.Context, req providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
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

type orderRefReq struct {
	SubMchID      string `json:"sub_mch_id"`
	NonceStr      string `json:"nonce_str"`
	TransactionID string `json:"transaction_id,omitempty"`
	OutTradeNo    string `json:"out_trade_no,omitempty"`
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

// QueryOrder asks by transaction_id when known, else by out_trade_no.
func (p *Provider) QueryOrder(ctx context.Context, ref providers.OrderRef) (providers.OrderState, error) {
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
func (p *Provider) CloseOrder(ctx context.Context, ref providers.OrderRef) error {
	if ref.OutTradeNo == "" {
		return providers.Errorf(providers.ErrCodeRejected, "", "close needs out_trade_no")
	}
	return p.call(ctx, PathCloseOrder, orderRefReq{SubMchID: p.subMchID, NonceStr: nonce(), OutTradeNo: ref.OutTradeNo}, nil)
}

type refundReq struct {
	SubMchID      string `json:"sub_mch_id"`
	NonceStr      string `json:"nonce_str"`
	TransactionID string `json:"transaction_id,omitempty"`
	OutTradeNo    string `json:"out_trade_no,omitempty"`
	OutRefundNo   string `json:"out_refund_no"`
	TotalFee      int64  `json:"total_fee"`
	RefundFee     int64  `json:"refund_fee"`
	RefundDesc    string `json:"refund_desc,omitempty"`
	callbackFields
}

type refundResp struct {
	OutRefundNo string `json:"out_refund_no"`
	RefundID    string `json:"refund_id"`
	RefundFee   *Fen   `json:"refund_fee"`
}

// Refund asks for a (partial) refund; a v2 success means "accepted", so
// the state is PROCESSING until QueryRefund says otherwise.
func (p *Provider) Refund(ctx context.Context, req providers.RefundRequest) (providers.RefundState, error) {
	if req.Amount.Currency != Currency || req.Amount.Minor <= 0 {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "refund must be a positive %s amount", Currency)
	}
	if req.Order.Amount.Minor <= 0 {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "refund needs the order total (total_fee)")
	}
	body := refundReq{SubMchID: p.subMchID, NonceStr: nonce(), OutRefundNo: req.OutRefundNo,
		TotalFee: req.Order.Amount.Minor, RefundFee: req.Amount.Minor, RefundDesc: truncateBytes(req.Reason, 80),
		callbackFields: p.callback}
	switch {
	case req.Order.TransactionID != "":
		body.TransactionID = req.Order.TransactionID
	case req.Order.OutTradeNo != "":
		body.OutTradeNo = req.Order.OutTradeNo
	default:
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "refund needs transaction_id or out_trade_no")
	}
	var out refundResp
	if err := p.call(ctx, PathRefund, body, &out); err != nil {
		return providers.RefundState{}, err
	}
	if out.OutRefundNo != "" && out.OutRefundNo != req.OutRefundNo {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "refund answer names refund %s", out.OutRefundNo)
	}
	st := providers.RefundState{Status: providers.RefundProcessing, ProviderStatus: "PROCESSING", OutRefundNo: req.OutRefundNo, ProviderRefundNo: out.RefundID}
	if out.RefundFee != nil {
		st.Amount = providers.Money{Minor: int64(*out.RefundFee), Currency: Currency}
	}
	return st, nil
}

// MapRefundStatus maps a v2 refund_status (spec §2.4): CHANGE (the
// payer's account is abnormal) needs manual handling and stays PROCESSING.
func MapRefundStatus(s string) providers.RefundStatus { return wechatv2.MapRefundState(s) }

// QueryRefund asks queryrefund by out_refund_no.
func (p *Provider) QueryRefund(ctx context.Context, ref providers.RefundRef) (providers.RefundState, error) {
	if ref.OutRefundNo == "" {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "refund query needs out_refund_no")
	}
	var data map[string]json.RawMessage
	req := map[string]string{"sub_mch_id": p.subMchID, "nonce_str": nonce(), "out_refund_no": ref.OutRefundNo}
	if err := p.call(ctx, PathQueryRefund, req, &data); err != nil {
		return providers.RefundState{}, err
	}
	st, err := parseRefundQuery(data, ref.OutRefundNo)
	if err != nil {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "queryrefund: %v", err)
	}
	return st, nil
}

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

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// truncateBytes cuts s to at most n bytes on a rune boundary (v2 lengths
// are in bytes).
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

const nonceChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func nonce() string {
	b := make([]byte, 32)
	max := big.NewInt(int64(len(nonceChars)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("cloudpay: crypto/rand failed: " + err.Error())
		}
		b[i] = nonceChars[v.Int64()]
	}
	return string(b)
}
