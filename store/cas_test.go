package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// A compare-and-set returns only what the caller's copy may lack, and the
// copy ends equal to the row: the fields it set, the version, and the
// columns other writes change without a version (a lease, a poll asked
// for), while the columns written once with the row stay as read.
func TestCompareAndSetLeavesTheCallerTheRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		now := time.Now().UTC()
		o := newOrder("CAS0001", now)
		o.Description, o.Metadata, o.NotifyURL = "Coffee", `{"table":7}`, "https://m.example/hook"
		if err := st.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		held, err := st.OrderByID(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Changed behind the caller's copy, without a new version.
		if ok, err := st.TakeLease(ctx, "orders", o.ID, "lease_other", time.Minute); err != nil || !ok {
			t.Fatalf("lease: %v %v", ok, err)
		}
		if err := st.PollNow(ctx, o.ID); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name   string
			update func(*store.Order) error
		}{
			{"UpdateOrder", func(o *store.Order) error {
				return st.UpdateOrder(ctx, o, map[string]any{"provider_status": "NOTPAY", "pay_params": `{"k":"v"}`})
			}},
			{"UpdateOrderForEvent", func(o *store.Order) error {
				_, err := st.UpdateOrderForEvent(ctx, o, map[string]any{"provider_status": "USERPAYING", "description": "Tea"})
				return err
			}},
		}
		for _, c := range cases {
			if err := c.update(held); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			row, err := st.OrderByID(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := orderDiff(held, row); diff != "" {
				t.Errorf("%s: the caller's copy differs from the row: %s", c.name, diff)
			}
		}
		if held.Description != "Tea" || held.Metadata != `{"table":7}` || held.LeaseToken != "lease_other" || held.PayParams != `{"k":"v"}` {
			t.Errorf("copy after the updates: %+v", held)
		}
	})
}

// orderDiff names the first field where a and b differ (times compared as
// instants, to the database's precision).
func orderDiff(a, b *store.Order) string {
	va, vb := reflect.ValueOf(*a), reflect.ValueOf(*b)
	for i := 0; i < va.NumField(); i++ {
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		if ta, ok := asTime(fa); ok {
			if tb, _ := asTime(fb); ta.Sub(tb).Abs() > time.Millisecond {
				return va.Type().Field(i).Name
			}
			continue
		}
		if !reflect.DeepEqual(fa, fb) {
			return va.Type().Field(i).Name
		}
	}
	return ""
}

func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case *time.Time:
		if x == nil {
			return time.Time{}, true
		}
		return *x, true
	case *store.DBTime:
		if x == nil {
			return time.Time{}, true
		}
		return x.Time, true
	}
	return time.Time{}, false
}
