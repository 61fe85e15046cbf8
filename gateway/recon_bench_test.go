package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox/sandboxbill"
	"github.com/paygate/paygate/store"
)

const reconBenchConfig = `
server: {public_url: "http://127.0.0.1:1"}
database: {driver: sqlite, dsn: "${DB}"}
sandbox: true
poller: {disabled: true}
webhooks: {disabled: true}
reconciliation: {disabled: true}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:read]}]
    channels:
      - id: wxv2
        provider: wechat_v2
        base_url: sandbox
        params: {appid: "wxd930ea5d5a258f4f", mch_id: "10000100", api_key: "` + v2Key + `"}
`

var benchDay = providers.Day{Year: 2026, Month: 12, Day: 3}

// reconBench is a gateway with n paid orders on benchDay and the day's
// WeChat bill listing them, as a file.
type reconBench struct {
	app  *gateway.App
	bill string
	n    int
}

func newReconBench(tb testing.TB, n int) *reconBench {
	tb.Helper()
	dir := tb.TempDir()
	cfg, err := config.Parse([]byte(reconBenchConfig), func(k string) (string, bool) {
		if k == "DB" {
			return filepath.Join(dir, "gateway.db"), true
		}
		return "", false
	})
	if err != nil {
		tb.Fatal(err)
	}
	app, err := gateway.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), gateway.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(app.Stop)
	start := benchDay.Start(shanghai).Add(time.Hour)
	var lines []sandboxbill.Line
	batch := make([]store.Order, 0, 1000)
	for i := 0; i < n; i++ {
		paid := start.Add(time.Duration(i) * 500 * time.Millisecond).UTC()
		txn := fmt.Sprintf("42000012342026120%011d", i)
		batch = append(batch, store.Order{
			ID: store.NewID("ord"), MerchantID: "demo", ChannelID: "wxv2", Provider: "wechat_v2",
			OutTradeNo: fmt.Sprintf("BENCH%010d", i), TransactionID: &txn, AmountMinor: int64(100 + i%9000), Currency: "CNY",
			Status: "PAID", RequestHash: "x", ExpiresAt: paid, PaidAt: &paid, CreatedAt: paid, UpdatedAt: paid,
		})
		lines = append(lines, sandboxbill.Line{Time: paid, AppID: "wxd930ea5d5a258f4f", MchID: "10000100", TransactionID: txn,
			OutTradeNo: fmt.Sprintf("BENCH%010d", i), OpenID: "o", Body: "Coffee", AmountFen: int64(100 + i%9000)})
		if len(batch) == cap(batch) || i == n-1 {
			if err := app.Store.DB().CreateInBatches(batch, 200).Error; err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	bill := filepath.Join(dir, "bill.csv")
	if err := os.WriteFile(bill, sandboxbill.Write(lines), 0o600); err != nil {
		tb.Fatal(err)
	}
	return &reconBench{app: app, bill: bill, n: n}
}

// run uploads the bill and returns the run and the peak live heap above
// the baseline, sampled (after a GC) every 20 ms while it runs.
func (b *reconBench) run(tb testing.TB, sample bool) (*store.ReconRun, uint64) {
	tb.Helper()
	f, err := os.Open(b.bill)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var base, peak uint64
	var wg sync.WaitGroup
	done := make(chan struct{})
	if sample {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		base = m.HeapAlloc
		wg.Add(1)
		go func() {
			defer wg.Done()
			var m runtime.MemStats
			for {
				select {
				case <-done:
					return
				case <-time.After(time.Millisecond):
				}
				runtime.GC()
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapAlloc)
			}
		}()
	}
	run, err := b.app.Recon.StartUpload(context.Background(), "demo", "wxv2", benchDay, bufio.NewReader(f))
	close(done)
	wg.Wait()
	if err != nil {
		tb.Fatal(err)
	}
	if run.Status != store.ReconDone || run.Matched != int64(b.n) || run.Rows != int64(b.n) {
		tb.Fatalf("run %s: %d rows, %d matched, error %q", run.Status, run.Rows, run.Matched, run.Error)
	}
	if peak < base {
		peak = base
	}
	return run, peak - base
}

// BenchmarkReconcile reconciles a WeChat bill of 10,000 and of 100,000
// payments against as many gateway orders (SQLite), through the real
// parser, store and comparison; it reports rows/s and the peak live heap,
// which stays the same for ten times the rows.
func BenchmarkReconcile(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			rb := newReconBench(b, n)
			b.ResetTimer()
			var peak uint64
			for i := 0; i < b.N; i++ {
				_, p := rb.run(b, true)
				peak = max(peak, p)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-live-heap-MB")
		})
	}
}

// Reconciling five times the rows does not hold five times the memory:
// rows stream into the store and are compared a batch at a time.
func TestReconcileMemoryDoesNotGrowWithRows(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 12,000 orders")
	}
	small, large := newReconBench(t, 2_000), newReconBench(t, 10_000)
	// Warm up both: each store prepares its statements once (a bounded
	// cache: IN lists of each length are statements of their own).
	small.run(t, false)
	large.run(t, false)
	// The peak is sampled (every millisecond): each run is measured twice, so a
	// transient high (a batch being written) is caught in both.
	peak := func(b *reconBench) uint64 {
		_, p := b.run(t, true)
		_, again := b.run(t, true)
		return max(p, again)
	}
	p2, p10 := peak(small), peak(large)
	t.Logf("peak live heap: +%d KB for 2,000 rows, +%d KB for 10,000", p2>>10, p10>>10)
	// Holding the statement would take ~5x more (a few MB) for 10,000 rows.
	if p10 > p2+2<<20 {
		t.Fatalf("live heap grows with the rows: +%d KB for 10,000, +%d KB for 2,000", p10>>10, p2>>10)
	}
}
