package store

import (
	"context"
	"time"
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
	return translate(s.w.WithContext(ctx).Create(e).Error)
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
	res := s.w.WithContext(ctx).Model(&MerchantEvent{}).Where("id = ? AND merchant_id = ?", eventID, merchantID).
		Updates(map[string]any{"status": EventPending, "next_try_at": s.Now(), "updated_at": s.Now()})
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected == 0 {
		return nil, ErrNotFound
	}
	return s.EventByID(ctx, eventID)
}

// ClaimDueEvents leases up to limit pending events due at now; only the
// returned events may be delivered by the caller, until lease expires.
func (s *Store) ClaimDueEvents(ctx context.Context, limit int, lease time.Duration) ([]MerchantEvent, string, error) {
	var out []MerchantEvent
	token, err := s.claim(ctx, "merchant_events", "status = 'pending' AND next_try_at <= ?", "next_try_at", limit, lease, &out)
	return out, token, err
}

// ClaimDueOrders leases up to limit orders whose next poll is due.
func (s *Store) ClaimDueOrders(ctx context.Context, limit int, lease time.Duration) ([]Order, string, error) {
	var out []Order
	token, err := s.claim(ctx, "orders", "next_poll_at IS NOT NULL AND next_poll_at <= ?", "next_poll_at", limit, lease, &out)
	return out, token, err
}

// ClaimDueRefunds leases up to limit refunds whose next poll is due.
func (s *Store) ClaimDueRefunds(ctx context.Context, limit int, lease time.Duration) ([]Refund, string, error) {
	var out []Refund
	token, err := s.claim(ctx, "refunds", "next_poll_at IS NOT NULL AND next_poll_at <= ?", "next_poll_at", limit, lease, &out)
	return out, token, err
}

// claim leases due rows of table with a fresh token and returns them. The
// lease condition is repeated in the outer UPDATE so that, on PostgreSQL,
// a row another replica claimed first is skipped on re-check; SKIP LOCKED
// keeps replicas from waiting on each other's rows.
func (s *Store) claim(ctx context.Context, table, due, orderBy string, limit int, lease time.Duration, out any) (string, error) {
	now := s.Now()
	token := NewID("lease")
	free := "(lease_until IS NULL OR lease_until < ?)"
	sub := "SELECT id FROM " + table + " WHERE " + due + " AND " + free + " ORDER BY " + orderBy + " LIMIT ?"
	if s.driver == "postgres" {
		sub += " FOR UPDATE SKIP LOCKED"
	}
	sql := "UPDATE " + table + " SET lease_until = ?, lease_token = ? WHERE id IN (" + sub + ") AND " + free
	db := s.w.WithContext(ctx)
	if err := db.Exec(sql, now.Add(lease), token, now, now, limit, now).Error; err != nil {
		return "", err
	}
	if err := s.w.WithContext(ctx).Table(table).Where("lease_token = ?", token).Order(orderBy).Find(out).Error; err != nil {
		return "", err
	}
	return token, nil
}

// ReleaseLease gives up a claim on a row without changing it.
func (s *Store) ReleaseLease(ctx context.Context, table, id, token string) error {
	return s.w.WithContext(ctx).Table(table).Where("id = ? AND lease_token = ?", id, token).
		Updates(map[string]any{"lease_until": nil, "lease_token": ""}).Error
}
