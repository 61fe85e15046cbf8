package store_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

func TestJobLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		// The process clocks are an hour apart: the lease follows the
		// database's clock, not theirs.
		st := storetest.Open(t, driver, store.Options{Now: func() time.Time { return time.Now().Add(time.Hour) }})
		take := func(holder string, ttl time.Duration) bool {
			t.Helper()
			ok, err := st.AcquireJobLease(ctx, "job", holder, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !take("a", time.Minute) {
			t.Fatal("a could not take a free lease")
		}
		if take("b", time.Minute) {
			t.Fatal("b took a lease a holds")
		}
		if !take("a", time.Minute) {
			t.Fatal("a could not renew its own lease")
		}
		if err := st.ReleaseJobLease(ctx, "job", "b"); err != nil {
			t.Fatal(err)
		}
		if take("b", time.Minute) {
			t.Fatal("b's release of a lease it does not hold freed it")
		}
		if err := st.ReleaseJobLease(ctx, "job", "a"); err != nil {
			t.Fatal(err)
		}
		if !take("b", 150*time.Millisecond) {
			t.Fatal("b could not take a released lease")
		}
		if take("a", time.Minute) {
			t.Fatal("a took b's live lease")
		}
		time.Sleep(300 * time.Millisecond)
		if !take("a", time.Minute) {
			t.Fatal("a could not take b's expired lease")
		}

		dbNow, err := st.DBNow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(dbNow); d > 5*time.Second || d < -5*time.Second {
			t.Fatalf("database clock %v is %v from the machine's", dbNow, d)
		}

		// Racing replicas: exactly one wins a free lease.
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ok, err := st.AcquireJobLease(ctx, "race", string(rune('a'+i)), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}(i)
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d replicas took one free lease, want 1", wins.Load())
		}
	})
}
