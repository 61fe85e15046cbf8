package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// InsertRefund stores a new refund; ErrDuplicate when the merchant already
// has the out_refund_no.
func (s *Store) InsertRefund(ctx context.Context, r *Refund) error {
	return s.write(ctx, func(s *Store) error {
		return translate(s.w.WithContext(ctx).Create(r).Error)
	})
}

// RefundByOutRefundNo finds a merchant's refund by the merchant's number.
func (s *Store) RefundByOutRefundNo(ctx context.Context, merchantID, outRefundNo string) (*Refund, error) {
	var r Refund
	err := s.r.WithContext(ctx).Where("merchant_id = ? AND out_refund_no = ?", merchantID, outRefundNo).Take(&r).Error
	return &r, translate(err)
}

// RefundByID finds a refund by the gateway's id.
func (s *Store) RefundByID(ctx context.Context, id string) (*Refund, error) {
	var r Refund
	err := s.r.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	return &r, translate(err)
}

// RefundOfOrder finds a refund of an order by out_refund_no or, failing
// that, by the provider's refund number.
func (s *Store) RefundOfOrder(ctx context.Context, orderID, outRefundNo, providerRefundNo string) (*Refund, error) {
	q := s.r.WithContext(ctx).Where("order_id = ?", orderID)
	switch {
	case outRefundNo != "":
		q = q.Where("out_refund_no = ?", outRefundNo)
	case providerRefundNo != "":
		q = q.Where("provider_refund_no = ?", providerRefundNo)
	default:
		return nil, ErrNotFound
	}
	var r Refund
	return &r, translate(q.Take(&r).Error)
}

// RefundOfChannel finds a merchant's refund on a channel by out_refund_no
// or, failing that, by the provider's refund number.
func (s *Store) RefundOfChannel(ctx context.Context, merchantID, channelID, outRefundNo, providerRefundNo string) (*Refund, error) {
	q := s.r.WithContext(ctx).Where("channel_id = ?", channelID)
	switch {
	case outRefundNo != "":
		q = q.Where("merchant_id = ? AND out_refund_no = ?", merchantID, outRefundNo)
	case providerRefundNo != "":
		q = q.Where("provider_refund_no = ?", providerRefundNo)
	default:
		return nil, ErrNotFound
	}
	var r Refund
	return &r, translate(q.Take(&r).Error)
}

// RefundsOfOrder lists an order's refunds, oldest first.
func (s *Store) RefundsOfOrder(ctx context.Context, orderID string) ([]Refund, error) {
	var out []Refund
	err := s.r.WithContext(ctx).Where("order_id = ?", orderID).Order("created_at, id").Find(&out).Error
	return out, translate(err)
}

// UpdateRefund is the compare-and-set of UpdateOrder for refunds.
func (s *Store) UpdateRefund(ctx context.Context, r *Refund, fields map[string]any) error {
	return s.write(ctx, func(s *Store) error {
		fields["version"] = gorm.Expr("version + 1")
		fields["updated_at"] = s.Now()
		return s.casReturning(ctx, "refunds", r, r.ID, r.Version, fields)
	})
}

// ScheduleRefundPoll is ScheduleOrderPoll for refunds in PROCESSING.
func (s *Store) ScheduleRefundPoll(ctx context.Context, refundID, token string, in *time.Duration, attempts int) error {
	return s.schedulePoll(ctx, &Refund{}, "PROCESSING", refundID, token, in, attempts)
}

// PollRefundNow makes a PROCESSING refund due for a poll at once.
func (s *Store) PollRefundNow(ctx context.Context, refundID string) error {
	return s.write(ctx, func(s *Store) error {
		return s.w.WithContext(ctx).Model(&Refund{}).Where("id = ? AND status = 'PROCESSING'", refundID).
			Updates(map[string]any{"next_poll_ms": DueNow(), "poll_requested": true}).Error
	})
}

// StartRefundCall claims the right to call the provider about a PROCESSING
// refund: it records that a call starts now and may run for window (on
// the database's clock), and answers false (nothing changed) when an
// earlier call may still be running or the refund is final. One
// conditional UPDATE, so two replicas cannot both win.
func (s *Store) StartRefundCall(ctx context.Context, refundID string, window time.Duration) (bool, error) {
	return writeValue(s, ctx, func(s *Store) (bool, error) {
		now := s.dbNowMS()
		res := s.w.WithContext(ctx).Exec("UPDATE refunds SET call_until_ms = "+now+" + ? "+
			"WHERE id = ? AND status = 'PROCESSING' AND (call_until_ms IS NULL OR call_until_ms <= "+now+")",
			window.Milliseconds(), refundID)
		if res.Error != nil {
			return false, res.Error
		}
		return res.RowsAffected == 1, nil
	})
}

// RefundCallRunning reports whether a provider call for the refund may
// still be running (its CallUntil is after the database's now).
func (s *Store) RefundCallRunning(ctx context.Context, refundID string) (bool, error) {
	var n int64
	err := s.r.WithContext(ctx).Raw("SELECT COUNT(*) FROM refunds WHERE id = ? AND call_until_ms > "+s.dbNowMS(), refundID).Scan(&n).Error
	return n > 0, err
}
