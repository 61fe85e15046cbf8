package store_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// TestPoolKeepsItsConnections: callers that use the whole pool at once,
// wave after wave, reuse its connections instead of closing the ones
// above an idle cap and opening them again (on PostgreSQL a new
// connection is a forked server process).
func TestPoolKeepsItsConnections(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		const size = 12
		st := storetest.Open(t, driver, store.Options{MaxOpenConns: size, MaxReadConns: size})
		pool, err := st.ReadPool()
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for wave := 0; wave < 3; wave++ {
			conns := make([]*sql.Conn, 0, size)
			for i := 0; i < size; i++ {
				c, err := pool.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.PingContext(ctx); err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			for _, c := range conns {
				_ = c.Close()
			}
		}
		stats := pool.Stats()
		if stats.MaxIdleClosed != 0 || stats.OpenConnections != size {
			t.Fatalf("after three waves of %d callers: %d connections closed for the idle cap, %d open; want 0 and %d",
				size, stats.MaxIdleClosed, stats.OpenConnections, size)
		}
	})
}
