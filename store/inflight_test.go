package store_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// One provider call per refund at a time, across replicas: of many
// concurrent claims exactly one wins; none wins before call_until; a
// final refund is never claimed. A late success never refunds past the
// order's amount.
func TestRefundCallClaimAndLateSettle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		now := time.Now().UTC()
		o := newOrder("INFLIGHT01", now)
		o.Status = "PAID"
		if err := st.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		r := &store.Refund{ID: store.NewID("rfd"), OrderID: o.ID, MerchantID: "m1", ChannelID: "ch-a", OutRefundNo: "INFLIGHTR1",
			AmountMinor: 1000, Currency: "CNY", Status: "PROCESSING", RequestHash: "h", Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := st.InsertRefund(ctx, r); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := st.StartRefundCall(ctx, r.ID, time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent claims won, want 1", wins.Load())
		}
		if running, err := st.RefundCallRunning(ctx, r.ID); err != nil || !running {
			t.Fatalf("call not running after the claim: %v %v", running, err)
		}
		if ok, _ := st.StartRefundCall(ctx, r.ID, time.Minute); ok {
			t.Fatal("claimed while the earlier call may still run")
		}
		// The window passes (on the database's clock).
		if err := st.DB().Exec("UPDATE refunds SET call_until_ms = call_until_ms - 61000 WHERE id = ?", r.ID).Error; err != nil {
			t.Fatal(err)
		}
		if running, _ := st.RefundCallRunning(ctx, r.ID); running {
			t.Fatal("still running after the window")
		}
		if ok, _ := st.StartRefundCall(ctx, r.ID, time.Minute); !ok {
			t.Fatal("not claimable after the window")
		}
		if err := st.DB().Model(&store.Refund{}).Where("id = ?", r.ID).Update("status", "FAILED").Error; err != nil {
			t.Fatal(err)
		}
		if err := st.DB().Exec("UPDATE refunds SET call_until_ms = 0 WHERE id = ?", r.ID).Error; err != nil {
			t.Fatal(err)
		}
		if ok, _ := st.StartRefundCall(ctx, r.ID, time.Minute); ok {
			t.Fatal("a final refund was claimed")
		}

		// Late settlement: 12.34 paid; 10.00 fits, then 3.00 does not.
		if ok, err := st.SettleLateRefund(ctx, o.ID, 1000, "REFUNDED"); err != nil || !ok {
			t.Fatalf("late 10.00: %v %v", ok, err)
		}
		if ok, err := st.SettleLateRefund(ctx, o.ID, 300, "REFUNDED"); err != nil || ok {
			t.Fatalf("late 3.00 past the amount: %v %v", ok, err)
		}
		if ok, err := st.SettleLateRefund(ctx, o.ID, 234, "REFUNDED"); err != nil || !ok {
			t.Fatalf("late 2.34: %v %v", ok, err)
		}
		got, _ := st.OrderByID(ctx, o.ID)
		if got.RefundedMinor != 1234 || got.Status != "REFUNDED" {
			t.Fatalf("order %+v", got)
		}
	})
}
