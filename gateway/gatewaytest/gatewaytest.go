// Package gatewaytest runs a whole gateway on an httptest server with a
// merchant webhook receiver, for end-to-end tests through real HTTP.
package gatewaytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/gateway/webhook"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// EnvDriver, set to "postgres", runs every gateway started with ${DB} and
// ${DB_DRIVER} in its config on a fresh PostgreSQL schema (needs
// GATEWAY_TEST_POSTGRES_DSN): GATEWAY_TEST_DRIVER=postgres go test ./gateway/...
const EnvDriver = "GATEWAY_TEST_DRIVER"

// WebhookSecret is the merchant webhook secret the test configs use.
const WebhookSecret = "test-webhook-secret-0123456789"

// Env is a running gateway.
type Env struct {
	T        testing.TB
	URL      string
	App      *gateway.App
	Server   *httptest.Server
	Receiver *Receiver
}

// Options tune Start.
type Options struct {
	// Vars are extra ${VAR} values for the config.
	Vars map[string]string
	// NoBackground leaves the poller and dispatcher stopped (tests drive
	// them by hand).
	NoBackground bool
	// Store to use instead of a fresh SQLite file.
	Store *store.Store
	// Logger; default discards.
	Logger *slog.Logger
	// WebhookSchedule replaces the merchant-webhook retry schedule.
	WebhookSchedule []time.Duration
	// Setup runs after the gateway is built and before its poller and
	// dispatcher start: inject schedules here (Orders.SetSchedules,
	// Dispatcher.SetSchedule).
	Setup func(*gateway.App)
	// Receiver to send merchant webhooks to instead of a new one (several
	// gateway instances, one merchant backend).
	Receiver *Receiver
}

// Start runs a gateway from a YAML config. ${PUBLIC_URL}, ${WEBHOOK_URL},
// ${WEBHOOK_SECRET} and ${DB} are provided: the test server's URL, the
// receiver's URL, WebhookSecret and a fresh SQLite file; ${DB_DRIVER} is
// "sqlite" unless Vars says otherwise (storetest.FreshDSN gives a
// PostgreSQL one).
func Start(t testing.TB, yamlConfig string, opts Options) *Env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	recv := opts.Receiver
	if recv == nil {
		recv = NewReceiver(t, WebhookSecret)
	}
	vars := map[string]string{
		"PUBLIC_URL":     url,
		"WEBHOOK_URL":    recv.URL(),
		"WEBHOOK_SECRET": WebhookSecret,
		"DB_DRIVER":      "sqlite",
		"DB":             filepath.Join(t.TempDir(), "gateway.db"),
	}
	if driver := os.Getenv(EnvDriver); driver != "" && driver != "sqlite" && opts.Vars["DB"] == "" && opts.Store == nil {
		// The whole gateway suite on another database.
		vars["DB_DRIVER"], vars["DB"] = driver, storetest.FreshDSN(t, driver)
	}
	for k, v := range opts.Vars {
		vars[k] = v
	}
	lookup := func(k string) (string, bool) {
		if v, ok := vars[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}
	cfg, err := config.Parse([]byte(yamlConfig), lookup)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	app, err := gateway.New(cfg, log, gateway.Options{Store: opts.Store})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	if opts.WebhookSchedule != nil {
		app.Dispatcher.SetSchedule(opts.WebhookSchedule)
	}
	srv.Config.Handler = app.Handler()
	srv.Start()
	if opts.Setup != nil {
		opts.Setup(app)
	}
	if !opts.NoBackground {
		app.Start()
	}
	t.Cleanup(func() {
		srv.Close()
		app.Stop()
		if opts.Store == nil {
			_ = app.Store.Close()
		}
	})
	return &Env{T: t, URL: url, App: app, Server: srv, Receiver: recv}
}

// Response is an API answer.
type Response struct {
	Status int
	Body   []byte
	JSON   map[string]any
}

// Str returns a top-level string field ("" when absent).
func (r Response) Str(key string) string {
	s, _ := r.JSON[key].(string)
	return s
}

// ErrCode returns error.code of an error answer.
func (r Response) ErrCode() string {
	e, _ := r.JSON["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// ErrField returns error.field of an error answer.
func (r Response) ErrField() string {
	e, _ := r.JSON["error"].(map[string]any)
	s, _ := e["field"].(string)
	return s
}

// Do sends a request with an API key; body may be nil, a string or a value
// to encode as JSON.
func (e *Env) Do(method, path, key string, body any) Response {
	e.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := Response{Status: resp.StatusCode, Body: raw}
	_ = json.Unmarshal(raw, &out.JSON)
	return out
}

// Pay makes the sandbox's payer pay an order.
func (e *Env) Pay(channel, outTradeNo string, opts map[string]any) Response {
	e.T.Helper()
	var body any = map[string]any{}
	if opts != nil {
		body = opts
	}
	return e.Do(http.MethodPost, "/sandbox/pay/"+channel+"/"+outTradeNo, "", body)
}

// WaitStatus polls GET /v1/orders/{no} until status or the deadline.
func (e *Env) WaitStatus(key, outTradeNo, status string, within time.Duration) Response {
	e.T.Helper()
	deadline := time.Now().Add(within)
	for {
		r := e.Do(http.MethodGet, "/v1/orders/"+outTradeNo, key, nil)
		if r.Str("status") == status || time.Now().After(deadline) {
			if r.Str("status") != status {
				e.T.Fatalf("order %s: status %q after %s, want %s: %s", outTradeNo, r.Str("status"), within, status, r.Body)
			}
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Event is a merchant webhook the receiver got.
type Event struct {
	ID          string
	Type        string
	Sequence    int64  // the order's events counted from 1
	OrderStatus string // the order's status when the event was made
	At          time.Time
	Data        map[string]any
	Body        []byte
	Header      http.Header
	SignatureOK bool
}

// Receiver is a merchant backend: it checks each webhook's signature and
// records it. It can be told to fail the first N deliveries.
type Receiver struct {
	t      testing.TB
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	events   []Event
	failNext int
	down     bool
	delay    time.Duration
	hits     int
}

// NewReceiver starts a receiver.
func NewReceiver(t testing.TB, secret string) *Receiver {
	r := &Receiver{t: t, secret: secret}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// URL is where to send webhooks.
func (r *Receiver) URL() string { return r.srv.URL + "/payments" }

// FailNext makes the next n deliveries answer 500.
func (r *Receiver) FailNext(n int) {
	r.mu.Lock()
	r.failNext = n
	r.mu.Unlock()
}

// SetDown makes every delivery answer 503 while down.
func (r *Receiver) SetDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

// SetDelay makes every answer take d (a slow merchant).
func (r *Receiver) SetDelay(d time.Duration) {
	r.mu.Lock()
	r.delay = d
	r.mu.Unlock()
}

// Hits counts every delivery attempt received.
func (r *Receiver) Hits() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	delay := r.delay
	r.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay) // outside the lock: slow answers overlap
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits++
	if r.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if r.failNext > 0 {
		r.failNext--
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	var doc struct {
		ID          string         `json:"id"`
		Type        string         `json:"type"`
		Sequence    int64          `json:"sequence"`
		OrderStatus string         `json:"order_status"`
		Data        map[string]any `json:"data"`
	}
	_ = json.Unmarshal(body, &doc)
	ok := webhook.Verify(r.secret, req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute) &&
		req.Header.Get(webhook.HeaderEventID) == doc.ID
	r.events = append(r.events, Event{ID: doc.ID, Type: doc.Type, Sequence: doc.Sequence, OrderStatus: doc.OrderStatus, At: time.Now(),
		Data: doc.Data, Body: body, Header: req.Header.Clone(), SignatureOK: ok})
	w.WriteHeader(http.StatusNoContent)
}

// OfOrder returns the received events about an order (any type), in the
// order they arrived.
func (r *Receiver) OfOrder(outTradeNo string) []Event {
	var out []Event
	for _, e := range r.Events() {
		if e.Data["out_trade_no"] == outTradeNo {
			out = append(out, e)
		}
	}
	return out
}

// Events returns the webhooks received so far.
func (r *Receiver) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Matching returns the received events of a type about an order.
func (r *Receiver) Matching(typ, outTradeNo string) []Event {
	var out []Event
	for _, e := range r.Events() {
		if e.Type == typ && e.Data["out_trade_no"] == outTradeNo {
			out = append(out, e)
		}
	}
	return out
}

// Wait waits until n events of typ about outTradeNo arrived, and returns them.
func (r *Receiver) Wait(typ, outTradeNo string, n int, within time.Duration) []Event {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := r.Matching(typ, outTradeNo)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d %s event(s) for %s after %s, want %d; all: %s", len(got), typ, outTradeNo, within, n, r.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *Receiver) describe() string {
	var b strings.Builder
	for _, e := range r.Events() {
		fmt.Fprintf(&b, "[%s %s %v] ", e.Type, e.Data["out_trade_no"], e.SignatureOK)
	}
	return b.String()
}

// Metrics returns what /metrics serves (on server.metrics_addr in the
// binary; never on the API listener).
func (e *Env) Metrics() string {
	rec := httptest.NewRecorder()
	e.App.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}
