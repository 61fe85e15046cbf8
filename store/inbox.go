package store

import "context"

// InsertNotification records an inbound provider webhook.
func (s *Store) InsertNotification(ctx context.Context, n *Notification) error {
	return s.write(ctx, func(s *Store) error {
		if n.ID == "" {
			n.ID = NewID("ntf")
		}
		q, args := s.insertSQL("notifications", notificationColumns, notificationValues(n), "")
		_, err := s.rawExec(ctx, q, args...)
		return err
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
	q := s.r.WithContext(ctx).Order("received_at DESC, id DESC").Limit(limit)
	if channelID != "" {
		q = q.Where("channel_id = ?", channelID)
	}
	return out, translate(q.Find(&out).Error)
}
