package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// paidChange prepares the payment of o as a notification's transition:
// the order's compare-and-set, its order.paid event and the inbox row.
func paidChange(t *testing.T, st *store.Store, o *store.Order, inboxID string) *store.OrderChange {
	t.Helper()
	paidAt := time.Date(2026, 12, 4, 9, 1, 2, 0, time.UTC)
	c, err := st.PrepareOrderChange(o, map[string]any{
		"status": "PAID", "provider_status": "SUCCESS", "paid_at": &paidAt,
		"transaction_id": "4200" + o.OutTradeNo, "provider_trade_no": "P" + o.OutTradeNo,
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := &store.MerchantEvent{MerchantID: o.MerchantID, DedupeKey: "order.paid:" + o.ID, Type: "order.paid", OrderID: o.ID,
		URL: "https://merchant.example/hook", Payload: fmt.Appendf(nil, `{"order":%q,"sequence":%d}`, o.ID, store.SequenceMark)}
	inbox := &store.Notification{ID: inboxID, ChannelID: o.ChannelID, Provider: "wechat_v2", Method: "POST", Path: "/notify/ch-a",
		Headers: "{}", Body: []byte("<xml/>"), Verified: true, Kind: "payment", OrderID: o.ID, Outcome: store.OutcomeApplied,
		ReceivedAt: time.Now().UTC()}
	if err := c.SetEvent(ev, inbox); err != nil {
		t.Fatal(err)
	}
	return c
}

func insertOrders(t *testing.T, st *store.Store, prefix string, n int) []*store.Order {
	t.Helper()
	out := make([]*store.Order, n)
	for i := range out {
		out[i] = newOrder(fmt.Sprintf("%s%04d", prefix, i), time.Now().UTC())
		if err := st.InsertOrder(ctx, out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// On PostgreSQL concurrent transitions go to the server as one pipeline
// and one transaction. A member that fails there (a constraint) must not
// cost the others their change, and one whose compare-and-set lost
// writes nothing; the others' changes are written whole (order, event,
// inbox row), and a group of members that all succeed is one transaction.
func TestPostgresChangeGroupOneFailingMemberCommitsTheOthers(t *testing.T) {
	st := storetest.Open(t, "postgres", store.Options{})
	seedConfig(t, st)

	orders := insertOrders(t, st, "GRP", 6)
	// Member 2's inbox row takes an id already used: a unique violation.
	taken := &store.Notification{ChannelID: "ch-a", Provider: "wechat_v2", Method: "POST", Path: "/notify/ch-a", Headers: "{}",
		Outcome: store.OutcomeDuplicate, ReceivedAt: time.Now().UTC()}
	if err := st.InsertNotification(ctx, taken); err != nil {
		t.Fatal(err)
	}
	// Member 4 was prepared from a copy the order has moved on from.
	stale := *orders[4]
	if err := st.UpdateOrder(ctx, orders[4], map[string]any{"provider_status": "USERPAYING"}); err != nil {
		t.Fatal(err)
	}
	var changes []*store.OrderChange
	for i, o := range orders {
		inboxID := ""
		if i == 2 {
			inboxID = taken.ID
		}
		if i == 4 {
			o = &stale
		}
		changes = append(changes, paidChange(t, st, o, inboxID))
	}
	errs := st.WriteChangeGroup(changes)

	for i, o := range orders {
		got, err := st.OrderByID(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		events, err := st.EventsOf(ctx, "m1", o.ID, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 2, 4:
			want := store.ErrDuplicate
			if i == 4 {
				want = store.ErrConflict
			}
			if !errors.Is(errs[i], want) {
				t.Errorf("member %d: %v, want %v", i, errs[i], want)
			}
			if got.Status != "PAYING" || len(events) != 0 {
				t.Errorf("member %d failed but wrote: status %s, %d events", i, got.Status, len(events))
			}
		default:
			if errs[i] != nil {
				t.Errorf("member %d: %v", i, errs[i])
				continue
			}
			if got.Status != "PAID" || got.TransactionID == nil || len(events) != 1 || events[0].Sequence != 1 {
				t.Errorf("member %d: status %s, events %+v", i, got.Status, events)
			}
			if c := changes[i]; c.Event().Sequence != 1 || !c.EventWritten || c.After.Version != got.Version || *c.After.TransactionID != *got.TransactionID {
				t.Errorf("member %d: the caller's copy %+v / event %d, stored version %d", i, c.After, c.Event().Sequence, got.Version)
			}
			var n store.Notification
			if err := st.DB().Where("id = ?", changes[i].Inbox().ID).Take(&n).Error; err != nil || n.OrderID != o.ID {
				t.Errorf("member %d: inbox row %+v, %v", i, n, err)
			}
		}
	}

	// A group whose members all succeed is one transaction: every row it
	// wrote carries the same transaction id.
	more := insertOrders(t, st, "ONE", 5)
	changes = changes[:0]
	var ids []string
	for _, o := range more {
		changes = append(changes, paidChange(t, st, o, ""))
	}
	for i, err := range st.WriteChangeGroup(changes) {
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		ids = append(ids, changes[i].Inbox().ID)
	}
	var xacts int64
	if err := st.DB().Raw("SELECT count(DISTINCT xmin::text) FROM notifications WHERE id IN ?", ids).Scan(&xacts).Error; err != nil {
		t.Fatal(err)
	}
	if xacts != 1 {
		t.Errorf("a group of 5 changes was %d transactions, want 1", xacts)
	}
}

// Concurrent changes through ApplyOrderChange share groups on PostgreSQL
// and each is written once.
func TestPostgresConcurrentChangesShareGroups(t *testing.T) {
	st := storetest.Open(t, "postgres", store.Options{})
	seedConfig(t, st)
	orders := insertOrders(t, st, "CON", 64)
	before := st.CommitStats()
	var wg sync.WaitGroup
	errs := make([]error, len(orders))
	start := make(chan struct{})
	for i, o := range orders {
		c := paidChange(t, st, o, "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = st.ApplyOrderChange(ctx, c)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	after := st.CommitStats()
	if w := after.Writes - before.Writes; w != int64(len(orders)) {
		t.Errorf("%d changes counted, want %d", w, len(orders))
	}
	if g := after.Commits - before.Commits; g >= int64(len(orders)) {
		t.Errorf("%d concurrent changes took %d groups: none shared", len(orders), g)
	}
	var paid, events int64
	st.DB().Raw("SELECT count(*) FROM orders WHERE status = 'PAID' AND out_trade_no LIKE 'CON%'").Scan(&paid)
	st.DB().Raw("SELECT count(*) FROM merchant_events WHERE type = 'order.paid'").Scan(&events)
	if paid != int64(len(orders)) || events != int64(len(orders)) {
		t.Errorf("paid %d, events %d, want %d each", paid, events, len(orders))
	}
}
