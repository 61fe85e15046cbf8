package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// Many attempts recorded in one write end as each would alone: delivered,
// due again later, or refused; a batch holding one record that cannot be
// stored (an event that does not exist) still records all the others.
func TestRecordAttemptsBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		now := time.Now().UTC()
		claimed, tok := claimNewEvents(t, st, "b", 6)
		retry := func(int) (time.Duration, bool) { return time.Hour, true }
		delivered := store.AttemptOutcome{Delivered: true, At: now}
		failed := store.AttemptOutcome{Error: "HTTP 500", At: now, RetryIn: retry}
		rec := func(e *store.MerchantEvent, status int, out store.AttemptOutcome) *store.AttemptRecord {
			out.Claimed = e
			return &store.AttemptRecord{EventID: e.ID, LeaseToken: tok, Attempt: &store.EventAttempt{StatusCode: status, At: now}, Outcome: out}
		}
		cases := []struct {
			name string
			recs []*store.AttemptRecord
			bad  int // index of the record that cannot be stored, or -1
		}{
			{"all delivered", []*store.AttemptRecord{rec(&claimed[0], 204, delivered), rec(&claimed[1], 200, delivered)}, -1},
			{"mixed", []*store.AttemptRecord{rec(&claimed[2], 204, delivered), rec(&claimed[3], 500, failed)}, -1},
			{"one bad", []*store.AttemptRecord{rec(&claimed[4], 204, delivered),
				{EventID: "evt_missing", LeaseToken: tok, Attempt: &store.EventAttempt{StatusCode: 500, At: now}, Outcome: failed},
				rec(&claimed[5], 500, failed)}, 1},
		}
		for _, c := range cases {
			st.RecordAttempts(ctx, c.recs)
			for i, r := range c.recs {
				if i == c.bad {
					if r.Err == nil {
						t.Errorf("%s: the record of a missing event succeeded", c.name)
					}
					continue
				}
				if r.Err != nil {
					t.Errorf("%s: record %d: %v", c.name, i, r.Err)
					continue
				}
				got, err := st.EventByID(ctx, r.EventID)
				if err != nil {
					t.Fatal(err)
				}
				want := store.EventDelivered
				if !r.Outcome.Delivered {
					want = store.EventPending
					if got.NextTryAt.Before(time.Now().Add(50 * time.Minute)) {
						t.Errorf("%s: %s due again at %v, want in an hour", c.name, r.EventID, got.NextTryAt)
					}
				}
				if got.Status != want || got.Attempts != 1 || got.LeaseToken != "" || r.Event.Status != want {
					t.Errorf("%s: %s is %s after %d attempts (lease %q; reported %s), want %s after 1",
						c.name, r.EventID, got.Status, got.Attempts, got.LeaseToken, r.Event.Status, want)
				}
				atts, err := st.AttemptsOf(ctx, r.EventID)
				if err != nil || len(atts) != 1 {
					t.Errorf("%s: %s has %d attempts on record (%v), want 1", c.name, r.EventID, len(atts), err)
				}
			}
		}
	})
}

// An order's event delivered in a batch makes the order's next event,
// held back until then, due at once (as a delivery recorded alone does).
func TestRecordAttemptsBatchMakesTheOrdersNextEventDue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		now := time.Now().UTC()
		var orders []*store.Order
		for _, no := range []string{"NEXTDUE1", "NEXTDUE2"} {
			o := newOrder(no, now)
			if err := st.InsertOrder(ctx, o); err != nil {
				t.Fatal(err)
			}
			orders = append(orders, o)
		}
		event := func(o *store.Order, seq int64, due store.DBTime) *store.MerchantEvent {
			return &store.MerchantEvent{MerchantID: "m1", DedupeKey: fmt.Sprintf("e:%s:%d", o.ID, seq), Type: "order.paid", OrderID: o.ID, Sequence: seq,
				URL: "u", Payload: []byte(`{}`), Status: store.EventPending, NextTryAt: due, CreatedAt: now, UpdatedAt: now}
		}
		held := event(orders[0], 2, store.DueIn(time.Hour))
		for _, e := range []*store.MerchantEvent{event(orders[0], 1, store.DueNow()), held, event(orders[1], 1, store.DueNow())} {
			if err := st.InsertEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		claimed, tok, err := st.ClaimDueEvents(ctx, 10, 30*time.Second)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim: %d %v", len(claimed), err)
		}
		recs := deliveries(claimed, tok, now)
		st.RecordAttempts(ctx, recs)
		for _, r := range recs {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		again, _, err := st.ClaimDueEvents(ctx, 10, 30*time.Second)
		if err != nil || len(again) != 1 || again[0].ID != held.ID {
			t.Fatalf("after the batch: claimed %d events (%v), want the order's held event %s", len(again), err, held.ID)
		}
	})
}

// An event and its notification's inbox row go in together; a second
// event for the same fact is refused (ErrDuplicate) and the inbox row is
// written all the same.
func TestInsertEventWithNotification(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		now := time.Now().UTC()
		ev := func() *store.MerchantEvent {
			return &store.MerchantEvent{MerchantID: "m1", DedupeKey: "order.paid:with-inbox", Type: "order.paid", URL: "u", Payload: []byte(`{}`)}
		}
		for i, want := range []error{nil, store.ErrDuplicate} {
			n := &store.Notification{ChannelID: "ch-a", Provider: "wechat_v2", Outcome: store.OutcomeApplied, Body: []byte("<xml/>"), ReceivedAt: now}
			var err error
			if txErr := st.InTx(ctx, func(tx *store.Store) error {
				err = tx.InsertEventWithNotification(ctx, ev(), n)
				if errors.Is(err, store.ErrDuplicate) {
					return nil // as the gateway does: the fact was reported already
				}
				return err
			}); txErr != nil {
				t.Fatal(txErr)
			}
			if !errors.Is(err, want) && !(want == nil && err == nil) {
				t.Fatalf("insert %d: %v, want %v", i, err, want)
			}
			var got []store.Notification
			if err := st.DB().Where("id = ?", n.ID).Find(&got).Error; err != nil || len(got) != 1 {
				t.Fatalf("insert %d: inbox row %s: %d rows, %v", i, n.ID, len(got), err)
			}
		}
		var events int64
		if err := st.DB().Model(&store.MerchantEvent{}).Where("dedupe_key = ?", "order.paid:with-inbox").Count(&events).Error; err != nil || events != 1 {
			t.Fatalf("%d events for one fact (%v)", events, err)
		}
	})
}

// A batch of deliveries in which one event's lease was lost meanwhile (an
// expired lease taken by another claim): every attempt is on record once,
// every event delivered, and the event whose lease moved on keeps its new
// holder's lease.
func TestRecordAttemptsBatchWithALostLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		now := time.Now().UTC()
		claimed, tok := claimNewEvents(t, st, "l", 4)
		lost := claimed[2].ID
		if err := st.DB().Exec("UPDATE merchant_events SET lease_token = 'other' WHERE id = ?", lost).Error; err != nil {
			t.Fatal(err)
		}
		recs := deliveries(claimed, tok, now)
		st.RecordAttempts(ctx, recs)
		for _, r := range recs {
			if r.Err != nil || r.Event == nil || r.Event.Status != store.EventDelivered {
				t.Fatalf("%s: %+v %v", r.EventID, r.Event, r.Err)
			}
		}
		for _, c := range claimed {
			var e store.MerchantEvent
			if err := st.DB().Where("id = ?", c.ID).Take(&e).Error; err != nil {
				t.Fatal(err)
			}
			var attempts int64
			st.DB().Model(&store.EventAttempt{}).Where("event_id = ?", c.ID).Count(&attempts)
			wantToken := ""
			if c.ID == lost {
				wantToken = "other"
			}
			if e.Status != store.EventDelivered || e.Attempts != 1 || attempts != 1 || e.LeaseToken != wantToken {
				t.Errorf("%s: status %s, attempts %d (rows %d), lease %q; want delivered, 1 (1), %q", c.ID, e.Status, e.Attempts, attempts, e.LeaseToken, wantToken)
			}
		}
	})
}

// claimNewEvents inserts n pending events of merchant m1, due now, and
// claims them all; it returns them and the claim's lease token.
func claimNewEvents(t *testing.T, st *store.Store, key string, n int) ([]store.MerchantEvent, string) {
	t.Helper()
	now := time.Now().UTC()
	for i := 0; i < n; i++ {
		e := &store.MerchantEvent{MerchantID: "m1", DedupeKey: fmt.Sprintf("order.paid:%s%d", key, i), Type: "order.paid", URL: "u",
			Payload: []byte(`{}`), Status: store.EventPending, NextTryAt: store.DueNow(), CreatedAt: now, UpdatedAt: now}
		if err := st.InsertEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	claimed, tok, err := st.ClaimDueEvents(ctx, n+4, 30*time.Second)
	if err != nil || len(claimed) != n {
		t.Fatalf("claim: %d %v", len(claimed), err)
	}
	return claimed, tok
}

// deliveries are the records of claimed events delivered at at by the
// holder of their lease token.
func deliveries(claimed []store.MerchantEvent, tok string, at time.Time) []*store.AttemptRecord {
	var recs []*store.AttemptRecord
	for i := range claimed {
		recs = append(recs, &store.AttemptRecord{EventID: claimed[i].ID, LeaseToken: tok, Attempt: &store.EventAttempt{StatusCode: 204, At: at},
			Outcome: store.AttemptOutcome{Delivered: true, At: at, Claimed: &claimed[i]}})
	}
	return recs
}
