package store_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// indexUse is why an index exists: a unique constraint the data needs, or
// a query the store runs whose plan must use it.
type indexUse struct {
	unique bool   // a constraint (it serves lookups too)
	sql    string // a query the store runs, as it runs it
	args   []any
}

// TestIndexCensus keeps the schema's indexes to those a constraint or a
// query needs (every index costs each write of its table), and checks on
// both databases that each query's plan uses its index. An index added
// without an entry here, or kept after its query went, fails the test.
func TestIndexCensus(t *testing.T) {
	now := time.Now().UTC()
	census := map[string]indexUse{
		// orders
		"ux_orders_merchant_out":        {unique: true, sql: "SELECT * FROM orders WHERE merchant_id = ? AND out_trade_no = ?", args: []any{"m1", "A"}},
		"ux_orders_channel_ptn":         {unique: true, sql: "SELECT * FROM orders WHERE channel_id = ? AND provider_trade_no = ?", args: []any{"ch-a", "P"}},
		"ux_orders_transaction_id":      {unique: true, sql: "SELECT * FROM orders WHERE channel_id = ? AND transaction_id = ?", args: []any{"ch-a", "T"}},
		"ix_orders_ptn":                 {sql: "SELECT * FROM orders WHERE +merchant_id = ? AND provider_trade_no = ?", args: []any{"m1", "P"}}, // finance lookup without the channel
		"ix_orders_merchant_created_id": {sql: "SELECT * FROM orders WHERE merchant_id = ? AND created_at >= ? ORDER BY created_at, id LIMIT 50", args: []any{"m1", now}},
		"ix_orders_due":                 {sql: "SELECT id FROM orders WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? ORDER BY next_poll_at LIMIT 10", args: []any{now}},
		// refunds
		"ux_refunds_merchant_out": {unique: true, sql: "SELECT * FROM refunds WHERE merchant_id = ? AND out_refund_no = ?", args: []any{"m1", "R"}},
		"idx_refunds_order_id":    {sql: "SELECT * FROM refunds WHERE order_id = ? ORDER BY created_at, id", args: []any{"ord_x"}},
		"ix_refunds_due":          {sql: "SELECT id FROM refunds WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? ORDER BY next_poll_at LIMIT 10", args: []any{now}},
		// notifications
		"ix_notifications_pid":              {sql: "SELECT count(*) FROM notifications WHERE channel_id = ? AND provider_notify_id = ? AND provider_notify_id <> '' AND outcome IN (?, ?, ?)", args: []any{"ch-a", "N1", "applied", "duplicate", "queried"}},
		"ix_notifications_channel_received": {sql: "SELECT * FROM notifications WHERE channel_id = ? ORDER BY received_at DESC, id DESC LIMIT 10", args: []any{"ch-a"}},
		// merchant events and their attempts
		"idx_merchant_events_dedupe_key": {unique: true},
		"ix_events_pending":              {sql: "SELECT id FROM merchant_events WHERE status = 'pending' AND next_try_at <= ? ORDER BY next_try_at LIMIT 10", args: []any{now}},
		"ix_events_merchant_status":      {sql: "SELECT * FROM merchant_events WHERE merchant_id = ? AND status = ? ORDER BY created_at DESC, id DESC LIMIT 50", args: []any{"m1", "failed"}},
		"idx_merchant_events_order_id":   {sql: "SELECT * FROM merchant_events WHERE merchant_id = ? AND order_id = ? ORDER BY created_at DESC, id DESC LIMIT 50", args: []any{"m1", "ord_x"}},
		"idx_event_attempts_event_id":    {sql: "SELECT * FROM event_attempts WHERE event_id = ? ORDER BY at, id", args: []any{"evt_x"}},
	}
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		var names []string
		q := "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'"
		if driver == "postgres" {
			q = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname NOT LIKE '%_pkey'"
		}
		if err := st.DB().Raw(q).Scan(&names).Error; err != nil {
			t.Fatal(err)
		}
		sort.Strings(names)
		if driver == "postgres" {
			// Its planner needs rows and statistics (autovacuum gathers
			// them) to tell one index from another.
			seedForPlans(t, st)
			if err := st.DB().Exec("ANALYZE").Error; err != nil {
				t.Fatal(err)
			}
		}
		have := map[string]bool{}
		for _, n := range names {
			have[n] = true
			if _, ok := census[n]; !ok {
				t.Errorf("index %s serves no listed query or constraint: drop it, or say here what uses it", n)
			}
		}
		for name, use := range census {
			if !have[name] {
				t.Errorf("index %s is missing", name)
				continue
			}
			if use.sql == "" {
				continue
			}
			sql := use.sql
			if driver == "postgres" {
				sql = strings.ReplaceAll(sql, "+merchant_id", "merchant_id") // SQLite's planner hint, as the store writes it
			}
			if plan := explain(t, st, driver, sql, use.args...); !strings.Contains(plan, name) {
				t.Errorf("%s: the plan of %q does not use it:\n%s", name, sql, plan)
			}
		}
		t.Logf("%d indexes: %s", len(names), strings.Join(names, ", "))
	})
}

// seedForPlans writes a few thousand rows spread over two merchants'
// orders, events and attempts, as a planner would find in a live gateway.
func seedForPlans(t *testing.T, st *store.Store) {
	t.Helper()
	seedConfig(t, st)
	created := time.Now().UTC().Add(-48 * time.Hour)
	var orders []store.Order
	var events []store.MerchantEvent
	var attempts []store.EventAttempt
	for i := 0; i < 2000; i++ {
		o := newOrder(fmt.Sprintf("PLAN%06d", i), created.Add(time.Duration(i)*time.Minute))
		if i%2 == 1 {
			o.MerchantID, o.ChannelID = "m2", "ch-c"
		}
		o.ProviderTradeNo, o.TransactionID = ptr(fmt.Sprintf("P%06d", i)), ptr(fmt.Sprintf("T%06d", i))
		orders = append(orders, *o)
		e := store.MerchantEvent{ID: store.NewID("evt"), MerchantID: o.MerchantID, DedupeKey: "order.paid:" + o.ID, Type: "order.paid",
			OrderID: o.ID, URL: "http://m/", Payload: []byte("{}"), Status: store.EventDelivered, NextTryAt: o.CreatedAt,
			CreatedAt: o.CreatedAt, UpdatedAt: o.CreatedAt}
		events = append(events, e)
		attempts = append(attempts, store.EventAttempt{ID: store.NewID("att"), EventID: e.ID, StatusCode: 200, At: o.CreatedAt})
	}
	for _, rows := range []any{&orders, &events, &attempts} {
		if err := st.DB().CreateInBatches(rows, 100).Error; err != nil {
			t.Fatal(err)
		}
	}
}
