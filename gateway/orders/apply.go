package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// Source says where a reported state came from. When Inbox is set, the
// notification is recorded in the same transaction as the state change,
// with the outcome filled in.
type Source struct {
	Name  string // notify | poll | query | create | close | refund
	Inbox *store.Notification
}

// ErrMismatch: the provider reported an amount, currency or number that
// contradicts the stored order; nothing is changed.
var ErrMismatch = errors.New("report does not match the order")

// ErrIncompleteReport: a report would move an order to PAID but does not
// say the amount and currency paid. Nothing is changed; the gateway asks
// the provider instead (a notification), or fails the query (a query).
var ErrIncompleteReport = errors.New("report says paid without amount and currency")

// ApplyOrderState applies a provider's report about an order: it fills
// the provider's and WeChat's numbers when first learned and moves the
// status through NextOrderStatus. The change and its merchant event are
// one compare-and-set transaction, so duplicate or racing reports change
// the order once and emit one event.
//
// The order is read and the change decided outside the write, which then
// only compare-and-sets the order's version: the one writer of SQLite's
// group commit runs the statements, not the reads and decisions. A report
// that changes nothing (a duplicate) writes only its inbox row: order
// states only move forward, so what does not move the order as read does
// not move it as it is now either.
func (s *Service) ApplyOrderState(ctx context.Context, orderID string, rep providers.OrderState, src Source) (*store.Order, bool, error) {
	return s.applyOrder(ctx, orderID, nil, rep, src)
}

// ApplyOrderReport is ApplyOrderState for an order the caller has just
// read: its first attempt decides on that copy (one read fewer), and a
// copy that changed meanwhile costs a retry on a fresh read, never a
// wrong change.
func (s *Service) ApplyOrderReport(ctx context.Context, read *store.Order, rep providers.OrderState, src Source) (*store.Order, bool, error) {
	return s.applyOrder(ctx, read.ID, read, rep, src)
}

func (s *Service) applyOrder(ctx context.Context, orderID string, read *store.Order, rep providers.OrderState, src Source) (*store.Order, bool, error) {
	var (
		out         *store.Order
		latePayment string // the status a PAID report finds, when not PAYING
	)
	moved, err := s.transactPlanned(ctx, "order", src, func() (attempt, error) {
		o := read
		if o != nil {
			cp := *read
			o, read = &cp, nil
		} else {
			var err error
			if o, err = s.st.OrderByID(ctx, orderID); err != nil {
				return attempt{}, err
			}
		}
		fields, next, move, err := s.orderChange(o, rep, src)
		if err != nil {
			return attempt{}, err
		}
		was := o.Status
		typ := ""
		if move {
			typ = orderEvent(next)
		}
		latePayment = ""
		if move && next == providers.OrderPaid && was != string(providers.OrderPaying) {
			latePayment = was // logged once the attempt that decided so wrote
		}
		if a, ok := s.prepared(ctx, o, fields, typ, src); ok {
			out = o
			return a, nil
		}
		return attempt{fn: func(tx *store.Store) (step, error) {
			var seq int64
			switch {
			case typ != "":
				var err error
				if seq, err = tx.UpdateOrderForEvent(ctx, o, fields); err != nil {
					return step{}, err
				}
			case len(fields) > 0:
				if err := tx.UpdateOrder(ctx, o, fields); err != nil {
					return step{}, err
				}
			}
			out = o
			st := step{orderID: o.ID, moved: move, status: o.Status}
			if typ != "" {
				st.event = &event{merchantID: o.MerchantID, typ: typ, dedupe: o.ID, url: o.NotifyURL, orderID: o.ID, data: ViewOrder(o),
					seq: seq, orderStatus: o.Status}
			}
			return st, nil
		}}, nil
	})
	if err != nil {
		return nil, false, err
	}
	if moved && latePayment != "" {
		s.log.Warn("late payment: provider reports PAID for a finished order", "order", out.ID, "was", latePayment, "source", src.Name)
		s.observe("late_payment", string(providers.OrderPaid), src.Name)
	}
	return out, moved, nil
}

// prepared builds a transition that moves the order and writes its event
// and the notification's inbox row wholly ahead of the write (see
// store.OrderChange); false when it cannot be (no event, no notification,
// a field only the database can compute), and the ordinary write goes.
func (s *Service) prepared(ctx context.Context, o *store.Order, fields map[string]any, typ string, src Source) (attempt, bool) {
	if typ == "" || src.Inbox == nil {
		return attempt{}, false
	}
	c, err := s.st.PrepareOrderChange(o, fields)
	if err != nil {
		return attempt{}, false
	}
	after := c.After
	ev, err := s.newEvent(ctx, nil, after.MerchantID, typ, after.ID, after.NotifyURL, after.ID, "", ViewOrder(after), store.SequenceMark, after.Status)
	if err != nil || ev == nil {
		return attempt{}, false
	}
	st := step{orderID: o.ID, moved: true, status: after.Status,
		event: &event{merchantID: after.MerchantID, typ: typ, dedupe: after.ID, orderID: after.ID}}
	inboxOutcome(src.Inbox, st)
	if err := c.SetEvent(ev, src.Inbox); err != nil {
		return attempt{}, false
	}
	return attempt{change: c, st: st}, true
}

// orderChange decides what rep changes on o: the fields to set, the
// status it moves to and whether it moves.
func (s *Service) orderChange(o *store.Order, rep providers.OrderState, src Source) (map[string]any, providers.OrderStatus, bool, error) {
	if err := checkOrderReport(o, rep); err != nil {
		return nil, "", false, err
	}
	fields := map[string]any{}
	if rep.ProviderTradeNo != "" && o.ProviderTradeNo == nil {
		fields["provider_trade_no"] = rep.ProviderTradeNo
	}
	if rep.TransactionID != "" && o.TransactionID == nil {
		fields["transaction_id"] = rep.TransactionID
	}
	if rep.ProviderStatus != "" && rep.ProviderStatus != o.ProviderStatus {
		fields["provider_status"] = truncate(rep.ProviderStatus, 64)
	}
	if rep.Unknown() {
		s.log.Warn("provider status word unknown to the adapter: no transition, asking again later",
			"order", o.ID, "word", truncate(rep.ProviderStatus, 64), "source", src.Name)
	}
	next, move := NextOrderStatus(providers.OrderStatus(o.Status), rep.Status)
	if move && next == providers.OrderPaid && (rep.Amount.Minor <= 0 || rep.Amount.Currency == "") {
		return nil, "", false, fmt.Errorf("%w (order %s)", ErrIncompleteReport, o.ID)
	}
	if move {
		now := s.now().UTC()
		fields["status"] = string(next)
		switch next {
		case providers.OrderPaid:
			paidAt := rep.PaidAt.UTC()
			if rep.PaidAt.IsZero() {
				paidAt = now
			}
			fields["paid_at"] = paidAt
			fields["next_poll_ms"] = nil
		case providers.OrderClosed, providers.OrderFailed:
			fields["closed_at"] = now
			fields["next_poll_ms"] = nil
		}
	}
	return fields, next, move, nil
}

// step is what one attempt of a transition did.
type step struct {
	orderID string // for the inbox row
	moved   bool   // the status changed
	status  string // the status now
	event   *event // the merchant event to write, if any
}

type event struct {
	merchantID, typ, dedupe, url, orderID, refundID string
	data                                            any
	// seq and orderStatus number the event when the order's update
	// returned them already (0: enqueue looks them up).
	seq         int64
	orderStatus string
}

// transact runs fn in a transaction together with its merchant event and
// the inbox row of src, retrying when a compare-and-set lost a race; it
// reports whether the status moved.
func (s *Service) transact(ctx context.Context, kind string, src Source, fn func(tx *store.Store) (step, error)) (bool, error) {
	return s.transactPlanned(ctx, kind, src, func() (attempt, error) { return attempt{fn: fn}, nil })
}

// attempt is one planned attempt at a transition: fn runs inside a
// transaction, or, when the plan could build the whole write ahead,
// change is written instead (one statement on PostgreSQL) and st is what
// it does.
type attempt struct {
	fn     func(tx *store.Store) (step, error)
	change *store.OrderChange
	st     step
}

// transactPlanned is transact with a plan made before each attempt,
// outside the transaction (reads, decisions); the plan's function runs
// inside it. A compare-and-set that lost makes a new plan.
func (s *Service) transactPlanned(ctx context.Context, kind string, src Source, plan func() (attempt, error)) (bool, error) {
	for tries := 0; tries < 8; tries++ {
		a, err := plan()
		if err != nil {
			return false, err
		}
		st := a.st
		if a.change != nil {
			err = s.st.ApplyOrderChange(ctx, a.change)
			if err == nil && !a.change.EventWritten {
				s.duplicateEvent(a.change.Event())
			}
		} else {
			err = s.st.InTx(ctx, func(tx *store.Store) error {
				return s.attemptInTx(ctx, tx, a.fn, &st, src)
			})
		}
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return false, err
		}
		if st.moved {
			s.observe(kind, st.status, src.Name)
		}
		if st.event != nil {
			s.eventsWritten()
		}
		return st.moved, nil
	}
	return false, fmt.Errorf("%s: too many concurrent updates", kind)
}

// attemptInTx runs fn in tx, then writes its event and the inbox row of
// src.
func (s *Service) attemptInTx(ctx context.Context, tx *store.Store, fn func(tx *store.Store) (step, error), stp *step, src Source) error {
	st, err := fn(tx)
	if err != nil {
		return err
	}
	*stp = st
	var ev *store.MerchantEvent
	if e := st.event; e != nil {
		if ev, err = s.newEvent(ctx, tx, e.merchantID, e.typ, e.dedupe, e.url, e.orderID, e.refundID, e.data, e.seq, e.orderStatus); err != nil {
			return err
		}
	}
	if src.Inbox == nil {
		if ev == nil {
			return nil
		}
		return s.eventWritten(tx.InsertEvent(ctx, ev), ev)
	}
	inboxOutcome(src.Inbox, st)
	if ev == nil {
		return tx.InsertNotification(ctx, src.Inbox)
	}
	return s.eventWritten(tx.InsertEventWithNotification(ctx, ev, src.Inbox), ev)
}

// inboxOutcome fills in the inbox row of a notification from what its
// transition did.
func inboxOutcome(n *store.Notification, st step) {
	n.OrderID = st.orderID
	n.Outcome = store.OutcomeDuplicate
	if st.moved {
		n.Outcome = store.OutcomeApplied
	}
}

func checkOrderReport(o *store.Order, rep providers.OrderState) error {
	if !rep.Amount.IsZero() {
		if rep.Amount.Currency != "" && rep.Amount.Currency != o.Currency {
			return fmt.Errorf("%w: currency %s, order is in %s", ErrMismatch, rep.Amount.Currency, o.Currency)
		}
		if rep.Amount.Minor != o.AmountMinor {
			return fmt.Errorf("%w: amount %s, order is %s %s", ErrMismatch,
				providers.FormatMinor(rep.Amount.Minor, o.Currency), providers.FormatMinor(o.AmountMinor, o.Currency), o.Currency)
		}
	}
	if rep.TransactionID != "" && o.TransactionID != nil && *o.TransactionID != rep.TransactionID {
		return fmt.Errorf("%w: transaction_id %s, order has %s", ErrMismatch, rep.TransactionID, *o.TransactionID)
	}
	if rep.ProviderTradeNo != "" && o.ProviderTradeNo != nil && *o.ProviderTradeNo != rep.ProviderTradeNo {
		return fmt.Errorf("%w: provider_trade_no %s, order has %s", ErrMismatch, rep.ProviderTradeNo, *o.ProviderTradeNo)
	}
	if rep.OutTradeNo != "" && rep.OutTradeNo != o.OutTradeNo {
		return fmt.Errorf("%w: out_trade_no %s, order is %s", ErrMismatch, rep.OutTradeNo, o.OutTradeNo)
	}
	return nil
}

// ApplyRefundState applies a provider's report about a refund: SUCCEEDED
// moves the reserved amount into the order's refunded amount (and the
// order to REFUNDED when nothing is left), FAILED gives it back. One
// transaction with the merchant event, as for orders.
func (s *Service) ApplyRefundState(ctx context.Context, refundID string, rep providers.RefundState, src Source) (*store.Refund, bool, error) {
	var out *store.Refund
	moved, err := s.transact(ctx, "refund", src, func(tx *store.Store) (step, error) {
		r, err := tx.RefundByID(ctx, refundID)
		if err != nil {
			return step{}, err
		}
		if !rep.Amount.IsZero() && (rep.Amount.Minor != r.AmountMinor || (rep.Amount.Currency != "" && rep.Amount.Currency != r.Currency)) {
			return step{}, fmt.Errorf("%w: refund amount %s %s, refund is %s %s", ErrMismatch,
				providers.FormatMinor(rep.Amount.Minor, r.Currency), rep.Amount.Currency, providers.FormatMinor(r.AmountMinor, r.Currency), r.Currency)
		}
		o, err := tx.OrderByID(ctx, r.OrderID)
		if err != nil {
			return step{}, err
		}
		fields := map[string]any{}
		if rep.ProviderRefundNo != "" && r.ProviderRefundNo == "" {
			fields["provider_refund_no"] = rep.ProviderRefundNo
		}
		if rep.ProviderStatus != "" && rep.ProviderStatus != r.ProviderStatus {
			fields["provider_status"] = rep.ProviderStatus
		}
		if rep.Unknown() {
			s.log.Warn("provider refund status word unknown to the adapter: no transition, asking again later",
				"refund", r.ID, "word", truncate(rep.ProviderStatus, 64), "source", src.Name)
		}
		next, move := NextRefundStatus(providers.RefundStatus(r.Status), rep.Status)
		late := move && r.Status == string(providers.RefundFailed)
		if move {
			fields["status"] = string(next)
			fields["next_poll_ms"] = nil
			if next == providers.RefundSucceeded {
				at := rep.SucceededAt.UTC()
				if rep.SucceededAt.IsZero() {
					at = s.now().UTC()
				}
				fields["succeeded_at"] = at
			} else if rep.ProviderStatus != "" {
				fields["failure_reason"] = truncate("provider status "+rep.ProviderStatus, 250)
			}
		}
		switch {
		case late:
			// The provider refunded after all: the reservation was given back
			// when the refund failed here, so the amount goes straight into
			// refunded, never past what was paid.
			ok, err := tx.SettleLateRefund(ctx, r.OrderID, r.AmountMinor, string(providers.OrderRefunded))
			if err != nil {
				return step{}, err
			}
			if !ok {
				s.log.Error("late refund success would refund more than was paid: not applied, check it by hand",
					"refund", r.ID, "order", r.OrderID, "source", src.Name)
				return step{}, fmt.Errorf("%w: refund %s succeeded late but the order has no room for it", ErrMismatch, r.ID)
			}
			fields["failure_reason"] = ""
			s.log.Warn("late refund: provider reports SUCCEEDED for a refund that had failed", "refund", r.ID, "order", r.OrderID, "source", src.Name)
			s.observe("late_refund", string(next), src.Name)
		case move:
			// The order becomes REFUNDED when this refund completes it; the
			// store decides on the locked row (refunds may settle at once).
			if err := tx.SettleRefundAmount(ctx, r.OrderID, r.AmountMinor, next == providers.RefundSucceeded, string(providers.OrderRefunded)); err != nil {
				return step{}, err
			}
		}
		if len(fields) > 0 {
			if err := tx.UpdateRefund(ctx, r, fields); err != nil {
				return step{}, err
			}
		}
		out = r
		st := step{orderID: r.OrderID, moved: move, status: r.Status}
		if typ := refundEvent(next); move && typ != "" {
			st.event = &event{merchantID: r.MerchantID, typ: typ, dedupe: r.ID, url: o.NotifyURL, orderID: r.OrderID, refundID: r.ID, data: ViewRefund(r, o.OutTradeNo)}
		}
		return st, nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, moved, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// OrderRef is the provider-facing reference of a stored order.
func OrderRef(o *store.Order) providers.OrderRef {
	ref := providers.OrderRef{OutTradeNo: o.OutTradeNo, Amount: providers.Money{Minor: o.AmountMinor, Currency: o.Currency}, CreatedAt: o.CreatedAt}
	if o.ProviderTradeNo != nil {
		ref.ProviderTradeNo = *o.ProviderTradeNo
	}
	if o.TransactionID != nil {
		ref.TransactionID = *o.TransactionID
	}
	return ref
}

// Refresh asks the provider about the order and applies the answer: the
// same path a notification takes. It is what GET ?refresh=true, the poller
// and untrusted notifications use.
func (s *Service) Refresh(ctx context.Context, o *store.Order) (*store.Order, error) {
	ch, err := s.channelOf(o)
	if err != nil {
		return nil, err
	}
	if !ch.Caps.Query {
		return o, nil
	}
	rep, err := ch.Provider.QueryOrder(ctx, OrderRef(o))
	if err != nil {
		return nil, err
	}
	out, _, err := s.ApplyOrderReport(ctx, o, rep, Source{Name: "query"})
	if errors.Is(err, ErrIncompleteReport) {
		// Never PAID without the amount: an answer to ask again about.
		return nil, &providers.Error{Code: providers.ErrCodeBadResponse, Message: "the provider answered paid without the amount and currency", Err: err}
	}
	return out, err
}

// RefreshRefund asks the provider about a PROCESSING refund and applies
// the answer: what GET ?refresh=true and untrusted refund notifications
// use. It only asks: a refund the provider does not know stays as it is
// (the poller re-sends it, see PollRefund), so no reader can make money
// move.
func (s *Service) RefreshRefund(ctx context.Context, r *store.Refund) (*store.Refund, error) {
	if r.Status != string(providers.RefundProcessing) {
		return r, nil // final
	}
	o, err := s.st.OrderByID(ctx, r.OrderID)
	if err != nil {
		return nil, err
	}
	ch, err := s.channelOf(o)
	if err != nil {
		return nil, err
	}
	if !ch.Caps.RefundQuery {
		return r, nil
	}
	rep, err := ch.Provider.QueryRefund(ctx, refundRef(r, o))
	if providers.IsCode(err, providers.ErrCodeNotFound) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	out, _, err := s.ApplyRefundState(ctx, r.ID, rep, Source{Name: "query"})
	return out, err
}

func nowPtr(t time.Time) *time.Time { u := t.UTC(); return &u }
