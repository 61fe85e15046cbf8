package store

import (
	"context"
	"sort"
	"time"

	"gorm.io/gorm"
)

// InsertEvent adds an event to the outbox; ErrDuplicate when an event with
// its DedupeKey exists.
func (s *Store) InsertEvent(ctx context.Context, e *MerchantEvent) error {
	if e.ID == "" {
		e.ID = NewID("evt")
	}
	if e.Status == "" {
		e.Status = EventPending
	}
	if e.NextTryAt.IsZero() {
		e.NextTryAt = s.Now()
	}
	return translate(s.write(ctx, func(db *gorm.DB) error { return db.Create(e).Error }))
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
		q = q.Where("order_id = ?", orderID)
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

// RecordAttempt stores one delivery attempt and the event's next state, if
// the caller still holds the lease it claimed the event with.
func (s *Store) RecordAttempt(ctx context.Context, e *MerchantEvent, a *EventAttempt, leaseToken string) error {
	return s.InTx(ctx, func(tx *Store) error {
		if a.ID == "" {
			a.ID = NewID("att")
		}
		if err := tx.w.Create(a).Error; err != nil {
			return err
		}
		res := tx.w.Model(&MerchantEvent{}).Where("id = ? AND lease_token = ?", e.ID, leaseToken).Updates(map[string]any{
			"status":       e.Status,
			"attempts":     e.Attempts,
			"next_try_at":  e.NextTryAt,
			"last_error":   e.LastError,
			"delivered_at": e.DeliveredAt,
			"lease_until":  nil,
			"lease_token":  "",
			"updated_at":   tx.Now(),
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrConflict
		}
		return nil
	})
}

// Redeliver makes an event due again now (a merchant asked).
func (s *Store) Redeliver(ctx context.Context, merchantID, eventID string) (*MerchantEvent, error) {
	err := s.write(ctx, func(db *gorm.DB) error {
		res := db.Model(&MerchantEvent{}).Where("id = ? AND merchant_id = ?", eventID, merchantID).
			Updates(map[string]any{"status": EventPending, "next_try_at": s.Now(), "updated_at": s.Now()})
		if res.Error == nil && res.RowsAffected == 0 {
			return ErrNotFound
		}
		return res.Error
	})
	if err != nil {
		return nil, err
	}
	return s.EventByID(ctx, eventID)
}

// Due work: the condition, the order and the index that serves both.
// Rows are picked by an index range on the due time (never a full scan);
// final rows leave the range (orders and refunds: next_poll_at NULL;
// events: status no longer pending).
var (
	dueEvents  = dueQuery{table: "merchant_events", where: "status = 'pending' AND next_try_at <= ?", order: "next_try_at", index: "ix_events_pending"}
	dueOrders  = dueQuery{table: "orders", where: "next_poll_at IS NOT NULL AND next_poll_at <= ?", order: "next_poll_at", index: "ix_orders_due"}
	dueRefunds = dueQuery{table: "refunds", where: "next_poll_at IS NOT NULL AND next_poll_at <= ?", order: "next_poll_at", index: "ix_refunds_due"}
)

type dueQuery struct{ table, where, order, index string }

// ClaimDueEvents leases up to limit pending events due at now; only the
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
// processes), which makes it atomic.
// Arguments: lease_until, token, now (due), now (free), limit, now (free).
func (s *Store) claimSQL(q dueQuery) string {
	free := "(lease_until IS NULL OR lease_until < ?)"
	sub := "SELECT id FROM " + q.table + " WHERE " + q.where + " AND " + free + " ORDER BY " + q.order + " LIMIT ?"
	if s.driver == "postgres" {
		sub += " FOR UPDATE SKIP LOCKED"
	}
	return "UPDATE " + q.table + " SET lease_until = ?, lease_token = ? WHERE id IN (" + sub + ") AND " + free + " RETURNING *"
}

// claim leases due rows with a fresh token and returns them, in due order
// (RETURNING has none of its own). Once begun it is not cut short by ctx:
// a claim whose UPDATE committed but whose rows were never read would
// strand them until the lease runs out.
func (s *Store) claim(ctx context.Context, q dueQuery, limit int, lease time.Duration, out any) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	ctx = context.WithoutCancel(ctx)
	now := s.Now()
	token := NewID("lease")
	err := s.write(ctx, func(db *gorm.DB) error {
		return db.Raw(s.claimSQL(q), now.Add(lease), token, now, now, limit, now).Scan(out).Error
	})
	if err != nil {
		return "", err
	}
	sortDue(out)
	return token, nil
}

// ReleaseLease gives up a claim on a row without changing it (work claimed
// but not started when the gateway stops), so another replica may take it
// at once instead of after the lease runs out.
func (s *Store) ReleaseLease(ctx context.Context, table, id, token string) error {
	return s.write(ctx, func(db *gorm.DB) error {
		return db.Table(table).Where("id = ? AND lease_token = ?", id, token).
			Updates(map[string]any{"lease_until": nil, "lease_token": ""}).Error
	})
}

// sortDue puts claimed rows in the order they fell due.
func sortDue(rows any) {
	switch r := rows.(type) {
	case *[]MerchantEvent:
		sort.SliceStable(*r, func(i, j int) bool { return (*r)[i].NextTryAt.Before((*r)[j].NextTryAt) })
	case *[]Order:
		sort.SliceStable(*r, func(i, j int) bool { return dueBefore((*r)[i].NextPollAt, (*r)[j].NextPollAt) })
	case *[]Refund:
		sort.SliceStable(*r, func(i, j int) bool { return dueBefore((*r)[i].NextPollAt, (*r)[j].NextPollAt) })
	}
}

func dueBefore(a, b *time.Time) bool { return a != nil && (b == nil || a.Before(*b)) }
