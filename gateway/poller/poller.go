// Package poller asks providers about orders and refunds that have not
// settled: every PAYING order on a backstop schedule (callbacks get lost),
// channels without trusted callbacks on a faster one, and expired orders
// are closed at the provider and then locally. Rows are claimed with a
// lease, so several gateway replicas never poll one order at once; the
// answer goes through the same state machine as a notification.
package poller

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// Lease is how long a claimed row stays with this replica.
const Lease = 30 * time.Second

// BreakerPause is how long work on a channel with an open breaker waits;
// it does not count as an attempt.
const BreakerPause = 30 * time.Second

// Poller polls due orders and refunds.
type Poller struct {
	svc      *orders.Service
	st       *store.Store
	log      *slog.Logger
	interval time.Duration
	batch    int
	now      func() time.Time
	limits   map[string]chan struct{} // per-channel concurrency
	// Observe counts polls by result.
	Observe func(kind, result string)
}

// New builds a poller: interval between rounds, batch rows per claim,
// perChannel provider calls in flight per channel.
func New(svc *orders.Service, log *slog.Logger, interval time.Duration, batch, perChannel int) *Poller {
	p := &Poller{svc: svc, st: svc.Store(), log: log, interval: interval, batch: batch, now: time.Now, limits: map[string]chan struct{}{}}
	for _, ch := range svc.Channels() {
		p.limits[ch.ID] = make(chan struct{}, max(perChannel, 1))
	}
	return p
}

// Run polls until ctx is cancelled, then waits for calls in flight.
func (p *Poller) Run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.Round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Round claims and processes one batch of due orders and of due refunds;
// it returns how many rows it processed. When ctx is cancelled (shutdown)
// rows already being polled are finished, and claimed rows not yet
// started are released for another replica at once.
func (p *Poller) Round(ctx context.Context) int {
	n := 0
	if ords, token, err := p.st.ClaimDueOrders(ctx, p.batch, Lease); err != nil {
		if ctx.Err() == nil {
			p.log.Error("claim due orders", "err", err)
		}
	} else {
		n += p.each(ctx, len(ords), "orders", token,
			func(i int) (string, string) { return ords[i].ID, ords[i].ChannelID },
			func(i int) { p.pollOrder(ctx, &ords[i], token) })
	}
	if ctx.Err() != nil {
		return n
	}
	if refs, token, err := p.st.ClaimDueRefunds(ctx, p.batch, Lease); err != nil {
		if ctx.Err() == nil {
			p.log.Error("claim due refunds", "err", err)
		}
	} else {
		n += p.each(ctx, len(refs), "refunds", token,
			func(i int) (string, string) { return refs[i].ID, refs[i].ChannelID },
			func(i int) { p.pollRefund(ctx, &refs[i], token) })
	}
	return n
}

// each runs fn for every claimed row, at most the channel's limit at a
// time, and returns how many it ran. A row still waiting for its turn
// when ctx is cancelled is released instead.
func (p *Poller) each(ctx context.Context, n int, table, token string, row func(int) (id, channel string), fn func(int)) int {
	var (
		wg  sync.WaitGroup
		ran atomic.Int64
	)
	for i := 0; i < n; i++ {
		id, channel := row(i)
		sem, ok := p.limits[channel]
		if !ok {
			sem = make(chan struct{}, 1)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			acquired := false
			select {
			case sem <- struct{}{}:
				acquired = true
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				if acquired {
					<-sem
				}
				p.release(table, id, token)
				return
			}
			defer func() { <-sem }()
			fn(i)
			ran.Add(1)
		}(i)
	}
	wg.Wait()
	return int(ran.Load())
}

// release gives a claimed, unprocessed row back (shutdown).
func (p *Poller) release(table, id, token string) {
	if err := p.st.ReleaseLease(context.Background(), table, id, token); err != nil {
		p.log.Warn("release lease", "table", table, "id", id, "err", err)
	}
	p.count(strings.TrimSuffix(table, "s"), "released")
}

func (p *Poller) pollOrder(ctx context.Context, o *store.Order, token string) {
	// Finishing a claimed row must not be cut off by shutdown.
	ctx = context.WithoutCancel(ctx)
	ch, ok := p.svc.Channel(o.ChannelID)
	if !ok || o.Status != string(providers.OrderPaying) {
		p.reschedule(ctx, o, token, nil, o.PollAttempts)
		return
	}
	now := p.now().UTC()
	cur, err := p.svc.Refresh(ctx, o)
	expired := !now.Before(o.ExpiresAt)
	if expired && (err == nil && cur.Status == string(providers.OrderPaying) || providers.IsCode(err, providers.ErrCodeNotFound)) {
		// Still unpaid (or never known to the provider) at expiry: close at
		// the provider, then locally. A provider that reports it paid
		// meanwhile wins (CloseAtProvider applies the payment).
		if err != nil {
			cur = o
		}
		cur, err = p.svc.CloseAtProvider(ctx, cur, "expire")
		p.count("order", "expired")
	}
	switch {
	case errors.Is(err, providers.ErrBreakerOpen):
		// Not an attempt: the provider was not asked.
		at := now.Add(BreakerPause)
		p.reschedule(ctx, o, token, &at, o.PollAttempts)
		p.count("order", "breaker_open")
		return
	case err != nil:
		p.log.Info("poll order", "order", o.ID, "channel", o.ChannelID, "err", err)
		p.count("order", "error")
	default:
		p.count("order", "ok")
		if cur.Status != string(providers.OrderPaying) {
			p.reschedule(ctx, o, token, nil, o.PollAttempts+1)
			return
		}
	}
	at := p.svc.NextOrderPoll(ch, o.PollAttempts+1, now, o.ExpiresAt)
	if !at.After(now) {
		// Expired but the close failed: try again soon, not in a hot loop.
		at = now.Add(p.svc.RetryAfterExpiry())
	}
	p.reschedule(ctx, o, token, &at, o.PollAttempts+1)
}

func (p *Poller) reschedule(ctx context.Context, o *store.Order, token string, at *time.Time, attempts int) {
	if err := p.st.ScheduleOrderPoll(ctx, o.ID, token, at, attempts); err != nil {
		p.log.Error("schedule order poll", "order", o.ID, "err", err)
	}
}

func (p *Poller) pollRefund(ctx context.Context, r *store.Refund, token string) {
	ctx = context.WithoutCancel(ctx)
	now := p.now().UTC()
	attempts := r.PollAttempts + 1
	var next *time.Time
	if r.Status == string(providers.RefundProcessing) && r.CallUntil != nil && now.Before(*r.CallUntil) {
		// An earlier provider call may still be running: neither ask (a
		// "not found" now would lead to a second send) nor count an attempt.
		at := r.CallUntil.UTC()
		if err := p.st.ScheduleRefundPoll(ctx, r.ID, token, &at, r.PollAttempts); err != nil {
			p.log.Error("schedule refund poll", "refund", r.ID, "err", err)
		}
		p.count("refund", "in_flight")
		return
	}
	if r.Status == string(providers.RefundProcessing) {
		cur, err := p.svc.PollRefund(ctx, r)
		switch {
		case errors.Is(err, providers.ErrBreakerOpen):
			at := now.Add(BreakerPause)
			next, attempts = &at, r.PollAttempts
			p.count("refund", "breaker_open")
		case err != nil:
			p.log.Info("poll refund", "refund", r.ID, "err", err)
			p.count("refund", "error")
		default:
			p.count("refund", "ok")
			r = cur
		}
		if fresh, err := p.st.RefundByID(ctx, r.ID); err == nil {
			r = fresh // a re-send may have claimed a new call window
		}
		if next == nil && r.Status == string(providers.RefundProcessing) {
			ch, _ := p.svc.Channel(r.ChannelID)
			at := p.svc.NextRefundPoll(ch, attempts, now)
			if r.CallUntil != nil && r.CallUntil.After(at) {
				at = r.CallUntil.UTC()
			}
			next = &at
		}
	}
	if err := p.st.ScheduleRefundPoll(ctx, r.ID, token, next, attempts); err != nil {
		p.log.Error("schedule refund poll", "refund", r.ID, "err", err)
	}
}

func (p *Poller) count(kind, result string) {
	if p.Observe != nil {
		p.Observe(kind, result)
	}
}
