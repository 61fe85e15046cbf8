// Package retention keeps the inbox and the outbox bounded: once per
// interval it deletes notifications older than the inbox period and
// finished merchant events older than the events period. Every replica
// runs it; a named store lease (on the database's clock) lets one at a
// time do the work.
package retention

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/paygate/paygate/store"
)

// LeaseName is the job lease the purge runs under.
const LeaseName = "retention"

// batch is how many rows one DELETE takes.
const batch = 500

// Job purges old rows.
type Job struct {
	st       *store.Store
	log      *slog.Logger
	inbox    time.Duration
	events   time.Duration
	interval time.Duration
	holder   string
	now      func() time.Time
	// Observe counts the rows deleted per table.
	Observe func(table string, n int64)
}

// New builds the job: rows older than inbox (notifications) and events
// (finished merchant events) go, checked every interval.
func New(st *store.Store, log *slog.Logger, inbox, events, interval time.Duration) *Job {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Job{st: st, log: log, inbox: inbox, events: events, interval: interval, holder: "ret_" + hex.EncodeToString(b[:]), now: time.Now}
}

// Run purges once at start and then every interval until ctx ends.
func (j *Job) Run(ctx context.Context) {
	t := time.NewTicker(j.interval)
	defer t.Stop()
	for {
		if _, err := j.Once(ctx); err != nil && ctx.Err() == nil {
			j.log.Error("retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once purges what is due if this replica gets the lease; it reports
// whether it did the work.
func (j *Job) Once(ctx context.Context) (bool, error) {
	// The lease lasts an interval and is not given back: the holder renews
	// it at its next tick, so across replicas the purge runs about once
	// per interval; a holder that dies delays it by one interval at most.
	ok, err := j.st.AcquireJobLease(ctx, LeaseName, j.holder, j.interval)
	if err != nil || !ok {
		return false, err
	}
	now := j.now()
	for _, p := range []struct {
		table string
		purge func(context.Context, time.Time, int) (int64, error)
		keep  time.Duration
	}{{"notifications", j.st.PurgeNotifications, j.inbox}, {"merchant_events", j.st.PurgeEvents, j.events}} {
		var total int64
		for ctx.Err() == nil {
			n, err := p.purge(ctx, now.Add(-p.keep), batch)
			if err != nil {
				return true, err
			}
			total += n
			if n < batch {
				break
			}
		}
		if total > 0 {
			j.log.Info("retention: deleted old rows", "table", p.table, "rows", total, "older_than", p.keep.String())
			if j.Observe != nil {
				j.Observe(p.table, total)
			}
		}
	}
	return true, nil
}
