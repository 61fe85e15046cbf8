// Package supaysim simulates the Supay Technology gateway for the
// sandbox: POST /api/gateway/merchant/order with the services
// create_instant_trade, query_trade and create_refund, MD5-signed form
// notifications (trade_status_sync, refund_status_sync). Request
// signatures are checked with code written apart from the adapter
// (sign.go). Shapes Supay has not published (the query answer, the
// refund notification's number fields) follow the assumptions in
// docs/providers/supay.md.
package supaysim

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// Kind is the provider kind simulated.
const Kind = "supay"

const (
	tradeWait    = "WAIT_BUYER_PAY"
	tradeSuccess = "TRADE_SUCCESS"
	tradeClosed  = "TRADE_CLOSED"
)

var timeoutExpress = regexp.MustCompile(`^([1-9][0-9]*)([mhd])$`)

func init() {
	sandbox.Register(Kind, func(env sandbox.Env) sandbox.Simulator { return New(env) })
}

// Sim is the simulated Supay gateway.
type Sim struct {
	env sandbox.Env
	// RefundDelay is how long a refund waits before it succeeds and its
	// refund_status_sync notification is sent.
	RefundDelay time.Duration

	mu        sync.Mutex
	byMchID   map[string]*merchant
	byChannel map[string]*merchant
	trades    map[string]*trade  // by mch_id + "\x00" + mch_order_no
	refunds   map[string]*refund // by mch_id + "\x00" + refund mch_order_no
}

type merchant struct {
	channelID, mchID, key, receiveID, storeName, currency string
}

type trade struct {
	m                          *merchant
	mchOrderNo, innerTradeNo   string
	payChannel, payWay, openID string
	amount                     providers.Money
	goodsName, callbackURL     string
	fingerprint, status        string
	createdAt, expiresAt       time.Time
	paidAt                     time.Time
	payInfo                    string
	refundedMinor              int64
}

type refund struct {
	t                         *trade
	mchOrderNo, innerTradeNo  string
	amount                    providers.Money
	note, callbackURL, status string
}

// New builds an empty simulator.
func New(env sandbox.Env) *Sim {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Client == nil {
		env.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Sim{env: env, RefundDelay: 100 * time.Millisecond, byMchID: map[string]*merchant{},
		byChannel: map[string]*merchant{}, trades: map[string]*trade{}, refunds: map[string]*refund{}}
}

// Kind implements sandbox.Simulator.
func (s *Sim) Kind() string { return Kind }

// AddChannel registers a merchant (params mch_id, md5_key, receive_id,
// store_name).
func (s *Sim) AddChannel(ch providers.Channel) error {
	m := &merchant{channelID: ch.ID, mchID: strings.TrimSpace(ch.Params.String("mch_id")), key: ch.Params.String("md5_key"),
		receiveID: strings.TrimSpace(ch.Params.String("receive_id")), storeName: ch.Params.String("store_name"), currency: ch.Currency}
	if m.mchID == "" || m.key == "" || m.receiveID == "" {
		return errors.New("supay sandbox needs params.mch_id, params.md5_key and params.receive_id")
	}
	if m.currency == "" {
		m.currency = "AUD"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.byMchID[m.mchID]; ok && prev.channelID != ch.ID {
		return fmt.Errorf("supay mch_id %s is already registered by channel %s", m.mchID, prev.channelID)
	}
	s.byMchID[m.mchID] = m
	s.byChannel[ch.ID] = m
	return nil
}

// Handler serves the gateway endpoint.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/gateway/merchant/order", s.serveGateway)
	return mux
}

func writeAnswer(w http.ResponseWriter, data map[string]any, failure string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	body := map[string]any{"status": "T", "message": "success", "data": data}
	if failure != "" {
		body = map[string]any{"status": "F", "message": failure, "data": nil}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}

func (s *Sim) serveGateway(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		writeAnswer(w, nil, "cannot read the request")
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil {
		writeAnswer(w, nil, "request body is not JSON")
		return
	}
	params := map[string]string{}
	for k, v := range body {
		switch t := v.(type) {
		case string:
			params[k] = t
		case json.Number:
			params[k] = t.String()
		case nil:
			params[k] = ""
		default:
			writeAnswer(w, nil, k+" must be a string")
			return
		}
	}
	if params["charset"] != "UTF-8" || params["version"] != "1.0" || params["sign_type"] != "MD5" {
		writeAnswer(w, nil, "charset UTF-8, version 1.0 and sign_type MD5 are required")
		return
	}
	s.mu.Lock()
	m := s.byMchID[params["mch_id"]]
	s.mu.Unlock()
	if m == nil {
		writeAnswer(w, nil, "mch_id does not exist")
		return
	}
	if !signatureValid(params, m.key, params["sign"]) {
		writeAnswer(w, nil, "sign error")
		return
	}
	var (
		data    map[string]any
		failure string
	)
	switch params["service"] {
	case "create_instant_trade":
		data, failure = s.create(m, params)
	case "query_trade":
		data, failure = s.query(m, params)
	case "create_refund":
		data, failure = s.createRefund(m, params)
	default:
		failure = "service " + params["service"] + " is not supported"
	}
	writeAnswer(w, data, failure)
}

// ---- ids ----

// innerTradeNo: yyyyMMddHHmmss + 10 digits (Supay's real format is not public).
func innerTradeNo(now time.Time) string {
	return now.UTC().Format("20060102150405") + sandbox.RandomDigits(10)
}

func missing(params map[string]string, keys ...string) string {
	for _, k := range keys {
		if strings.TrimSpace(params[k]) == "" {
			return k + " is required"
		}
	}
	return ""
}

// ---- services ----

func (s *Sim) create(m *merchant, p map[string]string) (map[string]any, string) {
	if f := missing(p, "mch_order_no", "recevice_id", "store_name", "call_back_url", "pay_amount", "goods_name", "pay_way", "pay_channel", "currency"); f != "" {
		return nil, f
	}
	if p["recevice_id"] != m.receiveID {
		return nil, "recevice_id does not belong to this merchant"
	}
	if p["pay_way"] != "JSAPI" {
		return nil, "the sandbox supports pay_way JSAPI only"
	}
	if p["pay_channel"] != "WXPAY" && p["pay_channel"] != "ALIPAY" {
		return nil, "pay_channel must be WXPAY or ALIPAY"
	}
	if p["pay_channel"] == "WXPAY" && p["subOpenId"] == "" {
		return nil, "subOpenId is required for JSAPI"
	}
	if p["currency"] != m.currency {
		return nil, "currency must be " + m.currency
	}
	amount, err := providers.ParseAmount(p["pay_amount"], m.currency)
	if err != nil {
		return nil, "pay_amount is invalid"
	}
	if price := p["goods_price"]; price != "" {
		if _, err := providers.ParseAmount(price, m.currency); err != nil {
			return nil, "goods_price is invalid"
		}
	}
	timeout := 2 * time.Hour
	if te := p["timeout_express"]; te != "" {
		mt := timeoutExpress.FindStringSubmatch(te)
		if mt == nil {
			return nil, "timeout_express is invalid"
		}
		n, _ := strconv.Atoi(mt[1])
		unit := map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[mt[2]]
		timeout = time.Duration(n) * unit
	}
	fingerprint := strings.Join([]string{p["pay_channel"], p["subOpenId"], p["pay_amount"], p["goods_name"]}, "\x00")
	now := s.env.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	key := m.mchID + "\x00" + p["mch_order_no"]
	if _, isRefund := s.refunds[key]; isRefund {
		return nil, "mch_order_no already exists"
	}
	if t, ok := s.trades[key]; ok {
		s.expire(t, now)
		if t.fingerprint != fingerprint {
			return nil, "mch_order_no already exists with different content"
		}
		if t.status != tradeWait {
			return nil, "mch_order_no already exists and is " + t.status
		}
		return map[string]any{"result": true, "pay_info": t.payInfo}, ""
	}
	t := &trade{m: m, mchOrderNo: p["mch_order_no"], innerTradeNo: innerTradeNo(now), payChannel: p["pay_channel"],
		payWay: p["pay_way"], openID: p["subOpenId"], amount: amount, goodsName: p["goods_name"], callbackURL: p["call_back_url"],
		fingerprint: fingerprint, status: tradeWait, createdAt: now, expiresAt: now.Add(timeout)}
	var info map[string]string
	if t.payChannel == "WXPAY" {
		appID := fmt.Sprintf("wx%x", md5.Sum([]byte(m.mchID)))[:18]
		info = map[string]string{"appId": appID, "timeStamp": strconv.FormatInt(now.Unix(), 10), "nonceStr": sandbox.RandomHex(16),
			"package": "prepay_id=wx" + now.UTC().Format("20060102150405") + sandbox.RandomHex(10), "signType": "MD5",
			"paySign": strings.ToUpper(sandbox.RandomHex(16))}
	} else {
		info = map[string]string{"tradeNO": now.UTC().Format("20060102") + "2200" + sandbox.RandomDigits(16)}
	}
	b, _ := json.Marshal(info)
	t.payInfo = string(b)
	s.trades[key] = t
	return map[string]any{"result": true, "pay_info": t.payInfo}, ""
}

// expire closes an unpaid trade past its timeout. Callers hold s.mu.
func (s *Sim) expire(t *trade, now time.Time) {
	if t.status == tradeWait && now.After(t.expiresAt) {
		t.status = tradeClosed
	}
}

func (s *Sim) query(m *merchant, p map[string]string) (map[string]any, string) {
	if f := missing(p, "mch_order_no", "trade_type"); f != "" {
		return nil, f
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trades[m.mchID+"\x00"+p["mch_order_no"]]
	if !ok {
		return nil, "order does not exist"
	}
	s.expire(t, s.env.Now())
	return map[string]any{
		"trade_status":   t.status,
		"inner_trade_no": t.innerTradeNo,
		"outer_trade_no": t.mchOrderNo,
		"trade_amount":   t.amount.String(),
		"currency":       t.amount.Currency,
		"pay_channel":    t.payChannel,
	}, ""
}

func (s *Sim) createRefund(m *merchant, p map[string]string) (map[string]any, string) {
	if f := missing(p, "mch_order_no", "orig_mch_order_no", "refund_amount"); f != "" {
		return nil, f
	}
	amount, err := providers.ParseAmount(p["refund_amount"], m.currency)
	if err != nil {
		return nil, "refund_amount is invalid"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := m.mchID + "\x00" + p["mch_order_no"]
	if _, isTrade := s.trades[key]; isTrade {
		return nil, "mch_order_no already exists"
	}
	if rf, ok := s.refunds[key]; ok {
		if rf.t.mchOrderNo != p["orig_mch_order_no"] || rf.amount != amount {
			return nil, "mch_order_no already exists with different content"
		}
		return map[string]any{"result": true}, ""
	}
	t, ok := s.trades[m.mchID+"\x00"+p["orig_mch_order_no"]]
	if !ok {
		return nil, "original order does not exist"
	}
	if t.status != tradeSuccess {
		return nil, "original order is not paid"
	}
	if amount.Minor > t.amount.Minor-t.refundedMinor {
		return nil, "refund_amount exceeds the refundable amount " + providers.FormatMinor(t.amount.Minor-t.refundedMinor, m.currency)
	}
	rf := &refund{t: t, mchOrderNo: p["mch_order_no"], innerTradeNo: innerTradeNo(s.env.Now()), amount: amount,
		note: p["refund_note"], callbackURL: p["call_back_url"], status: "REFUND_PROCESSING"}
	t.refundedMinor += amount.Minor
	s.refunds[key] = rf
	time.AfterFunc(s.RefundDelay, func() { s.completeRefund(rf) })
	return map[string]any{"result": true}, ""
}

func (s *Sim) completeRefund(rf *refund) {
	s.mu.Lock()
	rf.status = "REFUND_SUCCESS"
	fields := map[string]string{
		"notify_type":         "refund_status_sync",
		"notify_id":           sandbox.RandomHex(16),
		"notify_time":         s.env.Now().UTC().Format("20060102150405"),
		"mch_id":              rf.t.m.mchID,
		"inner_trade_no":      rf.innerTradeNo,
		"outer_trade_no":      rf.mchOrderNo,
		"orig_outer_trade_no": rf.t.mchOrderNo,
		"refund_status":       rf.status,
		"refund_amount":       rf.amount.String(),
		"currency":            rf.amount.Currency,
	}
	build := s.builder(rf.t.m, rf.callbackURL, fields)
	s.mu.Unlock()
	if rf.callbackURL != "" {
		sandbox.Deliver(s.env, sandbox.PayOptions{}, build)
	}
}

// builder signs fields and returns a request builder for sandbox.Deliver.
func (s *Sim) builder(m *merchant, callbackURL string, fields map[string]string) func() (*http.Request, error) {
	form := url.Values{}
	for k, v := range fields {
		form.Set(k, v)
	}
	form.Set("sign_type", "MD5")
	form.Set("sign", md5Upper(fields, m.key))
	body := form.Encode()
	return func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, callbackURL, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", "Supay-Sandbox/1")
		return req, nil
	}
}

// Pay makes the simulated payer pay and sends trade_status_sync (again,
// if already paid: a provider retry).
func (s *Sim) Pay(_ context.Context, channelID, outTradeNo string, opts sandbox.PayOptions) (any, error) {
	now := s.env.Now()
	s.mu.Lock()
	m := s.byChannel[channelID]
	if m == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: channel %s", sandbox.ErrNotFound, channelID)
	}
	t := s.trades[m.mchID+"\x00"+outTradeNo]
	if t == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: mch_order_no %s", sandbox.ErrNotFound, outTradeNo)
	}
	s.expire(t, now)
	switch t.status {
	case tradeWait:
		t.status = tradeSuccess
		t.paidAt = now
	case tradeSuccess:
	default:
		status := t.status
		s.mu.Unlock()
		return nil, fmt.Errorf("supay sandbox: order %s is %s and cannot be paid", outTradeNo, status)
	}
	fields := map[string]string{
		"notify_type":    "trade_status_sync",
		"notify_id":      sandbox.RandomHex(16),
		"notify_time":    now.UTC().Format("20060102150405"),
		"mch_id":         m.mchID,
		"inner_trade_no": t.innerTradeNo,
		"outer_trade_no": t.mchOrderNo,
		"trade_status":   t.status,
		"trade_amount":   t.amount.String(),
		"currency":       t.amount.Currency,
		"pay_channel":    t.payChannel,
		"gmt_payment":    t.paidAt.UTC().Format("20060102150405"),
	}
	view := map[string]any{"mch_order_no": t.mchOrderNo, "inner_trade_no": t.innerTradeNo, "trade_status": t.status,
		"trade_amount": t.amount.String(), "currency": t.amount.Currency}
	build := s.builder(m, t.callbackURL, fields)
	s.mu.Unlock()
	view["notifications"] = sandbox.Deliver(s.env, opts, build)
	return view, nil
}
