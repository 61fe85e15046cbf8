// Package yabandsim simulates Yaband Pay's v3 API for the sandbox: the
// single POST /Payments endpoint (methods v3.CreatePaymentsWechatMiniPay,
// v3.CreatePayments, v3.QueryOrder, v3.CancelPayment, v3.CreateRefund,
// v3.QueryRefundOrder), a hosted checkout page for pay URLs, and signed
// JSON notifications {"sign","data"} for payments, cancellations and
// refunds. Every request's HMAC-SHA256 signature and timestamp are checked
// with code written apart from the adapter (sign.go).
package yabandsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// Kind is the provider kind simulated.
const Kind = "yaband"

const (
	maxClockSkew      = 5 * time.Minute
	maxRefundsPerPaid = 30 // "Partial refund for one order should be less than 30 times" (refund.html)
	// sandboxCNYRate: CNY minor units per 100 minor units of the channel
	// currency (1.00 EUR = 7.80 CNY), used for settlement and CNY figures.
	sandboxCNYRate = 780
)

// subPayMethods the simulated cashier accepts for v3.CreatePayments.
var subPayMethods = map[string]bool{
	"Alipay": true, "PayPal": true, "PayPal/recurring": true, "iDEAL": true, "Bancontact": true,
	"Sofort/Digital": true, "SOFORT/DIGITAL": true, "UnionPay": true, "WeChat Pay": true,
}

func init() {
	sandbox.Register(Kind, func(env sandbox.Env) sandbox.Simulator { return New(env) })
}

// Sim is the simulated Yaband cashier service.
type Sim struct {
	env sandbox.Env
	// RefundDelay is how long a refund stays "refund processing" before it
	// becomes "refunded" and its notification is sent.
	RefundDelay time.Duration

	mu        sync.Mutex
	byUser    map[string]*account
	byChannel map[string]*account
	trades    map[string]*trade  // by trade_id
	orders    map[string]*trade  // by user + "\x00" + order_id
	refunds   map[string]*refund // by refund_id
}

type account struct {
	channelID, user, secret, currency, notifyURL string
}

type trade struct {
	acct                                   *account
	method, tradeID, orderID, subPayMethod string
	amount                                 providers.Money
	description, subAppID, subOpenID       string
	notifyURL, redirectURL, demo           string
	fingerprint                            string
	state                                  string
	createdAt, expiresAt, paidAt           time.Time
	transactionID, ybTransactionID         string
	params                                 map[string]string
	refundedMinor                          int64 // in the order's currency, reserved at refund creation
	refunds                                []*refund
}

type refund struct {
	t                             *trade
	refundID, mRefundID           string
	amount                        providers.Money // in the refund currency
	orderMinor                    int64           // the same in the order's currency
	description, notifyURL, state string
	createdAt, doneAt             time.Time
}

// New builds an empty simulator.
func New(env sandbox.Env) *Sim {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Client == nil {
		env.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Sim{
		env:         env,
		RefundDelay: 100 * time.Millisecond,
		byUser:      map[string]*account{},
		byChannel:   map[string]*account{},
		trades:      map[string]*trade{},
		orders:      map[string]*trade{},
		refunds:     map[string]*refund{},
	}
}

// Kind implements sandbox.Simulator.
func (s *Sim) Kind() string { return Kind }

// AddChannel registers a cashier account (params user and secret_key).
func (s *Sim) AddChannel(ch providers.Channel) error {
	user := strings.TrimSpace(ch.Params.String("user"))
	secret := ch.Params.String("secret_key")
	if user == "" || secret == "" {
		return errors.New("yaband sandbox needs params.user and params.secret_key")
	}
	currency := ch.Currency
	if currency == "" {
		currency = "EUR"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.byUser[user]; ok && prev.channelID != ch.ID {
		return fmt.Errorf("yaband user %q is already registered by channel %s", user, prev.channelID)
	}
	a := &account{channelID: ch.ID, user: user, secret: secret, currency: currency, notifyURL: ch.NotifyURL}
	s.byUser[user] = a
	s.byChannel[ch.ID] = a
	return nil
}

// Handler serves POST /Payments and the hosted checkout page.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /Payments", s.servePayments)
	mux.HandleFunc("GET /checkout/{trade_id}", s.serveCheckout)
	return mux
}

// ---- wire helpers ----

type failure struct {
	code, message string
}

func fail(code, format string, args ...any) *failure {
	return &failure{code: code, message: fmt.Sprintf(format, args...)}
}

func writeAnswer(w http.ResponseWriter, data any, f *failure) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	body := map[string]any{"status": true, "code": "200", "data": data, "message": ""}
	if f != nil {
		body = map[string]any{"status": false, "code": f.code, "data": nil, "message": f.message}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}

// literal renders a decoded JSON scalar as its text (strings as they are,
// numbers as written).
func literal(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case nil:
		return "", true
	}
	return "", false
}

func (s *Sim) servePayments(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		writeAnswer(w, nil, fail("400", "cannot read the request"))
		return
	}
	var req struct {
		User   any            `json:"user"`
		Sign   string         `json:"sign"`
		Method string         `json:"method"`
		Time   any            `json:"time"`
		Data   map[string]any `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		writeAnswer(w, nil, fail("400", "request body is not JSON"))
		return
	}
	user, _ := literal(req.User)
	timeText, ok := literal(req.Time)
	if !ok || timeText == "" || req.Method == "" || req.Sign == "" || user == "" {
		writeAnswer(w, nil, fail("400", "user, sign, method and time are required"))
		return
	}
	signed := map[string]string{"user": user, "method": req.Method, "time": timeText}
	data := map[string]string{}
	for k, v := range req.Data {
		text, ok := literal(v)
		if !ok {
			writeAnswer(w, nil, fail("400", "data.%s must be a string", k))
			return
		}
		data[k] = text
		signed[k] = text
	}
	s.mu.Lock()
	acct := s.byUser[user]
	s.mu.Unlock()
	if acct == nil {
		writeAnswer(w, nil, fail("401", "user does not exist"))
		return
	}
	if !signatureValid(acct.secret, signed, req.Sign) {
		writeAnswer(w, nil, fail("401", "sign error"))
		return
	}
	ts, err := strconv.ParseInt(timeText, 10, 64)
	if err != nil {
		writeAnswer(w, nil, fail("400", "time must be Unix seconds"))
		return
	}
	if d := s.env.Now().Sub(time.Unix(ts, 0)); d > maxClockSkew || d < -maxClockSkew {
		writeAnswer(w, nil, fail("401", "time expired: the request time is off by %s", d.Round(time.Second)))
		return
	}
	var (
		out    any
		f      *failure
		notify func()
	)
	switch req.Method {
	case "v3.CreatePaymentsWechatMiniPay", "v3.CreatePayments":
		out, f = s.create(r, acct, req.Method, data)
	case "v3.QueryOrder":
		out, f = s.query(acct, data)
	case "v3.CancelPayment":
		out, notify, f = s.cancel(acct, data)
	case "v3.CreateRefund":
		out, f = s.createRefund(acct, data)
	case "v3.QueryRefundOrder":
		out, f = s.queryRefund(acct, data)
	case "v3.GetTradebill":
		out, f = s.tradebill(acct, data)
	default:
		f = fail("400", "method %s is not supported", req.Method)
	}
	writeAnswer(w, out, f)
	if notify != nil {
		go notify()
	}
}

// ---- ids ----

// uuidLike is Yaband's trade_id shape: 8-4-4-4-12 lowercase hex.
func uuidLike() string {
	h := sandbox.RandomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// wechatTransactionID has WeChat's 28-digit shape: 4200 00 NNNN yyyyMMdd N{10}.
func wechatTransactionID(now time.Time) string {
	return "420000" + sandbox.RandomDigits(4) + now.UTC().Format("20060102") + sandbox.RandomDigits(10)
}

// refundID has the shape of the documented answer: yyyyMMddHHmmss + 6 digits.
func refundID(now time.Time) string {
	return now.UTC().Format("20060102150405") + sandbox.RandomDigits(6)
}

// ---- money ----

func minimumMinor(currency string) int64 {
	switch currency {
	case "EUR":
		return 10 // EUR 0.10
	case "CNY":
		return 100 // CNY 1
	}
	return 1
}

// toCNY and settlement figures use the sandbox rate.
func (t *trade) settlementMinor() int64 {
	if t.amount.Currency == t.acct.currency {
		return t.amount.Minor
	}
	return t.amount.Minor * 100 / sandboxCNYRate
}

func (t *trade) cnyMinor() int64 {
	if t.amount.Currency == "CNY" {
		return t.amount.Minor
	}
	return t.amount.Minor * sandboxCNYRate / 100
}

func (t *trade) exchangeRate() string {
	if t.amount.Currency == t.acct.currency {
		return "1"
	}
	return "7.80"
}

// ---- methods ----

func require(data map[string]string, keys ...string) *failure {
	for _, k := range keys {
		if strings.TrimSpace(data[k]) == "" {
			return fail("400", "%s is required", k)
		}
	}
	return nil
}

func (s *Sim) create(r *http.Request, acct *account, method string, data map[string]string) (any, *failure) {
	if f := require(data, "pay_method", "sub_pay_method", "order_id", "amount", "currency", "description", "notify_url"); f != nil {
		return nil, f
	}
	if data["pay_method"] != "online" {
		return nil, fail("400", "pay_method must be online")
	}
	if method == "v3.CreatePaymentsWechatMiniPay" {
		if data["sub_pay_method"] != "WeChat Pay" {
			return nil, fail("400", "sub_pay_method must be WeChat Pay")
		}
		if f := require(data, "sub_app_id", "sub_open_id"); f != nil {
			return nil, f
		}
	} else if !subPayMethods[data["sub_pay_method"]] {
		return nil, fail("400", "sub_pay_method %s is not enabled for this cashier", data["sub_pay_method"])
	}
	currency := data["currency"]
	if currency != acct.currency && currency != "CNY" {
		return nil, fail("400", "currency %s is not supported (use %s or CNY)", currency, acct.currency)
	}
	amount, err := providers.ParseAmount(data["amount"], currency)
	if err != nil {
		return nil, fail("400", "amount is invalid: %v", err)
	}
	if amount.Minor < minimumMinor(currency) {
		return nil, fail("400", "amount is below the minimum (EUR 0.10 or CNY 1)")
	}
	var timeout int64
	if t := data["timeout"]; t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > 1440 {
			return nil, fail("400", "timeout must be minutes 0-1440")
		}
		timeout = int64(n)
	}
	if timeout == 0 {
		timeout = 1440
	}
	fingerprint := strings.Join([]string{method, data["sub_pay_method"], data["amount"], currency, data["description"],
		data["sub_app_id"], data["sub_open_id"]}, "\x00")

	now := s.env.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	key := acct.user + "\x00" + data["order_id"]
	if t, ok := s.orders[key]; ok {
		s.expire(t, now)
		if t.fingerprint != fingerprint {
			return nil, fail("400", "order_id %s already exists with different content", t.orderID)
		}
		if t.state != "pending" {
			return nil, fail("400", "order_id %s already exists and is %s", t.orderID, t.state)
		}
		return s.createAnswer(r, t), nil
	}
	t := &trade{
		acct: acct, method: method, tradeID: uuidLike(), orderID: data["order_id"], subPayMethod: data["sub_pay_method"],
		amount: amount, description: data["description"], subAppID: data["sub_app_id"], subOpenID: data["sub_open_id"],
		notifyURL: data["notify_url"], redirectURL: data["redirect_url"], demo: data["demo"], fingerprint: fingerprint,
		state: "pending", createdAt: now, expiresAt: now.Add(time.Duration(timeout) * time.Minute),
		ybTransactionID: uuidLike(),
	}
	if method == "v3.CreatePaymentsWechatMiniPay" {
		t.params = map[string]string{
			"appId":     t.subAppID,
			"timeStamp": strconv.FormatInt(now.Unix(), 10),
			"nonceStr":  sandbox.RandomHex(16),
			"package":   "prepay_id=wx" + now.UTC().Format("20060102150405") + sandbox.RandomHex(10),
			"signType":  "MD5",
			"paySign":   strings.ToUpper(sandbox.RandomHex(16)),
		}
	}
	s.trades[t.tradeID] = t
	s.orders[key] = t
	return s.createAnswer(r, t), nil
}

func (s *Sim) createAnswer(r *http.Request, t *trade) map[string]any {
	out := map[string]any{
		"trade_id": t.tradeID,
		"order_id": t.orderID,
		"amount":   t.amount.String(),
		"currency": t.amount.Currency,
	}
	if t.params != nil {
		out["parameters"] = t.params
	} else {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		out["url"] = scheme + "://" + r.Host + sandbox.PathPrefix + Kind + "/checkout/" + t.tradeID
	}
	return out
}

// expire moves an unpaid trade past its timeout to "expired". Callers hold s.mu.
func (s *Sim) expire(t *trade, now time.Time) {
	if t.state == "pending" && now.After(t.expiresAt) {
		t.state = "expired"
	}
}

func (s *Sim) findTrade(acct *account, tradeID string) (*trade, *failure) {
	t, ok := s.trades[tradeID]
	if !ok || t.acct != acct {
		return nil, fail("404", "trade_id does not exist")
	}
	s.expire(t, s.env.Now())
	return t, nil
}

func (t *trade) info() map[string]any {
	m := map[string]any{
		"trade_id":            t.tradeID,
		"merchant_name":       "Sandbox Merchant B.V.",
		"store_name":          "Sandbox",
		"user":                t.acct.user,
		"cashier_name":        "Sandbox Cashier",
		"pay_method":          "online",
		"sub_pay_method":      t.subPayMethod,
		"order_id":            t.orderID,
		"amount":              t.amount.String(),
		"tip_amount":          "0.00",
		"currency":            t.amount.Currency,
		"settlement_amount":   providers.FormatMinor(t.settlementMinor(), t.acct.currency),
		"settlement_currency": t.acct.currency,
		"exchange_rate":       t.exchangeRate(),
		"description":         t.description,
		"created_at":          strconv.FormatInt(t.createdAt.Unix(), 10),
		"redirect_url":        t.redirectURL,
		"notify_url":          t.notifyURL,
		"state":               t.state,
		"time_out":            strconv.FormatInt(int64(t.expiresAt.Sub(t.createdAt)/time.Minute), 10),
		"amount_cny":          providers.FormatMinor(t.cnyMinor(), "CNY"),
		"merchant_cost":       "0.00",
		"transaction_id":      t.transactionID,
		"yb_transaction_id":   t.ybTransactionID,
		"acquirer_id":         t.transactionID,
	}
	if !t.paidAt.IsZero() {
		m["paid_time"] = strconv.FormatInt(t.paidAt.Unix(), 10)
	}
	return m
}

func (s *Sim) query(acct *account, data map[string]string) (any, *failure) {
	if f := require(data, "trade_id"); f != nil {
		return nil, f
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, f := s.findTrade(acct, data["trade_id"])
	if f != nil {
		return nil, f
	}
	return map[string]any{"transaction_info": t.info()}, nil
}

func (s *Sim) cancel(acct *account, data map[string]string) (any, func(), *failure) {
	if f := require(data, "trade_id"); f != nil {
		return nil, nil, f
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, f := s.findTrade(acct, data["trade_id"])
	if f != nil {
		return nil, nil, f
	}
	var notify func()
	switch t.state {
	case "paid", "refunded":
		// The real cancel voids paid payments until T+1 00:30 CET; the
		// sandbox refuses, so a gateway that closes a paid order notices.
		return nil, nil, fail("400", "payment is already paid and cannot be cancelled")
	case "pending":
		t.state = "cancelled"
		notify = s.notifier(t, s.paymentData(t))
	}
	return map[string]any{
		"type":           "payment",
		"user":           acct.user,
		"amount":         t.amount.String(),
		"currency":       t.amount.Currency,
		"trade_id":       t.tradeID,
		"order_id":       t.orderID,
		"createDate":     strconv.FormatInt(t.createdAt.Unix(), 10),
		"transaction_id": t.transactionID,
		"state":          t.state,
	}, notify, nil
}

func (s *Sim) createRefund(acct *account, data map[string]string) (any, *failure) {
	if f := require(data, "trade_id", "refund_amount", "refund_currency", "refund_description"); f != nil {
		return nil, f
	}
	now := s.env.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, f := s.findTrade(acct, data["trade_id"])
	if f != nil {
		return nil, f
	}
	if t.state != "paid" {
		return nil, fail("400", "payment is %s; only paid payments can be refunded", t.state)
	}
	currency := data["refund_currency"]
	if currency != t.amount.Currency && currency != acct.currency {
		return nil, fail("400", "refund_currency must be %s", t.amount.Currency)
	}
	amount, err := providers.ParseAmount(data["refund_amount"], currency)
	if err != nil {
		return nil, fail("400", "refund_amount is invalid: %v", err)
	}
	orderMinor := amount.Minor
	if currency != t.amount.Currency { // settlement-currency refund of a CNY order
		orderMinor = (amount.Minor*sandboxCNYRate + 99) / 100
	}
	if id := data["m_refund_id"]; id != "" {
		for _, rf := range t.refunds {
			if rf.mRefundID == id {
				if rf.amount != amount {
					return nil, fail("400", "m_refund_id %s already exists with another amount", id)
				}
				return rf.answer(), nil
			}
		}
	}
	if len(t.refunds) >= maxRefundsPerPaid {
		return nil, fail("400", "too many refunds for this payment")
	}
	if orderMinor > t.amount.Minor-t.refundedMinor {
		return nil, fail("400", "refund amount exceeds the refundable amount %s",
			providers.FormatMinor(t.amount.Minor-t.refundedMinor, t.amount.Currency))
	}
	rf := &refund{
		t: t, refundID: refundID(now), mRefundID: data["m_refund_id"], amount: amount, orderMinor: orderMinor,
		description: data["refund_description"], notifyURL: data["notify_url"], state: "refund processing", createdAt: now,
	}
	t.refundedMinor += orderMinor
	t.refunds = append(t.refunds, rf)
	s.refunds[rf.refundID] = rf
	time.AfterFunc(s.RefundDelay, func() { s.completeRefund(rf) })
	return rf.answer(), nil
}

func (rf *refund) answer() map[string]any {
	return map[string]any{
		"refund_id":       rf.refundID,
		"m_refund_id":     nullable(rf.mRefundID),
		"trade_id":        rf.t.tradeID,
		"refund_amount":   rf.amount.String(),
		"refund_currency": rf.amount.Currency,
		"state":           rf.state,
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Sim) completeRefund(rf *refund) {
	s.mu.Lock()
	rf.state = "refunded"
	rf.doneAt = s.env.Now()
	t := rf.t
	if t.refundedMinor >= t.amount.Minor {
		t.state = "refunded"
	}
	var notify func()
	if rf.notifyURL != "" {
		data := s.paymentData(t)
		data["type"] = "refund"
		data["state"] = rf.state
		data["refund_id"] = rf.refundID
		data["m_refund_id"] = rf.mRefundID
		data["refund_amount"] = rf.amount.String()
		data["refund_currency"] = rf.amount.Currency
		data["refund_time"] = strconv.FormatInt(rf.doneAt.Unix(), 10)
		notify = s.notifierTo(t.acct, rf.notifyURL, data)
	}
	s.mu.Unlock()
	if notify != nil {
		notify()
	}
}

func (s *Sim) queryRefund(acct *account, data map[string]string) (any, *failure) {
	if f := require(data, "refund_id"); f != nil {
		return nil, f
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rf, ok := s.refunds[data["refund_id"]]
	if !ok || rf.t.acct != acct {
		return nil, fail("404", "refund_id does not exist")
	}
	refundTime := ""
	if !rf.doneAt.IsZero() {
		refundTime = strconv.FormatInt(rf.doneAt.Unix(), 10)
	}
	settle := rf.amount.Minor
	if rf.amount.Currency != acct.currency {
		settle = rf.amount.Minor * 100 / sandboxCNYRate
	}
	return map[string]any{
		"transaction_id":             rf.t.transactionID,
		"refund_id":                  rf.refundID,
		"m_refund_id":                nullable(rf.mRefundID),
		"refund_time":                refundTime,
		"state":                      rf.state,
		"refund_amount":              rf.amount.String(),
		"refund_currency":            rf.amount.Currency,
		"refund_description":         rf.description,
		"notify_url":                 rf.notifyURL,
		"demo":                       "",
		"settlement_refund_amount":   providers.FormatMinor(settle, acct.currency),
		"settlement_refund_currency": acct.currency,
		"merchant_cost":              "0.00",
		"yb_transaction_id":          rf.t.ybTransactionID,
	}, nil
}

// ---- notifications ----

// paymentData is the `data` of a payment notification (notify.html).
// Callers hold s.mu.
func (s *Sim) paymentData(t *trade) map[string]string {
	d := map[string]string{
		"type":                "payment",
		"user":                t.acct.user,
		"order_id":            t.orderID,
		"trade_id":            t.tradeID,
		"transaction_id":      t.transactionID,
		"acquirer_id":         t.transactionID,
		"amount":              t.amount.String(),
		"tip_amount":          "0.00",
		"currency":            t.amount.Currency,
		"settlement_amount":   providers.FormatMinor(t.settlementMinor(), t.acct.currency),
		"settlement_currency": t.acct.currency,
		"exchange_rate":       t.exchangeRate(),
		"amount_cny":          providers.FormatMinor(t.cnyMinor(), "CNY"),
		"settlement_rate":     t.exchangeRate(),
		"description":         t.description,
		"createDate":          strconv.FormatInt(t.createdAt.Unix(), 10),
		"state":               t.state,
		"demo":                t.demo,
		"sub_pay_method":      t.subPayMethod,
		"pay_method":          "online",
		"paid_time":           "",
	}
	if !t.paidAt.IsZero() {
		d["paid_time"] = strconv.FormatInt(t.paidAt.Unix(), 10)
	}
	return d
}

func (s *Sim) notifier(t *trade, data map[string]string) func() {
	return s.notifierTo(t.acct, t.notifyURL, data)
}

// notifierTo returns a function that delivers one signed notification.
func (s *Sim) notifierTo(acct *account, notifyURL string, data map[string]string) func() {
	return func() { sandbox.Deliver(s.env, sandbox.PayOptions{}, s.builder(acct, notifyURL, data)) }
}

func (s *Sim) builder(acct *account, notifyURL string, data map[string]string) func() (*http.Request, error) {
	body, err := json.Marshal(map[string]any{"sign": hmacHex(acct.secret, data), "data": data})
	return func() (*http.Request, error) {
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequest(http.MethodPost, notifyURL, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "YabandPay-Sandbox/1")
		return req, nil
	}
}

// Pay makes the simulated payer pay an order and sends the payment
// notification (again, if the order is already paid: a provider retry).
func (s *Sim) Pay(_ context.Context, channelID, outTradeNo string, opts sandbox.PayOptions) (any, error) {
	now := s.env.Now()
	s.mu.Lock()
	acct := s.byChannel[channelID]
	if acct == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: channel %s", sandbox.ErrNotFound, channelID)
	}
	t := s.orders[acct.user+"\x00"+outTradeNo]
	if t == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: order_id %s", sandbox.ErrNotFound, outTradeNo)
	}
	s.expire(t, now)
	switch t.state {
	case "pending":
		t.state = "paid"
		t.paidAt = now
		t.transactionID = wechatTransactionID(now)
	case "paid", "refunded":
	default:
		state := t.state
		s.mu.Unlock()
		return nil, fmt.Errorf("yaband sandbox: order %s is %s and cannot be paid", outTradeNo, state)
	}
	data := s.paymentData(t)
	view := t.info()
	build := s.builder(acct, t.notifyURL, data)
	s.mu.Unlock()
	results := sandbox.Deliver(s.env, opts, build)
	return map[string]any{"transaction_info": view, "notifications": results}, nil
}

var checkoutPage = template.Must(template.New("checkout").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Yaband sandbox checkout</title></head>
<body><h1>Yaband sandbox checkout</h1>
<p>{{.Method}} payment of {{.Amount}} {{.Currency}} for order {{.OrderID}} ({{.State}}).</p>
<p>The sandbox payer pays with <code>POST /sandbox/pay/{{.Channel}}/{{.OrderID}}</code>.</p>
</body></html>
`))

func (s *Sim) serveCheckout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	t, ok := s.trades[r.PathValue("trade_id")]
	var view map[string]string
	if ok {
		s.expire(t, s.env.Now())
		view = map[string]string{"Method": t.subPayMethod, "Amount": t.amount.String(), "Currency": t.amount.Currency,
			"OrderID": t.orderID, "State": t.state, "Channel": t.acct.channelID}
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = checkoutPage.Execute(w, view)
}
