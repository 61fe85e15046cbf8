package store

import (
	"context"
	"time"
)

// PurgeNotifications deletes up to limit inbox rows received before
// cutoff, oldest first, and says how many went. Small batches keep each
// write short on the one SQLite writer. An inbox row's id begins with the
// time it was received (NotificationID): the rows before cutoff are the
// primary key's range below the first id of cutoff's millisecond.
func (s *Store) PurgeNotifications(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	return writeValue(s, ctx, func(s *Store) (int64, error) {
		res := s.w.WithContext(ctx).Exec(
			"DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE id < ? ORDER BY id LIMIT ?)",
			idFloor("ntf", cutoff), limit)
		return res.RowsAffected, res.Error
	})
}

// PurgeEvents deletes up to limit merchant events that are finished
// (delivered or given up) and were last due before cutoff, with their
// delivery attempts, in one transaction; pending events are never
// touched. The oldest go first, by the primary key: an event's id begins
// with the time it was made, never after its first due time, so every
// event last due before cutoff was made before it (a replica's clock
// ahead of the database's can hold one back until the next purge).
func (s *Store) PurgeEvents(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(tx *Store) error {
		var ids []string
		if err := tx.w.Model(&MerchantEvent{}).
			Where("id < ? AND status IN ? AND next_try_ms < ?", idFloor("evt", cutoff), []string{EventDelivered, EventFailed}, cutoff.UnixMilli()).
			Order("id").Limit(limit).Pluck("id", &ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if err := tx.w.Where("event_id IN ?", ids).Delete(&EventAttempt{}).Error; err != nil {
			return err
		}
		res := tx.w.Where("id IN ? AND status IN ?", ids, []string{EventDelivered, EventFailed}).Delete(&MerchantEvent{})
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}
