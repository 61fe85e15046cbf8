package recon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// judgement compares one run's stored statement rows with the gateway's
// payments and refunds on the channel, in batches: memory holds one batch
// of rows and their gateway matches, never the whole statement.
type judgement struct {
	ctx   context.Context
	e     *Engine
	run   *store.ReconRun
	loc   *time.Location
	day   providers.Day
	start time.Time
	end   time.Time

	seq    int64
	diffs  []store.ReconDifference
	counts counts
	// boundary holds the gateway's payments and refunds missing from the
	// statement but within BoundaryMargin of midnight: they are looked for
	// on the neighbouring day's statement before being called missing.
	boundary []boundaryCase
}

type counts struct {
	Matched, MissingAtGateway, MissingAtProvider, AmountMismatch, StatusMismatch, Healed int64
}

type boundaryCase struct {
	diff store.ReconDifference
	at   time.Time
	next bool // near the end of the day (else its start)
}

var paidStatuses = map[string]bool{string(providers.OrderPaid): true, string(providers.OrderRefunded): true}

func (j *judgement) add(d store.ReconDifference) error {
	j.seq++
	d.RunID, d.Seq = j.run.ID, j.seq
	switch d.Kind {
	case store.DiffMissingAtGateway:
		j.counts.MissingAtGateway++
	case store.DiffMissingAtProvider:
		j.counts.MissingAtProvider++
	case store.DiffAmountMismatch:
		j.counts.AmountMismatch++
	case store.DiffStatusMismatch:
		j.counts.StatusMismatch++
	}
	j.diffs = append(j.diffs, d)
	if len(j.diffs) >= j.e.opts.Batch {
		return j.flush()
	}
	return nil
}

func (j *judgement) flush() error {
	if err := j.e.st.InsertReconDifferences(j.ctx, j.diffs); err != nil {
		return fmt.Errorf("store differences: %w", err)
	}
	j.diffs = j.diffs[:0]
	return nil
}

// rowSide is the statement's side of a difference.
func rowSide(d *store.ReconDifference, r *store.ReconRow) {
	d.ProviderStatus = r.ProviderStatus
	if d.ProviderStatus == "" {
		d.ProviderStatus = r.Status
	}
	d.ProviderAmountMinor, d.ProviderCurrency = r.AmountMinor, r.Currency
	at := r.At
	d.ProviderAt = &at
	d.OutTradeNo, d.ProviderTradeNo, d.TransactionID = r.OutTradeNo, r.ProviderTradeNo, r.TransactionID
	d.OutRefundNo, d.ProviderRefundNo = r.OutRefundNo, r.ProviderRefundNo
}

func orderSide(d *store.ReconDifference, o *store.Order) {
	d.OrderID = o.ID
	d.GatewayStatus, d.GatewayAmountMinor, d.GatewayCurrency = o.Status, o.AmountMinor, o.Currency
	if d.OutTradeNo == "" {
		d.OutTradeNo = o.OutTradeNo
	}
	if d.ProviderTradeNo == "" && o.ProviderTradeNo != nil {
		d.ProviderTradeNo = *o.ProviderTradeNo
	}
	if d.TransactionID == "" && o.TransactionID != nil {
		d.TransactionID = *o.TransactionID
	}
}

func refundSide(d *store.ReconDifference, r *store.Refund) {
	d.RefundID, d.OrderID = r.ID, r.OrderID
	d.GatewayStatus, d.GatewayAmountMinor, d.GatewayCurrency = r.Status, r.AmountMinor, r.Currency
	if d.OutRefundNo == "" {
		d.OutRefundNo = r.OutRefundNo
	}
	if d.ProviderRefundNo == "" {
		d.ProviderRefundNo = r.ProviderRefundNo
	}
}

// run is the whole comparison: statement rows against the gateway (pass
// A), the gateway's payments and refunds of the day against the rows
// (pass B), the day boundary, then the healing of status mismatches.
func (j *judgement) runAll(ctx context.Context) error {
	if err := j.statementSide(ctx); err != nil {
		return err
	}
	if err := j.gatewayPayments(ctx); err != nil {
		return err
	}
	if err := j.gatewayRefunds(ctx); err != nil {
		return err
	}
	if err := j.resolveBoundary(ctx); err != nil {
		return err
	}
	if err := j.flush(); err != nil {
		return err
	}
	return j.heal(ctx)
}

// statementSide: every statement row, looked up in the gateway by the
// merchant's numbers first, then the provider's.
func (j *judgement) statementSide(ctx context.Context) error {
	for after := int64(0); ; {
		rows, err := j.e.st.ReconRowsAfter(ctx, j.run.ID, after, j.e.opts.Batch)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		after = rows[len(rows)-1].Seq
		var pays, refunds []*store.ReconRow
		for i := range rows {
			if rows[i].Kind == string(providers.StatementRefund) {
				refunds = append(refunds, &rows[i])
			} else {
				pays = append(pays, &rows[i])
			}
		}
		orders, err := j.findOrders(ctx, pays)
		if err != nil {
			return err
		}
		for _, r := range pays {
			if err := j.judgePayment(r, orders[r]); err != nil {
				return err
			}
		}
		found, err := j.findRefunds(ctx, refunds)
		if err != nil {
			return err
		}
		var orphans []*store.ReconRow
		for _, r := range refunds {
			if found[r] == nil {
				orphans = append(orphans, r)
			}
		}
		ofOrphans, err := j.findOrders(ctx, orphans)
		if err != nil {
			return err
		}
		for _, r := range refunds {
			if err := j.judgeRefund(r, found[r], ofOrphans[r]); err != nil {
				return err
			}
		}
	}
}

// numberColumn is one number a statement row and a gateway record share.
type numberColumn[T any] struct {
	name string
	of   func(*store.ReconRow) string
	key  func(*T) string
}

// matchRows finds the gateway record of each row, number by number in
// the order given (the merchant's first): one query per number for the
// rows still unmatched.
func matchRows[T any](rows []*store.ReconRow, cols []numberColumn[T], find func(column string, values []string) ([]T, error)) (map[*store.ReconRow]*T, error) {
	out := map[*store.ReconRow]*T{}
	for _, col := range cols {
		var values []string
		for _, r := range rows {
			if out[r] == nil && col.of(r) != "" {
				values = append(values, col.of(r))
			}
		}
		if len(values) == 0 {
			continue
		}
		found, err := find(col.name, values)
		if err != nil {
			return nil, err
		}
		by := make(map[string]*T, len(found))
		for i := range found {
			by[col.key(&found[i])] = &found[i]
		}
		for _, r := range rows {
			if out[r] == nil && col.of(r) != "" && by[col.of(r)] != nil {
				out[r] = by[col.of(r)]
			}
		}
	}
	return out, nil
}

var orderNumbers = []numberColumn[store.Order]{
	{"out_trade_no", func(r *store.ReconRow) string { return r.OutTradeNo }, func(o *store.Order) string { return o.OutTradeNo }},
	{"provider_trade_no", func(r *store.ReconRow) string { return r.ProviderTradeNo }, func(o *store.Order) string { return deref(o.ProviderTradeNo) }},
	{"transaction_id", func(r *store.ReconRow) string { return r.TransactionID }, func(o *store.Order) string { return deref(o.TransactionID) }},
}

var refundNumbers = []numberColumn[store.Refund]{
	{"out_refund_no", func(r *store.ReconRow) string { return r.OutRefundNo }, func(f *store.Refund) string { return f.OutRefundNo }},
	{"provider_refund_no", func(r *store.ReconRow) string { return r.ProviderRefundNo }, func(f *store.Refund) string { return f.ProviderRefundNo }},
}

// findOrders matches rows to the channel's orders.
func (j *judgement) findOrders(ctx context.Context, rows []*store.ReconRow) (map[*store.ReconRow]*store.Order, error) {
	return matchRows(rows, orderNumbers, func(column string, values []string) ([]store.Order, error) {
		return j.e.st.OrdersOfChannelByNumber(ctx, j.run.MerchantID, j.run.ChannelID, column, values)
	})
}

// findRefunds matches refund rows to the channel's refunds.
func (j *judgement) findRefunds(ctx context.Context, rows []*store.ReconRow) (map[*store.ReconRow]*store.Refund, error) {
	return matchRows(rows, refundNumbers, func(column string, values []string) ([]store.Refund, error) {
		return j.e.st.RefundsOfChannelByNumber(ctx, j.run.MerchantID, j.run.ChannelID, column, values)
	})
}

func (j *judgement) judgePayment(r *store.ReconRow, o *store.Order) error {
	var d store.ReconDifference
	rowSide(&d, r)
	switch {
	case o == nil:
		d.Kind = store.DiffMissingAtGateway
		d.Note = "no such order on this channel"
	case r.Status != string(providers.OrderPaid):
		if !paidStatuses[o.Status] {
			j.counts.Matched++ // neither side took the money
			return nil
		}
		orderSide(&d, o)
		d.Kind = store.DiffMissingAtProvider
		d.Note = fmt.Sprintf("the statement shows the payment as %s, not settled", d.ProviderStatus)
	case o.AmountMinor != r.AmountMinor || o.Currency != r.Currency:
		orderSide(&d, o)
		d.Kind = store.DiffAmountMismatch
		d.Note = "amounts differ; never corrected automatically"
	case paidStatuses[o.Status]:
		j.counts.Matched++
		return nil
	default:
		orderSide(&d, o)
		d.Kind = store.DiffStatusMismatch
		d.Note = fmt.Sprintf("the statement says paid, the gateway says %s", o.Status)
	}
	return j.add(d)
}

func (j *judgement) judgeRefund(r *store.ReconRow, f *store.Refund, o *store.Order) error {
	var d store.ReconDifference
	rowSide(&d, r)
	succeeded := string(providers.RefundSucceeded)
	switch {
	case f == nil:
		d.Kind = store.DiffMissingAtGateway
		d.Note = "no such refund on this channel"
		if o != nil {
			orderSide(&d, o)
			d.GatewayStatus, d.GatewayAmountMinor, d.GatewayCurrency = "", 0, ""
			d.Note = fmt.Sprintf("order %s has no such refund in the gateway (refunded outside it?)", o.OutTradeNo)
		}
	case f.AmountMinor != r.AmountMinor || f.Currency != r.Currency:
		refundSide(&d, f)
		d.Kind = store.DiffAmountMismatch
		d.Note = "refund amounts differ; never corrected automatically"
	case r.Status == succeeded && f.Status != succeeded:
		refundSide(&d, f)
		d.Kind = store.DiffStatusMismatch
		d.Note = fmt.Sprintf("the statement says refunded, the gateway says %s", f.Status)
	case r.Status == string(providers.RefundFailed) && f.Status == succeeded:
		refundSide(&d, f)
		d.Kind = store.DiffMissingAtProvider
		d.Note = fmt.Sprintf("the statement shows the refund as %s", d.ProviderStatus)
	default:
		// Agreed, or still in flight on the statement (its status is frozen
		// when the bill is made): the gateway's own polling settles it.
		j.counts.Matched++
		return nil
	}
	return j.add(d)
}

// gatewayPayments: the channel's payments of the day (by paid_at in the
// statement's zone), each looked for on the statement.
func (j *judgement) gatewayPayments(ctx context.Context) error {
	var after *store.OrderKey
	for {
		orders, err := j.e.st.PaidOrdersBetween(ctx, j.run.ChannelID, j.start, j.end, after, j.e.opts.Batch)
		if err != nil {
			return err
		}
		if len(orders) == 0 {
			return nil
		}
		last := orders[len(orders)-1]
		after = &store.OrderKey{CreatedAt: *last.PaidAt, ID: last.ID}
		onStatement, err := j.rowsHave(ctx, string(providers.StatementPayment), []numberLookup{
			{"out_trade_no", len(orders), func(i int) string { return orders[i].OutTradeNo }},
			{"transaction_id", len(orders), func(i int) string { return deref(orders[i].TransactionID) }},
			{"provider_trade_no", len(orders), func(i int) string { return deref(orders[i].ProviderTradeNo) }},
		})
		if err != nil {
			return err
		}
		for i := range orders {
			if onStatement[i] {
				continue
			}
			var d store.ReconDifference
			orderSide(&d, &orders[i])
			d.Kind = store.DiffMissingAtProvider
			d.Note = "paid in the gateway, not on the statement"
			if err := j.missing(d, *orders[i].PaidAt); err != nil {
				return err
			}
		}
	}
}

// gatewayRefunds: the channel's refunds that succeeded, by the day they
// were asked for (WeChat books a refund on the day it accepts it).
func (j *judgement) gatewayRefunds(ctx context.Context) error {
	var after *store.OrderKey
	for {
		refunds, err := j.e.st.SucceededRefundsBetween(ctx, j.run.ChannelID, j.start, j.end, after, j.e.opts.Batch)
		if err != nil {
			return err
		}
		if len(refunds) == 0 {
			return nil
		}
		last := refunds[len(refunds)-1]
		after = &store.OrderKey{CreatedAt: last.CreatedAt, ID: last.ID}
		onStatement, err := j.rowsHave(ctx, string(providers.StatementRefund), []numberLookup{
			{"out_refund_no", len(refunds), func(i int) string { return refunds[i].OutRefundNo }},
			{"provider_refund_no", len(refunds), func(i int) string { return refunds[i].ProviderRefundNo }},
		})
		if err != nil {
			return err
		}
		var missingOrders []string
		for i := range refunds {
			if !onStatement[i] {
				missingOrders = append(missingOrders, refunds[i].OrderID)
			}
		}
		orders, err := j.e.st.OrdersByIDs(ctx, missingOrders)
		if err != nil {
			return err
		}
		byID := map[string]*store.Order{}
		for i := range orders {
			byID[orders[i].ID] = &orders[i]
		}
		for i := range refunds {
			if onStatement[i] {
				continue
			}
			var d store.ReconDifference
			if o := byID[refunds[i].OrderID]; o != nil {
				orderSide(&d, o)
			}
			refundSide(&d, &refunds[i])
			d.Kind = store.DiffMissingAtProvider
			d.Note = "refunded in the gateway, not on the statement"
			if err := j.missing(d, refunds[i].CreatedAt); err != nil {
				return err
			}
		}
	}
}

// missing records a gateway item absent from the statement, or keeps it
// aside when it sits near midnight.
func (j *judgement) missing(d store.ReconDifference, at time.Time) error {
	m := j.e.opts.BoundaryMargin
	switch {
	case at.Sub(j.start) < m:
		j.boundary = append(j.boundary, boundaryCase{diff: d, at: at, next: false})
		return nil
	case j.end.Sub(at) <= m:
		j.boundary = append(j.boundary, boundaryCase{diff: d, at: at, next: true})
		return nil
	}
	return j.add(d)
}

type numberLookup struct {
	column string
	n      int
	of     func(int) string
}

// rowsHave reports, per item, whether the run's statement has a row of
// kind with one of the item's numbers.
func (j *judgement) rowsHave(ctx context.Context, kind string, lookups []numberLookup) ([]bool, error) {
	return rowsHaveIn(ctx, j.e.st, j.run.ID, kind, lookups)
}

func rowsHaveIn(ctx context.Context, st *store.Store, runID, kind string, lookups []numberLookup) ([]bool, error) {
	if len(lookups) == 0 {
		return nil, nil
	}
	have := make([]bool, lookups[0].n)
	for _, l := range lookups {
		var values []string
		for i := 0; i < l.n; i++ {
			if !have[i] && l.of(i) != "" {
				values = append(values, l.of(i))
			}
		}
		if len(values) == 0 {
			continue
		}
		rows, err := st.ReconRowsByNumber(ctx, runID, kind, l.column, values)
		if err != nil {
			return nil, err
		}
		on := map[string]bool{}
		for _, r := range rows {
			switch l.column {
			case "out_trade_no":
				on[r.OutTradeNo] = true
			case "transaction_id":
				on[r.TransactionID] = true
			case "provider_trade_no":
				on[r.ProviderTradeNo] = true
			case "out_refund_no":
				on[r.OutRefundNo] = true
			case "provider_refund_no":
				on[r.ProviderRefundNo] = true
			}
		}
		for i := 0; i < l.n; i++ {
			if !have[i] && l.of(i) != "" && on[l.of(i)] {
				have[i] = true
			}
		}
	}
	return have, nil
}

// resolveBoundary looks for the near-midnight items on the neighbouring
// day's statement: a stored run of that day, else the provider's
// statement read now. Found there: not a difference. Otherwise missing,
// noted "near day boundary".
func (j *judgement) resolveBoundary(ctx context.Context) error {
	for _, next := range []bool{false, true} {
		var cases []*boundaryCase
		for i := range j.boundary {
			if j.boundary[i].next == next {
				cases = append(cases, &j.boundary[i])
			}
		}
		if len(cases) == 0 {
			continue
		}
		day := j.day.AddDays(-1)
		if next {
			day = j.day.AddDays(1)
		}
		found, why := j.e.onStatementOf(ctx, j.run, day, cases)
		for i, c := range cases {
			if found != nil && found[i] {
				continue
			}
			d := c.diff
			d.Note = fmt.Sprintf("%s; near day boundary (%s %s), %s", d.Note,
				c.at.In(j.loc).Format("2006-01-02 15:04:05"), j.loc.String(), why)
			if err := j.add(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// heal asks the provider about each status mismatch and applies the
// answer through the normal transition: the order becomes PAID (the
// merchant gets its order.paid), the refund SUCCEEDED.
func (j *judgement) heal(ctx context.Context) error {
	for after := int64(0); ; {
		diffs, err := j.e.st.ReconDifferences(ctx, j.run.ID, store.DiffStatusMismatch, after, j.e.opts.Batch)
		if err != nil {
			return err
		}
		if len(diffs) == 0 {
			return nil
		}
		after = diffs[len(diffs)-1].Seq
		for _, d := range diffs {
			healed, note := j.e.healOne(ctx, &d)
			if healed {
				j.counts.Healed++
			}
			if err := j.e.st.MarkDifferenceHealed(ctx, d.RunID, d.Seq, healed, clipNote(d.Note+"; "+note, 500)); err != nil {
				return err
			}
		}
	}
}

func (e *Engine) healOne(ctx context.Context, d *store.ReconDifference) (bool, string) {
	if d.RefundID != "" {
		r, err := e.st.RefundByID(ctx, d.RefundID)
		if err != nil {
			return false, "refund not readable: " + err.Error()
		}
		if r.Status == string(providers.RefundFailed) {
			return false, "the gateway has it FAILED (final): check with the provider by hand"
		}
		r, err = e.svc.RefreshRefund(ctx, r)
		if err != nil {
			return false, "asked the provider: " + providerWords(err)
		}
		if r.Status == string(providers.RefundSucceeded) {
			return true, "asked the provider: refund SUCCEEDED, refund.succeeded sent"
		}
		return false, "asked the provider: the refund is still " + r.Status
	}
	o, err := e.st.OrderByID(ctx, d.OrderID)
	if err != nil {
		return false, "order not readable: " + err.Error()
	}
	o, err = e.svc.Refresh(ctx, o)
	if err != nil {
		return false, "asked the provider: " + providerWords(err)
	}
	if paidStatuses[o.Status] {
		return true, "asked the provider: PAID, order.paid sent"
	}
	return false, "asked the provider: the order is still " + o.Status
}

// providerWords is an error as finance staff may read it (no internals).
func providerWords(err error) string {
	var pe *providers.Error
	if errors.As(err, &pe) {
		s := string(pe.Code)
		if pe.ProviderCode != "" {
			s += " (" + pe.ProviderCode + ")"
		}
		return s
	}
	return "it could not be asked"
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
