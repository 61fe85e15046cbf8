package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// The tables as 0fe8ac8 made them: due times and leases were timestamps
// (next_poll_at, next_try_at, lease_until), events had no sequence.

type v0Order struct {
	ID              string  `gorm:"primaryKey;size:32;index:ix_orders_merchant_created_id,priority:3"`
	MerchantID      string  `gorm:"size:64;not null;uniqueIndex:ux_orders_merchant_out,priority:1;index:ix_orders_merchant_created_id,priority:1"`
	ChannelID       string  `gorm:"size:64;not null;uniqueIndex:ux_orders_channel_ptn,priority:1"`
	Provider        string  `gorm:"size:32;not null"`
	OutTradeNo      string  `gorm:"size:64;not null;uniqueIndex:ux_orders_merchant_out,priority:2"`
	ProviderTradeNo *string `gorm:"size:128;uniqueIndex:ux_orders_channel_ptn,priority:2;index:ix_orders_ptn"` // ix_orders_ptn: lookups without the channel
	TransactionID   *string `gorm:"size:64;uniqueIndex:ux_orders_transaction_id"`

	AmountMinor        int64  `gorm:"not null"`
	Currency           string `gorm:"size:3;not null"`
	RefundedMinor      int64  `gorm:"not null;default:0"`
	RefundPendingMinor int64  `gorm:"not null;default:0"` // reserved by refunds in PROCESSING
	Status             string `gorm:"size:16;not null;index"`

	Description string `gorm:"size:256"`
	PayMethod   string `gorm:"size:32"`
	PayerOpenID string `gorm:"size:128"`
	PayerAppID  string `gorm:"size:64"`
	ClientIP    string `gorm:"size:64"`
	NotifyURL   string `gorm:"size:512"` // merchant webhook override for this order
	ReturnURL   string `gorm:"size:512"`
	Metadata    string `gorm:"type:text"` // JSON object as received
	PayParams   string `gorm:"type:text"` // JSON object for wx.requestPayment
	PayURL      string `gorm:"size:1024"`
	RequestHash string `gorm:"size:64;not null"` // idempotency: the create body's hash

	ExpiresAt time.Time `gorm:"not null"`
	PaidAt    *time.Time
	ClosedAt  *time.Time

	NextPollAt   *time.Time `gorm:"index"`
	PollAttempts int        `gorm:"not null;default:0"`
	// PollRequested: something asked for a poll at once (PollNow) while
	// a poll may have been running; the poll's end then keeps it due.
	PollRequested bool `gorm:"not null;default:false"`
	LeaseUntil    *time.Time
	LeaseToken    string `gorm:"size:64"`

	Version int64 `gorm:"not null;default:1"`
	// ix_orders_merchant_created_id (merchant_id, created_at, id) serves the
	// finance API's keyset paging and export without a sort.
	CreatedAt time.Time `gorm:"not null;index:ix_orders_merchant_created_id,priority:2;index:ix_orders_created"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (v0Order) TableName() string { return "orders" }

type v0Refund struct {
	ID               string     `gorm:"primaryKey;size:32"`
	OrderID          string     `gorm:"size:32;not null;index"`
	MerchantID       string     `gorm:"size:64;not null;uniqueIndex:ux_refunds_merchant_out,priority:1"`
	ChannelID        string     `gorm:"size:64;not null"`
	OutRefundNo      string     `gorm:"size:64;not null;uniqueIndex:ux_refunds_merchant_out,priority:2"`
	ProviderRefundNo string     `gorm:"size:128"`
	AmountMinor      int64      `gorm:"not null"`
	Currency         string     `gorm:"size:3;not null"`
	Reason           string     `gorm:"size:256"`
	Status           string     `gorm:"size:16;not null;index"`
	ProviderStatus   string     `gorm:"size:64"`
	FailureReason    string     `gorm:"size:256"`
	RequestHash      string     `gorm:"size:64;not null"`
	SubmittedAt      *time.Time // the provider accepted the request
	SucceededAt      *time.Time

	NextPollAt   *time.Time `gorm:"index"`
	PollAttempts int        `gorm:"not null;default:0"`
	// PollRequested: something asked for a poll at once (PollNow) while
	// a poll may have been running; the poll's end then keeps it due.
	PollRequested bool `gorm:"not null;default:false"`
	LeaseUntil    *time.Time
	LeaseToken    string `gorm:"size:64"`

	Version   int64     `gorm:"not null;default:1"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`

	Order *v0Order `gorm:"foreignKey:OrderID;constraint:OnDelete:RESTRICT"`
}

func (v0Refund) TableName() string { return "refunds" }

type v0MerchantEvent struct {
	ID         string `gorm:"primaryKey;size:32"`
	MerchantID string `gorm:"size:64;not null;index:ix_events_merchant_status,priority:1"`
	// DedupeKey makes a second event for the same transition impossible,
	// e.g. "order.paid:ord_...".
	DedupeKey string `gorm:"size:128;not null;uniqueIndex"`
	Type      string `gorm:"size:32;not null"`
	OrderID   string `gorm:"size:32;index"`
	RefundID  string `gorm:"size:32"`
	URL       string `gorm:"size:512;not null"`
	Payload   []byte `gorm:"not null"` // the exact body sent, frozen at creation
	// Due events are found by ix_events_due (status, next_try_at): delivered
	// and failed events, which keep their last next_try_at, stay out of the
	// range the dispatcher scans.
	Status      string    `gorm:"size:16;not null;index:ix_events_merchant_status,priority:2;index:ix_events_due,priority:1"`
	Attempts    int       `gorm:"not null;default:0"`
	NextTryAt   time.Time `gorm:"not null;index:ix_events_due,priority:2"`
	LeaseUntil  *time.Time
	LeaseToken  string `gorm:"size:64"`
	LastError   string `gorm:"size:512"`
	DeliveredAt *time.Time
	CreatedAt   time.Time `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null"`
}

func (v0MerchantEvent) TableName() string { return "merchant_events" }

// A database made by 0fe8ac8 migrates in place: due times and leases keep
// their values (now milliseconds on the database's clock), the old columns
// and their indexes go, and the events already written are numbered per
// order in the order they were made.
func TestMigratesTimestampColumnsAndNumbersEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		dsn := storetest.FreshDSN(t, driver)
		var dial gorm.Dialector = sqlite.Open(dsn)
		if driver == "postgres" {
			dial = postgres.Open(dsn)
		}
		old, err := gorm.Open(dial, &gorm.Config{Logger: logger.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if err := old.AutoMigrate(&store.Merchant{}, &store.Channel{}, &v0Order{}, &v0Refund{}, &v0MerchantEvent{}); err != nil {
			t.Fatal(err)
		}
		if err := old.Create(&store.Merchant{ID: "m1"}).Error; err != nil {
			t.Fatal(err)
		}
		if err := old.Create(&store.Channel{ID: "ch-a", MerchantID: "m1", Provider: "wechat_v2", Currency: "CNY"}).Error; err != nil {
			t.Fatal(err)
		}
		// Microseconds: what both databases keep of a time.
		due := time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)
		lease := due.Add(30 * time.Second)
		o := v0Order{ID: "ord_1", MerchantID: "m1", ChannelID: "ch-a", Provider: "wechat_v2", OutTradeNo: "MIGRATE001", AmountMinor: 100,
			Currency: "CNY", Status: "PAYING", RequestHash: "h", ExpiresAt: due, NextPollAt: &due, LeaseUntil: &lease, LeaseToken: "lease_x",
			Version: 1, CreatedAt: due, UpdatedAt: due}
		idle := v0Order{ID: "ord_2", MerchantID: "m1", ChannelID: "ch-a", Provider: "wechat_v2", OutTradeNo: "MIGRATE002", AmountMinor: 100,
			Currency: "CNY", Status: "PAID", RequestHash: "h", ExpiresAt: due, Version: 1, CreatedAt: due, UpdatedAt: due}
		if err := old.Create([]*v0Order{&o, &idle}).Error; err != nil {
			t.Fatal(err)
		}
		r := v0Refund{ID: "rfd_1", OrderID: "ord_1", MerchantID: "m1", ChannelID: "ch-a", OutRefundNo: "R000000001", AmountMinor: 10,
			Currency: "CNY", Status: "PROCESSING", RequestHash: "h", NextPollAt: &due, Version: 1, CreatedAt: due, UpdatedAt: due}
		if err := old.Create(&r).Error; err != nil {
			t.Fatal(err)
		}
		for i, typ := range []string{"order.paid", "refund.succeeded", "refund.failed"} {
			at := due.Add(time.Duration(i) * time.Second)
			e := v0MerchantEvent{ID: fmt.Sprintf("evt_%d", i), MerchantID: "m1", DedupeKey: typ, Type: typ, OrderID: "ord_1", URL: "http://x",
				Payload: []byte("{}"), Status: "pending", NextTryAt: at, CreatedAt: at, UpdatedAt: at}
			if err := old.Create(&e).Error; err != nil {
				t.Fatal(err)
			}
		}
		loose := v0MerchantEvent{ID: "evt_loose", MerchantID: "m1", DedupeKey: "loose", Type: "reconciliation.completed", URL: "http://x",
			Payload: []byte("{}"), Status: "delivered", NextTryAt: due, CreatedAt: due, UpdatedAt: due}
		if err := old.Create(&loose).Error; err != nil {
			t.Fatal(err)
		}
		if db, err := old.DB(); err == nil {
			_ = db.Close()
		}

		st := storetest.OpenDSN(t, driver, dsn, store.Options{})
		m := st.DB().Migrator()
		for table, cols := range map[string][]string{"orders": {"next_poll_at", "lease_until"}, "refunds": {"next_poll_at", "lease_until"}, "merchant_events": {"next_try_at", "lease_until"}} {
			for _, c := range cols {
				if m.HasColumn(table, c) {
					t.Errorf("%s.%s is still there", table, c)
				}
			}
		}
		for table, ix := range map[string]string{"orders": "ix_orders_next_poll", "refunds": "ix_refunds_next_poll", "merchant_events": "ix_events_due"} {
			if !m.HasIndex(table, ix) {
				t.Errorf("index %s on %s missing", ix, table)
			}
		}
		// The two provider trade number indexes became one, and the
		// numbers' indexes hold only the orders that have them.
		for _, ix := range []string{"ux_orders_ptn", "ux_orders_txn", "ix_orders_channel_paid_at"} {
			if !m.HasIndex("orders", ix) {
				t.Errorf("index %s missing", ix)
			}
		}
		for ix, table := range map[string]string{"ux_orders_channel_ptn": "orders", "ix_orders_ptn": "orders", "ux_orders_transaction_id": "orders",
			"idx_merchant_events_order_id": "merchant_events"} {
			if m.HasIndex(table, ix) {
				t.Errorf("index %s is still there", ix)
			}
		}
		same := func(what string, got *store.DBTime, want time.Time) {
			t.Helper()
			if got == nil || got.Sub(want).Abs() > time.Millisecond {
				t.Errorf("%s: %v, want %v", what, got, want)
			}
		}
		gotO, err := st.OrderByID(ctx, "ord_1")
		if err != nil {
			t.Fatal(err)
		}
		same("order next poll", gotO.NextPollAt, due)
		same("order lease", gotO.LeaseUntil, lease)
		if gotO.LeaseToken != "lease_x" {
			t.Errorf("lease token %q", gotO.LeaseToken)
		}
		if gotI, _ := st.OrderByID(ctx, "ord_2"); gotI.NextPollAt != nil || gotI.LeaseUntil != nil {
			t.Errorf("an unscheduled order got times: %v %v", gotI.NextPollAt, gotI.LeaseUntil)
		}
		gotR, _ := st.RefundByID(ctx, "rfd_1")
		same("refund next poll", gotR.NextPollAt, due)
		for i := 0; i < 3; i++ {
			e, err := st.EventByID(ctx, fmt.Sprintf("evt_%d", i))
			if err != nil {
				t.Fatal(err)
			}
			same("event next try", &e.NextTryAt, due.Add(time.Duration(i)*time.Second))
			if e.Sequence != int64(i+1) {
				t.Errorf("event %d numbered %d", i, e.Sequence)
			}
		}
		if e, _ := st.EventByID(ctx, "evt_loose"); e.Sequence != 0 {
			t.Errorf("an event of no order numbered %d", e.Sequence)
		}
		// Due long ago: claimable at once, in sequence.
		es, _, err := st.ClaimDueEvents(ctx, 10, time.Minute)
		if err != nil || len(es) != 1 || es[0].ID != "evt_0" {
			t.Fatalf("claim after migration: %d %v", len(es), err)
		}
		if def := indexDef(t, st, driver, "ix_events_due"); !strings.Contains(def, "WHERE") {
			t.Errorf("ix_events_due after migration: %s, want the pending events only", def)
		}
		// A second start migrates nothing more.
		if err := st.Migrate(); err != nil {
			t.Fatal(err)
		}
	})
}

// ix_events_due as the previous version made it, on (status, next_try_ms)
// over every event, is made again over the pending events only; the
// claim still finds the due event by it.
func TestMigrateMakesTheEventsDueIndexPartial(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		db := st.DB()
		for _, q := range []string{"DROP INDEX ix_events_due", "CREATE INDEX ix_events_due ON merchant_events (status, next_try_ms)"} {
			if err := db.Exec(q).Error; err != nil {
				t.Fatal(err)
			}
		}
		if def := indexDef(t, st, driver, "ix_events_due"); strings.Contains(def, "WHERE") {
			t.Fatalf("set-up: %s", def)
		}
		now := time.Now().UTC()
		for i, status := range []string{store.EventDelivered, store.EventPending} {
			e := &store.MerchantEvent{MerchantID: "m1", DedupeKey: fmt.Sprint("mig:", i), Type: "order.paid", URL: "u", Payload: []byte(`{}`),
				Status: status, NextTryAt: store.DueNow(), CreatedAt: now, UpdatedAt: now}
			if err := st.InsertEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Migrate(); err != nil {
			t.Fatal(err)
		}
		if def := indexDef(t, st, driver, "ix_events_due"); !strings.Contains(def, "WHERE") || !strings.Contains(def, "pending") {
			t.Errorf("ix_events_due after migration: %s, want the pending events only", def)
		}
		if es, _, err := st.ClaimDueEvents(ctx, 10, time.Minute); err != nil || len(es) != 1 || es[0].Status != store.EventPending {
			t.Fatalf("claim after migration: %d %v", len(es), err)
		}
	})
}

// indexDef is the index's definition as the database keeps it.
func indexDef(t *testing.T, st *store.Store, driver, name string) string {
	t.Helper()
	q := "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?"
	if driver == "postgres" {
		q = "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ?"
	}
	var def string
	if err := st.DB().Raw(q, name).Scan(&def).Error; err != nil || def == "" {
		t.Fatalf("index %s: %q %v", name, def, err)
	}
	return def
}
