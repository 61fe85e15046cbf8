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
		"ux_orders_ptn":                 {unique: true, sql: "SELECT * FROM orders WHERE channel_id = ? AND provider_trade_no = ?", args: []any{"ch-a", "P"}},
		"ux_orders_txn":                 {unique: true, sql: "SELECT * FROM orders WHERE channel_id = ? AND transaction_id = ?", args: []any{"ch-a", "T"}},
		"ix_orders_merchant_created_id": {sql: "SELECT * FROM orders WHERE merchant_id = ? AND created_at >= ? ORDER BY created_at, id LIMIT 50", args: []any{"m1", now}},
		"ix_orders_next_poll":           {sql: "SELECT id FROM orders WHERE next_poll_ms IS NOT NULL AND next_poll_ms <= ? ORDER BY next_poll_ms LIMIT 10", args: []any{now.UnixMilli()}},
		"ix_orders_channel_paid_at":     {sql: "SELECT id FROM orders WHERE channel_id = ? AND paid_at >= ? AND paid_at < ? ORDER BY paid_at, id LIMIT 500", args: []any{"ch-a", now, now}}, // reconciliation
		// refunds
		"ux_refunds_merchant_out":    {unique: true, sql: "SELECT * FROM refunds WHERE merchant_id = ? AND out_refund_no = ?", args: []any{"m1", "R"}},
		"idx_refunds_order_id":       {sql: "SELECT * FROM refunds WHERE order_id = ? ORDER BY created_at, id", args: []any{"ord_x"}},
		"ix_refunds_next_poll":       {sql: "SELECT id FROM refunds WHERE next_poll_ms IS NOT NULL AND next_poll_ms <= ? ORDER BY next_poll_ms LIMIT 10", args: []any{now.UnixMilli()}},
		"ix_refunds_channel_created": {sql: "SELECT id FROM refunds WHERE channel_id = ? AND created_at >= ? AND created_at < ? ORDER BY created_at, id LIMIT 500", args: []any{"ch-a", now, now}},
		"ix_refunds_channel_prn":     {sql: "SELECT id FROM refunds WHERE channel_id = ? AND provider_refund_no IN (?, ?)", args: []any{"ch-a", "P1", "P2"}},
		"ix_refunds_merchant_prn":    {sql: "SELECT id FROM refunds WHERE merchant_id = ? AND provider_refund_no = ?", args: []any{"m1", "P1"}},
		// notifications
		"ix_notifications_pid":              {sql: "SELECT count(*) FROM notifications WHERE channel_id = ? AND provider_notify_id = ? AND provider_notify_id <> '' AND outcome IN (?, ?, ?)", args: []any{"ch-a", "N1", "applied", "duplicate", "queried"}},
		"ix_notifications_channel_received": {sql: "SELECT * FROM notifications WHERE channel_id = ? ORDER BY received_at DESC, id DESC LIMIT 10", args: []any{"ch-a"}},
		// merchant events and their attempts
		"idx_merchant_events_dedupe_key": {unique: true},
		"ux_events_order_sequence":       {unique: true, sql: "SELECT * FROM merchant_events WHERE merchant_id = ? AND order_id = ? AND sequence > 0 ORDER BY created_at DESC, id DESC LIMIT 50", args: []any{"m1", "ord_x"}},
		"ix_events_due":                  {sql: "SELECT id FROM merchant_events WHERE status = 'pending' AND next_try_ms <= ? ORDER BY next_try_ms LIMIT 10", args: []any{now.UnixMilli()}},
		"ix_events_merchant_status":      {sql: "SELECT * FROM merchant_events WHERE merchant_id = ? AND status = ? ORDER BY created_at DESC, id DESC LIMIT 50", args: []any{"m1", "failed"}},
		"idx_event_attempts_event_id":    {sql: "SELECT * FROM event_attempts WHERE event_id = ? ORDER BY at, id", args: []any{"evt_x"}},
		// reconciliation
		"ux_recon_runs_schedule":         {unique: true},
		"ix_recon_runs_merchant_created": {sql: "SELECT * FROM recon_runs WHERE merchant_id = ? ORDER BY created_at DESC, id DESC LIMIT 50", args: []any{"m1"}},
		"ix_recon_runs_channel_date":     {sql: "SELECT * FROM recon_runs WHERE channel_id = ? AND date = ? ORDER BY created_at DESC", args: []any{"ch-a", "2026-12-03"}},
		"ix_recon_runs_due":              {sql: "SELECT id FROM recon_runs WHERE next_try_ms IS NOT NULL AND next_try_ms <= ? ORDER BY next_try_ms LIMIT 1", args: []any{now.UnixMilli()}},
		"ix_recon_rows_out":              {sql: "SELECT * FROM recon_rows WHERE run_id = ? AND kind = ? AND out_trade_no IN (?, ?)", args: []any{"rec_001", "payment", "A", "B"}},
		"ix_recon_rows_ptn":              {sql: "SELECT * FROM recon_rows WHERE run_id = ? AND kind = ? AND provider_trade_no IN (?, ?)", args: []any{"rec_001", "payment", "A", "B"}},
		"ix_recon_rows_txn":              {sql: "SELECT * FROM recon_rows WHERE run_id = ? AND kind = ? AND transaction_id IN (?, ?)", args: []any{"rec_001", "payment", "A", "B"}},
		"ix_recon_rows_refund":           {sql: "SELECT * FROM recon_rows WHERE run_id = ? AND kind = ? AND out_refund_no IN (?, ?)", args: []any{"rec_001", "refund", "A", "B"}},
		"ix_recon_rows_prn":              {sql: "SELECT * FROM recon_rows WHERE run_id = ? AND kind = ? AND provider_refund_no IN (?, ?)", args: []any{"rec_001", "refund", "A", "B"}},
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
	var refunds []store.Refund
	var rows []store.ReconRow
	for i := 0; i < 2000; i++ {
		o := newOrder(fmt.Sprintf("PLAN%06d", i), created.Add(time.Duration(i)*time.Minute))
		if i%2 == 1 {
			o.MerchantID, o.ChannelID = "m2", "ch-c"
		}
		o.ProviderTradeNo, o.TransactionID = ptr(fmt.Sprintf("P%06d", i)), ptr(fmt.Sprintf("T%06d", i))
		orders = append(orders, *o)
		e := store.MerchantEvent{ID: store.NewID("evt"), MerchantID: o.MerchantID, DedupeKey: "order.paid:" + o.ID, Type: "order.paid",
			OrderID: o.ID, Sequence: 1, URL: "http://m/", Payload: []byte("{}"), Status: store.EventDelivered, NextTryAt: store.At(o.CreatedAt),
			CreatedAt: o.CreatedAt, UpdatedAt: o.CreatedAt}
		if i%10 == 0 {
			e.Status = store.EventFailed
		}
		events = append(events, e)
		attempts = append(attempts, store.EventAttempt{ID: store.NewID("att"), EventID: e.ID, StatusCode: 200, At: o.CreatedAt})
		refunds = append(refunds, store.Refund{ID: store.NewID("rfd"), OrderID: o.ID, MerchantID: o.MerchantID, ChannelID: o.ChannelID,
			OutRefundNo: fmt.Sprintf("PLANR%06d", i), ProviderRefundNo: fmt.Sprintf("PR%06d", i), AmountMinor: 100, Currency: "CNY",
			Status: "SUCCEEDED", RequestHash: "h", Version: 1, CreatedAt: o.CreatedAt, UpdatedAt: o.CreatedAt})
		kind := "payment"
		if i%2 == 1 {
			kind = "refund"
		}
		rows = append(rows, store.ReconRow{RunID: fmt.Sprintf("rec_%03d", i%10), Seq: int64(i), Kind: kind, At: o.CreatedAt,
			OutTradeNo: fmt.Sprintf("PLAN%06d", i), ProviderTradeNo: fmt.Sprintf("P%06d", i), TransactionID: fmt.Sprintf("T%06d", i),
			OutRefundNo: fmt.Sprintf("PLANR%06d", i), ProviderRefundNo: fmt.Sprintf("PR%06d", i), AmountMinor: 100, SettledMinor: 100, Currency: "CNY"})
	}
	for _, rows := range []any{&orders, &events, &attempts, &refunds, &rows} {
		if err := st.DB().CreateInBatches(rows, 100).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// PostgreSQL's batched delivery records find each row by its key, with
// many events pending: the due index (status first) looks selective to a
// planner whose statistics saw few pending events, and walking it would
// cost every batch the whole backlog.
func TestRecordBatchPlansUseTheKeys(t *testing.T) {
	st := storetest.Open(t, "postgres", store.Options{})
	seedForPlans(t, st)
	if err := st.DB().Exec("ANALYZE").Error; err != nil {
		t.Fatal(err)
	}
	for _, q := range st.RecordBatchQueries() {
		var lines []string
		rows, err := st.DB().Raw("EXPLAIN "+q.SQL, q.Args...).Rows()
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, l)
		}
		rows.Close()
		plan := strings.Join(lines, "\n")
		if !strings.Contains(plan, q.Index) || strings.Contains(plan, "ix_events_due") {
			t.Errorf("%s: want %s, not the due index:\n%s", q.Name, q.Index, plan)
		}
	}
}
