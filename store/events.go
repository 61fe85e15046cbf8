package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// InsertEvent adds an event to the outbox, due at once (on the
// database's clock) unless NextTryAt says otherwise; ErrDuplicate when an
// event with its DedupeKey exists.
func (s *Store) InsertEvent(ctx context.Context, e *MerchantEvent) error {
	return s.write(ctx, func(s *Store) error {
		e.defaults(s.Now())
		// A second event for one fact is refused without an error in the
		// database: on PostgreSQL a failed statement would abort the whole
		// transaction of the state change that wrote it.
		q, args := s.insertSQL("merchant_events", eventColumns, eventValues(e), " ON CONFLICT (dedupe_key) DO NOTHING")
		n, err := s.rawExec(ctx, q, args...)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: merchant event %s", ErrDuplicate, e.DedupeKey)
		}
		return nil
	})
}

// defaults fills what an event left unset: an id (from the time it was
// made, which the retention purge relies on), pending, due now.
func (e *MerchantEvent) defaults(now time.Time) {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now
	}
	if e.ID == "" {
		e.ID = newIDAt("evt", e.CreatedAt, true)
	}
	if e.Status == "" {
		e.Status = EventPending
	}
	if !e.NextTryAt.set() {
		e.NextTryAt = DueNow()
	}
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = e.CreatedAt
	}
}

// NextEventSequence returns the sequence number the order's next event
// gets and the order's status now. Call it in the transaction that
// changed the order: the order's row is locked (PostgreSQL) or the
// database is (SQLite), so two transitions cannot take one number; the
// unique index on (order_id, sequence) would refuse it anyway.
func (s *Store) NextEventSequence(ctx context.Context, orderID string) (int64, string, error) {
	var row struct {
		Status string
		Next   int64
	}
	err := s.rawQuery(ctx, &row, "SELECT o.status AS status, "+nextSequenceOf("o.id")+" AS next FROM orders o WHERE o.id = ?", orderID)
	if err != nil {
		return 0, "", err
	}
	return row.Next, row.Status, nil
}

// nextSequenceOf is the SQL of the number the next event of the order
// whose id is the expression orderID gets.
func nextSequenceOf(orderID string) string {
	return "COALESCE((SELECT MAX(e.sequence) FROM merchant_events e WHERE e.order_id = " + orderID + " AND e.sequence > 0), 0) + 1"
}

// EventByID finds an event.
func (s *Store) EventByID(ctx context.Context, id string) (*MerchantEvent, error) {
	var e MerchantEvent
	return &e, translate(s.r.WithContext(ctx).Where("id = ?", id).Take(&e).Error)
}

// EventsOf lists events, newest first, optionally of an order or a status.
func (s *Store) EventsOf(ctx context.Context, merchantID, orderID, status string, limit int) ([]MerchantEvent, error) {
	q := s.r.WithContext(ctx).Where("merchant_id = ?", merchantID)
	if orderID != "" {
		// An order's events are numbered from 1: "sequence > 0" lets the
		// planner walk ux_events_order_sequence (a partial index).
		q = q.Where("order_id = ? AND sequence > 0", orderID)
	}
	if status != "" {
		q = q.Where("status = ?", status)
	}
	var out []MerchantEvent
	return out, translate(q.Order("created_at DESC, id DESC").Limit(limit).Find(&out).Error)
}

// AttemptsOf lists an event's delivery attempts, oldest first.
func (s *Store) AttemptsOf(ctx context.Context, eventID string) ([]EventAttempt, error) {
	var out []EventAttempt
	return out, translate(s.r.WithContext(ctx).Where("event_id = ?", eventID).Order("at, id").Find(&out).Error)
}

// AttemptOutcome is what one delivery attempt found.
type AttemptOutcome struct {
	Delivered bool
	At        time.Time // when the answer came
	Error     string    // why it was not delivered
	// RetryIn is the wait before the next attempt after attempts attempts
	// (this one included); false: the schedule is spent, give up.
	RetryIn func(attempts int) (time.Duration, bool)
	// Claimed is the event as the caller claimed it, if it has it: a
	// delivery by the lease holder is then recorded without reading the
	// row back.
	Claimed *MerchantEvent
}

// RecordAttempt stores one delivery attempt of an event, always: a POST
// that happened is a fact, whether or not the caller still holds the
// lease it claimed the event with. Then it moves the event on, from the
// row as it is now:
//   - delivered: the event is delivered, whoever holds it;
//   - not delivered, the caller's lease still held: due again after
//     RetryIn (the order's later events wait at least as long), or failed
//     when the schedule is spent;
//   - not delivered, the lease lost to another replica: only the count and
//     the error change; the holder decides what comes next.
//
// An event that became final (delivered or failed) makes its order's next
// event due at once. It returns the event as recorded.
func (s *Store) RecordAttempt(ctx context.Context, eventID, leaseToken string, a *EventAttempt, out AttemptOutcome) (*MerchantEvent, error) {
	if a.ID == "" {
		a.ID = NewID("att")
	}
	a.EventID = eventID
	var e MerchantEvent
	err := s.InTx(ctx, func(tx *Store) error {
		return tx.recordOne(ctx, eventID, leaseToken, a, out, &e)
	})
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// recordOne is RecordAttempt's statements, inside a transaction.
func (s *Store) recordOne(ctx context.Context, eventID, leaseToken string, a *EventAttempt, out AttemptOutcome, e *MerchantEvent) error {
	q, args := s.insertSQL("event_attempts", attemptColumns, attemptValues(a), "")
	if _, err := s.rawExec(ctx, q, args...); err != nil {
		return err
	}
	if out.Delivered && leaseToken != "" {
		// The common case, without reading the row first: delivered by
		// the holder of the lease, so the event was pending until now.
		done, err := s.delivered(ctx, eventID, leaseToken, out, e)
		if err != nil || done {
			return err
		}
	}
	return s.recordAttempt(ctx, eventID, leaseToken, out, e)
}

// AttemptRecord is one delivery attempt to record (see RecordAttempt).
type AttemptRecord struct {
	EventID, LeaseToken string
	Attempt             *EventAttempt
	Outcome             AttemptOutcome
	// Event and Err are set by RecordAttempts: the event as recorded, or
	// why it could not be.
	Event *MerchantEvent
	Err   error
}

// RecordAttempts records many attempts as RecordAttempt does each, in one
// write: one transaction (one member of SQLite's group commit; one commit
// on PostgreSQL) instead of one per attempt, which is what a dispatcher
// delivering at the rate payments come in needs. If the batch fails as a
// whole, each attempt is recorded on its own, so one bad record does not
// lose the others; every record's Err says how it ended.
func (s *Store) RecordAttempts(ctx context.Context, recs []*AttemptRecord) {
	if len(recs) == 0 {
		return
	}
	for _, r := range recs {
		if r.Attempt.ID == "" {
			r.Attempt.ID = NewID("att")
		}
		r.Attempt.EventID = r.EventID
	}
	events := make([]MerchantEvent, len(recs))
	if s.driver == "postgres" && !s.inTx && allDeliveredByHolder(recs) {
		if err := s.recordDelivered(ctx, recs, events); err == nil {
			return
		}
		// Not written (one statement, its own transaction): the
		// ordinary way below, which records them one by one if need be.
	}
	err := s.InTx(ctx, func(tx *Store) error {
		if tx.driver == "postgres" && len(recs) > 1 {
			return tx.recordBatch(ctx, recs, events)
		}
		for i, r := range recs {
			if err := tx.recordOne(ctx, r.EventID, r.LeaseToken, r.Attempt, r.Outcome, &events[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for i, r := range recs {
			r.Event, r.Err = &events[i], nil
		}
		return
	}
	if len(recs) == 1 {
		recs[0].Err = err
		return
	}
	for _, r := range recs {
		r.Event, r.Err = s.RecordAttempt(ctx, r.EventID, r.LeaseToken, r.Attempt, r.Outcome)
	}
}

// recordBatch is RecordAttempts' transaction in a few statements whatever
// the batch's size, for PostgreSQL, where each statement is a round trip
// and the server's work: every attempt in one INSERT; the deliveries by
// the lease holder (the common case) in one UPDATE ... FROM VALUES, and
// their orders' next events made due in one more; the rest one by one as
// recordOne does. (SQLite runs in-process inside the group commit: there a
// statement per record costs less than building these.)
func (s *Store) recordBatch(ctx context.Context, recs []*AttemptRecord, events []MerchantEvent) error {
	attempts := make([][]any, len(recs))
	for i, r := range recs {
		attempts[i] = attemptValues(r.Attempt)
	}
	q, args := s.insertRowsSQL("event_attempts", attemptColumns, attempts, "")
	if _, err := s.rawExec(ctx, q, args...); err != nil {
		return err
	}

	now := s.Now()
	var fast []int // records delivered by the holder of the lease they claimed with
	for i, r := range recs {
		if r.deliveredByHolder() {
			fast = append(fast, i)
		}
	}
	done := make(map[string]bool, len(fast))
	if len(fast) > 0 {
		rows := make([][]any, len(fast))
		for k, i := range fast {
			rows[k] = []any{recs[i].EventID, recs[i].LeaseToken, recs[i].Outcome.At.UTC()}
		}
		q, args := s.deliveredBatchSQL(now, rows)
		var updated []struct{ ID string }
		if err := s.rawQuery(ctx, &updated, q, args...); err != nil {
			return err
		}
		for _, u := range updated {
			done[u.ID] = true
		}
	}

	var next []int // delivered here: their orders' next events are due now
	for i, r := range recs {
		if done[r.EventID] {
			e := &events[i]
			*e = deliveredClaim(r.Outcome.Claimed, r.Outcome.At, now)
			if e.OrderID != "" && e.Sequence > 0 {
				next = append(next, i)
			}
			continue
		}
		if err := s.recordAttempt(ctx, r.EventID, r.LeaseToken, r.Outcome, &events[i]); err != nil {
			return err
		}
	}
	if len(next) == 0 {
		return nil
	}
	rows := make([][]any, len(next))
	for k, i := range next {
		rows[k] = []any{events[i].OrderID, events[i].Sequence}
	}
	q, args = s.nextDueBatchSQL(now, rows)
	_, err := s.rawExec(ctx, q, args...)
	return err
}

// deliveredByHolder: the record is a delivery by the holder of the lease
// it claimed its event with (the common case).
func (r *AttemptRecord) deliveredByHolder() bool {
	c := r.Outcome.Claimed
	return r.Outcome.Delivered && r.LeaseToken != "" && c != nil && c.ID == r.EventID
}

// allDeliveredByHolder: every record is deliveredByHolder.
func allDeliveredByHolder(recs []*AttemptRecord) bool {
	for _, r := range recs {
		if !r.deliveredByHolder() {
			return false
		}
	}
	return true
}

// recordDelivered records a batch of deliveries by their lease holders
// on PostgreSQL as one statement, one round trip and one commit (it was
// BEGIN, three statements and COMMIT, each a round trip and a wake-up of
// the server process): the attempts, the events delivered, their orders'
// next events made due. An event whose lease was lost meanwhile is not
// among those delivered; it is then recorded as RecordAttempt would,
// without its attempt again. An error means nothing was written.
func (s *Store) recordDelivered(ctx context.Context, recs []*AttemptRecord, events []MerchantEvent) error {
	now := s.Now()
	q, args := s.deliveredRecordSQL(now, recs)
	var updated []struct{ ID string }
	if err := s.rawQuery(ctx, &updated, q, args...); err != nil {
		return err
	}
	done := make(map[string]bool, len(updated))
	for _, u := range updated {
		done[u.ID] = true
	}
	var rest []int
	for i, r := range recs {
		if done[r.EventID] {
			events[i] = deliveredClaim(r.Outcome.Claimed, r.Outcome.At, now)
			r.Event, r.Err = &events[i], nil
			continue
		}
		rest = append(rest, i)
	}
	for _, i := range rest {
		r := recs[i]
		// Its attempt is on record; the event is settled from its row.
		r.Err = s.InTx(ctx, func(tx *Store) error {
			return tx.recordAttempt(ctx, r.EventID, r.LeaseToken, r.Outcome, &events[i])
		})
		if r.Err == nil {
			r.Event = &events[i]
		}
	}
	return nil
}

// deliveredRecordSQL is recordDelivered's statement: it returns the ids
// of the events it marked delivered (those whose lease the token still
// held). The next events are found by the order's own events, as in
// nextDueBatchSQL, and never one delivered by the same statement (a row
// is changed once per statement).
func (s *Store) deliveredRecordSQL(now time.Time, recs []*AttemptRecord) (string, []any) {
	attempts := make([][]any, len(recs))
	rows := make([][]any, len(recs))
	for i, r := range recs {
		attempts[i] = attemptValues(r.Attempt)
		rows[i] = []any{r.EventID, r.LeaseToken, r.Outcome.At.UTC()}
	}
	insert, iargs := s.insertRowsSQL("event_attempts", attemptColumns, attempts, "")
	delivered, dargs := s.deliveredBatchSQL(now, rows)
	nowMS := s.dbNowMS()
	q := "WITH a AS (" + insert + "), d AS (" + delivered + ", m.order_id AS order_id, m.sequence AS seq), " +
		"n AS (UPDATE merchant_events AS m SET next_try_ms = " + nowMS + ", updated_at = ? FROM d " +
		"WHERE d.order_id <> '' AND d.seq > 0 AND " + laterPendingOf("d", nowMS) + " AND m.id NOT IN (SELECT id FROM d)) " +
		"SELECT id FROM d"
	return q, append(append(iargs, dargs...), now)
}

// deliveredBatchSQL marks delivered the events (id, lease token, answered
// at) whose lease the tokens still hold, returning their ids. Each row is
// found by its key ("status || ”" keeps PostgreSQL off the due index,
// which would walk every pending event).
func (s *Store) deliveredBatchSQL(now time.Time, rows [][]any) (string, []any) {
	values, vargs := valuesSQL("(?::text, ?::text, ?::timestamptz)", rows)
	q := "UPDATE merchant_events AS m SET attempts = m.attempts + 1, updated_at = ?, status = ?, last_error = '', " +
		"delivered_at = d.at, lease_until_ms = NULL, lease_token = '' FROM (" + values + ") AS d(id, token, at) " +
		"WHERE m.id = d.id AND m.lease_token = d.token AND m.status || '' = ? RETURNING m.id AS id"
	return q, append(append([]any{now, EventDelivered}, vargs...), EventPending)
}

// nextDueBatchSQL makes due now the later pending events of the orders
// (order id, sequence delivered) held back until now, by the orders' own
// events (ux_events_order_sequence).
func (s *Store) nextDueBatchSQL(now time.Time, rows [][]any) (string, []any) {
	nowMS := s.dbNowMS()
	values, vargs := valuesSQL("(?::text, ?::bigint)", rows)
	q := "UPDATE merchant_events AS m SET next_try_ms = " + nowMS + ", updated_at = ? FROM (" + values + ") AS d(order_id, seq) " +
		"WHERE " + laterPendingOf("d", nowMS)
	return q, append([]any{now}, vargs...)
}

// laterPendingOf is the condition on m (merchant_events) of the pending
// events, held back until nowMS, that come after the event of d's
// (order_id, seq) in its order.
func laterPendingOf(d, nowMS string) string {
	return "m.order_id = " + d + ".order_id AND m.sequence > 0 AND m.sequence > " + d + ".seq AND " +
		"m.status || '' = 'pending' AND m.next_try_ms > " + nowMS
}

// deliveredClaim is the event c, claimed by a delivery, as the delivery's
// record leaves it: the lease kept the row the caller's since the claim,
// so it is c with this attempt's changes.
func deliveredClaim(c *MerchantEvent, at, now time.Time) MerchantEvent {
	e := *c
	at = at.UTC()
	e.Attempts++
	e.Status, e.LastError, e.DeliveredAt, e.LeaseUntil, e.LeaseToken, e.UpdatedAt = EventDelivered, "", &at, nil, "", now
	return e
}

// deliveredSQL marks one event delivered by its lease holder. The row is
// found by its id: the status compared as an expression keeps PostgreSQL
// from walking the due index over every pending event instead (it did,
// 2.7 ms a statement under a backlog, when its statistics were older than
// the backlog).
const deliveredSQL = "UPDATE merchant_events SET attempts = attempts + 1, updated_at = ?, status = ?, last_error = '', delivered_at = ?, " +
	"lease_until_ms = NULL, lease_token = '' WHERE id = ? AND lease_token = ? AND status || '' = ?"

// delivered marks an event delivered by the holder of its lease and makes
// its order's next event due; false (nothing changed) when token no longer
// holds it. e is the event as recorded.
func (s *Store) delivered(ctx context.Context, eventID, token string, out AttemptOutcome, e *MerchantEvent) (bool, error) {
	set := deliveredSQL
	now, at := s.Now(), out.At.UTC()
	if c := out.Claimed; c != nil && c.ID == eventID {
		n, err := s.rawExec(ctx, set, now, EventDelivered, at, eventID, token, EventPending)
		if err != nil || n == 0 {
			return false, err
		}
		*e = deliveredClaim(c, at, now)
	} else {
		err := s.rawQuery(ctx, e, set+" RETURNING *", now, EventDelivered, at, eventID, token, EventPending)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	return true, s.orderNextDue(ctx, e, true, nil)
}

// recordAttempt moves an event on after an attempt, from the row as it is
// now (see RecordAttempt).
func (s *Store) recordAttempt(ctx context.Context, eventID, leaseToken string, out AttemptOutcome, e *MerchantEvent) error {
	q := s.w
	if s.driver == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.Where("id = ?", eventID).Take(e).Error; err != nil {
		return translate(err)
	}
	held := leaseToken != "" && e.LeaseToken == leaseToken
	fields := map[string]any{"attempts": gorm.Expr("attempts + 1"), "updated_at": s.Now()}
	if held {
		fields["lease_until_ms"], fields["lease_token"] = nil, ""
	}
	var (
		final bool
		retry *time.Duration
	)
	switch {
	case out.Delivered:
		final = e.Status != EventDelivered
		fields["status"], fields["last_error"] = EventDelivered, ""
		fields["delivered_at"] = out.At.UTC()
	case e.Status != EventPending:
		// Delivered or given up meanwhile (another replica): the
		// attempt is on record, the event stays as it is.
	case held:
		fields["last_error"] = out.Error
		if d, ok := out.RetryIn(e.Attempts + 1); ok {
			fields["next_try_ms"] = DueIn(d)
			retry = &d
		} else {
			fields["status"] = EventFailed
			final = true
		}
	default:
		fields["last_error"] = out.Error
	}
	if err := s.w.Model(e).Clauses(clause.Returning{}).Where("id = ?", eventID).Updates(fields).Error; err != nil {
		return err
	}
	return s.orderNextDue(ctx, e, final, retry)
}

// orderNextDue keeps the order's later events in step with e: due at once
// when e became final (delivered or given up), held back at least as long
// as e when it waits for a retry.
func (s *Store) orderNextDue(ctx context.Context, e *MerchantEvent, final bool, retry *time.Duration) error {
	if e.OrderID == "" || e.Sequence == 0 {
		return nil
	}
	// By the order's own events (order_id, sequence): with status on the
	// index choice, a planner short of statistics walks the due index's
	// range of every pending event instead (|| '' keeps it off).
	now := s.dbNowMS()
	later := "UPDATE merchant_events SET next_try_ms = " + now + " + ?, updated_at = ? WHERE order_id = ? AND sequence > 0 AND sequence > ? AND status || '' = 'pending' AND "
	var err error
	switch {
	case final:
		_, err = s.rawExec(ctx, later+"next_try_ms > "+now, 0, s.Now(), e.OrderID, e.Sequence)
	case retry != nil:
		// Out of the dispatcher's due range while they must wait.
		_, err = s.rawExec(ctx, later+"next_try_ms < "+now+" + ?", retry.Milliseconds(), s.Now(), e.OrderID, e.Sequence, retry.Milliseconds())
	}
	return err
}

// Redeliver makes an event due again now with a fresh retry schedule (a
// merchant asked): pending, no attempts counted, no lease. An event being
// delivered at this moment (its lease is live) is left to finish:
// ErrConflict.
func (s *Store) Redeliver(ctx context.Context, merchantID, eventID string) (*MerchantEvent, error) {
	return writeValue(s, ctx, func(s *Store) (*MerchantEvent, error) {
		res := s.w.WithContext(ctx).Model(&MerchantEvent{}).
			Where("id = ? AND merchant_id = ? AND (lease_until_ms IS NULL OR lease_until_ms < "+s.dbNowMS()+")", eventID, merchantID).
			Updates(map[string]any{"status": EventPending, "attempts": 0, "next_try_ms": DueNow(), "last_error": "",
				"lease_until_ms": nil, "lease_token": "", "updated_at": s.Now()})
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected == 0 {
			e, err := s.EventByID(ctx, eventID)
			if err != nil || e.MerchantID != merchantID {
				return nil, ErrNotFound
			}
			return nil, ErrConflict
		}
		return s.EventByID(ctx, eventID)
	})
}

// Due work: the condition, the order and the index that serves both.
// Rows are picked by an index range on the due time (never a full scan);
// final rows leave the range (orders and refunds: next_poll_ms NULL;
// events: status no longer pending). Due times and leases are compared
// with the database's clock ({now}), never a replica's.
var (
	dueEvents = dueQuery{table: "merchant_events", index: "ix_events_due", order: "next_try_ms",
		where: "status = 'pending' AND next_try_ms <= {now}",
		// One order's events go out in sequence: an event waits while an
		// earlier one of its order is pending (being retried, or in flight).
		// The probe walks the order's own events by (order_id, sequence);
		// status is kept off the index choice (|| ''), or a planner short
		// of statistics ANDs it with the due index and scans every pending
		// event for each candidate.
		gate: "NOT EXISTS (SELECT 1 FROM merchant_events p " +
			"WHERE d.sequence > 0 AND p.order_id = d.order_id AND p.sequence > 0 AND p.sequence < d.sequence AND p.status || '' = 'pending')"}
	dueOrders  = dueQuery{table: "orders", where: "next_poll_ms IS NOT NULL AND next_poll_ms <= {now}", order: "next_poll_ms", index: "ix_orders_next_poll"}
	dueRefunds = dueQuery{table: "refunds", where: "next_poll_ms IS NOT NULL AND next_poll_ms <= {now}", order: "next_poll_ms", index: "ix_refunds_next_poll"}
)

// dueQuery is a kind of due work: its table, the condition of a due row,
// the due order and the index that serves both, and a gate that a due row
// must also pass (one order's events go out in sequence).
type dueQuery struct{ table, where, gate, order, index string }

// claimWindow is how many due rows past the limit a gated claim looks at
// on PostgreSQL: room for the events held back behind their order's event
// in flight (as many as there are deliveries in flight), so that a claim
// costs the same however long the backlog.
const claimWindow = 64

// ClaimDueEvents leases up to limit pending events due now; only the
// returned events may be delivered by the caller, until lease expires.
func (s *Store) ClaimDueEvents(ctx context.Context, limit int, lease time.Duration) ([]MerchantEvent, string, error) {
	var out []MerchantEvent
	token, err := s.claim(ctx, dueEvents, limit, lease, &out)
	return out, token, err
}

// ClaimDueOrders leases up to limit orders whose next poll is due.
func (s *Store) ClaimDueOrders(ctx context.Context, limit int, lease time.Duration) ([]Order, string, error) {
	var out []Order
	token, err := s.claim(ctx, dueOrders, limit, lease, &out)
	return out, token, err
}

// ClaimDueRefunds leases up to limit refunds whose next poll is due.
func (s *Store) ClaimDueRefunds(ctx context.Context, limit int, lease time.Duration) ([]Refund, string, error) {
	var out []Refund
	token, err := s.claim(ctx, dueRefunds, limit, lease, &out)
	return out, token, err
}

// claimSQL is the statement that leases due rows: one UPDATE whose
// subquery picks the due, unleased rows in due order. On PostgreSQL the
// subquery locks what it picks FOR UPDATE SKIP LOCKED, so replicas
// claiming at the same moment take disjoint rows without waiting on each
// other, and the lease condition is repeated in the outer WHERE, so a row
// another replica leased between snapshot and lock is skipped on re-check.
// On SQLite the statement runs under the database's single write lock
// (one writer connection per process, and SQLite's file lock between
// processes), which makes it atomic. Every time in it is the database's
// own clock, so a replica whose clock runs ahead cannot see a live lease
// as expired. Arguments: lease (ms), token. The limit is written into the
// statement, not passed: PostgreSQL plans a LIMIT it cannot see as one
// that takes a tenth of the table, judges its generic plan worse than one
// made for the value, and so planned every claim again (half of a claim's
// server time; TestClaimIsPlannedOnce).
func (s *Store) claimSQL(q dueQuery, limit int) string {
	now := s.dbNowMS()
	free := "(lease_until_ms IS NULL OR lease_until_ms < " + now + ")"
	lock := ""
	if s.driver == "postgres" {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	where := strings.ReplaceAll(q.where, "{now}", now) + " AND " + free
	n := strconv.Itoa(limit)
	sub := "SELECT d.id FROM " + q.table + " d WHERE " + where + " ORDER BY " + q.order + " LIMIT " + n + lock
	switch {
	case q.gate == "":
	case s.driver == "sqlite":
		// SQLite walks the due index in order and stops at the limit,
		// testing the gate on each row it passes.
		sub = "SELECT d.id FROM " + q.table + " d WHERE " + where + " AND " + q.gate + " ORDER BY " + q.order + " LIMIT " + n
	default:
		// PostgreSQL plans by statistics, which lag behind a backlog:
		// the gate is tested on a bounded window of the first due rows.
		// Only the rows picked are locked: a lock is a write of the row
		// (and a WAL record), and locking the whole window, seventy rows
		// to claim six under a backlog, was most of a claim's cost. A
		// row another claim locked or leased meanwhile is skipped, and
		// this claim takes fewer.
		pick := "SELECT d.id FROM (SELECT * FROM " + q.table + " WHERE " + where + " ORDER BY " + q.order + " LIMIT " +
			strconv.Itoa(limit+claimWindow) + ") d WHERE " + q.gate + " ORDER BY d." + q.order + " LIMIT " + n
		sub = "SELECT l.id FROM " + q.table + " l WHERE l.id IN (" + pick + ") AND " + free + lock
	}
	return "UPDATE " + q.table + " SET lease_until_ms = " + now + " + ?, lease_token = ? WHERE id IN (" + sub + ") AND " + free + " RETURNING *"
}

// claim leases due rows with a fresh token and returns them, in due order
// (RETURNING has none of its own): one statement. Once begun it is not cut
// short by ctx: a claim whose UPDATE committed but whose rows were never
// read would strand them until the lease runs out.
func (s *Store) claim(ctx context.Context, q dueQuery, limit int, lease time.Duration, out any) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	ctx = context.WithoutCancel(ctx)
	token := NewID("lease")
	err := s.write(ctx, func(s *Store) error {
		return s.rawQuery(ctx, out, s.claimSQL(q, limit), lease.Milliseconds(), token)
	})
	if err != nil {
		return "", err
	}
	sortDue(out)
	return token, nil
}

// sortDue puts claimed rows in the order they fell due.
func sortDue(rows any) {
	switch r := rows.(type) {
	case *[]MerchantEvent:
		sort.SliceStable(*r, func(i, j int) bool { return (*r)[i].NextTryAt.Before((*r)[j].NextTryAt.Time) })
	case *[]Order:
		sort.SliceStable(*r, func(i, j int) bool { return dueBefore((*r)[i].NextPollAt, (*r)[j].NextPollAt) })
	case *[]Refund:
		sort.SliceStable(*r, func(i, j int) bool { return dueBefore((*r)[i].NextPollAt, (*r)[j].NextPollAt) })
	case *[]ReconRun:
		sort.SliceStable(*r, func(i, j int) bool { return dueBefore((*r)[i].NextTryAt, (*r)[j].NextTryAt) })
	}
}

func dueBefore(a, b *DBTime) bool { return a != nil && (b == nil || a.Before(b.Time)) }

// TakeLease leases one row to token for lease, if nobody holds it now
// (work that must not run twice at once, such as a provider call for it).
func (s *Store) TakeLease(ctx context.Context, table, id, token string, lease time.Duration) (bool, error) {
	return writeValue(s, ctx, func(s *Store) (bool, error) {
		res := s.w.WithContext(ctx).Table(table).
			Where("id = ? AND (lease_until_ms IS NULL OR lease_until_ms < "+s.dbNowMS()+")", id).
			Updates(map[string]any{"lease_until_ms": DueIn(lease), "lease_token": token})
		return res.RowsAffected == 1, res.Error
	})
}

// LeaseReleased are update fields that give up token's lease on the row
// they update (and leave anyone else's alone), so a result and the end of
// the work that made it are one statement.
func LeaseReleased(token string) map[string]any {
	return map[string]any{
		"lease_until_ms": gorm.Expr("CASE WHEN lease_token = ? THEN NULL ELSE lease_until_ms END", token),
		"lease_token":    gorm.Expr("CASE WHEN lease_token = ? THEN '' ELSE lease_token END", token),
	}
}

// RenewLease extends the caller's lease on a row to lease from the
// database's now, when work on it starts or goes on; false when the
// caller no longer holds it (it ran out and another replica took the row,
// or the row was finished): the caller must then leave the row alone.
func (s *Store) RenewLease(ctx context.Context, table, id, token string, lease time.Duration) (bool, error) {
	return writeValue(s, ctx, func(s *Store) (bool, error) {
		res := s.w.WithContext(ctx).Table(table).Where("id = ? AND lease_token = ?", id, token).
			Update("lease_until_ms", DueIn(lease))
		return res.RowsAffected == 1, res.Error
	})
}

// ReleaseLease gives up a claim on a row without changing it (work claimed
// but not started when the gateway stops), so another replica may take it
// at once instead of after the lease runs out.
func (s *Store) ReleaseLease(ctx context.Context, table, id, token string) error {
	return s.write(ctx, func(s *Store) error {
		return s.w.WithContext(ctx).Table(table).Where("id = ? AND lease_token = ?", id, token).
			Updates(map[string]any{"lease_until_ms": nil, "lease_token": ""}).Error
	})
}
