package recon

import (
	"context"
	"errors"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// scheduleLease names the job lease of the daily schedule: one replica
// at a time decides which runs are due (the unique schedule key keeps it
// to one run per channel and day even if two did).
const scheduleLease = "recon-schedule"

// Scheduled reports whether any channel reconciles by itself.
func (e *Engine) Scheduled() bool {
	for _, s := range e.settings {
		if s.DailyAt != nil {
			return true
		}
	}
	return false
}

// Run schedules the daily reconciliations and executes due runs (new
// scheduled ones, WAITING ones, unreachable providers) until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	t := time.NewTicker(e.opts.Tick)
	defer t.Stop()
	for {
		e.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick does one round: schedule, then execute what is due.
func (e *Engine) Tick(ctx context.Context) {
	if err := e.schedule(ctx); err != nil && ctx.Err() == nil {
		e.log.Warn("reconciliation schedule", "err", err)
	}
	if err := e.executeDue(ctx); err != nil && ctx.Err() == nil {
		e.log.Warn("reconciliation retries", "err", err)
	}
}

// schedule creates yesterday's run of every channel whose daily_at has
// passed today (in its statement zone), once per channel and day across
// replicas.
func (e *Engine) schedule(ctx context.Context) error {
	if !e.Scheduled() {
		return nil
	}
	ok, err := e.st.AcquireJobLease(ctx, scheduleLease, e.opts.Holder, 2*e.opts.Tick)
	if err != nil || !ok {
		return err
	}
	for _, ch := range e.svc.Channels() {
		set := e.settings[ch.ID]
		if set.DailyAt == nil || e.Source(ch) == nil {
			continue
		}
		loc := e.Location(ch)
		now := e.now().In(loc)
		today := providers.DayOf(now)
		if now.Before(today.Start(loc).Add(*set.DailyAt)) {
			continue
		}
		day := today.AddDays(-1)
		key := ch.ID + "|" + day.String()
		due := store.DueNow()
		run := &store.ReconRun{
			MerchantID: ch.MerchantID, ChannelID: ch.ID, Provider: ch.Kind, Date: day.String(), Source: SourceProvider,
			ScheduleKey: &key, Status: store.ReconWaiting, NextTryAt: &due,
		}
		err := e.st.InsertReconRun(ctx, run)
		switch {
		case errors.Is(err, store.ErrDuplicate):
		case err != nil:
			return err
		default:
			e.log.Info("reconciliation scheduled", "run", run.ID, "channel", ch.ID, "date", run.Date)
		}
	}
	return nil
}

// executeDue claims runs whose (re)try is due and executes them.
func (e *Engine) executeDue(ctx context.Context) error {
	for ctx.Err() == nil {
		runs, token, err := e.st.ClaimDueReconRuns(ctx, 1, e.opts.Lease)
		if err != nil || len(runs) == 0 {
			return err
		}
		run := runs[0]
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.Lease)
		if err := e.execute(rctx, &run, token); err != nil {
			e.log.Error("reconciliation run failed", "run", run.ID, "err", err)
		}
		cancel()
	}
	return nil
}
