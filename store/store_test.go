package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// The repository tests run on every backend (storetest.Each): SQLite
// always, PostgreSQL when GATEWAY_TEST_POSTGRES_DSN is set.

var ctx = context.Background()

func seedConfig(t testing.TB, st *store.Store) {
	t.Helper()
	err := st.SyncConfig(ctx,
		[]store.Merchant{{ID: "m1"}, {ID: "m2"}},
		[]store.Channel{
			{ID: "ch-a", MerchantID: "m1", Provider: "wechat_v2", Currency: "CNY"},
			{ID: "ch-b", MerchantID: "m1", Provider: "yaband", Currency: "EUR"},
			{ID: "ch-c", MerchantID: "m2", Provider: "wechat_v2", Currency: "CNY"},
		})
	if err != nil {
		t.Fatal(err)
	}
}

// newOrder returns an unsaved PAYING order of channel ch-a of m1.
func newOrder(no string, created time.Time) *store.Order {
	return &store.Order{
		ID: store.NewID("ord"), MerchantID: "m1", ChannelID: "ch-a", Provider: "wechat_v2", OutTradeNo: no,
		AmountMinor: 1234, Currency: "CNY", Status: "PAYING", RequestHash: "h", Description: "coffee",
		ExpiresAt: created.Add(2 * time.Hour), Version: 1, CreatedAt: created, UpdatedAt: created,
	}
}

func ptr[T any](v T) *T { return &v }

func TestOrderRepository(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		// Nanoseconds: PostgreSQL keeps microseconds, SQLite keeps them all.
		created := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
		o := newOrder("ORDER00001", created)
		o.ProviderTradeNo = ptr("P-1")
		if err := st.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		dup := newOrder("ORDER00001", created)
		if err := st.InsertOrder(ctx, dup); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("same out_trade_no: %v, want ErrDuplicate", err)
		}
		other := newOrder("ORDER00002", created)
		other.ProviderTradeNo = ptr("P-1")
		if err := st.InsertOrder(ctx, other); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("same provider_trade_no on the channel: %v, want ErrDuplicate", err)
		}

		got, err := st.OrderByOutTradeNo(ctx, "m1", "ORDER00001")
		if err != nil || got.ID != o.ID || got.AmountMinor != 1234 || *got.ProviderTradeNo != "P-1" || got.TransactionID != nil {
			t.Fatalf("by out_trade_no: %+v %v", got, err)
		}
		if d := got.CreatedAt.Sub(created); d < -time.Microsecond || d > time.Microsecond {
			t.Fatalf("created_at %s came back as %s", created, got.CreatedAt)
		}
		if _, err := st.OrderByOutTradeNo(ctx, "m2", "ORDER00001"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("other merchant: %v", err)
		}
		for _, ref := range []store.OrderRef{{OutTradeNo: "ORDER00001"}, {ProviderTradeNo: "P-1"}} {
			if g, err := st.OrderOfChannel(ctx, "m1", "ch-a", ref); err != nil || g.ID != o.ID {
				t.Fatalf("of channel by %+v: %v", ref, err)
			}
			if _, err := st.OrderOfChannel(ctx, "m1", "ch-b", ref); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("other channel by %+v: %v", ref, err)
			}
		}

		// Compare-and-set.
		stale := *got
		if err := st.UpdateOrder(ctx, got, map[string]any{"transaction_id": "4200000001"}); err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 || *got.TransactionID != "4200000001" {
			t.Fatalf("after update: version %d txn %v", got.Version, got.TransactionID)
		}
		if err := st.UpdateOrder(ctx, &stale, map[string]any{"status": "CLOSED"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale update: %v, want ErrConflict", err)
		}
		if found, err := st.OrderOfChannel(ctx, "m1", "ch-a", store.OrderRef{TransactionID: "4200000001"}); err != nil || found.ID != got.ID {
			t.Fatalf("find by transaction id: %v %v", found, err)
		}

		// Refund reservations cannot overdraw.
		if err := st.UpdateOrder(ctx, got, map[string]any{"status": "PAID", "paid_at": created}); err != nil {
			t.Fatal(err)
		}
		ok, err := st.ReserveRefund(ctx, o.ID, 1000, []string{"PAID"})
		if err != nil || !ok {
			t.Fatalf("reserve 1000: %v %v", ok, err)
		}
		if ok, _ := st.ReserveRefund(ctx, o.ID, 235, []string{"PAID"}); ok {
			t.Fatal("reserved more than the rest")
		}
		if err := st.SettleRefundAmount(ctx, o.ID, 1000, true, ""); err != nil {
			t.Fatal(err)
		}
		got, _ = st.OrderByID(ctx, o.ID)
		if got.RefundedMinor != 1000 || got.RefundPendingMinor != 0 {
			t.Fatalf("after settle: refunded %d pending %d", got.RefundedMinor, got.RefundPendingMinor)
		}
	})
}

func TestClaimDueOrdersLeases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		now := time.Now().UTC()
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		var due []string
		for i := 0; i < 6; i++ {
			o := newOrder(fmt.Sprintf("LEASE%05d", i), now)
			switch {
			case i < 4: // due, oldest first
				o.NextPollAt = ptr(store.At(now.Add(-time.Duration(10-i) * time.Second)))
				due = append(due, o.ID)
			case i == 4: // not yet due
				o.NextPollAt = ptr(store.At(now.Add(time.Hour)))
			default: // never polled
				o.NextPollAt = nil
			}
			if err := st.InsertOrder(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		first, tok1, err := st.ClaimDueOrders(ctx, 3, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ids := orderIDs(first); fmt.Sprint(ids) != fmt.Sprint(due[:3]) {
			t.Fatalf("first claim %v, want the 3 most overdue %v", ids, due[:3])
		}
		second, tok2, err := st.ClaimDueOrders(ctx, 3, 30*time.Second)
		if err != nil || len(second) != 1 || second[0].ID != due[3] || tok2 == tok1 {
			t.Fatalf("second claim %v %v, want only %s", orderIDs(second), err, due[3])
		}
		if third, _, _ := st.ClaimDueOrders(ctx, 3, 30*time.Second); len(third) != 0 {
			t.Fatalf("third claim got %v while all due rows are leased", orderIDs(third))
		}

		// Finishing: a PAYING order gets its next time, a finished one none;
		// a stale token changes nothing.
		in := time.Minute
		next := time.Now().Add(in)
		if err := st.ScheduleOrderPoll(ctx, first[0].ID, "lease_wrong", &in, 9); err != nil {
			t.Fatal(err)
		}
		if o, _ := st.OrderByID(ctx, first[0].ID); o.PollAttempts != 0 || o.LeaseToken != tok1 {
			t.Fatalf("stale token changed the row: %+v", o)
		}
		if err := st.ScheduleOrderPoll(ctx, first[0].ID, tok1, &in, 1); err != nil {
			t.Fatal(err)
		}
		o, _ := st.OrderByID(ctx, first[0].ID)
		// In a minute on the database's clock, which is this machine's.
		if o.PollAttempts != 1 || o.LeaseToken != "" || o.LeaseUntil != nil || o.NextPollAt == nil || o.NextPollAt.Sub(next).Abs() > 2*time.Second {
			t.Fatalf("after schedule: attempts %d token %q lease %v next %v", o.PollAttempts, o.LeaseToken, o.LeaseUntil, o.NextPollAt)
		}
		paid, _ := st.OrderByID(ctx, first[1].ID)
		if err := st.UpdateOrder(ctx, paid, map[string]any{"status": "PAID"}); err != nil {
			t.Fatal(err)
		}
		if err := st.ScheduleOrderPoll(ctx, first[1].ID, tok1, &in, 1); err != nil {
			t.Fatal(err)
		}
		if o, _ := st.OrderByID(ctx, first[1].ID); o.NextPollAt != nil || o.LeaseToken != "" {
			t.Fatalf("a paid order stays scheduled: next %v token %q", o.NextPollAt, o.LeaseToken)
		}
		// Released rows are due again at once; others stay leased.
		if err := st.ReleaseLease(ctx, "orders", first[2].ID, tok1); err != nil {
			t.Fatal(err)
		}
		again, _, _ := st.ClaimDueOrders(ctx, 10, 30*time.Second)
		if ids := orderIDs(again); len(ids) != 1 || ids[0] != first[2].ID {
			t.Fatalf("after release: claimed %v, want %s", ids, first[2].ID)
		}

	})
}

func orderIDs(os []store.Order) []string {
	var out []string
	for _, o := range os {
		out = append(out, o.ID)
	}
	return out
}

func TestExpiredLeaseIsClaimedAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		now := time.Now().UTC()
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		o := newOrder("EXPIRE0001", now)
		o.NextPollAt = ptr(store.At(now.Add(-time.Second)))
		if err := st.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		const lease = 300 * time.Millisecond
		if got, _, _ := st.ClaimDueOrders(ctx, 10, lease); len(got) != 1 {
			t.Fatalf("claimed %d", len(got))
		}
		if got, _, _ := st.ClaimDueOrders(ctx, 10, lease); len(got) != 0 {
			t.Fatal("claimed a row whose lease is still running")
		}
		time.Sleep(lease + 100*time.Millisecond)
		got, tok, _ := st.ClaimDueOrders(ctx, 10, lease)
		if len(got) != 1 || got[0].LeaseToken != tok {
			t.Fatalf("after the lease ran out: claimed %d", len(got))
		}
	})
}

// Leases and due times follow the database's clock: a replica whose own
// clock runs 31 s ahead (or behind) takes no live lease, and what it
// schedules is due when the database says so.
func TestSkewedReplicaCannotTakeALiveLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		dsn := storetest.FreshDSN(t, driver)
		honest := storetest.OpenDSN(t, driver, dsn, store.Options{})
		ahead := storetest.OpenDSN(t, driver, dsn, store.Options{Now: func() time.Time { return time.Now().Add(31 * time.Second) }})
		behind := storetest.OpenDSN(t, driver, dsn, store.Options{Now: func() time.Time { return time.Now().Add(-31 * time.Second) }})
		seedConfig(t, honest)
		now := time.Now().UTC()
		for i := 0; i < 3; i++ {
			o := newOrder(fmt.Sprintf("SKEW%06d", i), now)
			o.NextPollAt = ptr(store.DueNow())
			if err := honest.InsertOrder(ctx, o); err != nil {
				t.Fatal(err)
			}
			e := &store.MerchantEvent{MerchantID: "m1", DedupeKey: fmt.Sprint("skew", i), Type: "order.paid", URL: "http://x",
				Payload: []byte("{}"), CreatedAt: now, UpdatedAt: now}
			if err := honest.InsertEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		const lease = 30 * time.Second
		orders, _, err := honest.ClaimDueOrders(ctx, 10, lease)
		if err != nil || len(orders) != 3 {
			t.Fatalf("honest replica claimed %d orders: %v", len(orders), err)
		}
		events, _, err := honest.ClaimDueEvents(ctx, 10, lease)
		if err != nil || len(events) != 3 {
			t.Fatalf("honest replica claimed %d events: %v", len(events), err)
		}
		for name, st := range map[string]*store.Store{"31s ahead": ahead, "31s behind": behind} {
			if got, _, err := st.ClaimDueOrders(ctx, 10, lease); err != nil || len(got) != 0 {
				t.Fatalf("replica %s took %d live order leases (%v)", name, len(got), err)
			}
			if got, _, err := st.ClaimDueEvents(ctx, 10, lease); err != nil || len(got) != 0 {
				t.Fatalf("replica %s took %d live event leases (%v)", name, len(got), err)
			}
		}

		// Due times written by a skewed replica are on the database's clock:
		// an event it writes is due at once for everyone, a poll it
		// schedules in a minute is not due for anyone before then.
		e := &store.MerchantEvent{MerchantID: "m1", DedupeKey: "skew-behind", Type: "order.paid", URL: "http://x",
			Payload: []byte("{}"), CreatedAt: now, UpdatedAt: now}
		if err := ahead.InsertEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := behind.ClaimDueEvents(ctx, 10, lease); len(got) != 1 || got[0].ID != e.ID {
			t.Fatalf("an event written by the replica ahead is not due for the one behind: %d claimed", len(got))
		}
		in := time.Minute
		tok := orders[0].LeaseToken
		if err := ahead.ScheduleOrderPoll(ctx, orders[0].ID, tok, &in, 1); err != nil {
			t.Fatal(err)
		}
		if err := ahead.ReleaseLease(ctx, "orders", orders[1].ID, tok); err != nil {
			t.Fatal(err)
		}
		got, _, _ := behind.ClaimDueOrders(ctx, 10, lease)
		if len(got) != 1 || got[0].ID != orders[1].ID {
			t.Fatalf("after one rescheduled in a minute and one released: claimed %v, want only %s", orderIDs(got), orders[1].ID)
		}
	})
}

// Two store handles (two gateway processes) and many goroutines claim the
// same due rows at once: every row is claimed exactly once.
func TestConcurrentClaimsNeverOverlap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		dsn := storetest.FreshDSN(t, driver)
		a := storetest.OpenDSN(t, driver, dsn, store.Options{})
		b := storetest.OpenDSN(t, driver, dsn, store.Options{})
		seedConfig(t, a)
		now := time.Now().UTC()
		const n = 300
		rows := make([]store.Order, n)
		for i := range rows {
			rows[i] = *newOrder(fmt.Sprintf("CONC%06d", i), now)
			rows[i].NextPollAt = ptr(store.At(now.Add(-time.Minute)))
		}
		if err := a.DB().CreateInBatches(rows, 100).Error; err != nil {
			t.Fatal(err)
		}
		events := make([]store.MerchantEvent, n)
		for i := range events {
			events[i] = store.MerchantEvent{ID: store.NewID("evt"), MerchantID: "m1", DedupeKey: fmt.Sprint("k", i), Type: "order.paid",
				URL: "http://x", Payload: []byte("{}"), Status: store.EventPending, NextTryAt: store.At(now.Add(-time.Second)), CreatedAt: now, UpdatedAt: now}
		}
		if err := a.DB().CreateInBatches(events, 100).Error; err != nil {
			t.Fatal(err)
		}
		var (
			mu        sync.Mutex
			gotOrders = map[string]int{}
			gotEvents = map[string]int{}
			wg        sync.WaitGroup
		)
		for w := 0; w < 8; w++ {
			st := a
			if w%2 == 1 {
				st = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					os, _, err := st.ClaimDueOrders(ctx, 7, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					es, _, err := st.ClaimDueEvents(ctx, 7, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if len(os) == 0 && len(es) == 0 {
						return
					}
					mu.Lock()
					for _, o := range os {
						gotOrders[o.ID]++
					}
					for _, e := range es {
						gotEvents[e.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(gotOrders) != n || len(gotEvents) != n {
			t.Fatalf("claimed %d orders and %d events, want %d each", len(gotOrders), len(gotEvents), n)
		}
		for id, c := range gotOrders {
			if c != 1 {
				t.Fatalf("order %s claimed %d times", id, c)
			}
		}
		for id, c := range gotEvents {
			if c != 1 {
				t.Fatalf("event %s claimed %d times", id, c)
			}
		}
	})
}

func TestRefundRepository(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		now := time.Now().UTC()
		o := newOrder("REFUND0001", now)
		o.Status = "PAID"
		if err := st.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		r := &store.Refund{ID: store.NewID("rfd"), OrderID: o.ID, MerchantID: "m1", ChannelID: "ch-a", OutRefundNo: "R000000001",
			AmountMinor: 100, Currency: "CNY", Status: "PROCESSING", RequestHash: "h", NextPollAt: ptr(store.At(now.Add(-time.Second))),
			Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := st.InsertRefund(ctx, r); err != nil {
			t.Fatal(err)
		}
		dup := *r
		dup.ID = store.NewID("rfd")
		if err := st.InsertRefund(ctx, &dup); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("same out_refund_no: %v", err)
		}
		claimed, tok, err := st.ClaimDueRefunds(ctx, 10, 30*time.Second)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim refunds: %d %v", len(claimed), err)
		}
		in := time.Minute
		if err := st.ScheduleRefundPoll(ctx, r.ID, tok, &in, 1); err != nil {
			t.Fatal(err)
		}
		got, _ := st.RefundByID(ctx, r.ID)
		if got.NextPollAt == nil || got.PollAttempts != 1 || got.LeaseToken != "" {
			t.Fatalf("processing refund after schedule: %+v", got)
		}
		if err := st.UpdateRefund(ctx, got, map[string]any{"status": "SUCCEEDED", "succeeded_at": now}); err != nil {
			t.Fatal(err)
		}
		if err := st.ScheduleRefundPoll(ctx, r.ID, "", &in, 2); err != nil {
			t.Fatal(err)
		}
		got, _ = st.RefundByID(ctx, r.ID)
		if got.NextPollAt != nil {
			t.Fatalf("a succeeded refund stays scheduled: %v", got.NextPollAt)
		}
		if byNo, err := st.RefundOfOrder(ctx, o.ID, "", ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("refund with no number: %v %v", byNo, err)
		}
		if rs, err := st.RefundsOfOrder(ctx, o.ID); err != nil || len(rs) != 1 {
			t.Fatalf("refunds of order: %d %v", len(rs), err)
		}
	})
}

func TestEventsAndInbox(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		now := time.Now().UTC()
		payload := []byte(`{"id":"x","bytes":"\u0000\u00ff"}`)
		e := &store.MerchantEvent{MerchantID: "m1", DedupeKey: "order.paid:o1", Type: "order.paid", OrderID: "o1", URL: "http://m/p",
			Payload: payload, CreatedAt: now, UpdatedAt: now}
		if err := st.InsertEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := st.InsertEvent(ctx, &store.MerchantEvent{MerchantID: "m1", DedupeKey: "order.paid:o1", Type: "order.paid", URL: "u", Payload: payload, CreatedAt: now, UpdatedAt: now}); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("same dedupe key: %v", err)
		}
		// Refused inside a transaction, the duplicate leaves it usable: on
		// PostgreSQL a failed statement would abort the state change with it.
		err := st.InTx(ctx, func(tx *store.Store) error {
			dup := &store.MerchantEvent{MerchantID: "m1", DedupeKey: "order.paid:o1", Type: "order.paid", URL: "u", Payload: payload, CreatedAt: now, UpdatedAt: now}
			if err := tx.InsertEvent(ctx, dup); !errors.Is(err, store.ErrDuplicate) {
				return fmt.Errorf("duplicate in a transaction: %v", err)
			}
			return tx.InsertNotification(ctx, &store.Notification{ChannelID: "ch-c", Outcome: store.OutcomeDuplicate, ReceivedAt: now})
		})
		if err != nil {
			t.Fatalf("a transaction that met a duplicate event: %v", err)
		}
		claimed, tok, err := st.ClaimDueEvents(ctx, 10, 30*time.Second)
		if err != nil || len(claimed) != 1 || string(claimed[0].Payload) != string(payload) {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		ev := claimed[0]
		retry := func(int) (time.Duration, bool) { return time.Hour, true }
		att := &store.EventAttempt{StatusCode: 500, Error: "HTTP 500", LatencyMS: 12, At: now}
		got, err := st.RecordAttempt(ctx, ev.ID, tok, att, store.AttemptOutcome{Error: "HTTP 500", RetryIn: retry})
		if err != nil || got.Attempts != 1 || got.Status != store.EventPending || got.LeaseToken != "" || got.LastError != "HTTP 500" ||
			got.NextTryAt.Before(time.Now().Add(50*time.Minute)) {
			t.Fatalf("after a failed attempt: %+v %v", got, err)
		}
		if got, _, _ := st.ClaimDueEvents(ctx, 10, 30*time.Second); len(got) != 0 {
			t.Fatal("claimed an event not yet due")
		}
		if _, err := st.Redeliver(ctx, "m2", ev.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("other merchant redelivers: %v", err)
		}
		if red, err := st.Redeliver(ctx, "m1", ev.ID); err != nil || red.Attempts != 0 || red.Status != store.EventPending {
			t.Fatalf("redeliver: %+v %v", red, err)
		}
		again, tok2, _ := st.ClaimDueEvents(ctx, 10, 30*time.Second)
		if len(again) != 1 {
			t.Fatal("redelivered event not due")
		}
		if _, err := st.Redeliver(ctx, "m1", ev.ID); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("redeliver of an event in flight: %v, want ErrConflict", err)
		}
		// An attempt whose lease was lost is still recorded.
		lost, err := st.RecordAttempt(ctx, ev.ID, "lease_other", &store.EventAttempt{StatusCode: 502, Error: "HTTP 502", At: now},
			store.AttemptOutcome{Error: "HTTP 502", RetryIn: retry})
		if err != nil || lost.Attempts != 1 || lost.LeaseToken != tok2 || lost.Status != store.EventPending {
			t.Fatalf("attempt with a lost lease: %+v %v", lost, err)
		}
		done, err := st.RecordAttempt(ctx, ev.ID, tok2, &store.EventAttempt{StatusCode: 204, LatencyMS: 3, At: now.Add(time.Second)},
			store.AttemptOutcome{Delivered: true, At: now.Add(time.Second)})
		if err != nil || done.Status != store.EventDelivered || done.Attempts != 2 || done.DeliveredAt == nil || done.LeaseToken != "" {
			t.Fatalf("delivered: %+v %v", done, err)
		}
		atts, err := st.AttemptsOf(ctx, ev.ID)
		if err != nil || len(atts) != 3 || atts[0].StatusCode != 500 || atts[1].StatusCode != 502 || atts[2].StatusCode != 204 || atts[0].LatencyMS != 12 {
			t.Fatalf("attempts: %+v %v", atts, err)
		}
		if list, _ := st.EventsOf(ctx, "m1", "", store.EventDelivered, 10); len(list) != 1 {
			t.Fatalf("delivered events: %d", len(list))
		}
		if list, _ := st.EventsOf(ctx, "m1", "o1", store.EventFailed, 10); len(list) != 0 {
			t.Fatalf("failed events: %d", len(list))
		}

		body := []byte("<xml>\x00binary\xff</xml>")
		n := &store.Notification{ChannelID: "ch-a", Provider: "wechat_v2", ProviderNotifyID: "N1", Method: "POST", Path: "/notify/ch-a",
			Headers: "{}", Body: body, Verified: true, Kind: "payment", Outcome: store.OutcomeApplied, ReceivedAt: now}
		if err := st.InsertNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.NotificationApplied(ctx, "ch-a", "N1"); err != nil || !ok {
			t.Fatalf("applied: %v %v", ok, err)
		}
		if ok, _ := st.NotificationApplied(ctx, "ch-b", "N1"); ok {
			t.Fatal("applied on another channel")
		}
		ns, err := st.Notifications(ctx, "ch-a", 10)
		if err != nil || len(ns) != 1 || string(ns[0].Body) != string(body) || !ns[0].Verified {
			t.Fatalf("inbox: %+v %v", ns, err)
		}
	})
}

// The due-work queries are served by an index, never a full scan.
func TestClaimQueriesUseIndexes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		for _, q := range st.ClaimQueries() {
			plan := explain(t, st, driver, q.SQL, q.Args...)
			if !strings.Contains(plan, q.Index) {
				t.Errorf("%s: plan does not use %s:\n%s", q.Name, q.Index, plan)
			}
		}
	})
}

func explain(t *testing.T, st *store.Store, driver, sql string, args ...any) string {
	t.Helper()
	var lines []string
	err := st.InTx(ctx, func(tx *store.Store) error {
		if driver == "postgres" {
			// Empty tables are cheapest to scan; ask whether an index serves.
			if err := tx.DB().Exec("SET LOCAL enable_seqscan = off").Error; err != nil {
				return err
			}
			rows, err := tx.DB().Raw("EXPLAIN "+sql, args...).Rows()
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var l string
				if err := rows.Scan(&l); err != nil {
					return err
				}
				lines = append(lines, l)
			}
			return rows.Err()
		}
		rows, err := tx.DB().Raw("EXPLAIN QUERY PLAN "+sql, args...).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				return err
			}
			lines = append(lines, detail)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatalf("explain %s: %v", sql, err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// Replicas start together: their migrations must not trip over each other.
func TestConcurrentMigrations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		dsn := storetest.FreshDSN(t, driver)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		stores := make([]*store.Store, 4)
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				stores[i], errs[i] = store.Open(driver, dsn, store.Options{MaxOpenConns: 4})
			}(i)
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
				continue
			}
			_ = stores[i].Close()
		}
	})
}

// Refunds of one order settling at the same moment: the last one to
// complete the amount marks the order refunded, whoever reads what.
func TestConcurrentRefundSettlementsMarkTheOrderRefunded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		o := newOrder("SETTLE0001", time.Now().UTC())
		o.Status, o.AmountMinor = "PAID", 1000
		if err := st.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10; i++ {
			if ok, err := st.ReserveRefund(ctx, o.ID, 100, []string{"PAID"}); !ok || err != nil {
				t.Fatalf("reserve %d: %v %v", i, ok, err)
			}
		}
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := st.InTx(ctx, func(tx *store.Store) error {
					if _, err := tx.OrderByID(ctx, o.ID); err != nil { // a read before, as the use case does
						return err
					}
					return tx.SettleRefundAmount(ctx, o.ID, 100, true, "REFUNDED")
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got, _ := st.OrderByID(ctx, o.ID)
		if got.RefundedMinor != 1000 || got.RefundPendingMinor != 0 || got.Status != "REFUNDED" {
			t.Fatalf("after 10 concurrent settlements: refunded %d pending %d status %s", got.RefundedMinor, got.RefundPendingMinor, got.Status)
		}
	})
}

// A poll asked for while a poll is running (PollNow during the lease) is
// not lost when that poll schedules the next one later.
func TestPollNowDuringALeaseIsKept(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		now := time.Now().UTC()
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		in := 10 * time.Minute
		for _, tt := range []struct {
			no      string
			pollNow bool
			wantDue bool // due now rather than at later
		}{
			{"WAKE000001", false, false},
			{"WAKE000002", true, true},
		} {
			o := newOrder(tt.no, now)
			o.NextPollAt = ptr(store.At(now.Add(-time.Second)))
			if err := st.InsertOrder(ctx, o); err != nil {
				t.Fatal(err)
			}
			claimed, token, err := st.ClaimDueOrders(ctx, 10, 30*time.Second)
			if err != nil || len(claimed) != 1 {
				t.Fatalf("claim: %v %v", orderIDs(claimed), err)
			}
			if tt.pollNow {
				if err := st.PollNow(ctx, o.ID); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.ScheduleOrderPoll(ctx, o.ID, token, &in, 1); err != nil {
				t.Fatal(err)
			}
			got, err := st.OrderByID(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			due := got.NextPollAt != nil && got.NextPollAt.Before(now.Add(time.Minute))
			if due != tt.wantDue || got.PollRequested || got.LeaseToken != "" {
				t.Fatalf("%s: next %v requested %v lease %q; want due now = %v", tt.no, got.NextPollAt, got.PollRequested, got.LeaseToken, tt.wantDue)
			}
			// Leave no due row for the next case's claim.
			if err := st.DB().Model(&store.Order{}).Where("id = ?", o.ID).Update("next_poll_ms", store.DueIn(in)).Error; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// One order's events are claimed in sequence: a later one waits while an
// earlier one is pending (in flight or waiting to be retried), and goes
// as soon as that one is delivered or given up. Events of other orders,
// and of no order, do not wait.
func TestOrderEventsAreClaimedInSequence(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		now := time.Now().UTC()
		o := newOrder("SEQUENCE01", now)
		if err := st.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		add := func(key, orderID string) *store.MerchantEvent {
			t.Helper()
			e := &store.MerchantEvent{MerchantID: "m1", DedupeKey: key, Type: "order.paid", OrderID: orderID, URL: "http://x",
				Payload: []byte("{}"), CreatedAt: now, UpdatedAt: now}
			err := st.InTx(ctx, func(tx *store.Store) error {
				if orderID != "" {
					seq, status, err := tx.NextEventSequence(ctx, orderID)
					if err != nil {
						return err
					}
					if status != "PAYING" {
						t.Errorf("order status %q", status)
					}
					e.Sequence = seq
				}
				return tx.InsertEvent(ctx, e)
			})
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		first, second, third, loose := add("a", o.ID), add("b", o.ID), add("c", o.ID), add("d", "")
		if first.Sequence != 1 || second.Sequence != 2 || third.Sequence != 3 || loose.Sequence != 0 {
			t.Fatalf("sequences %d %d %d %d", first.Sequence, second.Sequence, third.Sequence, loose.Sequence)
		}
		dup := &store.MerchantEvent{MerchantID: "m1", DedupeKey: "e", Type: "order.paid", OrderID: o.ID, Sequence: 2, URL: "http://x", Payload: []byte("{}")}
		if err := st.InsertEvent(ctx, dup); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("a second event numbered 2: %v, want ErrDuplicate", err)
		}
		claim := func() ([]string, string) {
			t.Helper()
			es, tok, err := st.ClaimDueEvents(ctx, 10, 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range es {
				ids = append(ids, e.ID)
			}
			sort.Strings(ids)
			return ids, tok
		}
		want := []string{first.ID, loose.ID}
		sort.Strings(want)
		ids, tok := claim()
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Fatalf("first claim %v, want the order's first event and the loose one %v", ids, want)
		}
		if ids, _ := claim(); len(ids) != 0 {
			t.Fatalf("claimed %v while the order's first event is in flight", ids)
		}
		// A failed try: the later events wait at least as long.
		retry := func(int) (time.Duration, bool) { return time.Hour, true }
		if _, err := st.RecordAttempt(ctx, first.ID, tok, &store.EventAttempt{StatusCode: 500, At: now}, store.AttemptOutcome{Error: "HTTP 500", RetryIn: retry}); err != nil {
			t.Fatal(err)
		}
		for _, e := range []*store.MerchantEvent{second, third} {
			got, _ := st.EventByID(ctx, e.ID)
			if got.NextTryAt.Before(time.Now().Add(50 * time.Minute)) {
				t.Fatalf("event %d due at %v while the first waits an hour", got.Sequence, got.NextTryAt)
			}
		}
		if ids, _ := claim(); len(ids) != 0 {
			t.Fatalf("claimed %v while the order's first event waits for its retry", ids)
		}
		// Given up: the next one goes at once, the one after still waits.
		if _, err := st.Redeliver(ctx, "m1", first.ID); err != nil {
			t.Fatal(err)
		}
		ids, tok = claim()
		if len(ids) != 1 || ids[0] != first.ID {
			t.Fatalf("after redeliver: %v", ids)
		}
		spent := func(int) (time.Duration, bool) { return 0, false }
		if got, err := st.RecordAttempt(ctx, first.ID, tok, &store.EventAttempt{StatusCode: 500, At: now}, store.AttemptOutcome{Error: "HTTP 500", RetryIn: spent}); err != nil || got.Status != store.EventFailed {
			t.Fatalf("give up: %+v %v", got, err)
		}
		ids, tok = claim()
		if len(ids) != 1 || ids[0] != second.ID {
			t.Fatalf("after the first was given up: claimed %v, want only the second", ids)
		}
		if _, err := st.RecordAttempt(ctx, second.ID, tok, &store.EventAttempt{StatusCode: 204, At: now}, store.AttemptOutcome{Delivered: true, At: now}); err != nil {
			t.Fatal(err)
		}
		if ids, _ := claim(); len(ids) != 1 || ids[0] != third.ID {
			t.Fatalf("after the second was delivered: claimed %v, want the third", ids)
		}
	})
}

// PostgreSQL plans a prepared statement for its values five times, then
// keeps one generic plan if that is no worse. A claim whose LIMIT was a
// parameter never got there (the generic plan assumed a tenth of the
// table) and was planned again on every call, half its server time
// under load. The claim must settle on the generic plan.
func TestClaimIsPlannedOnce(t *testing.T) {
	st := storetest.Open(t, "postgres", store.Options{})
	seedConfig(t, st)
	// An outbox with a backlog: thousands of events, half of them due.
	if err := st.DB().Exec(`INSERT INTO merchant_events (id, merchant_id, dedupe_key, type, order_id, sequence, url, payload,
		status, attempts, next_try_ms, created_at, updated_at)
		SELECT 'evt_' || i, 'm1', 'k' || i, 'order.paid', 'ord_' || i, 1, 'https://merchant.example/hook', 'x'::bytea,
		CASE WHEN i % 2 = 0 THEN 'pending' ELSE 'delivered' END, 0, 1000 + i, now(), now()
		FROM generate_series(1, 5000) i`).Error; err != nil {
		t.Fatal(err)
	}
	if err := st.DB().Exec("ANALYZE merchant_events").Error; err != nil {
		t.Fatal(err)
	}
	claim := eventsClaim(t, st)
	sql := claim.SQL
	for i := range claim.Args {
		sql = strings.Replace(sql, "?", fmt.Sprintf("$%d", i+1), 1)
	}
	errDone := errors.New("rolled back")
	var generic, custom int64
	err := st.InTx(ctx, func(tx *store.Store) error {
		// The simple protocol: PREPARE's own $1 and $2 are not this
		// statement's parameters.
		if _, err := tx.DB().Statement.ConnPool.ExecContext(ctx, "PREPARE claim_events AS "+sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			return err
		}
		for i := 0; i < 12; i++ {
			exec := fmt.Sprintf("EXECUTE claim_events(%d, '%s')", claim.Args...)
			if _, err := tx.DB().Statement.ConnPool.ExecContext(ctx, exec, pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
		}
		row := tx.DB().Raw("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'claim_events'").Row()
		if err := row.Scan(&generic, &custom); err != nil {
			return err
		}
		return errDone
	})
	if !errors.Is(err, errDone) {
		t.Fatal(err)
	}
	if generic == 0 || custom > 5 {
		t.Errorf("12 claims: %d generic plans, %d planned for their values; want the generic plan after 5", generic, custom)
	}
}

// A claim on PostgreSQL locks the rows it takes, not the window of due
// rows it looks through for them: a lock is a write of the row, and
// locking seventy rows to take six was most of a claim's cost. The rows
// it took are locked until it commits; the others stay free for another
// claim at the same moment.
func TestClaimLocksOnlyWhatItTakes(t *testing.T) {
	st := storetest.Open(t, "postgres", store.Options{})
	seedConfig(t, st)
	if err := st.DB().Exec(`INSERT INTO merchant_events (id, merchant_id, dedupe_key, type, order_id, sequence, url, payload,
		status, attempts, next_try_ms, created_at, updated_at)
		SELECT 'evt_' || lpad(i::text, 3, '0'), 'm1', 'k' || i, 'order.paid', 'ord_' || i, 1, 'https://merchant.example/hook', 'x'::bytea,
		'pending', 0, 1000 + i, now(), now()
		FROM generate_series(1, 20) i`).Error; err != nil {
		t.Fatal(err)
	}
	claim := eventsClaim(t, st)
	errDone := errors.New("rolled back")
	err := st.InTx(ctx, func(tx *store.Store) error {
		var claimed []store.MerchantEvent
		if err := tx.DB().Raw(claim.SQL, claim.Args...).Scan(&claimed).Error; err != nil {
			return err
		}
		var taken []string
		for _, e := range claimed {
			taken = append(taken, e.ID)
		}
		if len(taken) != 10 { // ClaimQueries' limit
			t.Errorf("claimed %d, want 10", len(taken))
		}
		lockedElsewhere := func(id string) bool {
			return st.InTx(ctx, func(other *store.Store) error {
				var got []string
				return other.DB().Raw("SELECT id FROM merchant_events WHERE id = ? FOR UPDATE NOWAIT", id).Pluck("id", &got).Error
			}) != nil
		}
		if !lockedElsewhere(taken[0]) {
			t.Errorf("%s was claimed but another transaction could lock it", taken[0])
		}
		for i := 11; i <= 20; i++ {
			if id := fmt.Sprintf("evt_%03d", i); lockedElsewhere(id) {
				t.Errorf("%s was not claimed but is locked", id)
			}
		}
		return errDone
	})
	if !errors.Is(err, errDone) {
		t.Fatal(err)
	}
}

// An inbox row's id carries the time it was received: the retention purge
// takes the primary key's range below the floor of its cutoff, so every
// id received before the cutoff sorts below the floor and none after.
func TestNotificationIDsSortByTheTimeReceived(t *testing.T) {
	cutoff := time.Date(2026, 9, 5, 10, 0, 0, 0, time.UTC)
	floor := store.IDFloor("ntf", cutoff)
	for _, tc := range []struct {
		at     time.Time
		before bool
	}{
		{cutoff.Add(-time.Millisecond), true},
		{cutoff.Add(-90 * 24 * time.Hour), true},
		{time.Unix(0, 0), true},
		{cutoff, false},
		{cutoff.Add(time.Millisecond), false},
		{cutoff.Add(50 * 365 * 24 * time.Hour), false},
	} {
		for range 50 {
			id := store.NotificationID(tc.at)
			if (id < floor) != tc.before {
				t.Fatalf("received %v: id %s < floor %s is %v, want %v", tc.at, id, floor, id < floor, tc.before)
			}
		}
	}
}

// A claim writes only the event's lease, no indexed column: PostgreSQL
// can then keep the new row version on its page (a HOT update, no entry in
// any of the event's indexes) if the page has room, which the table's
// fillfactor leaves. With full pages (PostgreSQL's default) every claimed
// event got a new entry in each of its five indexes.
func TestClaimUpdatesEventsInPlace(t *testing.T) {
	st := storetest.Open(t, "postgres", store.Options{})
	seedConfig(t, st)
	// Payloads the size of a paid order's event.
	if err := st.DB().Exec(`INSERT INTO merchant_events (id, merchant_id, dedupe_key, type, order_id, sequence, url, payload,
		status, attempts, next_try_ms, created_at, updated_at)
		SELECT 'evt_' || lpad(i::text, 3, '0'), 'm1', 'k' || i, 'order.paid', 'ord_' || i, 1, 'https://merchant.example/hook',
		convert_to(repeat('x', 900), 'UTF8'), 'pending', 0, 1000 + i, now(), now()
		FROM generate_series(1, 40) i`).Error; err != nil {
		t.Fatal(err)
	}
	claim := eventsClaim(t, st)
	err := st.InTx(ctx, func(tx *store.Store) error {
		var claimed []store.MerchantEvent
		if err := tx.DB().Raw(claim.SQL, claim.Args...).Scan(&claimed).Error; err != nil {
			return err
		}
		var hot int
		if err := tx.DB().Raw("SELECT pg_stat_get_xact_tuples_hot_updated('merchant_events'::regclass)").Scan(&hot).Error; err != nil {
			return err
		}
		if len(claimed) == 0 || hot != len(claimed) {
			t.Errorf("%d of %d claimed events updated in place (HOT), want all", hot, len(claimed))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// eventsClaim is the store's claim of due merchant events, as it runs it.
func eventsClaim(t *testing.T, st *store.Store) *store.ClaimQuery {
	t.Helper()
	for _, q := range st.ClaimQueries() {
		if q.Name == "claim merchant_events" {
			return &q
		}
	}
	t.Fatal("no claim of merchant_events")
	return nil
}
