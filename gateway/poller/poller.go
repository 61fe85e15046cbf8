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

// DefaultLease is how long a claimed row stays with this replica by
// default. It must outlast a provider call (the config checks it against
// every channel's timeout); work that runs longer keeps renewing it.
const DefaultLease = 30 * time.Second

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
	lease    time.Duration
	limits   map[string]chan struct{} // per-channel concurrency
	// skew is the database's clock minus this machine's, measured every
	// ClockCheck: expiry and the next poll are judged on the database's
	// clock.
	skew     atomic.Int64
	measured atomic.Int64 // when, Unix nanoseconds; 0: never
	// Observe counts polls by result.
	Observe func(kind, result string)
}

// New builds a poller of svc's channels, claiming due rows in st:
// interval between rounds, batch rows per claim, perChannel provider
// calls in flight per channel.
func New(svc *orders.Service, st *store.Store, log *slog.Logger, interval time.Duration, batch, perChannel int) *Poller {
	p := &Poller{svc: svc, st: st, log: log, interval: interval, batch: batch, lease: DefaultLease, limits: map[string]chan struct{}{}}
	for _, ch := range svc.Channels() {
		p.limits[ch.ID] = make(chan struct{}, max(perChannel, 1))
	}
	return p
}

// SetLease sets how long a claimed row stays with this replica; call it
// before Run.
func (p *Poller) SetLease(d time.Duration) {
	if d > 0 {
		p.lease = d
	}
}

// now is the database's clock, as last measured.
func (p *Poller) now() time.Time {
	return time.Now().Add(time.Duration(p.skew.Load())).UTC()
}

// ClockCheck is how often the poller reads the database's clock: clocks
// drift by milliseconds a day, so once in a while is enough.
const ClockCheck = 10 * time.Second

// measureClock reads the database's clock and keeps its offset, at most
// once per ClockCheck.
func (p *Poller) measureClock(ctx context.Context) error {
	if last := p.measured.Load(); last != 0 && time.Since(time.Unix(0, last)) < ClockCheck {
		return nil
	}
	before := time.Now()
	dbNow, err := p.st.DBNow(ctx)
	if err != nil {
		return err
	}
	after := time.Now()
	mid := before.Add(after.Sub(before) / 2)
	p.skew.Store(int64(dbNow.Sub(mid)))
	p.measured.Store(after.UnixNano())
	return nil
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
	if err := p.measureClock(ctx); err != nil {
		if ctx.Err() == nil {
			p.log.Error("read the database's clock", "err", err)
		}
		return 0
	}
	n := 0
	if ords, token, err := p.st.ClaimDueOrders(ctx, p.batch, p.lease); err != nil {
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
	if refs, token, err := p.st.ClaimDueRefunds(ctx, p.batch, p.lease); err != nil {
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
// time, and returns how many it ran. A row keeps its lease while it waits
// for its turn and while its work runs (see hold); one whose lease ran out
// meanwhile is left to whoever took it. A row still waiting for its turn
// when ctx is cancelled is released instead.
func (p *Poller) each(ctx context.Context, n int, table, token string, row func(int) (id, channel string), fn func(int)) int {
	var (
		wg      sync.WaitGroup
		ran     atomic.Int64
		claimed = time.Now()
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
			stop, ok := p.hold(table, id, token, claimed)
			if !ok {
				p.count(strings.TrimSuffix(table, "s"), "lease_lost")
				return
			}
			defer stop()
			fn(i)
			ran.Add(1)
		}(i)
	}
	wg.Wait()
	return int(ran.Load())
}

// hold keeps the caller's lease on a row for as long as its work runs:
// renewed when the work starts, if the row waited for its turn, and every
// third of the lease while the work goes on (a poll may make several
// provider calls in a row: a query, a close, a query again). It reports
// false when the lease is already lost: another replica may be working on
// the row, so this one must not.
func (p *Poller) hold(table, id, token string, claimed time.Time) (stop func(), ok bool) {
	ctx := context.Background()
	if time.Since(claimed) > p.lease/4 {
		ok, err := p.st.RenewLease(ctx, table, id, token, p.lease)
		if err != nil {
			p.log.Warn("renew lease", "table", table, "id", id, "err", err)
		}
		if err != nil || !ok {
			return nil, false
		}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(p.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if ok, err := p.st.RenewLease(ctx, table, id, token, p.lease); err != nil || !ok {
					p.log.Warn("lease lost while polling", "table", table, "id", id, "err", err)
					return
				}
			}
		}
	}()
	return func() { close(done); <-finished }, true
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
	now := p.now()
	cur, err := p.svc.Refresh(ctx, o)
	expired := !now.Before(o.ExpiresAt)
	closing := false
	if expired && (err == nil && cur.Status == string(providers.OrderPaying) || providers.IsCode(err, providers.ErrCodeNotFound)) {
		// Still unpaid (or never known to the provider) at expiry: close at
		// the provider, then locally. A provider that reports it paid
		// meanwhile wins (CloseAtProvider applies the payment).
		if err != nil {
			cur = o
		}
		closing = true
		cur, err = p.svc.CloseAtProvider(ctx, cur, "expire")
		p.count("order", "expired")
	}
	switch {
	case errors.Is(err, providers.ErrBreakerOpen):
		// Not an attempt: the provider was not asked.
		in := BreakerPause
		p.reschedule(ctx, o, token, &in, o.PollAttempts)
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
	if expired {
		// Expired and still open here: the close failed (or the provider
		// could not be asked). Try again on a schedule that backs off with
		// the time since expiry, and give up after a bound: the order stays
		// PAYING (a later notification or an API close still applies), and
		// the operator hears of it.
		in, retry := p.svc.NextCloseRetry(now.Sub(o.ExpiresAt))
		if !retry {
			p.log.Error("expired order could not be closed at the provider; giving up: close it by hand (POST /v1/orders/{out_trade_no}/close)",
				"order", o.ID, "out_trade_no", o.OutTradeNo, "channel", o.ChannelID, "expired_at", o.ExpiresAt, "err", err)
			p.count("order", "close_given_up")
			p.reschedule(ctx, o, token, nil, o.PollAttempts+1)
			return
		}
		if closing || err != nil {
			p.log.Warn("expired order still open at the provider; will try again", "order", o.ID, "channel", o.ChannelID,
				"expired_for", now.Sub(o.ExpiresAt).Round(time.Second), "next_in", in, "err", err)
			p.count("order", "close_failed")
		}
		p.reschedule(ctx, o, token, &in, o.PollAttempts+1)
		return
	}
	in := p.svc.NextOrderPoll(ch, o.PollAttempts+1, now, o.ExpiresAt).Sub(now)
	p.reschedule(ctx, o, token, &in, o.PollAttempts+1)
}

func (p *Poller) reschedule(ctx context.Context, o *store.Order, token string, in *time.Duration, attempts int) {
	if err := p.st.ScheduleOrderPoll(ctx, o.ID, token, in, attempts); err != nil {
		p.log.Error("schedule order poll", "order", o.ID, "err", err)
	}
}

func (p *Poller) pollRefund(ctx context.Context, r *store.Refund, token string) {
	ctx = context.WithoutCancel(ctx)
	now := p.now()
	attempts := r.PollAttempts + 1
	var next *time.Duration
	if r.Status == string(providers.RefundProcessing) && r.CallUntil != nil && now.Before(r.CallUntil.Time) {
		// An earlier provider call may still be running: neither ask (a
		// "not found" now would lead to a second send) nor count an attempt.
		in := r.CallUntil.Sub(now)
		if err := p.st.ScheduleRefundPoll(ctx, r.ID, token, &in, r.PollAttempts); err != nil {
			p.log.Error("schedule refund poll", "refund", r.ID, "err", err)
		}
		p.count("refund", "in_flight")
		return
	}
	if r.Status == string(providers.RefundProcessing) {
		cur, err := p.svc.PollRefund(ctx, r)
		switch {
		case errors.Is(err, providers.ErrBreakerOpen):
			in := BreakerPause
			next, attempts = &in, r.PollAttempts
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
			in := p.svc.NextRefundPoll(ch, attempts, now).Sub(now)
			if r.CallUntil != nil && r.CallUntil.Sub(now) > in {
				in = r.CallUntil.Sub(now) // not before a re-send's call can be over
			}
			next = &in
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
