package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// The order's update numbers its next event as NextEventSequence does,
// in the same statement; a lost compare-and-set is ErrConflict and
// changes nothing.
func TestUpdateOrderForEventNumbersTheNextEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		now := time.Now().UTC()
		o := newOrder("NUMBER1", now)
		if err := st.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		stale := *o
		for want := int64(1); want <= 3; want++ {
			var got int64
			err := st.InTx(ctx, func(tx *store.Store) error {
				var err error
				if got, err = tx.UpdateOrderForEvent(ctx, o, map[string]any{"provider_status": fmt.Sprint("S", want)}); err != nil {
					return err
				}
				lookedUp, status, err := tx.NextEventSequence(ctx, o.ID)
				if err != nil || lookedUp != got || status != o.Status {
					return fmt.Errorf("NextEventSequence says %d %s (%v), the update %d %s", lookedUp, status, err, got, o.Status)
				}
				return tx.InsertEvent(ctx, &store.MerchantEvent{MerchantID: "m1", DedupeKey: fmt.Sprint("order.updated:", want), Type: "order.updated",
					OrderID: o.ID, Sequence: got, URL: "u", Payload: []byte(`{}`), Status: store.EventPending, NextTryAt: store.DueNow(), CreatedAt: now, UpdatedAt: now})
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != want || o.ProviderStatus != fmt.Sprint("S", want) || o.Version != want+1 {
				t.Fatalf("update %d: next sequence %d, order %s version %d", want, got, o.ProviderStatus, o.Version)
			}
		}
		if _, err := st.UpdateOrderForEvent(ctx, &stale, map[string]any{"provider_status": "LOST"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale update: %v, want ErrConflict", err)
		}
		if got, _ := st.OrderByID(ctx, o.ID); got.ProviderStatus != "S3" {
			t.Fatalf("a lost update changed the order: %s", got.ProviderStatus)
		}
	})
}
