package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// A CSV export paced by a client that stops reading (here: an export
// paused after its first row) must not pin SQLite's WAL while the gateway
// goes on committing: each batch is its own short read, so checkpoints
// keep resetting the WAL and it stays around its checkpoint size. Before,
// the export held one read transaction for the whole stream and the WAL
// grew with every commit (4 MB to 276 MB over 6000 commits).
func TestPausedExportKeepsTheWALBounded(t *testing.T) {
	dsn := storetest.FreshDSN(t, "sqlite")
	st := storetest.OpenDSN(t, "sqlite", dsn, store.Options{})
	seedConfig(t, st)
	insertAll(t, st, financeOrders(2000, 7))
	wal := func() int64 {
		fi, err := os.Stat(dsn + "-wal")
		if err != nil {
			return 0
		}
		return fi.Size()
	}

	paused, resume := make(chan struct{}), make(chan struct{})
	var (
		exported  int
		wg        sync.WaitGroup
		exportErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		f := store.OrderFilter{MerchantID: "m1"}
		exportErr = st.ExportOrders(context.Background(), f, 100, func(o *store.Order) error {
			if exported++; exported == 1 {
				close(paused)
				<-resume // the client stops reading
			}
			return nil
		})
	}()
	<-paused
	start := wal()
	const commits = 1000
	now := time.Now().UTC()
	var peak int64
	for i := 0; i < commits; i++ {
		if err := st.InsertOrder(ctx, newOrder(fmt.Sprintf("WAL%07d", i), now)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			peak = max(peak, wal())
		}
	}
	peak = max(peak, wal())
	close(resume)
	wg.Wait()
	if exportErr != nil {
		t.Fatal(exportErr)
	}
	var want int64
	st.DB().Model(&store.Order{}).Where("merchant_id = 'm1' AND out_trade_no LIKE 'FIN%'").Count(&want)
	if int64(exported) < want {
		t.Fatalf("exported %d orders, want at least the %d that existed", exported, want)
	}
	// SQLite checkpoints every 1000 pages (4 MB): the WAL is reused from
	// the start once no reader needs its frames.
	const bound = 12 << 20
	t.Logf("WAL %.1f MB when the export paused, %.1f MB at most over %d commits while it stayed paused", float64(start)/(1<<20), float64(peak)/(1<<20), commits)
	if peak > bound {
		t.Fatalf("the WAL grew to %.1f MB over %d commits while an export was paused (bound %d MB)", float64(peak)/(1<<20), commits, bound>>20)
	}
}

// The caller's deadline bounds the whole export, checked between batches.
func TestExportStopsAtItsDeadline(t *testing.T) {
	st := storetest.Open(t, "sqlite", store.Options{})
	seedConfig(t, st)
	insertAll(t, st, financeOrders(500, 8))
	c, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	n := 0
	err := st.ExportOrders(c, store.OrderFilter{MerchantID: "m1"}, 10, func(*store.Order) error {
		if n++; n%10 == 0 {
			time.Sleep(20 * time.Millisecond) // a slow client
		}
		return nil
	})
	if !errors.Is(err, context.DeadlineExceeded) || n == 0 || n >= 400 {
		t.Fatalf("export with a deadline: %d rows, %v", n, err)
	}
}
