package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ReconRun is one reconciliation: one channel's provider statement for one
// statement day held against the gateway's payments and refunds. Its
// statement rows and differences are kept (ReconRow, ReconDifference), so
// a run can be judged again and read later.
type ReconRun struct {
	ID         string `gorm:"primaryKey;size:32"`
	MerchantID string `gorm:"size:64;not null;index:ix_recon_runs_merchant_created,priority:1"`
	ChannelID  string `gorm:"size:64;not null;index:ix_recon_runs_channel_date,priority:1"`
	Provider   string `gorm:"size:32;not null"`
	Date       string `gorm:"size:10;not null;index:ix_recon_runs_channel_date,priority:2"` // YYYY-MM-DD, the provider's day
	Source     string `gorm:"size:16;not null"`                                             // provider | upload
	// ScheduleKey is "channel|date" on runs the daily schedule made: the
	// unique index keeps it to one per channel and day across replicas.
	ScheduleKey *string `gorm:"size:128;uniqueIndex:ux_recon_runs_schedule"`
	Status      string  `gorm:"size:16;not null"`
	Error       string  `gorm:"size:512"`
	// Statement is JSON: the statement's totals per currency and its own
	// summary line.
	Statement string `gorm:"type:text"`
	Rows      int64  `gorm:"not null;default:0"`

	Matched           int64 `gorm:"not null;default:0"`
	MissingAtGateway  int64 `gorm:"not null;default:0"`
	MissingAtProvider int64 `gorm:"not null;default:0"`
	AmountMismatch    int64 `gorm:"not null;default:0"`
	StatusMismatch    int64 `gorm:"not null;default:0"`
	Healed            int64 `gorm:"not null;default:0"`
	// Judgements counts the comparisons made (a re-judged run has several);
	// it names the run's reconciliation.completed events.
	Judgements int `gorm:"not null;default:0"`

	// Retries: a statement not ready yet, or a provider that could not be
	// reached, makes the run due again at NextTryAt (claimed with a lease).
	// Both times are on the database's clock (DBTime), as the poller's.
	Attempts   int     `gorm:"not null;default:0"`
	NextTryAt  *DBTime `gorm:"column:next_try_ms;type:bigint;index:ix_recon_runs_due"`
	LeaseUntil *DBTime `gorm:"column:lease_until_ms;type:bigint"`
	LeaseToken string  `gorm:"size:64"`

	CreatedAt  time.Time `gorm:"not null;index:ix_recon_runs_merchant_created,priority:2"`
	FinishedAt *time.Time
	UpdatedAt  time.Time `gorm:"not null"`
}

// Run statuses.
const (
	ReconWaiting     = "WAITING"
	ReconRunning     = "RUNNING"
	ReconDone        = "DONE"
	ReconNoStatement = "NO_STATEMENT"
	ReconFailed      = "FAILED"
)

// ReconRow is one statement row of a run, in the gateway's terms. Money
// is integer minor units of Currency; the fee is an exact decimal string
// (WeChat writes five decimals).
type ReconRow struct {
	RunID            string `gorm:"primaryKey;size:32;index:ix_recon_rows_out,priority:1;index:ix_recon_rows_txn,priority:1;index:ix_recon_rows_ptn,priority:1;index:ix_recon_rows_refund,priority:1;index:ix_recon_rows_prn,priority:1"`
	Seq              int64  `gorm:"primaryKey;autoIncrement:false"`
	Kind             string `gorm:"size:8;not null;index:ix_recon_rows_out,priority:2;index:ix_recon_rows_txn,priority:2;index:ix_recon_rows_ptn,priority:2;index:ix_recon_rows_refund,priority:2;index:ix_recon_rows_prn,priority:2"`
	At               time.Time
	OutTradeNo       string `gorm:"size:64;index:ix_recon_rows_out,priority:3"`
	ProviderTradeNo  string `gorm:"size:128;index:ix_recon_rows_ptn,priority:3"`
	TransactionID    string `gorm:"size:64;index:ix_recon_rows_txn,priority:3"`
	OutRefundNo      string `gorm:"size:64;index:ix_recon_rows_refund,priority:3"`
	ProviderRefundNo string `gorm:"size:128;index:ix_recon_rows_prn,priority:3"`
	Status           string `gorm:"size:16"`
	ProviderStatus   string `gorm:"size:64"`
	AmountMinor      int64  `gorm:"not null"`
	SettledMinor     int64  `gorm:"not null"`
	Currency         string `gorm:"size:3;not null"`
	Fee              string `gorm:"size:40"`
}

// ReconDifference is one thing a run found that does not agree.
type ReconDifference struct {
	RunID            string `gorm:"primaryKey;size:32"`
	Seq              int64  `gorm:"primaryKey;autoIncrement:false"`
	Kind             string `gorm:"size:24;not null"`
	OrderID          string `gorm:"size:32"`
	RefundID         string `gorm:"size:32"`
	OutTradeNo       string `gorm:"size:64"`
	ProviderTradeNo  string `gorm:"size:128"`
	TransactionID    string `gorm:"size:64"`
	OutRefundNo      string `gorm:"size:64"`
	ProviderRefundNo string `gorm:"size:128"`
	// The gateway's side (GatewayStatus "" when the gateway has nothing).
	GatewayStatus      string `gorm:"size:16"`
	GatewayAmountMinor int64
	GatewayCurrency    string `gorm:"size:3"`
	// The statement's side (ProviderStatus "" when the statement has nothing).
	ProviderStatus      string `gorm:"size:64"`
	ProviderAmountMinor int64
	ProviderCurrency    string `gorm:"size:3"`
	ProviderAt          *time.Time
	Healed              bool   `gorm:"not null;default:false"`
	Note                string `gorm:"size:512"`
}

// Difference kinds.
const (
	DiffMissingAtGateway  = "missing_at_gateway"
	DiffMissingAtProvider = "missing_at_provider"
	DiffAmountMismatch    = "amount_mismatch"
	DiffStatusMismatch    = "status_mismatch"
)

// reconModels are migrated with the rest.
var reconModels = []any{&ReconRun{}, &ReconRow{}, &ReconDifference{}}

// migrateRecon adds the indexes reconciliation reads the gateway's own
// tables by: a channel's payments by paid_at and refunds by created_at
// (keyset order), and refunds by the provider's number.
func migrateRecon(tx *gorm.DB) error {
	for _, ddl := range []string{
		"CREATE INDEX IF NOT EXISTS ix_orders_channel_paid_at ON orders (channel_id, paid_at, id) WHERE paid_at IS NOT NULL",
		"CREATE INDEX IF NOT EXISTS ix_refunds_channel_created ON refunds (channel_id, created_at, id)",
		"CREATE INDEX IF NOT EXISTS ix_refunds_channel_prn ON refunds (channel_id, provider_refund_no)",
		"CREATE INDEX IF NOT EXISTS ix_refunds_merchant_prn ON refunds (merchant_id, provider_refund_no)",
	} {
		if err := tx.Exec(ddl).Error; err != nil {
			return fmt.Errorf("%s: %w", ddl, err)
		}
	}
	return nil
}

// InsertReconRun stores a new run; ErrDuplicate when its ScheduleKey is
// taken (another replica scheduled the same channel and day).
func (s *Store) InsertReconRun(ctx context.Context, r *ReconRun) error {
	return s.write(ctx, func(s *Store) error {
		if r.ID == "" {
			r.ID = NewID("rec")
		}
		now := s.Now()
		if r.CreatedAt.IsZero() {
			r.CreatedAt = now
		}
		r.UpdatedAt = now
		return translate(s.w.WithContext(ctx).Create(r).Error)
	})
}

// ReconRunByID finds a merchant's run.
func (s *Store) ReconRunByID(ctx context.Context, merchantID, id string) (*ReconRun, error) {
	var r ReconRun
	q := s.r.WithContext(ctx).Where("id = ?", id)
	if merchantID != "" {
		q = q.Where("merchant_id = ?", merchantID)
	}
	return &r, translate(q.Take(&r).Error)
}

// ReconRunFilter selects a merchant's runs.
type ReconRunFilter struct {
	MerchantID string
	ChannelID  string
	Date       string
}

// RunKey is a position in the newest-first order of runs.
type RunKey struct {
	CreatedAt time.Time
	ID        string
}

// ListReconRuns lists runs newest first, after key (nil: from the newest).
func (s *Store) ListReconRuns(ctx context.Context, f ReconRunFilter, after *RunKey, limit int) ([]ReconRun, error) {
	q := s.r.WithContext(ctx).Where("merchant_id = ?", f.MerchantID)
	if f.ChannelID != "" {
		q = q.Where("channel_id = ?", f.ChannelID)
	}
	if f.Date != "" {
		q = q.Where("date = ?", f.Date)
	}
	if after != nil {
		q = q.Where("(created_at, id) < (?, ?)", after.CreatedAt.UTC(), after.ID)
	}
	var out []ReconRun
	return out, translate(q.Order("created_at DESC, id DESC").Limit(limit).Find(&out).Error)
}

// LatestReconRun is the newest run of a channel and day whose statement
// was read (status in statuses), or ErrNotFound.
func (s *Store) LatestReconRun(ctx context.Context, channelID, date string, statuses []string) (*ReconRun, error) {
	var r ReconRun
	err := s.r.WithContext(ctx).Where("channel_id = ? AND date = ? AND status IN ?", channelID, date, statuses).
		Order("created_at DESC, id DESC").Take(&r).Error
	return &r, translate(err)
}

// UpdateReconRun sets fields on a run. With a lease token it changes the
// run only while the caller still holds its lease (ErrConflict otherwise).
func (s *Store) UpdateReconRun(ctx context.Context, r *ReconRun, token string, fields map[string]any) error {
	return s.write(ctx, func(s *Store) error {
		fields["updated_at"] = s.Now()
		q := s.w.WithContext(ctx).Model(&ReconRun{}).Where("id = ?", r.ID)
		if token != "" {
			q = q.Where("lease_token = ?", token)
		}
		res := q.Updates(fields)
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrConflict
		}
		return translate(s.w.WithContext(ctx).Where("id = ?", r.ID).Take(r).Error)
	})
}

// LeaseReconRun takes a run for lease (a run being executed is not
// claimed by another replica's retry loop meanwhile); false when someone
// else holds it.
func (s *Store) LeaseReconRun(ctx context.Context, id, token string, lease time.Duration) (bool, error) {
	return writeValue(s, ctx, func(s *Store) (bool, error) {
		res := s.w.WithContext(ctx).Model(&ReconRun{}).
			Where("id = ? AND (lease_until_ms IS NULL OR lease_until_ms < "+s.dbNowMS()+" OR lease_token = ?)", id, token).
			Updates(map[string]any{"lease_until_ms": DueIn(lease), "lease_token": token})
		return res.RowsAffected == 1, res.Error
	})
}

var dueReconRuns = dueQuery{table: "recon_runs", where: "next_try_ms IS NOT NULL AND next_try_ms <= {now}", order: "next_try_ms", index: "ix_recon_runs_due"}

// ClaimDueReconRuns leases up to limit runs whose retry is due.
func (s *Store) ClaimDueReconRuns(ctx context.Context, limit int, lease time.Duration) ([]ReconRun, string, error) {
	var out []ReconRun
	token, err := s.claim(ctx, dueReconRuns, limit, lease, &out)
	return out, token, err
}

// DeleteReconData removes a run's statement rows and differences (before
// the statement is read again).
func (s *Store) DeleteReconData(ctx context.Context, runID string) error {
	return s.write(ctx, func(s *Store) error {
		if err := s.w.WithContext(ctx).Where("run_id = ?", runID).Delete(&ReconDifference{}).Error; err != nil {
			return err
		}
		return s.w.WithContext(ctx).Where("run_id = ?", runID).Delete(&ReconRow{}).Error
	})
}

// DeleteReconDifferences removes a run's differences (before judging again).
func (s *Store) DeleteReconDifferences(ctx context.Context, runID string) error {
	return s.write(ctx, func(s *Store) error {
		return s.w.WithContext(ctx).Where("run_id = ?", runID).Delete(&ReconDifference{}).Error
	})
}

// InsertReconRows stores a batch of statement rows in one statement.
func (s *Store) InsertReconRows(ctx context.Context, rows []ReconRow) error {
	return s.write(ctx, func(s *Store) error {
		if len(rows) == 0 {
			return nil
		}
		return s.w.WithContext(ctx).Create(&rows).Error
	})
}

// ReconRowsAfter reads up to limit statement rows of a run after seq.
func (s *Store) ReconRowsAfter(ctx context.Context, runID string, seq int64, limit int) ([]ReconRow, error) {
	var out []ReconRow
	err := s.r.WithContext(ctx).Where("run_id = ? AND seq > ?", runID, seq).Order("seq").Limit(limit).Find(&out).Error
	return out, err
}

// reconOrderColumns are the order columns a comparison reads.
var reconOrderColumns = []string{"id", "merchant_id", "channel_id", "out_trade_no", "provider_trade_no", "transaction_id",
	"status", "amount_minor", "currency", "paid_at", "created_at"}

// reconRefundColumns are the refund columns a comparison reads.
var reconRefundColumns = []string{"id", "order_id", "merchant_id", "channel_id", "out_refund_no", "provider_refund_no",
	"status", "amount_minor", "currency", "created_at"}

// Number columns a lookup may use.
var (
	rowNumberColumns   = map[string]bool{"out_trade_no": true, "provider_trade_no": true, "transaction_id": true, "out_refund_no": true, "provider_refund_no": true}
	orderNumberColumns = map[string]bool{"out_trade_no": true, "provider_trade_no": true, "transaction_id": true}
	refundNumberColumn = map[string]bool{"out_refund_no": true, "provider_refund_no": true}
)

// ReconRowsByNumber finds a run's rows of kind whose column is one of values.
func (s *Store) ReconRowsByNumber(ctx context.Context, runID, kind, column string, values []string) ([]ReconRow, error) {
	if !rowNumberColumns[column] {
		return nil, fmt.Errorf("recon rows: no lookup by %q", column)
	}
	if len(values) == 0 {
		return nil, nil
	}
	var out []ReconRow
	err := s.r.WithContext(ctx).Where("run_id = ? AND kind = ? AND "+column+" IN ?", runID, kind, values).Find(&out).Error
	return out, err
}

// OrdersOfChannelByNumber finds a channel's orders whose column is one of
// values (out_trade_no is looked up by the merchant's unique index).
func (s *Store) OrdersOfChannelByNumber(ctx context.Context, merchantID, channelID, column string, values []string) ([]Order, error) {
	if !orderNumberColumns[column] {
		return nil, fmt.Errorf("orders: no lookup by %q", column)
	}
	if len(values) == 0 {
		return nil, nil
	}
	q := s.r.WithContext(ctx).Select(reconOrderColumns).Where("channel_id = ? AND "+column+" IN ?", channelID, values)
	if column == "out_trade_no" {
		q = q.Where("merchant_id = ?", merchantID)
	}
	var out []Order
	return out, q.Find(&out).Error
}

// RefundsOfChannelByNumber finds a merchant's refunds on a channel whose
// column is one of values.
func (s *Store) RefundsOfChannelByNumber(ctx context.Context, merchantID, channelID, column string, values []string) ([]Refund, error) {
	if !refundNumberColumn[column] {
		return nil, fmt.Errorf("refunds: no lookup by %q", column)
	}
	if len(values) == 0 {
		return nil, nil
	}
	var out []Refund
	err := s.r.WithContext(ctx).Select(reconRefundColumns).Where("merchant_id = ? AND channel_id = ? AND "+column+" IN ?", merchantID, channelID, values).Find(&out).Error
	return out, err
}

// PaidOrdersBetween reads up to limit of a channel's orders paid in
// [from, to) (PAID or since REFUNDED) after key, in (paid_at, id) order.
func (s *Store) PaidOrdersBetween(ctx context.Context, channelID string, from, to time.Time, after *OrderKey, limit int) ([]Order, error) {
	q := s.r.WithContext(ctx).Select(reconOrderColumns).Where("channel_id = ? AND paid_at >= ? AND paid_at < ? AND status IN ?",
		channelID, from.UTC(), to.UTC(), []string{"PAID", "REFUNDED"})
	if after != nil {
		q = keysetAfter(q, "paid_at", after)
	}
	var out []Order
	return out, q.Order("paid_at, id").Limit(limit).Find(&out).Error
}

// SucceededRefundsBetween reads up to limit of a channel's SUCCEEDED
// refunds created in [from, to) after key, in (created_at, id) order.
func (s *Store) SucceededRefundsBetween(ctx context.Context, channelID string, from, to time.Time, after *OrderKey, limit int) ([]Refund, error) {
	q := s.r.WithContext(ctx).Select(reconRefundColumns).Where("channel_id = ? AND created_at >= ? AND created_at < ? AND status = ?",
		channelID, from.UTC(), to.UTC(), "SUCCEEDED")
	if after != nil {
		q = keysetAfter(q, "created_at", after)
	}
	var out []Refund
	return out, q.Order("created_at, id").Limit(limit).Find(&out).Error
}

// keysetAfter continues (column, id) order past k. The plain range on
// column comes first so the index range starts at k (a row-value
// comparison alone leaves SQLite scanning from the start of the range,
// which makes paging quadratic).
func keysetAfter(q *gorm.DB, column string, k *OrderKey) *gorm.DB {
	t := k.CreatedAt.UTC()
	return q.Where(column+" >= ? AND ("+column+" > ? OR id > ?)", t, t, k.ID)
}

// OrdersByIDs reads orders by id.
func (s *Store) OrdersByIDs(ctx context.Context, ids []string) ([]Order, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []Order
	return out, s.r.WithContext(ctx).Select(reconOrderColumns).Where("id IN ?", ids).Find(&out).Error
}

// InsertReconDifferences stores a batch of differences.
func (s *Store) InsertReconDifferences(ctx context.Context, diffs []ReconDifference) error {
	return s.write(ctx, func(s *Store) error {
		if len(diffs) == 0 {
			return nil
		}
		return s.w.WithContext(ctx).Create(&diffs).Error
	})
}

// ReconDifferences reads up to limit differences of a run after seq, in
// seq order; kind filters when set.
func (s *Store) ReconDifferences(ctx context.Context, runID, kind string, afterSeq int64, limit int) ([]ReconDifference, error) {
	q := s.r.WithContext(ctx).Where("run_id = ? AND seq > ?", runID, afterSeq)
	if kind != "" {
		q = q.Where("kind = ?", kind)
	}
	var out []ReconDifference
	return out, q.Order("seq").Limit(limit).Find(&out).Error
}

// MarkDifferenceHealed records that asking the provider settled a difference.
func (s *Store) MarkDifferenceHealed(ctx context.Context, runID string, seq int64, healed bool, note string) error {
	return s.write(ctx, func(s *Store) error {
		return s.w.WithContext(ctx).Model(&ReconDifference{}).Where("run_id = ? AND seq = ?", runID, seq).
			Updates(map[string]any{"healed": healed, "note": note}).Error
	})
}
