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
	freed    chan struct{}       // a worker finished a delivery
	records  chan *pendingRecord // attempts waiting to be recorded
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
	// Lease is how long a claimed event stays with this replica (default
	// DefaultLease); it must outlast Timeout (the config checks it).
	Lease time.Duration
	// Guard vets untrusted (per-order) URLs; nil trusts every URL.
	Guard *Guard
}

// DefaultLease is how long a claimed event stays with this replica by
// default: a replica that dies holding events delays them by no more.
const DefaultLease = 30 * time.Second

// New builds a dispatcher; secrets maps merchant ids to webhook secrets.
func New(st *store.Store, secrets map[string]string, log *slog.Logger, opts Options) *Dispatcher {
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	c := *opts.Client
	if c.Transport == nil {
		// Keep a connection per worker to each merchant: the default two
		// idle connections per host make busy workers dial for every POST.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = max(opts.Workers, 2)
		c.Transport = t
	}
	if opts.Timeout > 0 {
		c.Timeout = opts.Timeout
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	d := &Dispatcher{
		st: st, secrets: secrets, client: &c, log: log, guard: opts.Guard,
		interval: opts.Interval, workers: max(opts.Workers, 1), lease: opts.Lease,
		kick: make(chan struct{}, 1), freed: make(chan struct{}, 1), now: time.Now, schedule: Schedule,
		records: make(chan *pendingRecord, max(opts.Workers, 1)),
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

// Run delivers until ctx is cancelled, then waits for deliveries in
// flight. It claims only as many events as it has idle workers, and each
// claimed event's POST starts at once, so the lease (longer than the
// timeout) covers the whole delivery: no event waits for a worker while
// its lease runs out and another replica takes it.
func (d *Dispatcher) Run(ctx context.Context) {
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		d.recordLoop()
	}()
	defer func() {
		d.wg.Wait() // deliveries in flight, each waiting for its record
		close(d.records)
		<-recorded
	}()
	t := time.NewTicker(d.interval)
	defer t.Stop()
	idle := make(chan struct{}, d.workers) // one token per idle worker
	for range d.workers {
		idle <- struct{}{}
	}
	// Under load, workers come free one at a time; a claim for each would
	// be a write for each. A new event or a freed worker claims only once
	// a quarter of the workers are idle (all of them are, when the
	// gateway is quiet: a lone event goes at once); the ticker claims for
	// any idle worker.
	batch := max(1, d.workers/4)
	least := 1
	for {
		if ctx.Err() == nil {
			d.fill(ctx, idle, least)
		}
		// A finished delivery frees a worker and may have made its order's
		// next event due: look again then, too.
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			least = 1
		case <-d.kick:
			least = batch
		case <-d.freed:
			least = batch
		}
	}
}

// fill claims up to one due event per idle worker, if at least least
// workers are idle, and starts each delivery at once.
func (d *Dispatcher) fill(ctx context.Context, idle chan struct{}, least int) {
	n := len(idle) // only this goroutine takes tokens
	if n == 0 || n < least {
		return
	}
	events, token, err := d.st.ClaimDueEvents(ctx, n, d.lease)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("claim merchant events", "err", err)
		}
		return
	}
	for i := range events {
		<-idle
		d.wg.Add(1)
		go func(e *store.MerchantEvent) {
			defer func() {
				idle <- struct{}{}
				d.wg.Done()
				select {
				case d.freed <- struct{}{}:
				default:
				}
			}()
			// A delivery in flight finishes even during shutdown: the
			// merchant may already be processing it.
			d.deliver(context.WithoutCancel(ctx), e, token)
		}(&events[i])
	}
}

// retryIn is the wait before the next attempt after attempts attempts;
// false once the schedule is spent.
func (d *Dispatcher) retryIn(attempts int) (time.Duration, bool) {
	if attempts < 1 || attempts > len(d.schedule) {
		return 0, false
	}
	return d.schedule[attempts-1], true
}

// deliver makes one attempt and records it. The record is kept even when
// the lease was lost meanwhile: the POST happened.
func (d *Dispatcher) deliver(ctx context.Context, e *store.MerchantEvent, token string) {
	start := d.now()
	status, err := d.post(ctx, e)
	latency := d.now().Sub(start)
	a := &store.EventAttempt{StatusCode: status, LatencyMS: latency.Milliseconds(), At: start.UTC()}
	out := store.AttemptOutcome{At: d.now().UTC(), RetryIn: d.retryIn, Claimed: e}
	if err == nil && status >= 200 && status < 300 {
		out.Delivered = true
	} else {
		msg := fmt.Sprintf("HTTP %d", status)
		if err != nil {
			// The merchant reads attempts: a fixed phrase, not the raw error.
			msg = publicError(err)
			d.log.Info("merchant webhook: no answer", "event", e.ID, "merchant", e.MerchantID, "err", err)
		}
		a.Error = truncate(msg, 500)
		out.Error = a.Error
	}
	rec, err := d.record(&store.AttemptRecord{EventID: e.ID, LeaseToken: token, Attempt: a, Outcome: out})
	if err != nil {
		d.log.Error("record webhook attempt", "event", e.ID, "err", err)
		return
	}
	result := "delivered"
	switch {
	case out.Delivered:
	case rec.Status == store.EventFailed:
		result = "gave_up"
	default:
		result = "failed"
	}
	if d.Observe != nil {
		d.Observe(result, latency)
	}
	if result != "delivered" {
		d.log.Info("merchant webhook not delivered", "event", e.ID, "type", e.Type, "attempt", rec.Attempts, "error", a.Error)
	}
}

// pendingRecord is an attempt handed to the recorder, and its answer.
type pendingRecord struct {
	rec  *store.AttemptRecord
	done chan struct{}
}

// record hands an attempt to the recorder and waits until it is stored:
// the event stays leased to this delivery until then.
func (d *Dispatcher) record(r *store.AttemptRecord) (*store.MerchantEvent, error) {
	p := &pendingRecord{rec: r, done: make(chan struct{})}
	d.records <- p
	<-p.done
	return r.Event, r.Err
}

// maxRecordBatch bounds the attempts recorded in one transaction.
const maxRecordBatch = 64

// recordLoop records the attempts of the deliveries that finished while
// the previous batch was being written, all in one write: under load one
// transaction (and on SQLite one share of a group commit) carries many
// attempts instead of one each; alone, an attempt is recorded at once.
func (d *Dispatcher) recordLoop() {
	batch := make([]*pendingRecord, 0, maxRecordBatch)
	recs := make([]*store.AttemptRecord, 0, maxRecordBatch)
	for p := range d.records {
		batch, recs = append(batch[:0], p), append(recs[:0], p.rec)
	fill:
		for len(batch) < maxRecordBatch {
			select {
			case p, ok := <-d.records:
				if !ok {
					break fill
				}
				batch, recs = append(batch, p), append(recs, p.rec)
			default:
				break fill
			}
		}
		// The attempts happened: record them even while shutting down.
		d.st.RecordAttempts(context.Background(), recs)
		for _, p := range batch {
			close(p.done)
		}
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
