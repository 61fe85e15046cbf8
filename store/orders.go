package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// InsertOrder stores a new order; ErrDuplicate when the merchant already
// has the out_trade_no.
func (s *Store) InsertOrder(ctx context.Context, o *Order) error {
	return s.write(ctx, func(s *Store) error {
		if o.ID == "" {
			o.ID = NewID("ord")
		}
		if o.Version == 0 {
			o.Version = 1
		}
		if o.CreatedAt.IsZero() {
			o.CreatedAt = s.Now()
		}
		if o.UpdatedAt.IsZero() {
			o.UpdatedAt = o.CreatedAt
		}
		cols, vals := s.rowValues("orders", o)
		q, args := s.insertSQL("orders", cols, vals, "")
		_, err := s.rawExec(ctx, q, args...)
		return err
	})
}

// OrderByOutTradeNo finds a merchant's order by the merchant's number.
func (s *Store) OrderByOutTradeNo(ctx context.Context, merchantID, outTradeNo string) (*Order, error) {
	var o Order
	err := s.r.WithContext(ctx).Where("merchant_id = ? AND out_trade_no = ?", merchantID, outTradeNo).Take(&o).Error
	return &o, translate(err)
}

// OrderByID finds an order by the gateway's id.
func (s *Store) OrderByID(ctx context.Context, id string) (*Order, error) {
	var o Order
	return &o, s.rawRead(ctx, &o, "SELECT * FROM orders WHERE id = ?", id)
}

// OrderRef names an order by any of its three numbers.
type OrderRef struct {
	OutTradeNo      string
	ProviderTradeNo string
	TransactionID   string
}

// OrderOfChannel finds the channel's order named by ref (the first number
// set, in the order: out_trade_no, provider_trade_no, transaction_id).
// An order of another channel is not found.
func (s *Store) OrderOfChannel(ctx context.Context, merchantID, channelID string, ref OrderRef) (*Order, error) {
	var o Order
	switch {
	case ref.OutTradeNo != "":
		return &o, s.rawRead(ctx, &o, "SELECT * FROM orders WHERE merchant_id = ? AND out_trade_no = ? AND channel_id = ?", merchantID, ref.OutTradeNo, channelID)
	case ref.ProviderTradeNo != "":
		return &o, s.rawRead(ctx, &o, "SELECT * FROM orders WHERE channel_id = ? AND provider_trade_no = ?", channelID, ref.ProviderTradeNo)
	case ref.TransactionID != "":
		return &o, s.rawRead(ctx, &o, "SELECT * FROM orders WHERE transaction_id = ? AND channel_id = ?", ref.TransactionID, channelID)
	}
	return nil, ErrNotFound
}

// UpdateOrder sets fields on the order if its version is still o.Version
// (compare-and-set) and bumps the version; ErrConflict otherwise. On
// success o holds the row as updated (UPDATE ... RETURNING: one statement).
func (s *Store) UpdateOrder(ctx context.Context, o *Order, fields map[string]any) error {
	return s.write(ctx, func(s *Store) error {
		fields["version"] = gorm.Expr("version + 1")
		fields["updated_at"] = s.Now()
		return s.casReturning(ctx, "orders", o, o.ID, o.Version, fields)
	})
}

// UpdateOrderForEvent is UpdateOrder for a change that writes a merchant
// event about the order: the same statement also returns the number the
// order's next event gets (see NextEventSequence), one statement fewer in
// the transaction.
func (s *Store) UpdateOrderForEvent(ctx context.Context, o *Order, fields map[string]any) (nextSequence int64, err error) {
	err = s.write(ctx, func(s *Store) error {
		nextSequence, err = s.updateOrderForEventAt(ctx, o, fields, s.Now())
		return err
	})
	return nextSequence, err
}

// updateOrderForEventAt is UpdateOrderForEvent writing now as updated_at,
// on a writer.
func (s *Store) updateOrderForEventAt(ctx context.Context, o *Order, fields map[string]any, now time.Time) (int64, error) {
	q, args := orderEventCAS(s, o, fields, now)
	row := struct {
		Order
		NextEventSequence int64
	}{Order: *o}
	if err := s.casRow(ctx, &row, q, args...); err != nil {
		return 0, err
	}
	*o = row.Order
	return row.NextEventSequence, nil
}

// orderEventCAS is the order's compare-and-set that also returns the
// number of the order's next event (next_event_sequence).
func orderEventCAS(s *Store, o *Order, fields map[string]any, now time.Time) (string, []any) {
	q, args := s.casSQLAt("orders", o.ID, o.Version, fields, now)
	return q + ", " + nextSequenceOf("orders.id") + " AS next_event_sequence", args
}

// casReturning updates the row of model (a *Order or *Refund) with id if
// its version is still version, and brings model up to date with the row
// (see casSQL for what it returns).
func (s *Store) casReturning(ctx context.Context, table string, model any, id string, version int64, fields map[string]any) error {
	q, args := s.casSQL(table, id, version, fields)
	return s.casRow(ctx, model, q, args...)
}

// ReserveRefund atomically reserves amount of the order's refundable rest
// (amount - refunded - pending) for a refund in PROCESSING. It returns
// false when the rest is smaller or the order is not refundable; no read
// happens in between, so concurrent refunds cannot overdraw.
func (s *Store) ReserveRefund(ctx context.Context, orderID string, amount int64, refundable []string) (bool, error) {
	return writeValue(s, ctx, func(s *Store) (bool, error) {
		res := s.w.WithContext(ctx).Model(&Order{}).
			Where("id = ? AND status IN ? AND amount_minor - refunded_minor - refund_pending_minor >= ?", orderID, refundable, amount).
			Updates(map[string]any{
				"refund_pending_minor": gorm.Expr("refund_pending_minor + ?", amount),
				"version":              gorm.Expr("version + 1"),
				"updated_at":           s.Now(),
			})
		if res.Error != nil {
			return false, res.Error
		}
		return res.RowsAffected == 1, nil
	})
}

// ReserveExternalRefund reserves amount of a paid order for a refund the
// provider made without the gateway (in its console): like ReserveRefund,
// but against what is not refunded yet, whatever the gateway's own
// refunds in flight have reserved — the provider's word is a fact, and
// those may now fail. False when more than that is left to refund.
func (s *Store) ReserveExternalRefund(ctx context.Context, orderID string, amount int64) (bool, error) {
	return writeValue(s, ctx, func(s *Store) (bool, error) {
		res := s.w.WithContext(ctx).Model(&Order{}).
			Where("id = ? AND status = 'PAID' AND amount_minor - refunded_minor >= ?", orderID, amount).
			Updates(map[string]any{
				"refund_pending_minor": gorm.Expr("refund_pending_minor + ?", amount),
				"version":              gorm.Expr("version + 1"),
				"updated_at":           s.Now(),
			})
		if res.Error != nil {
			return false, res.Error
		}
		return res.RowsAffected == 1, nil
	})
}

// ErrOverRefund: settling a refund would make an order's refunded amount
// larger than what was paid. Nothing is changed.
var ErrOverRefund = errors.New("refunds would exceed the amount paid")

// SettleRefundAmount moves amount out of the order's pending reservation:
// into refunded_minor when the refund succeeded, back to the refundable
// rest when it failed. When a success brings refunded_minor to the order's
// amount, the order's status becomes statusWhenFull (if given). The test
// is part of the UPDATE, on the row as it is when locked, so concurrent
// refunds settling at once cannot all miss the last one. A success that
// would take refunded_minor past the amount paid, whatever the source of
// the refunds, changes nothing: ErrOverRefund.
func (s *Store) SettleRefundAmount(ctx context.Context, orderID string, amount int64, succeeded bool, statusWhenFull string) error {
	return s.write(ctx, func(s *Store) error {
		fields := map[string]any{
			"refund_pending_minor": gorm.Expr("refund_pending_minor - ?", amount),
			"version":              gorm.Expr("version + 1"),
			"updated_at":           s.Now(),
		}
		q := s.w.WithContext(ctx).Model(&Order{}).Where("id = ? AND refund_pending_minor >= ?", orderID, amount)
		if succeeded {
			fields["refunded_minor"] = gorm.Expr("refunded_minor + ?", amount)
			if statusWhenFull != "" {
				fields["status"] = gorm.Expr("CASE WHEN refunded_minor + ? >= amount_minor THEN ? ELSE status END", amount, statusWhenFull)
			}
			q = q.Where("refunded_minor + ? <= amount_minor", amount)
		}
		res := q.Updates(fields)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			return nil
		}
		var o Order
		if err := s.w.WithContext(ctx).Select("amount_minor", "refunded_minor", "refund_pending_minor").Where("id = ?", orderID).Take(&o).Error; err != nil {
			return translate(err)
		}
		if succeeded && o.RefundedMinor+amount > o.AmountMinor {
			return fmt.Errorf("%w: order %s paid %d, refunded %d, this refund %d", ErrOverRefund, orderID, o.AmountMinor, o.RefundedMinor, amount)
		}
		return fmt.Errorf("order %s: refund reservation of %d not found", orderID, amount)
	})
}

// SettleLateRefund applies a refund the provider reports SUCCEEDED after
// the gateway had marked it FAILED (its reservation already given back):
// amount goes straight into refunded_minor, and the order becomes
// statusWhenFull when that completes it. It answers false, changing
// nothing, when the order's refunded amount would then exceed what was
// paid.
func (s *Store) SettleLateRefund(ctx context.Context, orderID string, amount int64, statusWhenFull string) (bool, error) {
	res := s.w.WithContext(ctx).Model(&Order{}).
		Where("id = ? AND refunded_minor + ? <= amount_minor", orderID, amount).
		Updates(map[string]any{
			"refunded_minor": gorm.Expr("refunded_minor + ?", amount),
			"status":         gorm.Expr("CASE WHEN refunded_minor + ? >= amount_minor THEN ? ELSE status END", amount, statusWhenFull),
			"version":        gorm.Expr("version + 1"),
			"updated_at":     s.Now(),
		})
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected == 1, nil
}

// PollNow makes a PAYING order due for a poll at once. A poll running at
// that moment cannot push it back (see ScheduleOrderPoll).
func (s *Store) PollNow(ctx context.Context, orderID string) error {
	return s.write(ctx, func(s *Store) error {
		return s.w.WithContext(ctx).Model(&Order{}).Where("id = ? AND status = 'PAYING'", orderID).
			Updates(map[string]any{"next_poll_ms": DueNow(), "poll_requested": true}).Error
	})
}

// ScheduleOrderPoll records a poll's result: how long until the next one,
// on the database's clock (nil: never), and the attempts so far, if the
// caller still holds the lease and the order is still PAYING; it releases
// the lease. A PollNow that came meanwhile wins: the order stays due now.
func (s *Store) ScheduleOrderPoll(ctx context.Context, orderID, token string, in *time.Duration, attempts int) error {
	return s.schedulePoll(ctx, &Order{}, "PAYING", orderID, token, in, attempts)
}

func (s *Store) schedulePoll(ctx context.Context, model any, pending, id, token string, in *time.Duration, attempts int) error {
	return s.write(ctx, func(s *Store) error {
		now := s.dbNowMS()
		next := gorm.Expr("CASE WHEN status <> ? THEN NULL WHEN poll_requested THEN "+now+" ELSE NULL END", pending)
		if in != nil {
			next = gorm.Expr("CASE WHEN status <> ? THEN NULL WHEN poll_requested THEN "+now+" ELSE "+now+" + ? END", pending, in.Milliseconds())
		}
		return s.w.WithContext(ctx).Model(model).Where("id = ? AND lease_token = ?", id, token).
			Updates(map[string]any{
				"next_poll_ms":   next,
				"poll_requested": false, "poll_attempts": attempts, "lease_until_ms": nil, "lease_token": "",
			}).Error
	})
}
