package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// A prepared transition (store.OrderChange) builds its event from the
// order as read plus its fields, trusting its compare-and-set on the
// version: that holds only if every write that changes an order's
// columns bumps the version, but for the bookkeeping of leases and polls,
// which no event shows. Each write of an order the store has is run here
// and checked against that rule.
func TestOrderWritesBumpTheVersionOfWhatTheyChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		created := time.Now().UTC().Add(-time.Minute)
		unversioned := map[string]bool{"LeaseUntil": true, "LeaseToken": true, "NextPollAt": true, "PollAttempts": true,
			"PollRequested": true, "Version": true, "UpdatedAt": true}
		fresh := func(no, status string) *store.Order {
			o := newOrder(no, created)
			o.Status = status
			o.NextPollAt = ptr(store.DueIn(-time.Second))
			if err := st.InsertOrder(ctx, o); err != nil {
				t.Fatal(err)
			}
			return o
		}
		in := time.Minute
		writes := []struct {
			name   string
			status string
			write  func(o *store.Order) error
		}{
			{"UpdateOrder", "PAYING", func(o *store.Order) error {
				return st.UpdateOrder(ctx, o, map[string]any{"status": "PAID", "transaction_id": "T-" + o.OutTradeNo})
			}},
			{"UpdateOrderForEvent", "PAYING", func(o *store.Order) error {
				_, err := st.UpdateOrderForEvent(ctx, o, map[string]any{"status": "PAID", "paid_at": time.Now().UTC()})
				return err
			}},
			{"ReserveRefund", "PAID", func(o *store.Order) error {
				_, err := st.ReserveRefund(ctx, o.ID, 100, []string{"PAID"})
				return err
			}},
			{"ReserveExternalRefund", "PAID", func(o *store.Order) error {
				_, err := st.ReserveExternalRefund(ctx, o.ID, 100)
				return err
			}},
			{"SettleRefundAmount", "PAID", func(o *store.Order) error {
				if _, err := st.ReserveRefund(ctx, o.ID, 1234, []string{"PAID"}); err != nil {
					return err
				}
				return st.SettleRefundAmount(ctx, o.ID, 1234, true, "REFUNDED")
			}},
			{"SettleLateRefund", "PAID", func(o *store.Order) error {
				_, err := st.SettleLateRefund(ctx, o.ID, 1234, "REFUNDED")
				return err
			}},
			{"PollNow", "PAYING", func(o *store.Order) error { return st.PollNow(ctx, o.ID) }},
			{"ClaimDueOrders, ScheduleOrderPoll", "PAYING", func(o *store.Order) error {
				claimed, token, err := st.ClaimDueOrders(ctx, 100, time.Minute)
				if err != nil || len(claimed) == 0 {
					t.Fatalf("claim: %v %d", err, len(claimed))
				}
				return st.ScheduleOrderPoll(ctx, o.ID, token, &in, 3)
			}},
			{"TakeLease, RenewLease, ReleaseLease", "PAYING", func(o *store.Order) error {
				if _, err := st.TakeLease(ctx, "orders", o.ID, "tok", time.Minute); err != nil {
					return err
				}
				if _, err := st.RenewLease(ctx, "orders", o.ID, "tok", time.Minute); err != nil {
					return err
				}
				return st.ReleaseLease(ctx, "orders", o.ID, "tok")
			}},
		}
		for i, w := range writes {
			o := fresh("VERSION"+string(rune('A'+i)), w.status)
			before, err := st.OrderByID(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.write(o); err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			after, err := st.OrderByID(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			var changed []string
			bv, av := reflect.ValueOf(*before), reflect.ValueOf(*after)
			for f := 0; f < bv.NumField(); f++ {
				name := bv.Type().Field(f).Name
				if !unversioned[name] && !reflect.DeepEqual(bv.Field(f).Interface(), av.Field(f).Interface()) {
					changed = append(changed, name)
				}
			}
			if len(changed) > 0 && after.Version == before.Version {
				t.Errorf("%s changed %v without bumping the version", w.name, changed)
			}
			if len(changed) == 0 && !allowedNoChange[w.name] {
				t.Errorf("%s changed nothing a version covers: the check did not run", w.name)
			}
		}
	})
}

// allowedNoChange are the writes that touch only lease and poll
// bookkeeping.
var allowedNoChange = map[string]bool{"PollNow": true, "ClaimDueOrders, ScheduleOrderPoll": true, "TakeLease, RenewLease, ReleaseLease": true}
