// Package recon reconciles a channel's provider statement for one
// statement day with the gateway's own payments and refunds on that
// channel: it stores the statement's rows, compares them both ways in
// batches (bounded memory), records the differences of the four kinds
// beside the matched count, heals status mismatches by asking the
// provider and applying the answer through the normal transition, and
// tells the merchant (reconciliation.completed). Runs come from the API
// (download or upload) or from each channel's daily schedule.
package recon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// EventCompleted is the merchant event a finished run sends.
const EventCompleted = "reconciliation.completed"

// Sources of a run's statement.
const (
	SourceProvider = "provider"
	SourceUpload   = "upload"
)

// ChannelSettings are a channel's `statement` config.
type ChannelSettings struct {
	// Location of the statement day; nil: the provider's (WeChat:
	// Asia/Shanghai), else UTC.
	Location *time.Location
	// DailyAt, when set, reconciles yesterday by itself at this time of
	// day in Location (minutes after midnight).
	DailyAt *time.Duration
	// Upload reads uploaded statements when the channel maps columns of an
	// acquirer's export (instead of the provider's own format).
	Upload providers.StatementFormat
}

// Options tune the engine.
type Options struct {
	// Batch is how many rows are read, looked up and written at a time.
	Batch int
	// BoundaryMargin: a payment this close to midnight may sit on the
	// neighbouring day's statement.
	BoundaryMargin time.Duration
	// RetryEvery is how long a WAITING (or unreachable) run waits.
	RetryEvery time.Duration
	// MaxAttempts bounds the retries of one run (48 × 30 min: a day).
	MaxAttempts int
	// Lease is how long an execution holds its run.
	Lease time.Duration
	// Tick is how often the daily schedule and due retries are looked at.
	Tick time.Duration
	// Holder names this replica in the schedule's job lease.
	Holder string
	// MaxUploadBytes bounds an uploaded statement.
	MaxUploadBytes int64
}

func (o *Options) defaults() {
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.BoundaryMargin <= 0 {
		o.BoundaryMargin = 5 * time.Minute
	}
	if o.RetryEvery <= 0 {
		o.RetryEvery = 30 * time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 48
	}
	if o.Lease <= 0 {
		o.Lease = 10 * time.Minute
	}
	if o.Tick <= 0 {
		o.Tick = 30 * time.Second
	}
	if o.Holder == "" {
		o.Holder = store.NewID("replica")
	}
	if o.MaxUploadBytes <= 0 {
		o.MaxUploadBytes = 256 << 20
	}
}

// Engine runs reconciliations.
type Engine struct {
	svc      *orders.Service
	st       *store.Store
	log      *slog.Logger
	settings map[string]ChannelSettings
	opts     Options
	now      func() time.Time
	// Observe counts a finished judgement's differences by kind (and
	// "matched", "healed") for metrics.
	Observe func(provider, kind string, n int64)
	// ObserveRun counts runs by final status.
	ObserveRun func(provider, status string)
}

// New builds the engine, keeping its runs in st; settings are per
// channel id.
func New(svc *orders.Service, st *store.Store, log *slog.Logger, settings map[string]ChannelSettings, opts Options) *Engine {
	opts.defaults()
	if settings == nil {
		settings = map[string]ChannelSettings{}
	}
	return &Engine{svc: svc, st: st, log: log, settings: settings, opts: opts, now: time.Now}
}

// SetClock replaces the clock (tests).
func (e *Engine) SetClock(now func() time.Time) { e.now = now }

// MaxUploadBytes is the upload limit.
func (e *Engine) MaxUploadBytes() int64 { return e.opts.MaxUploadBytes }

// channel returns the merchant's channel or a 400 naming the field.
func (e *Engine) channel(merchantID, channelID string) (*orders.Channel, error) {
	ch, ok := e.svc.Channel(channelID)
	if !ok || ch.MerchantID != merchantID {
		return nil, orders.Invalid("channel", "%q is not one of your channels", channelID)
	}
	return ch, nil
}

// Source is the channel's statement download, or nil.
func (e *Engine) Source(ch *orders.Channel) providers.StatementSource {
	src, _ := ch.Provider.(providers.StatementSource)
	return src
}

// Format is how uploads for the channel are read, or nil: the configured
// column mapping first, else the provider's own file format.
func (e *Engine) Format(ch *orders.Channel) providers.StatementFormat {
	if f := e.settings[ch.ID].Upload; f != nil {
		return f
	}
	f, _ := ch.Provider.(providers.StatementFormat)
	return f
}

// Location is the channel's statement day zone.
func (e *Engine) Location(ch *orders.Channel) *time.Location {
	if loc := e.settings[ch.ID].Location; loc != nil {
		return loc
	}
	if f, ok := ch.Provider.(providers.StatementFormat); ok && f.StatementLocation() != nil {
		return f.StatementLocation()
	}
	return time.UTC
}

// checkDay refuses a day that has not begun yet in the statement's zone.
func (e *Engine) checkDay(ch *orders.Channel, day providers.Day) error {
	today := providers.DayOf(e.now().In(e.Location(ch)))
	if day.Start(time.UTC).After(today.Start(time.UTC)) {
		return orders.Invalid("date", "%s has not begun yet in %s (today is %s)", day, e.Location(ch), today)
	}
	return nil
}

// Start downloads the channel's statement of day and reconciles it now;
// the run comes back whatever its outcome (DONE, WAITING, NO_STATEMENT,
// FAILED).
func (e *Engine) Start(ctx context.Context, merchantID, channelID string, day providers.Day) (*store.ReconRun, error) {
	ch, err := e.channel(merchantID, channelID)
	if err != nil {
		return nil, err
	}
	if e.Source(ch) == nil {
		return nil, orders.Refused(orders.CodeUnsupported, "channel", "provider %s has no statement API: upload the statement file instead (POST with Content-Type text/csv)", ch.Kind)
	}
	if err := e.checkDay(ch, day); err != nil {
		return nil, err
	}
	token := store.NewID("lease")
	due, lease := store.DueNow(), store.DueIn(e.opts.Lease)
	run := &store.ReconRun{
		MerchantID: merchantID, ChannelID: ch.ID, Provider: ch.Kind, Date: day.String(), Source: SourceProvider,
		Status: store.ReconRunning,
		// Due at once but leased by this request: if the process dies
		// mid-run, the retry loop takes it over when the lease runs out.
		NextTryAt: &due, LeaseUntil: &lease, LeaseToken: token,
	}
	if err := e.st.InsertReconRun(ctx, run); err != nil {
		return nil, err
	}
	// A started run finishes even if the client goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.Lease)
	defer cancel()
	return run, e.execute(ctx, run, token)
}

// StartUpload reconciles an uploaded statement of day for the channel.
func (e *Engine) StartUpload(ctx context.Context, merchantID, channelID string, day providers.Day, body io.Reader) (*store.ReconRun, error) {
	ch, err := e.channel(merchantID, channelID)
	if err != nil {
		return nil, err
	}
	format := e.Format(ch)
	if format == nil {
		return nil, orders.Refused(orders.CodeUnsupported, "channel",
			"no statement format for provider %s: map the columns of its export in the channel's statement.columns config", ch.Kind)
	}
	if err := e.checkDay(ch, day); err != nil {
		return nil, err
	}
	run := &store.ReconRun{
		MerchantID: merchantID, ChannelID: ch.ID, Provider: ch.Kind, Date: day.String(), Source: SourceUpload,
		Status: store.ReconRunning, Attempts: 1,
	}
	if err := e.st.InsertReconRun(ctx, run); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.Lease)
	defer cancel()
	l := newLoader(ctx, e.st, run.ID, e.opts.Batch)
	sum, err := format.ParseStatement(body, l.add)
	if err == nil {
		err = l.flush()
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		_ = e.st.DeleteReconData(ctx, run.ID)
		_ = e.finish(ctx, run, "", store.ReconFailed, fmt.Sprintf("the upload is larger than %d bytes", tooLarge.Limit), nil, false)
		return run, orders.Refused(orders.CodeTooLarge, "", "the statement is larger than %d bytes", tooLarge.Limit)
	case err != nil:
		_ = e.st.DeleteReconData(ctx, run.ID)
		msg := err.Error()
		if !errors.Is(err, providers.ErrBadStatement) {
			e.log.Error("reconciliation upload failed", "run", run.ID, "err", err)
			msg = "the statement could not be stored"
		}
		if ferr := e.finish(ctx, run, "", store.ReconFailed, msg, nil, false); ferr != nil {
			return nil, ferr
		}
		if errors.Is(err, providers.ErrBadStatement) {
			return run, orders.Invalid("body", "%s", clipNote(msg, 400))
		}
		return run, err
	}
	if err := l.checkSummary(sum); err != nil {
		info := l.info(sum)
		return run, e.finish(ctx, run, "", store.ReconFailed, err.Error(), &info, true)
	}
	info := l.info(sum)
	return run, e.judgeAndFinish(ctx, run, "", store.ReconDone, &info)
}

// execute reads the provider's statement into the run and judges it. The
// caller holds the run's lease (token).
func (e *Engine) execute(ctx context.Context, run *store.ReconRun, token string) error {
	ch, ok := e.svc.Channel(run.ChannelID)
	if !ok || e.Source(ch) == nil {
		return e.finish(ctx, run, token, store.ReconFailed, "the channel is no longer configured with a statement API", nil, false)
	}
	day, err := providers.ParseDay(run.Date)
	if err != nil {
		return e.finish(ctx, run, token, store.ReconFailed, err.Error(), nil, false)
	}
	if err := e.st.UpdateReconRun(ctx, run, token, map[string]any{"status": store.ReconRunning, "attempts": run.Attempts + 1, "error": ""}); err != nil {
		return err
	}
	if err := e.st.DeleteReconData(ctx, run.ID); err != nil {
		return err
	}
	l := newLoader(ctx, e.st, run.ID, e.opts.Batch)
	sum, err := e.Source(ch).DownloadStatement(ctx, day, e.Location(ch), l.add)
	if err == nil {
		err = l.flush()
	}
	switch {
	case errors.Is(err, providers.ErrStatementNotReady):
		_ = e.st.DeleteReconData(ctx, run.ID)
		return e.retryLater(ctx, run, token, store.ReconWaiting, "the provider is still generating the statement: "+providerMessage(err))
	case errors.Is(err, providers.ErrNoStatement):
		_ = e.st.DeleteReconData(ctx, run.ID)
		// No statement: still compare the gateway's side, so paid orders the
		// provider has no record of show up.
		info := StatementInfo{ByCurrency: []CurrencyTotals{}}
		return e.judgeAndFinish(ctx, run, token, store.ReconNoStatement, &info)
	case providers.CodeOf(err) == providers.ErrCodeUnavailable:
		_ = e.st.DeleteReconData(ctx, run.ID)
		return e.retryLater(ctx, run, token, store.ReconFailed, "the provider could not be reached: "+providerMessage(err))
	case err != nil:
		_ = e.st.DeleteReconData(ctx, run.ID)
		return e.finish(ctx, run, token, store.ReconFailed, providerMessage(err), nil, false)
	}
	info := l.info(sum)
	if err := l.checkSummary(sum); err != nil {
		return e.finish(ctx, run, token, store.ReconFailed, err.Error(), &info, true)
	}
	return e.judgeAndFinish(ctx, run, token, store.ReconDone, &info)
}

// providerMessage is an error fit for the run's error field.
func providerMessage(err error) string {
	var pe *providers.Error
	if errors.As(err, &pe) {
		s := string(pe.Code)
		if pe.ProviderCode != "" {
			s += " (" + pe.ProviderCode + ")"
		}
		if pe.Message != "" {
			s += ": " + pe.Message
		}
		if pe.Err != nil && errors.Is(pe.Err, providers.ErrBadStatement) {
			s += ": " + pe.Err.Error()
		}
		return clipNote(s, 500)
	}
	return clipNote(err.Error(), 500)
}

// retryLater keeps the run due again in RetryEvery, or gives up after
// MaxAttempts.
func (e *Engine) retryLater(ctx context.Context, run *store.ReconRun, token, status, msg string) error {
	if run.Attempts >= e.opts.MaxAttempts {
		return e.finish(ctx, run, token, store.ReconFailed, fmt.Sprintf("%s (gave up after %d attempts)", msg, run.Attempts), nil, false)
	}
	return e.st.UpdateReconRun(ctx, run, token, map[string]any{
		"status": status, "error": clipNote(msg, 500), "next_try_ms": store.DueIn(e.opts.RetryEvery), "lease_until_ms": nil, "lease_token": "",
	})
}

// judgeAndFinish compares the stored statement with the gateway and ends
// the run with status.
func (e *Engine) judgeAndFinish(ctx context.Context, run *store.ReconRun, token, status string, info *StatementInfo) error {
	ch, _ := e.svc.Channel(run.ChannelID)
	loc := time.UTC
	if ch != nil {
		loc = e.Location(ch)
	}
	day, err := providers.ParseDay(run.Date)
	if err != nil {
		return err
	}
	j := &judgement{ctx: ctx, e: e, run: run, loc: loc, day: day, start: day.Start(loc), end: day.End(loc)}
	if err := j.runAll(ctx); err != nil {
		e.log.Error("reconciliation failed", "run", run.ID, "err", err)
		return e.finish(ctx, run, token, store.ReconFailed, "the comparison failed: see the gateway log", info, true)
	}
	run.Matched, run.MissingAtGateway, run.MissingAtProvider = j.counts.Matched, j.counts.MissingAtGateway, j.counts.MissingAtProvider
	run.AmountMismatch, run.StatusMismatch, run.Healed = j.counts.AmountMismatch, j.counts.StatusMismatch, j.counts.Healed
	if e.Observe != nil {
		for kind, n := range map[string]int64{
			"matched": j.counts.Matched, store.DiffMissingAtGateway: j.counts.MissingAtGateway, store.DiffMissingAtProvider: j.counts.MissingAtProvider,
			store.DiffAmountMismatch: j.counts.AmountMismatch, store.DiffStatusMismatch: j.counts.StatusMismatch, "healed": j.counts.Healed,
		} {
			if n > 0 {
				e.Observe(run.Provider, kind, n)
			}
		}
	}
	return e.finish(ctx, run, token, status, "", info, true)
}

// finish ends a run: final status, counts, statement info, lease and
// retry cleared, and (when final) its reconciliation.completed event in
// the same transaction.
func (e *Engine) finish(ctx context.Context, run *store.ReconRun, token, status, msg string, info *StatementInfo, keepCounts bool) error {
	now := e.now().UTC()
	fields := map[string]any{
		"status": status, "error": clipNote(msg, 500), "finished_at": now,
		"next_try_ms": nil, "lease_until_ms": nil, "lease_token": "", "judgements": run.Judgements + 1,
	}
	if info != nil {
		fields["statement"] = encodeInfo(*info)
		fields["rows"] = info.Rows
	}
	if keepCounts {
		fields["matched"], fields["missing_at_gateway"], fields["missing_at_provider"] = run.Matched, run.MissingAtGateway, run.MissingAtProvider
		fields["amount_mismatch"], fields["status_mismatch"], fields["healed"] = run.AmountMismatch, run.StatusMismatch, run.Healed
	} else {
		for _, f := range []string{"matched", "missing_at_gateway", "missing_at_provider", "amount_mismatch", "status_mismatch", "healed"} {
			fields[f] = 0
		}
	}
	err := e.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.UpdateReconRun(ctx, run, token, fields); err != nil {
			return err
		}
		return e.svc.EnqueueEvent(ctx, tx, run.MerchantID, EventCompleted, fmt.Sprintf("%s:%d", run.ID, run.Judgements), View(run))
	})
	if err != nil {
		return err
	}
	e.svc.EventsWritten()
	if e.ObserveRun != nil {
		e.ObserveRun(run.Provider, status)
	}
	e.log.Info("reconciliation finished", "run", run.ID, "channel", run.ChannelID, "date", run.Date, "status", status,
		"matched", run.Matched, "missing_at_gateway", run.MissingAtGateway, "missing_at_provider", run.MissingAtProvider,
		"amount_mismatch", run.AmountMismatch, "status_mismatch", run.StatusMismatch, "healed", run.Healed)
	return nil
}

// Rejudge compares a run's stored statement with the gateway again (after
// finance staff fixed something, or once the neighbouring day's statement
// is there): its differences are replaced.
func (e *Engine) Rejudge(ctx context.Context, merchantID, id string) (*store.ReconRun, error) {
	run, err := e.st.ReconRunByID(ctx, merchantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, orders.NotFound("no reconciliation %s", id)
	}
	if err != nil {
		return nil, err
	}
	if run.Status != store.ReconDone && run.Status != store.ReconNoStatement {
		return nil, orders.Refused(orders.CodeOrderState, "", "reconciliation %s is %s: only DONE and NO_STATEMENT runs have a statement to judge again", id, run.Status)
	}
	token := store.NewID("lease")
	ok, err := e.st.LeaseReconRun(ctx, run.ID, token, e.opts.Lease)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, orders.Refused(orders.CodeConflict, "", "reconciliation %s is being worked on; try again shortly", id)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.Lease)
	defer cancel()
	if err := e.st.DeleteReconDifferences(ctx, run.ID); err != nil {
		return nil, err
	}
	info := decodeInfo(run.Statement)
	return run, e.judgeAndFinish(ctx, run, token, run.Status, info)
}

// onStatementOf looks for near-midnight items on the statement of day:
// the rows of a stored run of that day, else the provider's statement
// read now. It returns per case whether it was found, and why not.
func (e *Engine) onStatementOf(ctx context.Context, run *store.ReconRun, day providers.Day, cases []*boundaryCase) ([]bool, string) {
	found := make([]bool, len(cases))
	payment := func(c *boundaryCase) bool { return c.diff.RefundID == "" }
	if prev, err := e.st.LatestReconRun(ctx, run.ChannelID, day.String(), []string{store.ReconDone, store.ReconNoStatement}); err == nil {
		for _, kind := range []providers.StatementRowKind{providers.StatementPayment, providers.StatementRefund} {
			var idx []int
			for i, c := range cases {
				if payment(c) == (kind == providers.StatementPayment) {
					idx = append(idx, i)
				}
			}
			if len(idx) == 0 {
				continue
			}
			num := func(cols ...func(*store.ReconDifference) string) []numberLookup {
				var out []numberLookup
				names := []string{"out_trade_no", "transaction_id", "provider_trade_no"}
				if kind == providers.StatementRefund {
					names = []string{"out_refund_no", "provider_refund_no"}
				}
				for k, col := range cols {
					out = append(out, numberLookup{names[k], len(idx), func(i int) string { return col(&cases[idx[i]].diff) }})
				}
				return out
			}
			var lookups []numberLookup
			if kind == providers.StatementPayment {
				lookups = num(func(d *store.ReconDifference) string { return d.OutTradeNo }, func(d *store.ReconDifference) string { return d.TransactionID },
					func(d *store.ReconDifference) string { return d.ProviderTradeNo })
			} else {
				lookups = num(func(d *store.ReconDifference) string { return d.OutRefundNo }, func(d *store.ReconDifference) string { return d.ProviderRefundNo })
			}
			have, err := rowsHaveIn(ctx, e.st, prev.ID, string(kind), lookups)
			if err != nil {
				return nil, fmt.Sprintf("the %s statement could not be read", day)
			}
			for k, i := range idx {
				found[i] = have[k]
			}
		}
		return found, fmt.Sprintf("not on the %s statement either", day)
	}
	ch, ok := e.svc.Channel(run.ChannelID)
	if !ok || run.Source != SourceProvider || e.Source(ch) == nil {
		return found, fmt.Sprintf("no reconciliation of %s to look at", day)
	}
	if err := e.checkDay(ch, day); err != nil {
		return found, fmt.Sprintf("the %s statement does not exist yet", day)
	}
	numbers := map[string][]int{}
	for i, c := range cases {
		d := &c.diff
		keys := []string{"p|" + d.OutTradeNo, "t|" + d.TransactionID, "q|" + d.ProviderTradeNo}
		if !payment(c) {
			keys = []string{"r|" + d.OutRefundNo, "s|" + d.ProviderRefundNo}
		}
		for _, k := range keys {
			if len(k) > 2 {
				numbers[k] = append(numbers[k], i)
			}
		}
	}
	mark := func(k string) {
		for _, i := range numbers[k] {
			found[i] = true
		}
	}
	_, err := e.Source(ch).DownloadStatement(ctx, day, e.Location(ch), func(r providers.StatementRow) error {
		if r.Kind == providers.StatementPayment {
			mark("p|" + r.OutTradeNo)
			mark("t|" + r.TransactionID)
			mark("q|" + r.ProviderTradeNo)
		} else {
			mark("r|" + r.OutRefundNo)
			mark("s|" + r.ProviderRefundNo)
		}
		return nil
	})
	switch {
	case err == nil:
		return found, fmt.Sprintf("not on the %s statement either", day)
	case errors.Is(err, providers.ErrNoStatement):
		return found, fmt.Sprintf("there is no %s statement", day)
	case errors.Is(err, providers.ErrStatementNotReady):
		return make([]bool, len(cases)), fmt.Sprintf("the %s statement is not ready yet: judge this run again later", day)
	default:
		return make([]bool, len(cases)), fmt.Sprintf("the %s statement could not be read: judge this run again later", day)
	}
}
