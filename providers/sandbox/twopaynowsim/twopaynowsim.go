// Package twopaynowsim simulates 2paynow's wire protocol for the sandbox:
// GET /zhifu/mc_itf with function precreate | query | wap_query | cancel |
// refund, the WAP redirect pages (/wap/WxpayAPI/jsapi.php,
// /wap/wappay/pay.html) and a hosted pay page (/pay/{trade_no}). It checks
// every request's md5(function+mid+timestamp+key) and the timestamp's
// freshness with code of its own (not the adapter's), and sends the GET
// notification to the order's notify_url when the payer pays.
package twopaynowsim

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"html"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// Kind is the provider kind simulated.
const Kind = "2paynow"

// MaxSkew is how far a request's timestamp may be from the simulator's
// clock (our choice for the sandbox; 2paynow's window is not public).
const MaxSkew = 5 * time.Minute

// ForexRate is the simulated EUR->CNY rate behind amount_cny.
var ForexRate = decimal.RequireFromString("7.8000")

func init() {
	sandbox.Register(Kind, func(env sandbox.Env) sandbox.Simulator { return New(env) })
}

type channel struct {
	id, mid, key, currency string
}

// Order is the simulator's view of a 2paynow trade.
type Order struct {
	TradeNo         string    `json:"trade_no"`
	ChannelID       string    `json:"channel"`
	Function        string    `json:"function"` // precreate | wap_precreate
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Amount          string    `json:"amount"`
	Currency        string    `json:"currency"`
	NotifyURL       string    `json:"notify_url"`
	Passback        string    `json:"passback_parameters"`
	MerchantTradeNo string    `json:"merchant_trade_no"`
	OutTradeNo      string    `json:"out_trade_no"` // for the sandbox control only
	Status          string    `json:"trans_status"`
	RefundAmount    string    `json:"refund_amount"`
	CreatedAt       time.Time `json:"created_at"`
	ExpiresAt       time.Time `json:"expires_at"`
	PaidAt          time.Time `json:"paid_at,omitzero"`

	mid       string
	minor     int64
	refunded  int64
	expireDur time.Duration
}

// Sim is the 2paynow simulator.
type Sim struct {
	env     sandbox.Env
	mu      sync.Mutex
	byMid   map[string]*channel
	byID    map[string]*channel
	orders  map[string]*Order // by trade_no
	ordered []*Order
}

// New builds an empty simulator.
func New(env sandbox.Env) *Sim {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Client == nil {
		env.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Sim{env: env, byMid: map[string]*channel{}, byID: map[string]*channel{}, orders: map[string]*Order{}}
}

// Kind implements sandbox.Simulator.
func (s *Sim) Kind() string { return Kind }

// AddChannel registers a merchant account (params mid, key).
func (s *Sim) AddChannel(ch providers.Channel) error {
	mid, key := ch.Params.String("mid"), ch.Params.String("key")
	if mid == "" || key == "" {
		return fmt.Errorf("params mid and key are required")
	}
	cur := ch.Currency
	if cur == "" {
		cur = "EUR"
	}
	c := &channel{id: ch.ID, mid: mid, key: key, currency: cur}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byMid[mid] = c
	s.byID[ch.ID] = c
	return nil
}

// md5hex is the simulator's own signing code: lowercase hex MD5 of
// function.mid.timestamp.key concatenated.
func md5hex(parts ...string) string {
	h := md5.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// Signature is 2paynow's sign as the simulator computes it.
func Signature(function, mid, timestamp, key string) string {
	return md5hex(function, mid, timestamp, key)
}

// Handler serves 2paynow's endpoints.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /zhifu/mc_itf", s.serveAPI)
	mux.HandleFunc("GET /wap/WxpayAPI/jsapi.php", s.serveWap)
	mux.HandleFunc("GET /wap/wappay/pay.html", s.serveWap)
	mux.HandleFunc("GET /pay/{trade_no}", s.servePage)
	mux.HandleFunc("POST /pay/{trade_no}", s.servePage)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, info string) {
	writeJSON(w, map[string]any{"status": 403, "error_info": info})
}

// authenticate checks mid, sign and timestamp of a request's query.
func (s *Sim) authenticate(q url.Values, function string) (*channel, string) {
	if q.Get("function") != function {
		return nil, "function error"
	}
	s.mu.Lock()
	ch := s.byMid[q.Get("mid")]
	s.mu.Unlock()
	if ch == nil {
		return nil, "mid not exist"
	}
	ts := q.Get("timestamp")
	if q.Get("sign") != Signature(function, ch.mid, ts, ch.key) {
		return nil, "sign error"
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) != 13 {
		return nil, "timestamp error"
	}
	if d := s.env.Now().Sub(time.UnixMilli(ms)); d > MaxSkew || d < -MaxSkew {
		return nil, "timestamp expired"
	}
	return ch, ""
}

func (s *Sim) serveAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fn := q.Get("function")
	switch fn {
	case "precreate", "query", "wap_query", "cancel", "refund":
	default:
		fail(w, "unknown function")
		return
	}
	ch, msg := s.authenticate(q, fn)
	if ch == nil {
		fail(w, msg)
		return
	}
	switch fn {
	case "precreate":
		o, msg := s.create(ch, q, fn)
		if o == nil {
			fail(w, msg)
			return
		}
		base := baseURL(r)
		s.answer(w, ch, fn, map[string]any{
			"trade_no": o.TradeNo,
			"qr_code":  base + "/pay/" + o.TradeNo,
			"pic_url":  base + "/pay/" + o.TradeNo + "?view=qr",
		})
	case "query", "wap_query":
		o := s.find(ch, q.Get("trade_no"), fn == "wap_query")
		if o == nil {
			fail(w, "trade_no not exist")
			return
		}
		s.mu.Lock()
		fields := map[string]any{
			"trade_no":      o.TradeNo,
			"trans_status":  o.Status,
			"trans_time":    o.CreatedAt.In(beijing).Format("2006-01-02 15:04:05"),
			"forex_rate":    ForexRate.String(),
			"refund_amount": providers.FormatMinor(o.refunded, o.Currency),
			"currency":      o.Currency,
			"amount":        o.Amount,
		}
		if !o.PaidAt.IsZero() {
			fields["trans_time"] = o.PaidAt.In(beijing).Format("2006-01-02 15:04:05")
		}
		s.mu.Unlock()
		s.answer(w, ch, fn, fields)
	case "cancel":
		o := s.find(ch, q.Get("trade_no"), false)
		if o == nil {
			fail(w, "trade_no not exist")
			return
		}
		s.mu.Lock()
		status := o.Status
		if status == "UNKNOWN" {
			o.Status = "TRADE_CLOSED"
		}
		s.mu.Unlock()
		if status == "TRADE_SUCCESS" {
			fail(w, "trade already paid, cannot cancel")
			return
		}
		s.answer(w, ch, fn, map[string]any{"trade_no": o.TradeNo})
	case "refund":
		s.refund(w, ch, q)
	}
}

func (s *Sim) answer(w http.ResponseWriter, ch *channel, fn string, fields map[string]any) {
	ts := strconv.FormatInt(s.env.Now().UnixMilli(), 10)
	fields["status"] = 200
	fields["function"] = fn
	fields["timestamp"] = ts
	fields["sign"] = Signature(fn, ch.mid, ts, ch.key)
	writeJSON(w, fields)
}

var (
	itBPayRe = regexp.MustCompile(`^([1-9][0-9]*)([mhd])$`)
	amountRe = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.[0-9]+)?$`)
)

// create checks a precreate / wap_precreate query and books the order.
func (s *Sim) create(ch *channel, q url.Values, fn string) (*Order, string) {
	typ := q.Get("type")
	if typ != "0" && typ != "1" {
		return nil, "type error"
	}
	for _, k := range []string{"subject", "amount", "currency", "notify_url", "passback_parameters"} {
		if strings.TrimSpace(q.Get(k)) == "" {
			return nil, k + " is required"
		}
	}
	if q.Get("currency") != ch.currency {
		return nil, "currency not supported"
	}
	if !amountRe.MatchString(q.Get("amount")) {
		return nil, "amount error"
	}
	m, err := providers.ParseAmount(q.Get("amount"), ch.currency)
	if err != nil {
		return nil, "amount error"
	}
	if u, err := url.Parse(q.Get("notify_url")); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, "notify_url error"
	}
	var pb struct {
		OutTradeNo string `json:"out_trade_no"`
	}
	if json.Unmarshal([]byte(q.Get("passback_parameters")), &pb) != nil {
		return nil, "passback_parameters must be JSON"
	}
	expire := 2 * time.Hour
	if v := q.Get("it_b_pay"); v != "" {
		mm := itBPayRe.FindStringSubmatch(v)
		if mm == nil {
			return nil, "it_b_pay error"
		}
		n, _ := strconv.Atoi(mm[1])
		unit := map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[mm[2]]
		expire = time.Duration(n) * unit
	} else if fn == "precreate" {
		return nil, "it_b_pay is required"
	}
	out := pb.OutTradeNo
	if fn == "wap_precreate" {
		if q.Get("merchant_trade_no") == "" {
			return nil, "merchant_trade_no is required"
		}
		out = q.Get("merchant_trade_no")
	}
	now := s.env.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &Order{
		TradeNo:         s.newTradeNo(typ, now),
		ChannelID:       ch.id,
		Function:        fn,
		Type:            typ,
		Subject:         q.Get("subject"),
		Amount:          q.Get("amount"),
		Currency:        ch.currency,
		NotifyURL:       q.Get("notify_url"),
		Passback:        q.Get("passback_parameters"),
		MerchantTradeNo: q.Get("merchant_trade_no"),
		OutTradeNo:      out,
		Status:          "UNKNOWN",
		CreatedAt:       now,
		ExpiresAt:       now.Add(expire),
		mid:             ch.mid,
		minor:           m.Minor,
		expireDur:       expire,
	}
	if fn == "precreate" {
		o.MerchantTradeNo = "" // precreate carries no merchant number
	}
	s.orders[o.TradeNo] = o
	s.ordered = append(s.ordered, o)
	return o, ""
}

// beijing: 2paynow's trade numbers carry UTC+8 wall-clock time.
var beijing = time.FixedZone("UTC+8", 8*3600)

// newTradeNo makes a number like 2paynow's: a letter (W WeChat, A Alipay:
// our guess), yyMMddHHmmss in UTC+8, then five digits. Caller holds mu.
func (s *Sim) newTradeNo(typ string, now time.Time) string {
	letter := "W"
	if typ == "0" {
		letter = "A"
	}
	for {
		no := fmt.Sprintf("%s%s%05d", letter, now.In(beijing).Format("060102150405"), rand.IntN(100000))
		if _, dup := s.orders[no]; !dup {
			return no
		}
	}
}

// find looks an order up by 2paynow's trade_no, or (wap) by the merchant
// number of a WAP order; it closes expired unpaid orders on the way.
func (s *Sim) find(ch *channel, no string, byMerchant bool) *Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	var o *Order
	if byMerchant {
		for i := len(s.ordered) - 1; i >= 0; i-- {
			if c := s.ordered[i]; c.mid == ch.mid && c.MerchantTradeNo != "" && c.MerchantTradeNo == no {
				o = c
				break
			}
		}
	} else if c := s.orders[no]; c != nil && c.mid == ch.mid {
		o = c
	}
	if o != nil && o.Status == "UNKNOWN" && s.env.Now().After(o.ExpiresAt) {
		o.Status = "TRADE_CLOSED"
	}
	return o
}

func (s *Sim) refund(w http.ResponseWriter, ch *channel, q url.Values) {
	o := s.find(ch, q.Get("trade_no"), false)
	if o == nil {
		fail(w, "trade_no not exist")
		return
	}
	amt := q.Get("refund_amount")
	if !amountRe.MatchString(amt) {
		fail(w, "refund_amount error")
		return
	}
	m, err := providers.ParseAmount(amt, o.Currency)
	if err != nil {
		fail(w, "refund_amount error")
		return
	}
	s.mu.Lock()
	switch {
	case o.Status != "TRADE_SUCCESS":
		s.mu.Unlock()
		fail(w, "trade not paid")
		return
	case o.refunded+m.Minor > o.minor:
		s.mu.Unlock()
		fail(w, "refund_amount exceeds the refundable amount")
		return
	}
	o.refunded += m.Minor
	o.RefundAmount = providers.FormatMinor(o.refunded, o.Currency)
	s.mu.Unlock()
	s.answer(w, ch, "refund", map[string]any{"trade_no": o.TradeNo, "refund_amount": amt})
}

// serveWap is the WAP redirect page: it checks the wap_precreate query,
// books the order once per merchant_trade_no and shows the pay page.
func (s *Sim) serveWap(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ch, msg := s.authenticate(q, "wap_precreate")
	if ch == nil {
		http.Error(w, msg, http.StatusForbidden)
		return
	}
	wantType := "1"
	if strings.HasSuffix(r.URL.Path, "/pay.html") {
		wantType = "0"
	}
	if q.Get("type") != wantType {
		http.Error(w, "type error", http.StatusForbidden)
		return
	}
	o := s.find(ch, q.Get("merchant_trade_no"), true)
	if o == nil {
		if o, msg = s.create(ch, q, "wap_precreate"); o == nil {
			http.Error(w, msg, http.StatusForbidden)
			return
		}
	}
	s.renderPage(w, r, o, "")
}

// servePage is the hosted pay page behind qr_code: GET shows the order,
// POST pays it as the simulated payer.
func (s *Sim) servePage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	o := s.orders[r.PathValue("trade_no")]
	s.mu.Unlock()
	if o == nil {
		http.NotFound(w, r)
		return
	}
	note := ""
	if r.Method == http.MethodPost {
		if _, err := s.pay(r.Context(), o, sandbox.PayOptions{}); err != nil {
			note = err.Error()
		} else {
			note = "paid"
		}
	}
	s.renderPage(w, r, o, note)
}

func (s *Sim) renderPage(w http.ResponseWriter, r *http.Request, o *Order, note string) {
	s.mu.Lock()
	status, subject, amount, cur, no := o.Status, o.Subject, o.Amount, o.Currency, o.TradeNo
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><title>2paynow sandbox</title>
<h1>2paynow sandbox</h1><p>%s</p><p>%s %s</p><p>trade_no %s: %s</p><p>%s</p>
<form method="post" action="%s/pay/%s"><button>Pay</button></form>`,
		html.EscapeString(subject), html.EscapeString(amount), html.EscapeString(cur),
		html.EscapeString(no), html.EscapeString(status), html.EscapeString(note),
		html.EscapeString(baseURL(r)), html.EscapeString(no))
}

// baseURL is the simulator's own root as the client reached it (the
// sandbox mounts it under /sandbox/2paynow).
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	reqPath := r.RequestURI
	if i := strings.IndexAny(reqPath, "?#"); i >= 0 {
		reqPath = reqPath[:i]
	}
	prefix := strings.TrimSuffix(reqPath, r.URL.Path)
	return scheme + "://" + r.Host + prefix
}

// Pay marks the channel's latest order with out_trade_no (merchant_trade_no
// or the out_trade_no in passback_parameters) paid and sends the GET
// notification to its notify_url.
func (s *Sim) Pay(ctx context.Context, channelID, outTradeNo string, opts sandbox.PayOptions) (any, error) {
	s.mu.Lock()
	var o *Order
	for i := len(s.ordered) - 1; i >= 0; i-- {
		if c := s.ordered[i]; c.ChannelID == channelID && c.OutTradeNo == outTradeNo {
			o = c
			break
		}
	}
	s.mu.Unlock()
	if o == nil {
		return nil, fmt.Errorf("%w: %s", sandbox.ErrNotFound, outTradeNo)
	}
	return s.pay(ctx, o, opts)
}

// PayView is what Pay answers.
type PayView struct {
	Order      Order                    `json:"order"`
	Deliveries []sandbox.DeliveryResult `json:"deliveries"`
}

func (s *Sim) pay(ctx context.Context, o *Order, opts sandbox.PayOptions) (PayView, error) {
	s.mu.Lock()
	if o.Status == "UNKNOWN" && s.env.Now().After(o.ExpiresAt) {
		o.Status = "TRADE_CLOSED"
	}
	switch o.Status {
	case "UNKNOWN":
		o.Status = "TRADE_SUCCESS"
		o.PaidAt = s.env.Now()
	case "TRADE_SUCCESS": // paid again: 2paynow re-sends the notification
	default:
		s.mu.Unlock()
		return PayView{}, fmt.Errorf("sandbox: trade %s is %s", o.TradeNo, o.Status)
	}
	ch := s.byID[o.ChannelID]
	view := *o
	s.mu.Unlock()
	res := sandbox.Deliver(s.env, opts, func() (*http.Request, error) { return s.notification(ctx, ch, &view) })
	return PayView{Order: view, Deliveries: res}, nil
}

// notification builds the GET notification, freshly timestamped and
// signed for each copy.
func (s *Sim) notification(ctx context.Context, ch *channel, o *Order) (*http.Request, error) {
	ts := strconv.FormatInt(s.env.Now().UnixMilli(), 10)
	amount := decimal.RequireFromString(o.Amount)
	v := url.Values{}
	v.Set("amount", o.Amount)
	v.Set("amount_cny", amount.Mul(ForexRate).StringFixed(2))
	v.Set("currency", o.Currency)
	v.Set("forex_rate", ForexRate.String())
	v.Set("function", o.Function)
	v.Set("merchant_trade_no", o.MerchantTradeNo)
	v.Set("mid", ch.mid)
	v.Set("passback_parameters", o.Passback)
	v.Set("timestamp", ts)
	v.Set("trade_no", o.TradeNo)
	v.Set("trade_status", "TRADE_SUCCESS")
	v.Set("sign", Signature(o.Function, ch.mid, ts, ch.key))
	sep := "?"
	if strings.Contains(o.NotifyURL, "?") {
		sep = "&"
	}
	return http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, o.NotifyURL+sep+v.Encode(), nil)
}
