package store

import (
	"context"
	"errors"
	"fmt"
)

// InsertNotification records an inbound provider webhook.
func (s *Store) InsertNotification(ctx context.Context, n *Notification) error {
	return s.write(ctx, func(s *Store) error {
		if n.ID == "" {
			n.ID = NotificationID(n.ReceivedAt)
		}
		q, args := s.insertSQL("notifications", notificationColumns, notificationValues(n), "")
		_, err := s.rawExec(ctx, q, args...)
		return err
	})
}

// InsertEventWithNotification writes a merchant event and the inbox row of
// the notification that caused it (see InsertEvent and InsertNotification):
// ErrDuplicate when the event was already there, the inbox row written
// all the same. On PostgreSQL it is one statement (one round trip instead
// of two); SQLite runs the two in-process.
func (s *Store) InsertEventWithNotification(ctx context.Context, e *MerchantEvent, n *Notification) error {
	if s.driver != "postgres" {
		err := s.InsertEvent(ctx, e)
		if err != nil && !errors.Is(err, ErrDuplicate) {
			return err
		}
		if nerr := s.InsertNotification(ctx, n); nerr != nil {
			return nerr
		}
		return err
	}
	return s.write(ctx, func(s *Store) error {
		e.defaults(s.Now())
		if n.ID == "" {
			n.ID = NotificationID(n.ReceivedAt)
		}
		eq, eargs := s.insertSQL("merchant_events", eventColumns, eventValues(e), " ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1")
		nq, nargs := s.insertSQL("notifications", notificationColumns, notificationValues(n), "")
		var row struct{ Events int64 }
		if err := s.rawQuery(ctx, &row, "WITH e AS ("+eq+") "+nq+" RETURNING (SELECT count(*) FROM e) AS events", append(eargs, nargs...)...); err != nil {
			return err
		}
		if row.Events == 0 {
			return fmt.Errorf("%w: merchant event %s", ErrDuplicate, e.DedupeKey)
		}
		return nil
	})
}

// NotificationApplied reports whether a verified notification with the
// provider's id was already applied on the channel (an unverified body's
// id proves nothing and never counts).
func (s *Store) NotificationApplied(ctx context.Context, channelID, providerNotifyID string) (bool, error) {
	if providerNotifyID == "" {
		return false, nil
	}
	var n int64
	err := s.r.WithContext(ctx).Model(&Notification{}).
		Where("channel_id = ? AND provider_notify_id = ? AND verified AND outcome IN ?", channelID, providerNotifyID, []string{OutcomeApplied, OutcomeDuplicate, OutcomeQueried}).
		Count(&n).Error
	return n > 0, err
}

// Notifications lists a channel's inbox, newest first.
func (s *Store) Notifications(ctx context.Context, channelID string, limit int) ([]Notification, error) {
	var out []Notification
	q := s.r.WithContext(ctx).Limit(limit)
	if channelID != "" {
		q = q.Where("channel_id = ?", channelID).Order("received_at DESC, id DESC")
	} else {
		q = q.Order("id DESC") // the time received, by NotificationID
	}
	return out, translate(q.Find(&out).Error)
}
