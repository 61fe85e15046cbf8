package store

import (
	"context"
	"database/sql"
	"time"

	"gorm.io/gorm"
)

// ClaimQuery is a due-work statement and the index that must serve it.
type ClaimQuery struct {
	Name, SQL, Index string
	Args             []any
}

// ClaimQueries exposes the claim statements to the index tests.
func (s *Store) ClaimQueries() []ClaimQuery {
	var out []ClaimQuery
	for _, q := range []dueQuery{dueOrders, dueRefunds, dueEvents} {
		out = append(out, ClaimQuery{Name: "claim " + q.table, SQL: s.claimSQL(q, 10), Index: q.index, Args: []any{int64(30000), "lease_x"}})
	}
	return out
}

// ListOrdersSQL is the statement ListOrders runs, for the index tests.
func (s *Store) ListOrdersSQL(f OrderFilter, from *OrderKey, limit int) (string, []any) {
	q := after(s.filterOrders(s.r.Session(&gorm.Session{DryRun: true}), f), from)
	if !f.lookup() {
		q = q.Order("created_at, id").Limit(limit)
	}
	stmt := q.Find(&[]Order{}).Statement
	return stmt.SQL.String(), stmt.Vars
}

// RecordBatchQueries exposes PostgreSQL's batched delivery statements (two
// rows each) to the index tests, with the index each row must be found by.
func (s *Store) RecordBatchQueries() []ClaimQuery {
	now := time.Now().UTC()
	q1, a1 := s.deliveredBatchSQL(now, [][]any{{"evt_a", "lease_a", now}, {"evt_b", "lease_a", now}})
	q2, a2 := s.nextDueBatchSQL(now, [][]any{{"ord_a", int64(1)}, {"ord_b", int64(2)}})
	return []ClaimQuery{
		{Name: "delivered", SQL: deliveredSQL, Index: "merchant_events_pkey", Args: []any{now, EventDelivered, now, "evt_a", "lease_a", EventPending}},
		{Name: "delivered batch", SQL: q1, Index: "merchant_events_pkey", Args: a1},
		{Name: "next due batch", SQL: q2, Index: "ux_events_order_sequence", Args: a2},
	}
}

// ReadPool is the pool reads go through (on PostgreSQL the only one).
func (s *Store) ReadPool() (*sql.DB, error) { return s.r.DB() }

// RawRead runs a query on the read connections and scans it into dest
// the way the store's hot reads do.
func (s *Store) RawRead(ctx context.Context, dest any, query string, args ...any) error {
	return s.rawRead(ctx, dest, query, args...)
}

// CasReturning is the compare-and-set of an order or refund row.
func (s *Store) CasReturning(ctx context.Context, table string, model any, id string, version int64, fields map[string]any) error {
	return s.write(ctx, func(s *Store) error { return s.casReturning(ctx, table, model, id, version, fields) })
}

// WriteChangeGroup writes changes as one group of PostgreSQL's batch (as
// its senders do with what is queued) and returns each change's error.
func (s *Store) WriteChangeGroup(changes []*OrderChange) []error {
	group := make([]*pgChange, len(changes))
	for i, c := range changes {
		c.event.defaults(c.now)
		if c.inbox != nil && c.inbox.ID == "" {
			c.inbox.ID = NotificationID(c.inbox.ReceivedAt)
		}
		group[i] = &pgChange{pgMember: pgMember{ctx: context.Background(), done: make(chan struct{})}, c: c}
	}
	s.pgb.q.answer(group)
	errs := make([]error, len(group))
	for i, m := range group {
		errs[i] = m.err
	}
	return errs
}

// Inbox is the change's inbox row.
func (c *OrderChange) Inbox() *Notification { return c.inbox }

// ReadOrdersTogether reads the orders with ids as one group of
// PostgreSQL's read batch; alone says which were read again on their own.
func (s *Store) ReadOrdersTogether(ids []string) (out []Order, alone []bool, errs []error) {
	out, alone, errs = make([]Order, len(ids)), make([]bool, len(ids)), make([]error, len(ids))
	group := make([]*pgRead, len(ids))
	for i, id := range ids {
		group[i] = &pgRead{pgMember: pgMember{ctx: context.Background(), done: make(chan struct{})}, query: s.bind("SELECT * FROM orders WHERE id = ?"), args: []any{id}, dest: &out[i]}
	}
	s.pgr.q.answer(group)
	for i, m := range group {
		alone[i], errs[i] = m.alone, m.err
	}
	return out, alone, errs
}

// IDFloor exposes idFloor.
var IDFloor = idFloor
