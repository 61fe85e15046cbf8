package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// OrderFilter selects one merchant's orders for the finance API: listing,
// CSV export and the summary report. Empty fields do not filter.
type OrderFilter struct {
	MerchantID string // required: a merchant sees only its own orders
	Statuses   []string
	Provider   string
	ChannelID  string
	Currency   string
	// From and To bound created_at: From inclusive, To exclusive.
	From, To time.Time
	// The three numbers, for lookups.
	OutTradeNo, ProviderTradeNo, TransactionID string
}

// OrderKey is a position in the finance order of orders, (created_at, id):
// the keyset cursor. Ids are unique, so the order is total and stable.
type OrderKey struct {
	CreatedAt time.Time
	ID        string
}

// KeyOf is the position of o.
func KeyOf(o *Order) OrderKey { return OrderKey{CreatedAt: o.CreatedAt, ID: o.ID} }

func (s *Store) filterOrders(db *gorm.DB, f OrderFilter) *gorm.DB {
	// Times are compared in UTC: SQLite compares the stored text.
	merchant := "merchant_id = ?"
	if s.driver == "sqlite" && f.OutTradeNo == "" && (f.ProviderTradeNo != "" || f.TransactionID != "") {
		// SQLite has no statistics unless ANALYZE ran, and then walks the
		// merchant's index for a lookup the number's own index answers;
		// the unary + keeps this term off the index choice.
		merchant = "+merchant_id = ?"
	}
	q := db.Model(&Order{}).Where(merchant, f.MerchantID)
	if len(f.Statuses) > 0 {
		q = q.Where("status IN ?", f.Statuses)
	}
	if f.Provider != "" {
		q = q.Where("provider = ?", f.Provider)
	}
	if f.ChannelID != "" {
		q = q.Where("channel_id = ?", f.ChannelID)
	}
	if f.Currency != "" {
		q = q.Where("currency = ?", f.Currency)
	}
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("created_at < ?", f.To.UTC())
	}
	if f.OutTradeNo != "" {
		q = q.Where("out_trade_no = ?", f.OutTradeNo)
	}
	if f.ProviderTradeNo != "" {
		q = q.Where("provider_trade_no = ?", f.ProviderTradeNo)
	}
	if f.TransactionID != "" {
		q = q.Where("transaction_id = ?", f.TransactionID)
	}
	return q
}

// after continues the (created_at, id) order past k. The row-value
// comparison is served by ix_orders_merchant_created_id on both databases.
func after(q *gorm.DB, k *OrderKey) *gorm.DB {
	if k == nil {
		return q
	}
	return q.Where("(created_at, id) > (?, ?)", k.CreatedAt.UTC(), k.ID)
}

// ListOrders returns up to limit of the filter's orders following after
// (nil: from the start) in (created_at, id) order. Paging by key, never by
// offset, so each page costs the same and a page boundary does not move
// when orders are added: every order that existed when paging began is
// returned exactly once.
func (s *Store) ListOrders(ctx context.Context, f OrderFilter, from *OrderKey, limit int) ([]Order, error) {
	var out []Order
	q := after(s.filterOrders(s.r.WithContext(ctx), f), from)
	if f.lookup() {
		// A few rows at most (each number is unique per merchant or channel):
		// let the number's index find them, then order them here; with ORDER
		// BY and LIMIT in SQL the planners prefer walking the created_at index.
		if err := q.Find(&out).Error; err != nil {
			return nil, translate(err)
		}
		sortByKey(out)
		if len(out) > limit {
			out = out[:limit]
		}
		return out, nil
	}
	err := q.Order("created_at, id").Limit(limit).Find(&out).Error
	return out, translate(err)
}

// lookup reports whether f names orders by one of their numbers.
func (f OrderFilter) lookup() bool {
	return f.OutTradeNo != "" || f.ProviderTradeNo != "" || f.TransactionID != ""
}

func sortByKey(orders []Order) {
	slices.SortFunc(orders, func(a, b Order) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// exportColumns are the columns the CSV export reads.
var exportColumns = []string{"id", "merchant_id", "channel_id", "provider", "out_trade_no", "provider_trade_no", "transaction_id",
	"status", "currency", "amount_minor", "refunded_minor", "created_at", "paid_at"}

// ExportOrders calls fn with every order of the filter in (created_at, id)
// order, reading batch rows at a time by key (memory does not grow with the
// number of orders). Each batch is its own short read, finished before fn
// sees its rows: an export paced by a slow client holds no transaction
// open, so it neither pins SQLite's WAL (checkpoints go on while it waits)
// nor holds back PostgreSQL's vacuum. The key order is stable — created_at
// and id never change — so every order that existed when the export began
// is written exactly once; an order's fields are as they were when its
// batch was read, and orders created meanwhile may or may not appear.
// ctx bounds the whole export (the caller's time limit). Only the export's
// columns are filled, and fn must not keep the *Order: it is reused.
func (s *Store) ExportOrders(ctx context.Context, f OrderFilter, batch int, fn func(*Order) error) error {
	var (
		rows []Order
		key  *OrderKey
	)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows = rows[:0]
		q := after(s.filterOrders(s.r.WithContext(ctx), f), key).Select(exportColumns)
		if f.lookup() { // a few rows: see ListOrders
			if err := q.Find(&rows).Error; err != nil {
				return err
			}
			sortByKey(rows)
			for i := range rows {
				if err := fn(&rows[i]); err != nil {
					return err
				}
			}
			return nil
		}
		if err := q.Order("created_at, id").Limit(batch).Find(&rows).Error; err != nil {
			return err
		}
		for i := range rows {
			if err := fn(&rows[i]); err != nil {
				return err
			}
		}
		if len(rows) < batch {
			return nil
		}
		k := KeyOf(&rows[len(rows)-1])
		key = &k
	}
}

// Summary groupings.
const (
	GroupByDay      = "day"
	GroupByProvider = "provider"
	GroupByCurrency = "currency"
	GroupByStatus   = "status"
)

// SummaryRow is one group of the summary report, always of one currency.
// Sums are integer minor units of Currency.
type SummaryRow struct {
	Key           string // the day (YYYY-MM-DD), provider, currency or status
	Currency      string
	Count         int64 // orders in the group, any status
	PaidCount     int64 // of which were paid (PAID or REFUNDED)
	PaidMinor     int64 // amount of the paid ones
	RefundedMinor int64 // refunded of them
}

// SummarizeOrders totals the filter's orders per group and currency, in
// SQL with integer sums (SUM of int64 minor units; never floats, never
// across currencies). A day is the date of created_at in loc (nil: UTC),
// with the UTC offset loc has at that instant: a zone with daylight
// saving time changes offset within the range, so the SQL has one branch
// per offset the zone has between the first and the last order.
func (s *Store) SummarizeOrders(ctx context.Context, f OrderFilter, groupBy string, loc *time.Location) ([]SummaryRow, error) {
	var (
		key  string
		args []any
	)
	switch groupBy {
	case GroupByDay:
		if loc == nil {
			loc = time.UTC
		}
		from, to, found, err := s.createdSpan(ctx, f)
		if err != nil || !found {
			return nil, err
		}
		if key, args, err = s.localDate(loc, from, to); err != nil {
			return nil, err
		}
	case GroupByProvider:
		key = "provider"
	case GroupByCurrency:
		key = "currency"
	case GroupByStatus:
		key = "status"
	default:
		return nil, fmt.Errorf("summary: unknown grouping %q", groupBy)
	}
	const paid = "status IN ('PAID', 'REFUNDED')"
	sel := key + " AS k, currency, COUNT(*) AS n," +
		" CAST(SUM(CASE WHEN " + paid + " THEN 1 ELSE 0 END) AS BIGINT) AS paid_n," +
		" CAST(SUM(CASE WHEN " + paid + " THEN amount_minor ELSE 0 END) AS BIGINT) AS paid_minor," +
		" CAST(SUM(refunded_minor) AS BIGINT) AS refunded_minor"
	rows, err := s.filterOrders(s.r.WithContext(ctx), f).Select(sel, args...).Group("k, currency").Order("k, currency").Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SummaryRow
	for rows.Next() {
		var r SummaryRow
		if err := rows.Scan(&r.Key, &r.Currency, &r.Count, &r.PaidCount, &r.PaidMinor, &r.RefundedMinor); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// createdSpan is the first and last created_at of the filter's orders;
// false when there are none.
func (s *Store) createdSpan(ctx context.Context, f OrderFilter) (time.Time, time.Time, bool, error) {
	var first, last []Order
	q := func() *gorm.DB { return s.filterOrders(s.r.WithContext(ctx), f).Select("created_at") }
	if err := q().Order("created_at").Limit(1).Find(&first).Error; err != nil {
		return time.Time{}, time.Time{}, false, err
	}
	if len(first) == 0 {
		return time.Time{}, time.Time{}, false, nil
	}
	if err := q().Order("created_at DESC").Limit(1).Find(&last).Error; err != nil {
		return time.Time{}, time.Time{}, false, err
	}
	return first[0].CreatedAt, last[0].CreatedAt, true, nil
}

// maxOffsetChanges bounds the branches of a day key (a zone changing
// offset twice a year: 250 years).
const maxOffsetChanges = 500

// localDate is SQL for the date (YYYY-MM-DD) of created_at in loc, for
// orders created between from and to, and its arguments: one CASE branch
// per span of time in which loc keeps one UTC offset.
func (s *Store) localDate(loc *time.Location, from, to time.Time) (string, []any, error) {
	dateAt := func(offset int) string { // offset in seconds; an integer, safe to inline
		if s.driver == "postgres" {
			return fmt.Sprintf("to_char((created_at AT TIME ZONE 'UTC') + interval '%d seconds', 'YYYY-MM-DD')", offset)
		}
		return fmt.Sprintf("date(created_at, '%+d seconds')", offset)
	}
	var (
		b    strings.Builder
		args []any
	)
	b.WriteString("CASE")
	for t := from.In(loc); ; {
		_, offset := t.Zone()
		_, end := t.ZoneBounds()
		if end.IsZero() || end.After(to) {
			b.WriteString(" ELSE " + dateAt(offset) + " END")
			break
		}
		if len(args) == maxOffsetChanges {
			return "", nil, fmt.Errorf("summary: %s changes its UTC offset more than %d times between %s and %s; narrow from/to",
				loc, maxOffsetChanges, from.Format(time.RFC3339), to.Format(time.RFC3339))
		}
		b.WriteString(" WHEN created_at < ? THEN " + dateAt(offset))
		args = append(args, end.UTC())
		t = end.In(loc)
	}
	if len(args) == 0 {
		_, offset := from.In(loc).Zone()
		return dateAt(offset), nil, nil
	}
	return b.String(), args, nil
}
