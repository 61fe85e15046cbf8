// Package webhook delivers merchant events from the outbox: it claims due
// events with a lease, POSTs each to the merchant's URL signed with the
// merchant's secret, records every attempt, and retries on WeChat's own
// schedule (about a day) until a 2xx arrives.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/paygate/paygate/store"
)

// Schedule is the wait before each retry: 15 retries after the first
// attempt, 24h4m in all, as WeChat Pay retries its own notifications.
var Schedule = []time.Duration{
	15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute, time.Hour,
	3 * time.Hour, 3 * time.Hour, 3 * time.Hour, 6 * time.Hour, 6 * time.Hour,
}

// Headers of a merchant webhook.
const (
	HeaderEventID   = "X-Gateway-Event-Id"
	HeaderTimestamp = "X-Gateway-Timestamp"
	HeaderSignature = "X-Gateway-Signature"
)

// Sign returns hex HMAC-SHA256(secret, timestamp + "." + body).
func Sign(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a webhook as a merchant should: the signature, and a
// timestamp within tolerance of now (against replays).
func Verify(secret string, timestamp string, signature string, body []byte, now time.Time, tolerance time.Duration) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	want := Sign(secret, ts, body)
	return hmac.Equal([]byte(want), []byte(signature))
}

// Dispatcher delivers due events.
type Dispatcher struct {
	st       *store.Store
	secrets  map[string]string // merchant id -> webhook secret
	client   *http.Client      // for the merchants' configured URLs
	guard    *Guard
	guarded  map[string]*http.Client // per merchant, for untrusted URLs
	log      *slog.Logger
	interval time.Duration
	workers  int
	lease    time.Duration
	kick     chan struct{}
	now      func() time.Time
	schedule []time.Duration
	// Observe counts attempts by result ("delivered", "failed", "gave_up").
	Observe func(result string, latency time.Duration)

	wg sync.WaitGroup
}

// Options tune the dispatcher.
type Options struct {
	Client   *http.Client
	Timeout  time.Duration
	Interval time.Duration
	Workers  int
	// Guard vets untrusted (per-order) URLs; nil trusts every URL.
	Guard *Guard
}

// New builds a dispatcher; secrets maps merchant ids to webhook secrets.
func New(st *store.Store, secrets map[string]string, log *slog.Logger, opts Options) *Dispatcher {
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	c := *opts.Client
	if opts.Timeout > 0 {
		c.Timeout = opts.Timeout
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d := &Dispatcher{
		st: st, secrets: secrets, client: &c, log: log, guard: opts.Guard,
		interval: opts.Interval, workers: max(opts.Workers, 1), lease: 30 * time.Second,
		kick: make(chan struct{}, 1), now: time.Now, schedule: Schedule,
	}
	if opts.Guard != nil {
		d.guarded = opts.Guard.guardedClients(c.Timeout)
	}
	return d
}

// SetSchedule replaces the retry schedule (tests, or a merchant's own).
// Call it before Run.
func (d *Dispatcher) SetSchedule(s []time.Duration) { d.schedule = s }

// Kick wakes the dispatcher (an event was just written).
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is cancelled, then waits for deliveries in flight.
func (d *Dispatcher) Run(ctx context.Context) {
	defer d.wg.Wait()
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		for ctx.Err() == nil && d.round(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.kick:
		}
	}
}

// round claims one batch and delivers it; it reports whether the batch
// was full (more may be due).
func (d *Dispatcher) round(ctx context.Context) bool {
	batch := d.workers * 4
	events, token, err := d.st.ClaimDueEvents(ctx, batch, d.lease)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("claim merchant events", "err", err)
		}
		return false
	}
	sem := make(chan struct{}, d.workers)
	var wg sync.WaitGroup
	for i := range events {
		acquired := false
		select {
		case sem <- struct{}{}:
			acquired = true
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			// Shutting down: events not started go back to the outbox at
			// once (another replica, or this one after a restart, sends them).
			if acquired {
				<-sem
			}
			for j := i; j < len(events); j++ {
				if err := d.st.ReleaseLease(context.Background(), "merchant_events", events[j].ID, token); err != nil {
					d.log.Warn("release merchant event lease", "event", events[j].ID, "err", err)
				}
			}
			break
		}
		wg.Add(1)
		d.wg.Add(1)
		go func(e *store.MerchantEvent) {
			defer func() { <-sem; wg.Done(); d.wg.Done() }()
			// A delivery in flight finishes even during shutdown: the
			// merchant may already be processing it.
			d.deliver(context.WithoutCancel(ctx), e, token)
		}(&events[i])
	}
	wg.Wait()
	return len(events) == batch
}

// deliver makes one attempt and records it.
func (d *Dispatcher) deliver(ctx context.Context, e *store.MerchantEvent, token string) {
	start := d.now()
	status, err := d.post(ctx, e)
	latency := d.now().Sub(start)
	a := &store.EventAttempt{EventID: e.ID, StatusCode: status, LatencyMS: latency.Milliseconds(), At: start.UTC()}
	e.Attempts++
	result := "delivered"
	if err == nil && status >= 200 && status < 300 {
		e.Status = store.EventDelivered
		at := d.now().UTC()
		e.DeliveredAt = &at
		e.LastError = ""
	} else {
		msg := fmt.Sprintf("HTTP %d", status)
		if err != nil {
			// The merchant reads attempts: a fixed phrase, not the raw error.
			msg = publicError(err)
			d.log.Info("merchant webhook: no answer", "event", e.ID, "merchant", e.MerchantID, "err", err)
		}
		a.Error = truncate(msg, 500)
		e.LastError = a.Error
		if e.Attempts > len(d.schedule) {
			e.Status = store.EventFailed
			result = "gave_up"
		} else {
			e.NextTryAt = d.now().UTC().Add(d.schedule[e.Attempts-1])
			result = "failed"
		}
	}
	if err := d.st.RecordAttempt(ctx, e, a, token); err != nil {
		d.log.Error("record webhook attempt", "event", e.ID, "err", err)
	}
	if d.Observe != nil {
		d.Observe(result, latency)
	}
	if result != "delivered" {
		d.log.Info("merchant webhook not delivered", "event", e.ID, "type", e.Type, "attempt", e.Attempts, "error", a.Error)
	}
}

func (d *Dispatcher) post(ctx context.Context, e *store.MerchantEvent) (int, error) {
	secret, ok := d.secrets[e.MerchantID]
	if !ok {
		return 0, fmt.Errorf("merchant %s has no webhook secret configured", e.MerchantID)
	}
	ts := d.now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(e.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "paygate-webhook/1")
	req.Header.Set(HeaderEventID, e.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(secret, ts, e.Payload))
	client, err := d.guard.clientFor(e.MerchantID, e.URL, d.client, d.guarded)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
