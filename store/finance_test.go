package store_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

var day0 = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// financeOrders makes n orders of m1 (and a few of m2) spread over
// channels, currencies, statuses and three days; several share a
// created_at, so paging must break ties by id.
func financeOrders(n int, seed uint64) []store.Order {
	rng := rand.New(rand.NewPCG(seed, seed))
	statuses := []string{"PAYING", "PAID", "PAID", "CLOSED", "FAILED", "REFUNDED"}
	out := make([]store.Order, 0, n)
	for i := 0; i < n; i++ {
		// Five orders per instant, instants 37 minutes apart (crossing days).
		created := day0.Add(time.Duration(i/5) * 37 * time.Minute).Add(time.Duration(i/5%3) * time.Microsecond)
		o := *newOrder(fmt.Sprintf("FIN%07d", i), created)
		if i%2 == 1 {
			o.ChannelID, o.Provider, o.Currency = "ch-b", "yaband", "EUR"
		}
		if i%17 == 0 {
			o.MerchantID, o.ChannelID = "m2", "ch-c"
		}
		o.AmountMinor = 1 + rng.Int64N(100000)
		o.Status = statuses[rng.IntN(len(statuses))]
		switch o.Status {
		case "PAID", "REFUNDED":
			paid := created.Add(time.Minute)
			o.PaidAt = &paid
			if o.Status == "REFUNDED" {
				o.RefundedMinor = o.AmountMinor
			} else if rng.IntN(3) == 0 {
				o.RefundedMinor = rng.Int64N(o.AmountMinor)
			}
		}
		out = append(out, o)
	}
	return out
}

func insertAll(t *testing.T, st *store.Store, orders []store.Order) {
	t.Helper()
	if err := st.DB().CreateInBatches(orders, 200).Error; err != nil {
		t.Fatal(err)
	}
}

// expected applies f in Go, in (created_at, id) order.
func expected(orders []store.Order, f store.OrderFilter) []string {
	var sel []store.Order
	for _, o := range orders {
		if o.MerchantID != f.MerchantID ||
			(len(f.Statuses) > 0 && !slices.Contains(f.Statuses, o.Status)) ||
			(f.Provider != "" && o.Provider != f.Provider) ||
			(f.ChannelID != "" && o.ChannelID != f.ChannelID) ||
			(f.Currency != "" && o.Currency != f.Currency) ||
			(!f.From.IsZero() && o.CreatedAt.Before(f.From)) ||
			(!f.To.IsZero() && !o.CreatedAt.Before(f.To)) {
			continue
		}
		sel = append(sel, o)
	}
	slices.SortFunc(sel, func(a, b store.Order) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	ids := make([]string, len(sel))
	for i, o := range sel {
		ids[i] = o.ID
	}
	return ids
}

func pageAll(t *testing.T, st *store.Store, f store.OrderFilter, limit int) []string {
	t.Helper()
	var ids []string
	var key *store.OrderKey
	for pages := 0; ; pages++ {
		page, err := st.ListOrders(ctx, f, key, limit)
		if err != nil {
			t.Fatal(err)
		}
		for i := range page {
			ids = append(ids, page[i].ID)
		}
		if len(page) < limit {
			return ids
		}
		k := store.KeyOf(&page[len(page)-1])
		key = &k
		if pages > 10000 {
			t.Fatal("paging does not end")
		}
	}
}

func TestListOrdersFiltersAndKeysetPaging(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		orders := financeOrders(400, 1)
		// Store insertion order must not matter.
		rand.New(rand.NewPCG(7, 7)).Shuffle(len(orders), func(i, j int) { orders[i], orders[j] = orders[j], orders[i] })
		insertAll(t, st, orders)
		// An offset clock: +08:00 inputs are the same instants.
		cst := time.FixedZone("CST", 8*3600)
		filters := []store.OrderFilter{
			{MerchantID: "m1"},
			{MerchantID: "m2"},
			{MerchantID: "m3"},
			{MerchantID: "m1", Statuses: []string{"PAID"}},
			{MerchantID: "m1", Statuses: []string{"PAID", "REFUNDED"}, Currency: "EUR"},
			{MerchantID: "m1", Provider: "wechat_v2"},
			{MerchantID: "m1", ChannelID: "ch-b", Statuses: []string{"CLOSED"}},
			{MerchantID: "m1", From: day0.Add(24 * time.Hour), To: day0.Add(48 * time.Hour)},
			{MerchantID: "m1", From: day0.Add(24 * time.Hour).In(cst), To: day0.Add(30 * time.Hour).In(cst)},
			// An instant shared by five orders: from inclusive, to exclusive.
			{MerchantID: "m1", From: day0.Add(37 * time.Minute).Add(time.Microsecond), To: day0.Add(74 * time.Minute).Add(2 * time.Microsecond)},
		}
		for i, f := range filters {
			want := expected(orders, f)
			for _, limit := range []int{1, 7, 50, 500} {
				if limit == 1 && len(want) > 60 {
					continue
				}
				got := pageAll(t, st, f, limit)
				if !slices.Equal(got, want) {
					t.Fatalf("filter %d %+v limit %d: got %d orders, want %d\n got %v\nwant %v", i, f, limit, len(got), len(want), head(got), head(want))
				}
			}
		}
		// Lookups by the three numbers.
		var paid store.Order
		for _, o := range orders {
			if o.MerchantID == "m1" {
				paid = o
				break
			}
		}
		if got, _ := st.ListOrders(ctx, store.OrderFilter{MerchantID: "m1", OutTradeNo: paid.OutTradeNo}, nil, 10); len(got) != 1 || got[0].ID != paid.ID {
			t.Fatalf("lookup by out_trade_no: %v", orderIDs(got))
		}
		if got, _ := st.ListOrders(ctx, store.OrderFilter{MerchantID: "m2", OutTradeNo: paid.OutTradeNo}, nil, 10); len(got) != 0 {
			t.Fatal("another merchant's lookup found the order")
		}
	})
}

func head(ids []string) []string {
	if len(ids) > 12 {
		return ids[:12]
	}
	return ids
}

// Paging while orders are being created: every order that existed when
// paging began comes back exactly once, in order, and no order twice.
func TestKeysetPagingWhileInserting(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		now := time.Now().UTC().Truncate(time.Second)
		var before []store.Order
		for i := 0; i < 600; i++ {
			// Groups of four orders share an instant.
			before = append(before, *newOrder(fmt.Sprintf("PRE%07d", i), now.Add(-time.Hour).Add(time.Duration(i/4)*time.Second)))
		}
		insertAll(t, st, before)

		stop := make(chan struct{})
		var inserted atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					o := newOrder(fmt.Sprintf("NEW%d%06d", w, i), time.Now().UTC())
					if err := st.InsertOrder(ctx, o); err != nil {
						t.Error(err)
						return
					}
					inserted.Add(1)
				}
			}(w)
		}
		seen := map[string]int{}
		var last store.OrderKey
		var key *store.OrderKey
		for {
			page, err := st.ListOrders(ctx, store.OrderFilter{MerchantID: "m1"}, key, 25)
			if err != nil {
				t.Fatal(err)
			}
			for i := range page {
				k := store.KeyOf(&page[i])
				if last.ID != "" && (k.CreatedAt.Before(last.CreatedAt) || (k.CreatedAt.Equal(last.CreatedAt) && k.ID <= last.ID)) {
					t.Fatalf("out of order: %v after %v", k, last)
				}
				last = k
				seen[page[i].ID]++
			}
			if len(page) < 25 || len(seen) > 600+2000 {
				break
			}
			k := store.KeyOf(&page[len(page)-1])
			key = &k
			time.Sleep(time.Millisecond) // let the writers in between pages
		}
		close(stop)
		wg.Wait()
		for _, o := range before {
			if seen[o.ID] != 1 {
				t.Fatalf("order %s seen %d times", o.OutTradeNo, seen[o.ID])
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("order %s seen %d times", id, n)
			}
		}
		if inserted.Load() == 0 {
			t.Fatal("no order was inserted while paging")
		}
		t.Logf("%s: paged %d orders while %d were inserted", driver, len(seen), inserted.Load())
	})
}

func TestExportOrdersReadsInBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		orders := financeOrders(333, 2)
		insertAll(t, st, orders)
		f := store.OrderFilter{MerchantID: "m1", Statuses: []string{"PAID", "REFUNDED", "CLOSED"}}
		want := expected(orders, f)
		byID := map[string]store.Order{}
		for _, o := range orders {
			byID[o.ID] = o
		}
		for _, batch := range []int{1, 10, 64, 1000} {
			var got []string
			err := st.ExportOrders(ctx, f, batch, func(o *store.Order) error {
				w := byID[o.ID]
				if o.OutTradeNo != w.OutTradeNo || o.AmountMinor != w.AmountMinor || o.RefundedMinor != w.RefundedMinor ||
					o.Status != w.Status || o.Currency != w.Currency || o.ChannelID != w.ChannelID || (o.PaidAt == nil) != (w.PaidAt == nil) {
					return fmt.Errorf("order %s read as %+v", w.OutTradeNo, o)
				}
				got = append(got, o.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("batch %d: %d orders, want %d", batch, len(got), len(want))
			}
		}
	})
}

func TestSummarizeOrders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		orders := financeOrders(500, 3)
		// Sums beyond 32 bits.
		orders[0].AmountMinor, orders[0].Status, orders[0].PaidAt, orders[0].MerchantID = 90_000_000_000, "PAID", &day0, "m1"
		insertAll(t, st, orders)
		cst := time.FixedZone("+08:00", 8*3600)
		shanghai, _ := time.LoadLocation("Asia/Shanghai")
		for _, tc := range []struct {
			group string
			loc   *time.Location
			f     store.OrderFilter
		}{
			{store.GroupByDay, nil, store.OrderFilter{MerchantID: "m1"}},
			{store.GroupByDay, cst, store.OrderFilter{MerchantID: "m1"}},
			{store.GroupByDay, shanghai, store.OrderFilter{MerchantID: "m1"}},
			{store.GroupByDay, time.FixedZone("-05:30", -5*3600-30*60), store.OrderFilter{MerchantID: "m1"}},
			{store.GroupByProvider, nil, store.OrderFilter{MerchantID: "m1"}},
			{store.GroupByCurrency, nil, store.OrderFilter{MerchantID: "m1", From: day0.Add(10 * time.Hour), To: day0.Add(50 * time.Hour)}},
			{store.GroupByStatus, nil, store.OrderFilter{MerchantID: "m1", Currency: "EUR"}},
			{store.GroupByStatus, nil, store.OrderFilter{MerchantID: "m2"}},
		} {
			got, err := st.SummarizeOrders(ctx, tc.f, tc.group, tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			want := summarize(orders, tc.f, tc.group, tc.loc)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s tz %s %+v:\n got %v\nwant %v", tc.group, tc.loc, tc.f, got, want)
			}
		}
		if _, err := st.SummarizeOrders(ctx, store.OrderFilter{MerchantID: "m1"}, "week", nil); err == nil {
			t.Fatal("unknown grouping accepted")
		}
	})
}

// Days in a zone with daylight saving time: an order's day is its date at
// the offset the zone had at that instant, across both changes of a year
// (Europe/Berlin: +01:00, +02:00 from 2025-03-30 01:00 UTC, +01:00 again
// from 2025-10-26 01:00 UTC), and in a zone whose offset has seconds.
func TestSummarizeOrdersDaysAcrossOffsetChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			t.Fatal(err)
		}
		var orders []store.Order
		for i, at := range []string{
			"2025-03-29T22:30:00Z", // 23:30 +01:00 on the 29th
			"2025-03-29T23:30:00Z", // 00:30 +01:00 on the 30th
			"2025-03-30T00:59:59Z", // 01:59:59 +01:00: the last second before the change
			"2025-03-30T01:00:00Z", // 03:00 +02:00
			"2025-03-30T22:30:00Z", // 00:30 +02:00 on the 31st
			"2025-07-01T21:59:59Z", // 23:59:59 +02:00 on the 1st
			"2025-07-01T22:00:00Z", // 00:00 +02:00 on the 2nd
			"2025-10-25T22:30:00Z", // 00:30 +02:00 on the 26th
			"2025-10-26T22:30:00Z", // 23:30 +01:00 on the 26th
			"2025-10-26T23:00:00Z", // 00:00 +01:00 on the 27th
		} {
			created, _ := time.Parse(time.RFC3339, at)
			o := *newOrder(fmt.Sprintf("DST%07d", i), created)
			o.Status, o.PaidAt = "PAID", &created
			orders = append(orders, o)
		}
		insertAll(t, st, orders)
		f := store.OrderFilter{MerchantID: "m1"}
		lmt := time.FixedZone("LMT", 8*3600+5*60+43) // Shanghai's mean time: seconds in the offset
		for _, loc := range []*time.Location{berlin, lmt, time.UTC} {
			got, err := st.SummarizeOrders(ctx, f, store.GroupByDay, loc)
			if err != nil {
				t.Fatal(err)
			}
			if want := summarize(orders, f, store.GroupByDay, loc); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s:\n got %v\nwant %v", loc, got, want)
			}
		}
		// Within one offset's span: one branch.
		summer := store.OrderFilter{MerchantID: "m1", From: orders[5].CreatedAt, To: orders[7].CreatedAt}
		got, err := st.SummarizeOrders(ctx, summer, store.GroupByDay, berlin)
		if err != nil || len(got) != 2 || got[0].Key != "2025-07-01" || got[1].Key != "2025-07-02" {
			t.Fatalf("summer only: %v %v", got, err)
		}
	})
}

// summarize is SummarizeOrders in Go.
func summarize(orders []store.Order, f store.OrderFilter, group string, loc *time.Location) []store.SummaryRow {
	if loc == nil {
		loc = time.UTC
	}
	ids := map[string]bool{}
	for _, id := range expected(orders, f) {
		ids[id] = true
	}
	type k struct{ key, cur string }
	acc := map[k]*store.SummaryRow{}
	for _, o := range orders {
		if !ids[o.ID] {
			continue
		}
		var key string
		switch group {
		case store.GroupByDay:
			key = o.CreatedAt.In(loc).Format("2006-01-02")
		case store.GroupByProvider:
			key = o.Provider
		case store.GroupByCurrency:
			key = o.Currency
		case store.GroupByStatus:
			key = o.Status
		}
		r := acc[k{key, o.Currency}]
		if r == nil {
			r = &store.SummaryRow{Key: key, Currency: o.Currency}
			acc[k{key, o.Currency}] = r
		}
		r.Count++
		if o.Status == "PAID" || o.Status == "REFUNDED" {
			r.PaidCount++
			r.PaidMinor += o.AmountMinor
		}
		r.RefundedMinor += o.RefundedMinor
	}
	out := []store.SummaryRow{}
	for _, r := range acc {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b store.SummaryRow) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Currency, b.Currency)
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

func TestListOrdersUsesIndex(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		// Planners choose by statistics: a merchant with many orders.
		orders := financeOrders(2000, 5)
		for i := range orders {
			ptn, txn := fmt.Sprint("P", i), fmt.Sprint("T", i)
			orders[i].ProviderTradeNo, orders[i].TransactionID = &ptn, &txn
		}
		insertAll(t, st, orders)
		// Lookups by a number go straight to that number's index, with
		// statistics (PostgreSQL's autovacuum gathers them) or without
		// (SQLite, unless someone runs ANALYZE).
		for _, analyzed := range []bool{false, true} {
			if analyzed {
				if err := st.DB().Exec("ANALYZE").Error; err != nil {
					t.Fatal(err)
				}
			} else if driver == "postgres" {
				continue // without statistics, PostgreSQL's guesses on a fresh table are ties
			}
			for _, tc := range []struct {
				f     store.OrderFilter
				index string
			}{
				{store.OrderFilter{MerchantID: "m1", OutTradeNo: "A"}, "ux_orders_merchant_out"},
				{store.OrderFilter{MerchantID: "m1", ProviderTradeNo: "P"}, "ux_orders_ptn"},
				{store.OrderFilter{MerchantID: "m1", TransactionID: "T"}, "ux_orders_txn"},
			} {
				sql, args := st.ListOrdersSQL(tc.f, nil, 51)
				if plan := explain(t, st, driver, sql, args...); !strings.Contains(plan, tc.index) {
					t.Errorf("analyzed %v: lookup %+v does not use %s:\n%s", analyzed, tc.f, tc.index, plan)
				}
			}
		}
		// Paging through everything: an index on created_at walked in order
		// (at most an incremental sort of equal created_at), never a sort of
		// all the merchant's orders, however deep the cursor.
		for _, key := range []*store.OrderKey{nil, {CreatedAt: day0.Add(24 * time.Hour), ID: "ord_x"}} {
			sql, args := st.ListOrdersSQL(store.OrderFilter{MerchantID: "m1", Statuses: []string{"PAID"}}, key, 50)
			plan := explain(t, st, driver, sql, args...)
			t.Logf("%s plan:\n%s", driver, plan)
			fullSort := strings.Contains(strings.ToUpper(plan), "TEMP B-TREE")
			for _, l := range strings.Split(plan, "\n") {
				fullSort = fullSort || (strings.Contains(l, "Sort  (") && !strings.Contains(l, "Incremental Sort"))
			}
			if !strings.Contains(plan, "ix_orders_merchant_created_id") && !strings.Contains(plan, "ix_orders_created") || fullSort {
				t.Errorf("paging plan (cursor %v) does not walk a created_at index in order:\n%s", key != nil, plan)
			}
		}
		// A time window: an index range (a small window may be sorted).
		sql, args := st.ListOrdersSQL(store.OrderFilter{MerchantID: "m1", From: day0, To: day0.Add(time.Hour)}, nil, 50)
		plan := explain(t, st, driver, sql, args...)
		if strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "SCAN orders") || !strings.Contains(plan, "ix_orders_") {
			t.Errorf("window plan scans the table:\n%s", plan)
		}
	})
}
