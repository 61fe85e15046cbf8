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
	if err := h.Sandbox.AddChannel(sandbox.Channel{ID: ch.ID, Kind: ch.Kind, Currency: ch.Currency, Params: ch.Params, NotifyURL: ch.NotifyURL}); err != nil {
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

// Run runs the whole conformance suite.
func Run(t *testing.T, cfg Config) {
	h := Start(t, cfg)
	caps := h.Provider.Capabilities()
	settle := cfg.Settle
	if settle == 0 {
		settle = 3 * time.Second
	}
	ctx := context.Background()

	outTradeNo := NewOutTradeNo("CT")
	req, res := h.CreateOrder(cfg, outTradeNo)
	ref := providers.OrderRef{OutTradeNo: outTradeNo, ProviderTradeNo: res.ProviderTradeNo, Amount: req.Amount}

	t.Run("create returns what the payer needs", func(t *testing.T) {
		if cfg.WantPayURL {
			if !strings.HasPrefix(res.PayURL, "http") {
				t.Fatalf("PayURL = %q, want a URL", res.PayURL)
			}
			return
		}
		for _, k := range []string{"timeStamp", "nonceStr", "package", "signType", "paySign"} {
			if res.PayParams[k] == "" {
				t.Errorf("PayParams[%q] is empty: %v", k, res.PayParams)
			}
		}
	})

	t.Run("query before payment is PAYING", func(t *testing.T) {
		if !caps.Query {
			t.Skip("provider has no query")
		}
		st, err := h.Provider.QueryOrder(ctx, ref)
		if err != nil {
			t.Fatalf("QueryOrder: %v", err)
		}
		if st.Status != providers.OrderPaying {
			t.Fatalf("status = %s (%s), want PAYING", st.Status, st.ProviderStatus)
		}
	})

	if _, err := h.Sandbox.Pay(ctx, h.Channel.ID, outTradeNo, sandbox.PayOptions{}); err != nil {
		t.Fatalf("sandbox pay: %v", err)
	}

	var genuine Received
	t.Run("payment notification verifies and says PAID", func(t *testing.T) {
		if !caps.Notify {
			t.Skip("provider sends no trusted notification")
		}
		r, ok := h.WaitNotification(providers.NotifyPayment, outTradeNo, settle)
		if !ok {
			t.Fatalf("no payment notification parsed for %s; received: %+v", outTradeNo, h.Received())
		}
		genuine = r
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
		if !n.Order.Amount.IsZero() && n.Order.Amount != req.Amount {
			t.Errorf("amount = %+v, want %+v", n.Order.Amount, req.Amount)
		}
	})

	t.Run("forged notification is refused", func(t *testing.T) {
		if !caps.Notify {
			t.Skip("provider sends no trusted notification")
		}
		if genuine.Raw.Method == "" {
			t.Skip("no genuine notification to forge from")
		}
		if cfg.Forge == nil {
			t.Fatal("Config.Forge is required for a provider that notifies")
		}
		forged := cfg.Forge(t, genuine.Raw)
		n, err := h.Provider.ParseNotify(ctx, forged.Request(), forged.Body)
		if err == nil {
			t.Fatalf("forged notification accepted: %+v", n)
		}
		again, err := h.Provider.ParseNotify(ctx, genuine.Raw.Request(), genuine.Raw.Body)
		if err != nil || again.Order.Status != providers.OrderPaid {
			t.Fatalf("genuine notification replayed: %+v, %v", again, err)
		}
		if ack := h.Provider.NotifyAck(false, "forged"); ack.Status == 0 {
			t.Fatal("failure ack has no HTTP status")
		}
	})

	var paid providers.OrderState
	t.Run("query after payment is PAID", func(t *testing.T) {
		if !caps.Query {
			t.Skip("provider has no query")
		}
		st, err := h.Provider.QueryOrder(ctx, ref)
		if err != nil {
			t.Fatalf("QueryOrder: %v", err)
		}
		if st.Status != providers.OrderPaid {
			t.Fatalf("status = %s (%s), want PAID", st.Status, st.ProviderStatus)
		}
		if !st.Amount.IsZero() && st.Amount != req.Amount {
			t.Errorf("amount = %+v, want %+v", st.Amount, req.Amount)
		}
		if st.ProviderTradeNo == "" && st.TransactionID == "" {
			t.Errorf("query names neither the provider's number nor the transaction id: %+v", st)
		}
		paid = st
	})
	if paid.ProviderTradeNo != "" {
		ref.ProviderTradeNo = paid.ProviderTradeNo
	}
	if paid.TransactionID != "" {
		ref.TransactionID = paid.TransactionID
	}

	t.Run("partial refund succeeds", func(t *testing.T) {
		if !caps.Refund {
			t.Skip("provider has no refund")
		}
		part := providers.Money{Minor: req.Amount.Minor / 4, Currency: req.Amount.Currency}
		if caps.RefundCurrency != "" {
			part.Currency = caps.RefundCurrency
		}
		rreq := providers.RefundRequest{Order: ref, OutRefundNo: NewOutTradeNo("RF"), Amount: part, Reason: "conformance", NotifyURL: h.Channel.NotifyURL}
		st, err := h.Provider.Refund(ctx, rreq)
		if err != nil {
			t.Fatalf("Refund: %v", err)
		}
		if st.Status == providers.RefundFailed {
			t.Fatalf("refund FAILED: %+v", st)
		}
		rref := providers.RefundRef{Order: ref, OutRefundNo: rreq.OutRefundNo, ProviderRefundNo: st.ProviderRefundNo, Amount: part}
		if !caps.RefundQuery {
			return
		}
		deadline := time.Now().Add(settle)
		for st.Status != providers.RefundSucceeded && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			if st, err = h.Provider.QueryRefund(ctx, rref); err != nil {
				t.Fatalf("QueryRefund: %v", err)
			}
		}
		if st.Status != providers.RefundSucceeded {
			t.Fatalf("refund status = %s (%s), want SUCCEEDED", st.Status, st.ProviderStatus)
		}
		if !st.Amount.IsZero() && st.Amount.Minor != part.Minor {
			t.Errorf("refund amount = %+v, want %+v", st.Amount, part)
		}
		if caps.RefundNotify {
			r, ok := h.WaitNotification(providers.NotifyRefund, outTradeNo, settle)
			if !ok {
				t.Fatalf("no refund notification for %s", outTradeNo)
			}
			if r.Err != nil || r.Notification.Refund.Status != providers.RefundSucceeded {
				t.Fatalf("refund notification: %+v, %v", r.Notification, r.Err)
			}
		}
	})

	t.Run("close an unpaid order", func(t *testing.T) {
		if !caps.Close {
			t.Skip("provider has no close")
		}
		no := NewOutTradeNo("CL")
		creq, cres := h.CreateOrder(cfg, no)
		cref := providers.OrderRef{OutTradeNo: no, ProviderTradeNo: cres.ProviderTradeNo, Amount: creq.Amount}
		if err := h.Provider.CloseOrder(ctx, cref); err != nil {
			t.Fatalf("CloseOrder: %v", err)
		}
		if !caps.Query {
			return
		}
		st, err := h.Provider.QueryOrder(ctx, cref)
		if err != nil {
			t.Fatalf("QueryOrder: %v", err)
		}
		if st.Status != providers.OrderClosed {
			t.Fatalf("status after close = %s (%s), want CLOSED", st.Status, st.ProviderStatus)
		}
	})

	t.Run("query of an unknown order is PROVIDER_NOT_FOUND", func(t *testing.T) {
		if !caps.Query {
			t.Skip("provider has no query")
		}
		_, err := h.Provider.QueryOrder(ctx, providers.OrderRef{OutTradeNo: NewOutTradeNo("NX"), ProviderTradeNo: "NX-unknown-0001"})
		if !providers.IsCode(err, providers.ErrCodeNotFound) {
			t.Fatalf("error = %v, want %s", err, providers.ErrCodeNotFound)
		}
	})
}
