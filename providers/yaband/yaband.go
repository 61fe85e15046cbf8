// Package yaband speaks Yaband Pay's v3 API (Yaband Telecom B.V., NL):
// one JSON endpoint, POST {base}/Payments, the operation chosen by
// `method`, every request signed with HMAC-SHA256 over the sorted raw
// k=v string of user, method, time and the data fields. WeChat
// mini-program payments use v3.CreatePaymentsWechatMiniPay; other methods
// (Alipay, PayPal, iDEAL, ...) use v3.CreatePayments and answer a pay URL.
// Yaband's own number (trade_id) is the only key its query, cancel and
// refund accept. See docs/providers/yaband.md.
package yaband

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
)

// Wire constants (YB-docs, every payments page).
const (
	DefaultBaseURL  = "https://mapi.yabandpay.com"
	PaymentsPath    = "/Payments"
	DefaultCurrency = "EUR"

	MethodCreateMiniPay  = "v3.CreatePaymentsWechatMiniPay"
	MethodCreatePayments = "v3.CreatePayments"
	MethodQueryOrder     = "v3.QueryOrder"
	MethodCancelPayment  = "v3.CancelPayment"
	MethodCreateRefund   = "v3.CreateRefund"
	MethodQueryRefund    = "v3.QueryRefundOrder"

	payMethodOnline    = "online"
	subPayMethodWeChat = "WeChat Pay"

	// MaxTimeoutMinutes is Yaband's largest `timeout` (0 means the same).
	MaxTimeoutMinutes = 1440
	// defaultRefundDescription fills refund_description (required by
	// Yaband) when the merchant gave no reason.
	defaultRefundDescription = "refund"
)

// SubPayMethods maps the gateway's pay_method words (other than "wechat")
// to Yaband's sub_pay_method words for v3.CreatePayments. Sources:
// Alipay, iDEAL, Bancontact: YB-docs (alipayplus/*, ideal/ideal.html,
// bancontact.html); "Sofort/Digital": YB-sdk Payment.php (YB-woo writes
// "SOFORT/DIGITAL"); "PayPal/recurring" and "UnionPay": YB-woo plugin
// constants only. The last three are UNCONFIRMED by Yaband's API docs.
var SubPayMethods = map[string]string{
	"alipay":     "Alipay",
	"paypal":     "PayPal/recurring", // UNCONFIRMED (YB-woo only)
	"ideal":      "iDEAL",
	"bancontact": "Bancontact",
	"sofort":     "Sofort/Digital", // UNCONFIRMED (YB-sdk constant)
	"unionpay":   "UnionPay",       // UNCONFIRMED (YB-woo only)
}

// payMethods is the order Capabilities lists them in.
var payMethods = []string{providers.PayMethodWeChat, "alipay", "paypal", "ideal", "bancontact", "sofort", "unionpay"}

func init() {
	providers.Register(providers.KindYaband, New)
}

// Provider is one Yaband cashier account (a channel).
type Provider struct {
	ch             providers.Channel
	user           string
	secret         string
	refundCurrency string
	subAppID       string // the mini-program's appid when the payer names none
	currencies     []string
	http           *httpx.Client
	now            func() time.Time
}

// New builds a Yaband channel. Params: user (the cashier UID), secret_key,
// and optionally refund_currency and sub_app_id (the merchant's
// mini-program appid, used when an order's payer.appid is empty).
func New(ch providers.Channel, deps providers.Deps) (providers.Provider, error) {
	if err := ch.Params.Require("user", "secret_key"); err != nil {
		return nil, err
	}
	if ch.Currency == "" {
		ch.Currency = DefaultCurrency
	}
	if !providers.KnownCurrency(ch.Currency) {
		return nil, fmt.Errorf("currency %q is not an ISO-4217 code", ch.Currency)
	}
	refundCurrency := strings.TrimSpace(ch.Params.String("refund_currency"))
	if refundCurrency != "" && !providers.KnownCurrency(refundCurrency) {
		return nil, fmt.Errorf("params.refund_currency %q is not an ISO-4217 code", refundCurrency)
	}
	if ch.BaseURL == "" {
		ch.BaseURL = DefaultBaseURL
	}
	ch.BaseURL = strings.TrimRight(ch.BaseURL, "/")
	client, err := httpx.New(ch, deps)
	if err != nil {
		return nil, err
	}
	currencies := []string{ch.Currency}
	if ch.Currency != "CNY" {
		currencies = append(currencies, "CNY")
	}
	return &Provider{
		ch:             ch,
		user:           strings.TrimSpace(ch.Params.String("user")),
		secret:         ch.Params.String("secret_key"),
		refundCurrency: refundCurrency,
		subAppID:       strings.TrimSpace(ch.Params.String("sub_app_id")),
		currencies:     currencies,
		http:           client,
		now:            deps.NowFunc(),
	}, nil
}

// Kind implements providers.Provider.
func (p *Provider) Kind() string { return providers.KindYaband }

// Capabilities: Yaband notifies payments and refunds and has query,
// cancel, refund and refund query. Orders are taken in the channel's
// currency or CNY (the SDK's Currency knows EUR and CNY; field report:
// "orders can be in CNY or the local currency").
func (p *Provider) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify:         true,
		RefundNotify:   true,
		Query:          true,
		Close:          true,
		Refund:         true,
		RefundQuery:    true,
		Currencies:     append([]string(nil), p.currencies...),
		RefundCurrency: p.refundCurrency,
		PayMethods:     append([]string(nil), payMethods...),
		RequiresOpenID: true,
		RequiresAppID:  p.subAppID == "",
	}
}

// envelope is the request body shared by every method.
type envelope struct {
	User   string            `json:"user"`
	Sign   string            `json:"sign"`
	Method string            `json:"method"`
	Time   int64             `json:"time"` // a JSON number of Unix seconds
	Data   map[string]string `json:"data"`
}

// answer is Yaband's response envelope: {status, code, data, message}.
type answer struct {
	Status  any             `json:"status"`
	Code    any             `json:"code"` // "200" in the docs; some integrations see 200
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
}

func (a answer) ok() bool {
	switch s := a.Status.(type) {
	case bool:
		return s
	case string:
		return strings.EqualFold(s, "true")
	}
	return false
}

func (a answer) code() string {
	switch c := a.Code.(type) {
	case string:
		return c
	case json.Number:
		return c.String()
	case nil:
		return ""
	default:
		return fmt.Sprint(c)
	}
}

// call signs and sends one method and returns the answer's data. Empty
// data values are dropped (the SDK would sign them as "k="; Yaband's
// optional fields are simply left out).
func (p *Provider) call(ctx context.Context, method string, data map[string]string) (json.RawMessage, error) {
	return p.callAs(ctx, p.user, p.secret, method, data)
}

// callAs is call with another account's credentials (the super-admin
// account that reads clearing reports).
func (p *Provider) callAs(ctx context.Context, user, secret, method string, data map[string]string) (json.RawMessage, error) {
	clean := make(map[string]string, len(data))
	for k, v := range data {
		if v != "" {
			clean[k] = v
		}
	}
	unix := p.now().Unix()
	env := envelope{
		User:   user,
		Method: method,
		Time:   unix,
		Data:   clean,
		Sign:   Sign(secret, requestSignFields(user, method, unix, clean)),
	}
	body, err := httpx.EncodeJSON(env)
	if err != nil {
		return nil, fmt.Errorf("yaband: encode %s: %w", method, err)
	}
	resp, err := p.http.Do(func() (*resty.Response, error) {
		return p.http.R(ctx).
			SetHeader("Content-Type", "application/json").
			SetHeader("Accept", "application/json").
			SetBody(body).
			Post(PaymentsPath)
	})
	if err != nil {
		return nil, err
	}
	var a answer
	if err := httpx.DecodeJSON(resp.Body(), &a); err != nil || a.Status == nil {
		return nil, &providers.Error{Code: providers.ErrCodeBadResponse,
			Message: fmt.Sprintf("yaband %s: HTTP %d with an unparsable answer", method, resp.StatusCode())}
	}
	if !a.ok() {
		msg := strings.TrimSpace(a.Message)
		if msg == "" {
			msg = "status false without a message"
		}
		return nil, &providers.Error{Code: classifyFailure(method, msg), ProviderCode: a.code(),
			Message: "yaband " + method + ": " + msg}
	}
	if len(bytes.TrimSpace(a.Data)) == 0 || string(bytes.TrimSpace(a.Data)) == "null" {
		return nil, &providers.Error{Code: providers.ErrCodeBadResponse, Message: "yaband " + method + ": status true without data"}
	}
	return a.Data, nil
}

// decodeObject decodes a JSON object keeping numbers literal. A JSON
// string holding an object is accepted too (some Yaband answers nest JSON
// as a string).
func decodeObject(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = []byte(s)
	}
	var m map[string]any
	if err := httpx.DecodeJSON(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// str reads a scalar field as a string ("" when absent or null; the
// literal text "null", which Yaband's examples show for unset fields, is
// treated as absent too).
func str(m map[string]any, key string) string {
	s, err := scalarString(m[key])
	if err != nil || s == "null" {
		return ""
	}
	return strings.TrimSpace(s)
}

func badResponse(method, format string, args ...any) error {
	return &providers.Error{Code: providers.ErrCodeBadResponse, Message: "yaband " + method + ": " + fmt.Sprintf(format, args...)}
}

func (p *Provider) acceptsCurrency(c string) bool {
	for _, x := range p.currencies {
		if x == c {
			return true
		}
	}
	return false
}

// timeoutMinutes turns the order's expiry into Yaband's `timeout` (whole
// minutes, 1-1440), rounding down so Yaband never keeps an order payable
// after the gateway has expired it. No expiry: the maximum.
func timeoutMinutes(now, expires time.Time) string {
	if expires.IsZero() {
		return strconv.Itoa(MaxTimeoutMinutes)
	}
	m := int64(expires.Sub(now) / time.Minute)
	if m < 1 {
		m = 1
	}
	if m > MaxTimeoutMinutes {
		m = MaxTimeoutMinutes
	}
	return strconv.FormatInt(m, 10)
}

// CreateOrder places a WeChat mini-program payment
// (v3.CreatePaymentsWechatMiniPay -> trade_id + parameters) or, for other
// pay methods, a hosted payment (v3.CreatePayments -> url).
func (p *Provider) CreateOrder(ctx context.Context, req providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
	if !p.acceptsCurrency(req.Amount.Currency) {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "",
			"yaband: currency %s not accepted on this channel (accepted: %s)", req.Amount.Currency, strings.Join(p.currencies, ", "))
	}
	if req.Amount.Minor <= 0 {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "yaband: amount must be positive")
	}
	notifyURL := req.NotifyURL
	if notifyURL == "" {
		notifyURL = p.ch.NotifyURL
	}
	if notifyURL == "" {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "yaband: notify_url is required and the channel has none")
	}
	description := strings.TrimSpace(req.Description)
	if description == "" {
		// Yaband requires description; the merchant's order number is a
		// harmless stand-in (documented in docs/providers/yaband.md).
		description = req.OutTradeNo
	}
	data := map[string]string{
		"pay_method":  payMethodOnline,
		"order_id":    req.OutTradeNo,
		"amount":      providers.FormatMinor(req.Amount.Minor, req.Amount.Currency),
		"currency":    req.Amount.Currency,
		"description": description,
		"timeout":     timeoutMinutes(p.now(), req.ExpiresAt),
		"notify_url":  notifyURL,
	}
	payMethod := req.PayMethod
	if payMethod == "" {
		payMethod = providers.PayMethodWeChat
	}
	if payMethod == providers.PayMethodWeChat {
		if req.PayerAppID == "" {
			req.PayerAppID = p.subAppID
		}
		if req.PayerAppID == "" {
			return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "",
				"yaband: payer appid (sub_app_id, the mini-program's appid) is required for WeChat mini-program payments")
		}
		if req.PayerOpenID == "" {
			return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "",
				"yaband: payer openid (sub_open_id) is required for WeChat mini-program payments")
		}
		data["sub_pay_method"] = subPayMethodWeChat
		data["sub_app_id"] = req.PayerAppID
		data["sub_open_id"] = req.PayerOpenID
		raw, err := p.call(ctx, MethodCreateMiniPay, data)
		if err != nil {
			return providers.CreateOrderResult{}, err
		}
		m, err := decodeObject(raw)
		if err != nil {
			return providers.CreateOrderResult{}, badResponse(MethodCreateMiniPay, "data: %v", err)
		}
		tradeID := str(m, "trade_id")
		if tradeID == "" {
			return providers.CreateOrderResult{}, badResponse(MethodCreateMiniPay, "no trade_id in the answer")
		}
		params, err := payParams(m["parameters"])
		if err != nil {
			return providers.CreateOrderResult{}, badResponse(MethodCreateMiniPay, "parameters: %v", err)
		}
		return providers.CreateOrderResult{ProviderTradeNo: tradeID, PayParams: params}, nil
	}

	word, ok := SubPayMethods[payMethod]
	if !ok {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "",
			"yaband: pay method %q is not offered (offered: %s)", payMethod, strings.Join(payMethods, ", "))
	}
	data["sub_pay_method"] = word
	data["redirect_url"] = req.ReturnURL
	raw, err := p.call(ctx, MethodCreatePayments, data)
	if err != nil {
		return providers.CreateOrderResult{}, err
	}
	m, err := decodeObject(raw)
	if err != nil {
		return providers.CreateOrderResult{}, badResponse(MethodCreatePayments, "data: %v", err)
	}
	payURL := str(m, "url")
	if payURL == "" {
		return providers.CreateOrderResult{}, badResponse(MethodCreatePayments, "no url in the answer")
	}
	// trade_id: present in the documented answers of the hosted flows; if
	// Yaband leaves it out, the payment notification brings it.
	return providers.CreateOrderResult{ProviderTradeNo: str(m, "trade_id"), PayURL: payURL}, nil
}

// payParams turns `parameters` (the wx.requestPayment object) into string
// values: numbers keep their literal text (timeStamp may come as a number).
func payParams(v any) (map[string]string, error) {
	var m map[string]any
	switch t := v.(type) {
	case map[string]any:
		m = t
	case string:
		var err error
		if m, err = decodeObject(json.RawMessage(strconv.Quote(t))); err != nil {
			return nil, fmt.Errorf("not a JSON object: %w", err)
		}
	default:
		return nil, errors.New("missing or not an object")
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		switch x := val.(type) {
		case nil:
			continue
		case string:
			out[k] = x
		case json.Number:
			out[k] = x.String()
		case bool:
			out[k] = strconv.FormatBool(x)
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, err
			}
			out[k] = string(b)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}

func needTradeID(op, tradeID string) error {
	if strings.TrimSpace(tradeID) == "" {
		return providers.Errorf(providers.ErrCodeRejected, "",
			"yaband: %s needs Yaband's trade_id (OrderRef.ProviderTradeNo) and it is empty; Yaband has no lookup by order_id", op)
	}
	return nil
}

// QueryOrder asks v3.QueryOrder {trade_id} and reads transaction_info.
func (p *Provider) QueryOrder(ctx context.Context, ref providers.OrderRef) (providers.OrderState, error) {
	if err := needTradeID("query", ref.ProviderTradeNo); err != nil {
		return providers.OrderState{}, err
	}
	raw, err := p.call(ctx, MethodQueryOrder, map[string]string{"trade_id": ref.ProviderTradeNo})
	if err != nil {
		return providers.OrderState{}, err
	}
	m, err := decodeObject(raw)
	if err != nil {
		return providers.OrderState{}, badResponse(MethodQueryOrder, "data: %v", err)
	}
	info, ok := m["transaction_info"].(map[string]any)
	if !ok {
		return providers.OrderState{}, badResponse(MethodQueryOrder, "no transaction_info object")
	}
	return p.orderState(MethodQueryOrder, info, ref)
}

// orderState reads a payment record (transaction_info, or a payment
// notification's data).
func (p *Provider) orderState(method string, m map[string]any, ref providers.OrderRef) (providers.OrderState, error) {
	state := str(m, "state")
	if state == "" {
		return providers.OrderState{}, badResponse(method, "no state")
	}
	status := PaymentStatus(state)
	st := providers.OrderState{
		Status:          status,
		ProviderStatus:  state,
		OutTradeNo:      str(m, "order_id"),
		ProviderTradeNo: str(m, "trade_id"),
		TransactionID:   str(m, "transaction_id"),
	}
	if st.OutTradeNo == "" {
		st.OutTradeNo = ref.OutTradeNo
	}
	if st.ProviderTradeNo == "" {
		st.ProviderTradeNo = ref.ProviderTradeNo
	}
	if amount := str(m, "amount"); amount != "" {
		currency := str(m, "currency")
		if currency == "" {
			currency = ref.Amount.Currency
		}
		money, err := providers.ParseProviderAmount(amount, currency)
		if err != nil {
			return providers.OrderState{}, badResponse(method, "amount: %v", err)
		}
		st.Amount = money
	}
	if status == providers.OrderPaid {
		st.PaidAt = parseUnix(str(m, "paid_time"))
	}
	return st, nil
}

// parseUnix reads a Unix-seconds string (createDate, paid_time,
// refund_time); anything else gives the zero time.
func parseUnix(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// CloseOrder cancels an unpaid payment with v3.CancelPayment {trade_id}.
// Yaband's cancel also voids a *paid* payment until 00:30 CET on T+1
// (YB-docs cancel.html), so the order is queried first and a paid order
// is refused with ORDER_PAID instead of being voided. Closing an order
// that is already closed, expired or failed succeeds.
func (p *Provider) CloseOrder(ctx context.Context, ref providers.OrderRef) error {
	if err := needTradeID("close", ref.ProviderTradeNo); err != nil {
		return err
	}
	st, err := p.QueryOrder(ctx, ref)
	if err != nil {
		return err
	}
	switch st.Status {
	case providers.OrderPaid:
		return providers.Errorf(providers.ErrCodeOrderPaid, st.ProviderStatus, "yaband: payment %s is %s; not cancelled", ref.ProviderTradeNo, st.ProviderStatus)
	case providers.OrderClosed, providers.OrderFailed:
		return nil
	case providers.OrderUnknown:
		// The word might mean paid: a cancel would void the payment. Ask
		// again later instead.
		return providers.Errorf(providers.ErrCodeUnavailable, st.ProviderStatus, "yaband: payment %s is in state %q, unknown to the adapter; not cancelled", ref.ProviderTradeNo, st.ProviderStatus)
	}
	raw, err := p.call(ctx, MethodCancelPayment, map[string]string{"trade_id": ref.ProviderTradeNo})
	if err != nil {
		return err
	}
	if m, err := decodeObject(raw); err == nil {
		if s := str(m, "state"); s != "" {
			if PaymentStatus(s) == providers.OrderPaid {
				return providers.Errorf(providers.ErrCodeOrderPaid, s, "yaband: cancel answered state %s", s)
			}
		}
	}
	return nil
}

// refundCurrencyFor is the currency a refund must be made in: the
// channel's refund_currency when configured, else the order's.
func (p *Provider) refundCurrencyFor(req providers.RefundRequest) string {
	if p.refundCurrency != "" {
		return p.refundCurrency
	}
	if req.Order.Amount.Currency != "" {
		return req.Order.Amount.Currency
	}
	return req.Amount.Currency
}

// Refund asks v3.CreateRefund {trade_id, m_refund_id, refund_amount,
// refund_currency, refund_description, notify_url} -> refund_id.
func (p *Provider) Refund(ctx context.Context, req providers.RefundRequest) (providers.RefundState, error) {
	if err := needTradeID("refund", req.Order.ProviderTradeNo); err != nil {
		return providers.RefundState{}, err
	}
	if want := p.refundCurrencyFor(req); req.Amount.Currency != want {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "",
			"yaband: refunds on this channel are in %s, not %s", want, req.Amount.Currency)
	}
	if req.Amount.Minor <= 0 {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "yaband: refund amount must be positive")
	}
	reason := strings.TrimSpace(req.Reason)
	if reason == "" {
		reason = defaultRefundDescription
	}
	notifyURL := req.NotifyURL
	if notifyURL == "" {
		notifyURL = p.ch.NotifyURL
	}
	raw, err := p.call(ctx, MethodCreateRefund, map[string]string{
		"trade_id":           req.Order.ProviderTradeNo,
		"m_refund_id":        req.OutRefundNo,
		"refund_amount":      providers.FormatMinor(req.Amount.Minor, req.Amount.Currency),
		"refund_currency":    req.Amount.Currency,
		"refund_description": reason,
		"notify_url":         notifyURL,
	})
	if err != nil {
		return providers.RefundState{}, err
	}
	m, err := decodeObject(raw)
	if err != nil {
		return providers.RefundState{}, badResponse(MethodCreateRefund, "data: %v", err)
	}
	rs, err := refundState(MethodCreateRefund, m, req.OutRefundNo, req.Amount.Currency)
	if err != nil {
		return providers.RefundState{}, err
	}
	if rs.ProviderRefundNo == "" {
		return providers.RefundState{}, badResponse(MethodCreateRefund, "no refund_id in the answer")
	}
	if rs.Amount.IsZero() {
		rs.Amount = req.Amount
	}
	return rs, nil
}

// QueryRefund asks v3.QueryRefundOrder {refund_id}.
func (p *Provider) QueryRefund(ctx context.Context, ref providers.RefundRef) (providers.RefundState, error) {
	if strings.TrimSpace(ref.ProviderRefundNo) == "" {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "",
			"yaband: refund query needs Yaband's refund_id (RefundRef.ProviderRefundNo) and it is empty")
	}
	raw, err := p.call(ctx, MethodQueryRefund, map[string]string{"refund_id": ref.ProviderRefundNo})
	if err != nil {
		return providers.RefundState{}, err
	}
	m, err := decodeObject(raw)
	if err != nil {
		return providers.RefundState{}, badResponse(MethodQueryRefund, "data: %v", err)
	}
	currency := ref.Amount.Currency
	rs, err := refundState(MethodQueryRefund, m, ref.OutRefundNo, currency)
	if err != nil {
		return providers.RefundState{}, err
	}
	if rs.ProviderRefundNo == "" {
		rs.ProviderRefundNo = ref.ProviderRefundNo
	}
	return rs, nil
}

// refundState reads a refund record (create/query answer or a refund
// notification's data). A record without state is PROCESSING.
func refundState(method string, m map[string]any, outRefundNo, currency string) (providers.RefundState, error) {
	rs := providers.RefundState{
		Status:           providers.RefundProcessing,
		ProviderStatus:   str(m, "state"),
		OutRefundNo:      str(m, "m_refund_id"),
		ProviderRefundNo: str(m, "refund_id"),
	}
	if rs.ProviderStatus != "" {
		rs.Status = RefundStatus(rs.ProviderStatus)
	}
	if rs.OutRefundNo == "" {
		rs.OutRefundNo = outRefundNo
	}
	if amount := str(m, "refund_amount"); amount != "" {
		if c := str(m, "refund_currency"); c != "" {
			currency = c
		}
		money, err := providers.ParseProviderAmount(amount, currency)
		if err != nil {
			return providers.RefundState{}, badResponse(method, "refund_amount: %v", err)
		}
		rs.Amount = money
	}
	if rs.Status == providers.RefundSucceeded {
		rs.SucceededAt = parseUnix(str(m, "refund_time"))
	}
	return rs, nil
}

// NotifyAck: Yaband wants the plain-text body `ok` (YB-sdk Response::OK;
// YB-mage sets text/plain). On failure the SDK answers `bad`; Yaband
// publishes no retry rule, so the failure also carries HTTP 400 to make
// the delivery count as failed whichever signal Yaband reads.
func (p *Provider) NotifyAck(ok bool, _ string) providers.Ack {
	if ok {
		return providers.Ack{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("ok")}
	}
	return providers.Ack{Status: http.StatusBadRequest, ContentType: "text/plain; charset=utf-8", Body: []byte("bad")}
}

// readAll is a small helper for ParseNotify when the caller passed no body.
func readAll(r *http.Request) ([]byte, error) {
	if r == nil || r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, 1<<20))
}
