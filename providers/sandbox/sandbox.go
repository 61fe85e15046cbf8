// Package sandbox serves in-process simulators of every provider's wire
// protocol. Each simulator keeps its own order book, verifies the gateway's
// signatures with code written apart from the adapters, and sends signed
// notifications back. The gateway mounts them under /sandbox/ when
// `sandbox: true`; cmd/paysim serves them alone.
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate/providers"
)

// PathPrefix is where the sandbox is mounted.
const PathPrefix = "/sandbox/"

// BaseURL is the provider root a channel with `base_url: sandbox` uses.
func BaseURL(publicURL, kind string) string {
	return strings.TrimRight(publicURL, "/") + PathPrefix + kind
}

// PayOptions tune how the simulated payer pays.
type PayOptions struct {
	Duplicates int  `json:"duplicates"`  // extra copies of the notification, sent concurrently
	DelayMS    int  `json:"delay_ms"`    // wait before notifying (then the answer does not wait)
	SkipNotify bool `json:"skip_notify"` // pay but send nothing: a lost callback
	// Notify false is the same as skip_notify: paid at the provider, the
	// notification lost (what reconciliation and the backstop poll find).
	Notify *bool `json:"notify"`
}

// Silent reports whether no notification is to be sent.
func (o PayOptions) Silent() bool { return o.SkipNotify || (o.Notify != nil && !*o.Notify) }

// Env is what a simulator gets from the sandbox.
type Env struct {
	// Client sends notifications to the gateway.
	Client *http.Client
	Now    func() time.Time
}

// Simulator is one provider kind's simulated API.
type Simulator interface {
	Kind() string
	// Handler serves the provider's endpoints; the request path has the
	// /sandbox/{kind} prefix stripped.
	Handler() http.Handler
	AddChannel(ch providers.Channel) error
	// Pay marks the order paid as the simulated payer and sends the
	// notification(s) the real provider would send. It returns the
	// simulator's view of the order.
	Pay(ctx context.Context, channelID, outTradeNo string, opts PayOptions) (any, error)
}

// RefundOptions describe a refund made in the provider's own console
// (the merchant platform), past the gateway.
type RefundOptions struct {
	AmountMinor int64 `json:"amount_minor"` // in the order's currency
	Duplicates  int   `json:"duplicates"`   // extra copies of the notification
}

// ConsoleRefunder is a simulator whose provider lets the merchant refund
// in its own console: the refund never passes through the gateway, and
// the provider notifies it like any other refund.
type ConsoleRefunder interface {
	ConsoleRefund(ctx context.Context, channelID, outTradeNo string, opts RefundOptions) (any, error)
}

// ErrNotFound is returned by Pay for an order the simulator does not know.
var ErrNotFound = errors.New("sandbox: order not found")

// Constructor builds a simulator.
type Constructor func(env Env) Simulator

var (
	constructorsMu sync.RWMutex
	constructors   = map[string]Constructor{}
)

// Register makes a simulator kind available; simulator packages call it
// from init.
func Register(kind string, c Constructor) {
	constructorsMu.Lock()
	defer constructorsMu.Unlock()
	constructors[kind] = c
}

// Sandbox routes /sandbox/{kind}/... to the simulators and serves the
// control endpoint POST /sandbox/pay/{channel}/{out_trade_no}.
type Sandbox struct {
	env      Env
	mu       sync.RWMutex
	sims     map[string]Simulator
	handlers map[string]http.Handler // each simulator's, built once
	channels map[string]providers.Channel
}

// New builds a sandbox with every registered simulator.
func New(env Env) *Sandbox {
	if env.Client == nil {
		env.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	s := &Sandbox{env: env, sims: map[string]Simulator{}, handlers: map[string]http.Handler{}, channels: map[string]providers.Channel{}}
	constructorsMu.RLock()
	defer constructorsMu.RUnlock()
	for kind, c := range constructors {
		s.sims[kind] = c(env)
		s.handlers[kind] = s.sims[kind].Handler()
	}
	return s
}

// Kinds lists the simulated provider kinds.
func (s *Sandbox) Kinds() []string {
	out := make([]string, 0, len(s.sims))
	for k := range s.sims {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Simulator returns the simulator of a kind.
func (s *Sandbox) Simulator(kind string) (Simulator, bool) {
	sim, ok := s.sims[kind]
	return sim, ok
}

// AddChannel registers a channel with its kind's simulator.
func (s *Sandbox) AddChannel(ch providers.Channel) error {
	sim, ok := s.sims[ch.Kind]
	if !ok {
		return fmt.Errorf("sandbox: no simulator for provider %q", ch.Kind)
	}
	if err := sim.AddChannel(ch); err != nil {
		return fmt.Errorf("sandbox: channel %s: %w", ch.ID, err)
	}
	s.mu.Lock()
	s.channels[ch.ID] = ch
	s.mu.Unlock()
	return nil
}

// Pay makes the simulated payer pay an order of a channel.
func (s *Sandbox) Pay(ctx context.Context, channelID, outTradeNo string, opts PayOptions) (any, error) {
	s.mu.RLock()
	ch, ok := s.channels[channelID]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: unknown channel %q", ErrNotFound, channelID)
	}
	return s.sims[ch.Kind].Pay(ctx, channelID, outTradeNo, opts)
}

// ServeHTTP serves everything under /sandbox/.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, PathPrefix)
	kind, sub, _ := strings.Cut(rest, "/")
	switch kind {
	case "pay":
		s.servePay(w, r, sub)
		return
	case "refund":
		s.serveRefund(w, r, sub)
		return
	case "book":
		s.serveBook(w, r, sub)
		return
	case "statement":
		s.serveStatementControl(w, r, sub)
		return
	case "certificates":
		s.serveCertificates(w, r, sub)
		return
	}
	h, ok := s.handlers[kind]
	if !ok {
		http.NotFound(w, r)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + sub
	r2.URL.RawPath = ""
	h.ServeHTTP(w, r2)
}

func (s *Sandbox) servePay(w http.ResponseWriter, r *http.Request, sub string) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	channelID, outTradeNo, ok := strings.Cut(sub, "/")
	if !ok || channelID == "" || outTradeNo == "" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "use /sandbox/pay/{channel}/{out_trade_no}"})
		return
	}
	var opts PayOptions
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil && len(strings.TrimSpace(string(body))) > 0 {
		err = json.Unmarshal(body, &opts)
	}
	if err != nil || opts.Duplicates < 0 || opts.Duplicates > 100 || opts.DelayMS < 0 || opts.DelayMS > 600_000 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: {\"duplicates\": 0..100, \"delay_ms\": 0..600000, \"notify\": bool}"})
		return
	}
	view, err := s.Pay(r.Context(), channelID, outTradeNo, opts)
	writeResult(w, view, err)
}

// writeResult answers a control request: the simulator's view, 404 for an
// order it does not know, 409 for one it refuses to act on.
func writeResult(w http.ResponseWriter, view any, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, view)
	}
}

// serveRefund serves POST /sandbox/refund/{channel}/{out_trade_no}
// {"amount_minor": N, "duplicates": M}: a refund made in the provider's
// console.
func (s *Sandbox) serveRefund(w http.ResponseWriter, r *http.Request, sub string) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	channelID, outTradeNo, ok := strings.Cut(sub, "/")
	s.mu.RLock()
	ch, known := s.channels[channelID]
	s.mu.RUnlock()
	if !ok || !known || outTradeNo == "" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "use /sandbox/refund/{channel}/{out_trade_no} with a sandbox channel"})
		return
	}
	refunder, ok := s.sims[ch.Kind].(ConsoleRefunder)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": ch.Kind + " simulator has no console refunds"})
		return
	}
	var opts RefundOptions
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		err = json.Unmarshal(body, &opts)
	}
	if err != nil || opts.AmountMinor <= 0 || opts.Duplicates < 0 || opts.Duplicates > 100 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: {\"amount_minor\": > 0, \"duplicates\": 0..100}"})
		return
	}
	view, err := refunder.ConsoleRefund(r.Context(), channelID, outTradeNo, opts)
	writeResult(w, view, err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Deliver sends a notification built by build (once per copy: 1 +
// opts.Duplicates copies, concurrently) and reports the answers. With a
// delay it returns at once and delivers in the background.
func Deliver(env Env, opts PayOptions, build func() (*http.Request, error)) []DeliveryResult {
	if opts.Silent() {
		return nil
	}
	send := func() []DeliveryResult {
		n := 1 + opts.Duplicates
		results := make([]DeliveryResult, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				results[i] = deliverOne(env.Client, build)
			}(i)
		}
		wg.Wait()
		return results
	}
	if opts.DelayMS > 0 {
		go func() {
			time.Sleep(time.Duration(opts.DelayMS) * time.Millisecond)
			send()
		}()
		return nil
	}
	return send()
}

// DeliveryResult is the gateway's answer to one notification.
type DeliveryResult struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	Error  string `json:"error,omitempty"`
}

func deliverOne(c *http.Client, build func() (*http.Request, error)) DeliveryResult {
	req, err := build()
	if err != nil {
		return DeliveryResult{Error: err.Error()}
	}
	resp, err := c.Do(req)
	if err != nil {
		return DeliveryResult{Error: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return DeliveryResult{Status: resp.StatusCode, Body: string(b)}
}
