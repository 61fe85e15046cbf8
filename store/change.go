package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm/clause"
)

// SequenceMark stands for the event's number in the payload of an event
// built before its number is known (see OrderChange): the write puts the
// number in its place. No event is ever numbered so.
const SequenceMark int64 = -7340032001

var sequenceMarkText = []byte(strconv.FormatInt(SequenceMark, 10))

// ErrNotPrepared: the change cannot be built ahead (its fields hold an
// SQL expression, whose result is only known once it ran); the caller
// writes it the ordinary way.
var ErrNotPrepared = errors.New("change cannot be prepared ahead")

// OrderChange is a compare-and-set of an order (UpdateOrderForEvent),
// the merchant event it causes and the inbox row of the notification that
// reported it, all built before the write: the SQL, the arguments, and the
// event's payload from the order as the compare-and-set will leave it
// (every write of an order bumps its version but for lease and poll
// bookkeeping, TestOrderWritesBumpTheVersionOfWhatTheyChange, so a
// compare-and-set that wins leaves exactly the copy read plus the fields).
// On PostgreSQL the three are then one statement, with no BEGIN and COMMIT
// round trips around them; on SQLite they are the ordinary statements in
// one member of the group commit.
type OrderChange struct {
	// After is the order as the change leaves it; build the event from it.
	After *Order

	order  *Order
	fields map[string]any
	now    time.Time
	event  *MerchantEvent
	inbox  *Notification

	// Set by ApplyOrderChange: whether the event was new (false: one
	// with its dedupe key was there already; the change is written all
	// the same).
	EventWritten bool
}

// PrepareOrderChange starts the change of o (as read) by fields; the
// event and inbox row follow with SetEvent.
func (s *Store) PrepareOrderChange(o *Order, fields map[string]any) (*OrderChange, error) {
	// The database keeps microseconds (PostgreSQL): the copy must hold the
	// value the row will.
	now := s.Now().Truncate(time.Microsecond)
	after := *o
	cols, sfields := s.schemaOf("orders")
	rv := reflect.ValueOf(&after).Elem()
	for k, v := range fields {
		switch x := v.(type) {
		case clause.Expr, DBTime:
			// An expression, or a time on the database's clock.
			return nil, fmt.Errorf("%w: %s", ErrNotPrepared, k)
		case *DBTime:
			if x != nil {
				return nil, fmt.Errorf("%w: %s", ErrNotPrepared, k)
			}
		}
		i := slices.Index(cols, k)
		if i < 0 {
			return nil, fmt.Errorf("%w: no column %s", ErrNotPrepared, k)
		}
		if err := sfields[i].Set(context.Background(), rv, v); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrNotPrepared, k, err)
		}
	}
	after.Version = o.Version + 1
	after.UpdatedAt = now
	return &OrderChange{After: &after, order: o, fields: fields, now: now}, nil
}

// SetEvent adds the event (its payload carrying SequenceMark once where
// its number goes) and the inbox row.
func (c *OrderChange) SetEvent(e *MerchantEvent, inbox *Notification) error {
	if bytes.Count(e.Payload, sequenceMarkText) != 1 {
		return fmt.Errorf("%w: the event's payload must hold SequenceMark once", ErrNotPrepared)
	}
	c.event, c.inbox = e, inbox
	return nil
}

// Event is the change's merchant event (numbered once written).
func (c *OrderChange) Event() *MerchantEvent { return c.event }

// numbered is the event's payload with its number in place.
func (c *OrderChange) numbered(seq int64) []byte {
	i := bytes.Index(c.event.Payload, sequenceMarkText)
	out := make([]byte, 0, len(c.event.Payload)+8)
	out = append(out, c.event.Payload[:i]...)
	out = strconv.AppendInt(out, seq, 10)
	return append(out, c.event.Payload[i+len(sequenceMarkText):]...)
}

// ApplyOrderChange writes a prepared change: ErrConflict (nothing
// written) when the order moved since it was read.
func (s *Store) ApplyOrderChange(ctx context.Context, c *OrderChange) error {
	if c.event == nil {
		return fmt.Errorf("%w: no event", ErrNotPrepared)
	}
	c.event.defaults(c.now)
	if c.inbox != nil && c.inbox.ID == "" {
		c.inbox.ID = NotificationID(c.inbox.ReceivedAt)
	}
	if s.driver == "postgres" {
		if s.pgb != nil { // the root store; a transaction's view has none
			return s.pgb.do(ctx, c)
		}
		return s.applyOrderChangePG(ctx, c)
	}
	// In-process: the compare-and-set returns only the event's number (the
	// order as it leaves it is After), then the two inserts, in one member
	// of the group commit.
	return s.write(ctx, func(s *Store) error {
		q, args := s.casSetSQL("orders", c.order.ID, c.order.Version, c.fields, c.now)
		var seq int64
		err := s.w.Statement.ConnPool.QueryRowContext(ctx, s.bind(q+" RETURNING "+nextSequenceOf("orders.id")), args...).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrConflict
		}
		if err != nil {
			return s.driverError(err)
		}
		c.event.Sequence, c.event.Payload = seq, c.numbered(seq)
		err = s.InsertEvent(ctx, c.event)
		if err != nil && !errors.Is(err, ErrDuplicate) {
			return err
		}
		if c.inbox != nil {
			if err := s.InsertNotification(ctx, c.inbox); err != nil {
				return err
			}
		}
		*c.order, c.EventWritten = *c.After, err == nil
		return nil
	})
}

// pgColumnTypes are the PostgreSQL types of the columns a prepared change
// inserts with INSERT ... SELECT, where a parameter takes no type from its
// column (TestPreparedTransitionWritesWhatTheOrdinaryOneDoes runs it).
var pgColumnTypes = map[string]string{
	"sequence": "bigint", "attempts": "bigint", "next_try_ms": "bigint", "lease_until_ms": "bigint",
	"payload": "bytea", "body": "bytea", "verified": "boolean",
	"delivered_at": "timestamptz", "created_at": "timestamptz", "updated_at": "timestamptz", "received_at": "timestamptz",
}

// selectList is the SELECT list of an INSERT ... SELECT of one row of
// vals, each cast to its column's type; over replaces the values of some
// columns by SQL and its arguments.
func (s *Store) selectList(cols []string, vals []any, over map[string]sqlArgs) (string, []any) {
	var b strings.Builder
	var args []any
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		if o, ok := over[c]; ok {
			b.WriteString(o.sql)
			args = append(args, o.args...)
			continue
		}
		frag, a := s.value(vals[i])
		typ := pgColumnTypes[c]
		if typ == "" {
			typ = "text"
		}
		b.WriteString("CAST(" + frag + " AS " + typ + ")")
		args = append(args, a...)
	}
	return b.String(), args
}

type sqlArgs struct {
	sql  string
	args []any
}

// pgChangeSQL is the change as one statement: the compare-and-set
// returns the event's number; the event and the inbox row are inserted
// from its result, so a compare-and-set that lost inserts nothing. Its
// one row is (the event's number, 1 if the event was new); no row: the
// compare-and-set lost. The order as it leaves it is c.After.
func (s *Store) pgChangeSQL(c *OrderChange) (string, []any) {
	update, uargs := s.casSetSQL("orders", c.order.ID, c.order.Version, c.fields, c.now)
	update += " RETURNING " + nextSequenceOf("orders.id") + " AS next_event_sequence"
	head, tail, _ := bytes.Cut(c.event.Payload, sequenceMarkText)
	esel, eargs := s.selectList(eventColumns, eventValues(c.event), map[string]sqlArgs{
		"sequence": {sql: "o.next_event_sequence"},
		"payload":  {sql: "CAST(? AS bytea) || convert_to(o.next_event_sequence::text, 'UTF8') || CAST(? AS bytea)", args: []any{head, tail}},
	})
	q := "WITH o AS (" + update + "), e AS (INSERT INTO merchant_events (" + strings.Join(eventColumns, ", ") + ") SELECT " + esel +
		" FROM o ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1)"
	args := append(append([]any{}, uargs...), eargs...)
	if c.inbox != nil {
		nsel, nargs := s.selectList(notificationColumns, notificationValues(c.inbox), nil)
		q += ", n AS (INSERT INTO notifications (" + strings.Join(notificationColumns, ", ") + ") SELECT " + nsel + " FROM o)"
		args = append(args, nargs...)
	}
	q += " SELECT o.next_event_sequence, (SELECT count(*) FROM e) FROM o"
	return s.bind(q), args
}

// applyOrderChangePG writes the change alone, as one statement.
func (s *Store) applyOrderChangePG(ctx context.Context, c *OrderChange) error {
	q, args := s.pgChangeSQL(c)
	var seq, written int64
	err := s.w.Statement.ConnPool.QueryRowContext(ctx, q, args...).Scan(&seq, &written)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrConflict
	}
	if err != nil {
		return s.driverError(err)
	}
	c.written(seq, written > 0)
	return nil
}

// written records a change's write: the event numbered seq (new or not),
// the caller's copy of the order as the change left it.
func (c *OrderChange) written(seq int64, eventNew bool) {
	c.event.Sequence, c.event.Payload = seq, c.numbered(seq)
	*c.order, c.EventWritten = *c.After, eventNew
}
