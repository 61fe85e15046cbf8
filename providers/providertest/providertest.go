// Package providertest is the conformance suite every adapter runs against
// its sandbox simulator: create, query, pay, notify accepted, forged notify
// refused, refund, refund query, close. It speaks real HTTP: the adapter
// calls the simulator through an httptest server, and the simulator sends
// its notifications to that server's /notify/{channel}.
package providertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// RecordedRequest is a notification as the simulator sent it.
type RecordedRequest struct {
	Method string
	URL    string // path and query
	Header http.Header
	Body   []byte
}

// Request rebuilds an *http.Request from the recording.
func (r RecordedRequest) Request() *http.Request {
	req := httptest.NewRequest(r.Method, r.URL, bytes.NewReader(r.Body))
	req.Header = r.Header.Clone()
	return req
}

// Received is one notification the adapter parsed.
type Received struct {
	Raw          RecordedRequest
	Notification providers.Notification
	Err          error
}

// Config describes one adapter under test.
type Config struct {
	// Channel with ID, Kind, Currency and Params; BaseURL and NotifyURL
	// are filled in to point at the test server.
	Channel providers.Channel
	// Order is the template of the orders the suite creates (OutTradeNo,
	// Amount and ExpiresAt are set per order).
	Order providers.CreateOrderRequest
	// Amount in minor units of Channel.Currency; default 1000.
	Amount int64
	// Forge returns a copy of a genuine notification that must be refused
	// (e.g. its signature altered). Required when the provider notifies.
	Forge func(t *testing.T, genuine RecordedRequest) RecordedRequest
	// WantPayURL: the unified order returns a pay URL instead of pay params.
	WantPayURL bool
	// Settle is how long to wait for asynchronous results; default 3s.
	Settle time.Duration
}

// Harness is the running suite: an adapter bound to a sandbox channel.
type Harness struct {
	T        *testing.T
	Provider providers.Provider
	Sandbox  *sandbox.Sandbox
	Server   *httptest.Server
	Channel  providers.Channel

	mu       sync.Mutex
	received []Received
}

// Start serves the sandbox and a notify endpoint on one httptest server and
// builds the adapter for cfg.Channel pointed at it.
func Start(t *testing.T, cfg Config) *Harness {
	t.Helper()
	h := &Harness{T: t}
	mux := http.NewServeMux()
	h.Server = httptest.NewServer(mux)
	t.Cleanup(h.Server.Close)
	h.Sandbox = sandbox.New(sandbox.Env{Client: h.Server.Client()})
	mux.Handle(sandbox.PathPrefix, h.Sandbox)
	mux.HandleFunc("/notify/", h.serveNotify)

	ch := cfg.Channel
	ch.BaseURL = sandbox.BaseURL(h.Server.URL, ch.Kind)
	ch.NotifyURL = h.Server.URL + "/notify/" + ch.ID
	if ch.ServerIP == "" {
		ch.ServerIP = "127.0.0.1"
	}
	h.Channel = ch
	if err := h.Sandbox.AddChannel(ch); err != nil {
		t.Fatalf("sandbox channel: %v", err)
	}
	p, err := providers.New(ch, providers.Deps{HTTPClient: h.Server.Client()})
	if err != nil {
		t.Fatalf("provider: %v", err)
	}
	h.Provider = p
	return h
}

func (h *Harness) serveNotify(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	raw := RecordedRequest{Method: r.Method, URL: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body}
	n, err := h.Provider.ParseNotify(r.Context(), raw.Request(), body)
	h.mu.Lock()
	h.received = append(h.received, Received{Raw: raw, Notification: n, Err: err})
	h.mu.Unlock()
	reason := ""
	if err != nil {
		reason = err.Error()
	}
	ack := h.Provider.NotifyAck(err == nil, reason)
	if ack.ContentType != "" {
		w.Header().Set("Content-Type", ack.ContentType)
	}
	w.WriteHeader(ack.Status)
	_, _ = w.Write(ack.Body)
}

// Received returns the notifications seen so far.
func (h *Harness) Received() []Received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Received(nil), h.received...)
}

// WaitNotification waits for a notification of kind about outTradeNo.
func (h *Harness) WaitNotification(kind providers.NotificationKind, outTradeNo string, within time.Duration) (Received, bool) {
	deadline := time.Now().Add(within)
	for {
		for _, r := range h.Received() {
			if r.Notification.Kind == kind && r.Notification.Order.OutTradeNo == outTradeNo {
				return r, true
			}
		}
		if time.Now().After(deadline) {
			return Received{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var seq struct {
	sync.Mutex
	n int
}

// NewOutTradeNo returns a fresh merchant order number.
func NewOutTradeNo(prefix string) string {
	seq.Lock()
	defer seq.Unlock()
	seq.n++
	return fmt.Sprintf("%s%d%04d", prefix, time.Now().UnixNano()%1e9, seq.n)
}

// CreateOrder places an order from the template.
func (h *Harness) CreateOrder(cfg Config, outTradeNo string) (providers.CreateOrderRequest, providers.CreateOrderResult) {
	h.T.Helper()
	req := cfg.Order
	req.OutTradeNo = outTradeNo
	amount := cfg.Amount
	if amount == 0 {
		amount = 1000
	}
	req.Amount = providers.Money{Minor: amount, Currency: h.Channel.Currency}
	if req.ExpiresAt.IsZero() {
		req.ExpiresAt = time.Now().Add(30 * time.Minute)
	}
	if req.NotifyURL == "" {
		req.NotifyURL = h.Channel.NotifyURL
	}
	if req.ClientIP == "" {
		req.ClientIP = "127.0.0.1"
	}
	if req.Description == "" {
		req.Description = "conformance order"
	}
	res, err := h.Provider.CreateOrder(context.Background(), req)
	if err != nil {
		h.T.Fatalf("CreateOrder(%s): %v", outTradeNo, err)
	}
	return req, res
}

// Run runs the whole conformance suite: one order created, queried,
// paid, notified (and a forged copy refused), queried again and partly
// refunded; another created and closed; an unknown one queried. Each step
// is a subtest, skipped where the provider lacks the capability.
func Run(t *testing.T, cfg Config) {
	s := newSuite(t, cfg)
	t.Run("create returns what the payer needs", s.createReturnsPayment)
	t.Run("query before payment is PAYING", s.queryUnpaid)
	if _, err := s.h.Sandbox.Pay(s.ctx, s.h.Channel.ID, s.outTradeNo, sandbox.PayOptions{}); err != nil {
		t.Fatalf("sandbox pay: %v", err)
	}
	t.Run("payment notification verifies and says PAID", s.paymentNotification)
	t.Run("forged notification is refused", s.forgedNotification)
	t.Run("query after payment is PAID", s.queryPaid)
	t.Run("partial refund succeeds", s.partialRefund)
	t.Run("close an unpaid order", s.closeUnpaid)
	t.Run("query of an unknown order is PROVIDER_NOT_FOUND", s.queryUnknown)
}

// suite is one run of the conformance suite: the harness and the order
// its steps share.
type suite struct {
	h       *Harness
	cfg     Config
	caps    providers.Capabilities
	settle  time.Duration
	ctx     context.Context
	req     providers.CreateOrderRequest
	res     providers.CreateOrderResult
	ref     providers.OrderRef
	genuine Received // the payment notification the provider sent

	outTradeNo string
}

func newSuite(t *testing.T, cfg Config) *suite {
	h := Start(t, cfg)
	s := &suite{h: h, cfg: cfg, caps: h.Provider.Capabilities(), settle: cfg.Settle, ctx: context.Background()}
	if s.settle == 0 {
		s.settle = 3 * time.Second
	}
	s.outTradeNo = NewOutTradeNo("CT")
	s.req, s.res = h.CreateOrder(cfg, s.outTradeNo)
	s.ref = providers.OrderRef{OutTradeNo: s.outTradeNo, ProviderTradeNo: s.res.ProviderTradeNo, Amount: s.req.Amount}
	return s
}

func (s *suite) need(t *testing.T, has bool, why string) {
	t.Helper()
	if !has {
		t.Skip(why)
	}
}

func (s *suite) createReturnsPayment(t *testing.T) {
	if s.cfg.WantPayURL {
		if !strings.HasPrefix(s.res.PayURL, "http") {
			t.Fatalf("PayURL = %q, want a URL", s.res.PayURL)
		}
		return
	}
	for _, k := range []string{"timeStamp", "nonceStr", "package", "signType", "paySign"} {
		if s.res.PayParams[k] == "" {
			t.Errorf("PayParams[%q] is empty: %v", k, s.res.PayParams)
		}
	}
}

func (s *suite) queryUnpaid(t *testing.T) {
	s.need(t, s.caps.Query, "provider has no query")
	st, err := s.h.Provider.QueryOrder(s.ctx, s.ref)
	if err != nil {
		t.Fatalf("QueryOrder: %v", err)
	}
	if st.Status != providers.OrderPaying {
		t.Fatalf("status = %s (%s), want PAYING", st.Status, st.ProviderStatus)
	}
}

func (s *suite) paymentNotification(t *testing.T) {
	s.need(t, s.caps.Notify, "provider sends no trusted notification")
	r, ok := s.h.WaitNotification(providers.NotifyPayment, s.outTradeNo, s.settle)
	if !ok {
		t.Fatalf("no payment notification parsed for %s; received: %+v", s.outTradeNo, s.h.Received())
	}
	s.genuine = r
	if r.Err != nil {
		t.Fatalf("ParseNotify: %v", r.Err)
	}
	n := r.Notification
	if n.Hint {
		t.Fatalf("a trusted provider's notification is marked Hint")
	}
	if n.Order.Status != providers.OrderPaid {
		t.Errorf("status = %s, want PAID", n.Order.Status)
	}
	if !n.Order.Amount.IsZero() && n.Order.Amount != s.req.Amount {
		t.Errorf("amount = %+v, want %+v", n.Order.Amount, s.req.Amount)
	}
}

func (s *suite) forgedNotification(t *testing.T) {
	s.need(t, s.caps.Notify, "provider sends no trusted notification")
	s.need(t, s.genuine.Raw.Method != "", "no genuine notification to forge from")
	if s.cfg.Forge == nil {
		t.Fatal("Config.Forge is required for a provider that notifies")
	}
	p := s.h.Provider
	forged := s.cfg.Forge(t, s.genuine.Raw)
	n, err := p.ParseNotify(s.ctx, forged.Request(), forged.Body)
	if err == nil {
		t.Fatalf("forged notification accepted: %+v", n)
	}
	again, err := p.ParseNotify(s.ctx, s.genuine.Raw.Request(), s.genuine.Raw.Body)
	if err != nil || again.Order.Status != providers.OrderPaid {
		t.Fatalf("genuine notification replayed: %+v, %v", again, err)
	}
	if ack := p.NotifyAck(false, "forged"); ack.Status == 0 {
		t.Fatal("failure ack has no HTTP status")
	}
}

// queryPaid checks the paid order's query and learns the numbers the
// refund names the order by.
func (s *suite) queryPaid(t *testing.T) {
	s.need(t, s.caps.Query, "provider has no query")
	st, err := s.h.Provider.QueryOrder(s.ctx, s.ref)
	if err != nil {
		t.Fatalf("QueryOrder: %v", err)
	}
	if st.Status != providers.OrderPaid {
		t.Fatalf("status = %s (%s), want PAID", st.Status, st.ProviderStatus)
	}
	if !st.Amount.IsZero() && st.Amount != s.req.Amount {
		t.Errorf("amount = %+v, want %+v", st.Amount, s.req.Amount)
	}
	if st.ProviderTradeNo == "" && st.TransactionID == "" {
		t.Errorf("query names neither the provider's number nor the transaction id: %+v", st)
	}
	if st.ProviderTradeNo != "" {
		s.ref.ProviderTradeNo = st.ProviderTradeNo
	}
	if st.TransactionID != "" {
		s.ref.TransactionID = st.TransactionID
	}
}

func (s *suite) partialRefund(t *testing.T) {
	s.need(t, s.caps.Refund, "provider has no refund")
	part := providers.Money{Minor: s.req.Amount.Minor / 4, Currency: s.req.Amount.Currency}
	if s.caps.RefundCurrency != "" {
		part.Currency = s.caps.RefundCurrency
	}
	rreq := providers.RefundRequest{Order: s.ref, OutRefundNo: NewOutTradeNo("RF"), Amount: part, Reason: "conformance", NotifyURL: s.h.Channel.NotifyURL}
	st, err := s.h.Provider.Refund(s.ctx, rreq)
	if err != nil {
		t.Fatalf("Refund: %v", err)
	}
	if st.Status == providers.RefundFailed {
		t.Fatalf("refund FAILED: %+v", st)
	}
	if !s.caps.RefundQuery {
		return
	}
	rref := providers.RefundRef{Order: s.ref, OutRefundNo: rreq.OutRefundNo, ProviderRefundNo: st.ProviderRefundNo, Amount: part}
	deadline := time.Now().Add(s.settle)
	for st.Status != providers.RefundSucceeded && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if st, err = s.h.Provider.QueryRefund(s.ctx, rref); err != nil {
			t.Fatalf("QueryRefund: %v", err)
		}
	}
	if st.Status != providers.RefundSucceeded {
		t.Fatalf("refund status = %s (%s), want SUCCEEDED", st.Status, st.ProviderStatus)
	}
	if !st.Amount.IsZero() && st.Amount.Minor != part.Minor {
		t.Errorf("refund amount = %+v, want %+v", st.Amount, part)
	}
	if s.caps.RefundNotify {
		r, ok := s.h.WaitNotification(providers.NotifyRefund, s.outTradeNo, s.settle)
		if !ok {
			t.Fatalf("no refund notification for %s", s.outTradeNo)
		}
		if r.Err != nil || r.Notification.Refund.Status != providers.RefundSucceeded {
			t.Fatalf("refund notification: %+v, %v", r.Notification, r.Err)
		}
	}
}

func (s *suite) closeUnpaid(t *testing.T) {
	s.need(t, s.caps.Close, "provider has no close")
	no := NewOutTradeNo("CL")
	creq, cres := s.h.CreateOrder(s.cfg, no)
	cref := providers.OrderRef{OutTradeNo: no, ProviderTradeNo: cres.ProviderTradeNo, Amount: creq.Amount}
	if err := s.h.Provider.CloseOrder(s.ctx, cref); err != nil {
		t.Fatalf("CloseOrder: %v", err)
	}
	if !s.caps.Query {
		return
	}
	st, err := s.h.Provider.QueryOrder(s.ctx, cref)
	if err != nil {
		t.Fatalf("QueryOrder: %v", err)
	}
	if st.Status != providers.OrderClosed {
		t.Fatalf("status after close = %s (%s), want CLOSED", st.Status, st.ProviderStatus)
	}
}

func (s *suite) queryUnknown(t *testing.T) {
	s.need(t, s.caps.Query, "provider has no query")
	_, err := s.h.Provider.QueryOrder(s.ctx, providers.OrderRef{OutTradeNo: NewOutTradeNo("NX"), ProviderTradeNo: "NX-unknown-0001"})
	if !providers.IsCode(err, providers.ErrCodeNotFound) {
		t.Fatalf("error = %v, want %s", err, providers.ErrCodeNotFound)
	}
}
