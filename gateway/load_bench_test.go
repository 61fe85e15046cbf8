package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox/wechatv2sim"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// The load benchmarks run the servers as separate processes (the real
// gateway binary, and scripts/benchbaseline as the yardstick) and drive
// them through real HTTP from many goroutines at once, so each server's
// own CPU time (from /proc) and, with the LD_PRELOAD shim of
// scripts/fsynccount, its fsyncs are measured apart from the load
// generator's. scripts/bench runs them and prints the ratios.
//
// PAYGATE_BENCH_POSTGRES_DSN runs them on PostgreSQL instead of SQLite
// (each server on a fresh schema; fsyncs are then the server cluster's
// WAL syncs from pg_stat_wal).

// ingestSenders is how many notifications are in flight at once.
const ingestSenders = 32

// createCallers is how many create requests are in flight at once.
const createCallers = 16

const envBenchPostgres = "PAYGATE_BENCH_POSTGRES_DSN"

// benchBinaries builds the gateway, the baseline server and the fsync
// shim once per test binary run.
var benchBinaries = sync.OnceValues(func() (benchBins, error) {
	dir, err := os.MkdirTemp("", "paygate-bench-")
	if err != nil {
		return benchBins{}, err
	}
	bins := benchBins{gateway: filepath.Join(dir, "gateway"), baseline: filepath.Join(dir, "benchbaseline")}
	for out, pkg := range map[string]string{bins.gateway: "../cmd/gateway", bins.baseline: "../scripts/benchbaseline"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			return bins, fmt.Errorf("build %s: %v\n%s", pkg, err, b)
		}
	}
	shim := filepath.Join(dir, "fsynccount.so")
	if b, err := exec.Command("gcc", "-shared", "-fPIC", "-O2", "-o", shim, "../scripts/fsynccount/fsynccount.c", "-ldl").CombinedOutput(); err == nil {
		bins.shim = shim
	} else {
		fmt.Fprintf(os.Stderr, "fsync shim not built (fsyncs will not be counted): %v %s\n", err, b)
	}
	return bins, nil
})

type benchBins struct{ gateway, baseline, shim string }

// benchServer is a server process under measurement.
type benchServer struct {
	cmd        *exec.Cmd
	url        string
	countFile  string // the shim's fsync counter, if any
	pgDSN      string // PostgreSQL: where to read WAL syncs
	metricsURL string // the gateway's /metrics and /debug/pprof
	walFile    string // SQLite: the write-ahead log, whose size is reported
}

// startBench runs a server binary with args, counting its fsyncs when the
// shim exists, and waits for ready (the URL it prints, or readyURL).
func startBench(b *testing.B, bins benchBins, bin string, args []string, readyURL string) *benchServer {
	b.Helper()
	s := &benchServer{}
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	if bins.shim != "" {
		s.countFile = filepath.Join(b.TempDir(), "fsyncs")
		cmd.Env = append(cmd.Env, "LD_PRELOAD="+bins.shim, "FSYNC_COUNT_FILE="+s.countFile)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s.cmd = cmd
	b.Cleanup(func() {
		// A graceful stop first: the gateway finishes what is in flight.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		t := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill() })
		_ = cmd.Wait()
		t.Stop()
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				urls <- u
			}
		}
	}()
	if readyURL == "" {
		select {
		case s.url = <-urls:
		case <-time.After(30 * time.Second):
			b.Fatalf("%s did not start:\n%s", bin, logs.String())
		}
		return s
	}
	s.url = readyURL
	for i := 0; i < 600; i++ {
		if resp, err := http.Get(readyURL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("%s did not become ready:\n%s", bin, logs.String())
	return nil
}

// usage is a server's resource use so far.
type usage struct {
	cpu    time.Duration
	fsyncs int64
	dbCPU  time.Duration // PostgreSQL's processes, when it runs here; -1 otherwise
}

func (s *benchServer) usage(b *testing.B) usage {
	b.Helper()
	u := usage{cpu: s.processCPU(b), fsyncs: -1, dbCPU: -1}
	switch {
	case s.pgDSN != "":
		u.fsyncs, u.dbCPU = pgWALSyncs(b, s.pgDSN)
	case s.countFile != "":
		if raw, err := os.ReadFile(s.countFile); err == nil && len(raw) == 8 {
			var n int64
			for i := 7; i >= 0; i-- {
				n = n<<8 | int64(raw[i])
			}
			u.fsyncs = n
		}
	}
	return u
}

// cpuReader returns a function reading the CPU time of the gateway's
// process and, on PostgreSQL running on this machine, of the database
// server (0 otherwise), at once: no wait for statistics, as usage has.
func (s *benchServer) cpuReader(b *testing.B) func() (gateway, db time.Duration) {
	backend := 0
	if s.pgDSN != "" {
		db, err := gorm.Open(postgres.Open(s.pgDSN), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Raw("SELECT pg_backend_pid()").Scan(&backend).Error; err != nil {
			b.Fatal(err)
		}
		sdb, _ := db.DB()
		b.Cleanup(func() { sdb.Close() })
	}
	return func() (time.Duration, time.Duration) {
		var db time.Duration
		if backend != 0 {
			db = max(postgresCPU(backend), 0)
		}
		return s.processCPU(b), db
	}
}

// processCPU is the CPU time the gateway's process has used.
func (s *benchServer) processCPU(b *testing.B) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name: state is the first, utime the 12th,
	// stime the 13th, in clock ticks (USER_HZ, 100 on Linux).
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func analyze(b *testing.B, dsn string) {
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { sdb, _ := db.DB(); sdb.Close() }()
	if err := db.Exec("ANALYZE").Error; err != nil {
		b.Fatal(err)
	}
}

// pgWALSyncs reads the cluster's WAL syncs. Backends publish their
// counts about once a second, so it first waits for them to.
func pgWALSyncs(b *testing.B, dsn string) (syncs int64, cpu time.Duration) {
	time.Sleep(1500 * time.Millisecond)
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { sdb, _ := db.DB(); sdb.Close() }()
	var n int64
	if err := db.Raw("SELECT wal_sync FROM pg_stat_wal").Scan(&n).Error; err != nil {
		b.Fatal(err)
	}
	var backend int
	if err := db.Raw("SELECT pg_backend_pid()").Scan(&backend).Error; err != nil {
		b.Fatal(err)
	}
	return n, postgresCPU(backend)
}

// postgresCPU is the CPU time of the PostgreSQL server the backend pid
// belongs to, if it runs on this machine and /proc shows it (-1 if not):
// the postmaster's own and its exited children's (reaped), plus its live
// children's. A child counted live in one reading and reaped by the next
// moves from one sum to the other, so differences count each once.
func postgresCPU(backend int) time.Duration {
	ticks := func(pid int, reaped bool) (ppid int, t int64, ok bool) {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, 0, false
		}
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
		ppid, _ = strconv.Atoi(f[1])
		for i, field := range []int{11, 12, 13, 14} { // utime stime cutime cstime
			if i >= 2 && !reaped {
				break
			}
			v, _ := strconv.ParseInt(f[field], 10, 64)
			t += v
		}
		return ppid, t, true
	}
	postmaster, _, ok := ticks(backend, false)
	if !ok {
		return -1
	}
	_, total, ok := ticks(postmaster, true)
	if !ok {
		return -1
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if ppid, t, ok := ticks(pid, false); ok && ppid == postmaster {
			total += t
		}
	}
	return time.Duration(total) * 10 * time.Millisecond
}

// report records a measured run: throughput, and per operation the
// server's CPU time and fsyncs.
func report(b *testing.B, n int, elapsed time.Duration, before, after usage) {
	b.ReportMetric(float64(n)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64((after.cpu-before.cpu).Microseconds())/float64(n), "server-cpu-µs/op")
	if before.fsyncs >= 0 && after.fsyncs >= 0 {
		b.ReportMetric(float64(after.fsyncs-before.fsyncs)/float64(n), "fsyncs/op")
	}
	if before.dbCPU >= 0 && after.dbCPU >= 0 {
		b.ReportMetric(float64((after.dbCPU-before.dbCPU).Microseconds())/float64(n), "db-cpu-µs/op")
	}
}

// benchDB returns the driver and a fresh database for one server.
func benchDB(b *testing.B) (driver, dsn string) {
	if base := os.Getenv(envBenchPostgres); base != "" {
		b.Setenv(storetest.EnvDSN, base)
		return "postgres", storetest.FreshDSN(b, "postgres")
	}
	return "sqlite", filepath.Join(b.TempDir(), "bench.db")
}

// BenchmarkIngestLoad sends WeChat Pay v2 notifications through real HTTP
// from 32 concurrent senders to three servers taking turns (with -count,
// the sub-benchmarks alternate): the gateway (verify, inbox, transition,
// outbox; its dispatcher delivers the merchant webhooks meanwhile, on the
// same cores), and the baseline inserting one row per notification with
// synchronous=FULL (as durable as the gateway's ack) and with
// synchronous=NORMAL. On PostgreSQL the baseline inserts through a pool of
// 20 connections. req/s counts acknowledged notifications; the gateway's
// CPU and fsyncs per notification count everything until the merchant has
// every webhook, and delivered/s is that end-to-end rate.
func BenchmarkIngestLoad(b *testing.B) {
	bins, err := benchBinaries()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("gateway", func(b *testing.B) { benchIngestGateway(b, bins) })
	if os.Getenv(envBenchPostgres) != "" {
		b.Run("baseline-pool", func(b *testing.B) { benchIngestBaseline(b, bins, "") })
		return
	}
	b.Run("baseline-full", func(b *testing.B) { benchIngestBaseline(b, bins, "FULL") })
	b.Run("baseline-normal", func(b *testing.B) { benchIngestBaseline(b, bins, "NORMAL") })
}

const benchGatewayConfig = `
server: {addr: "%s", public_url: "http://%s", metrics_addr: "%s"}
database: {driver: %s, dsn: "%s"}
sandbox: true
log: {level: warn}
# All the load comes from one address: no per-source limit.
notify: {rate_per_source: -1}
merchants:
  - id: demo
    api_keys: [{key: "%s", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_url: "%s"
    webhook_secret: "%s"
    channels:
      - id: wxv2
        provider: wechat_v2
        base_url: sandbox
        params: {appid: "wxd930ea5d5a258f4f", mch_id: "10000100", api_key: "%s", sign_type: MD5}
`

// startBenchGateway runs the gateway binary on a fresh database whose
// first n orders (BN00000000000000 ...) are PAYING, with its merchant
// webhooks going to a counting receiver.
func startBenchGateway(b *testing.B, bins benchBins, n int) (*benchServer, *atomic.Int64) {
	b.Helper()
	driver, dsn := benchDB(b)
	seedBenchOrders(b, driver, dsn, n)
	var delivered atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(recv.Close)
	addr, metricsAddr := freeAddr(b), freeAddr(b)
	cfg := filepath.Join(b.TempDir(), "gateway.yaml")
	doc := fmt.Sprintf(benchGatewayConfig, addr, addr, metricsAddr, driver, dsn, demoKey, recv.URL, gatewaytest.WebhookSecret, v2Key)
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		b.Fatal(err)
	}
	s := startBench(b, bins, bins.gateway, []string{"-config", cfg}, "http://"+addr)
	s.metricsURL = "http://" + metricsAddr
	if driver == "postgres" {
		s.pgDSN = dsn
	} else {
		s.walFile = dsn + "-wal"
	}
	return s, &delivered
}

// envBenchProfile names a file prefix: the measured phase of each gateway
// run is CPU-profiled (from the gateway's /debug/pprof) into
// PREFIX-ingest.pprof and PREFIX-create.pprof.
const envBenchProfile = "PAYGATE_BENCH_CPUPROFILE"

// profile starts a CPU profile of the gateway for secs seconds, written
// in the background; wait for it with the returned function.
func (s *benchServer) profile(b *testing.B, what string, secs int) (wait func()) {
	prefix := os.Getenv(envBenchProfile)
	if prefix == "" || s.metricsURL == "" || b.N < 1000 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.metricsURL, secs))
		if err != nil {
			b.Logf("profile: %v", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(prefix + "-" + what + ".pprof")
		if err != nil {
			b.Logf("profile: %v", err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
	return func() { <-done }
}

// commitStats reads the store's group commit counters from the gateway's
// /metrics (paygate_store_commit*): SQLite's group COMMITs, or PostgreSQL's
// groups of order changes, the writes in them, and the seconds SQLite's
// one writer spent in transactions; ok false without metrics.
func (s *benchServer) commitStats(b *testing.B) (commits, writes, busy float64, ok bool) {
	if s.metricsURL == "" {
		return 0, 0, 0, false
	}
	resp, err := http.Get(s.metricsURL + "/metrics")
	if err != nil {
		b.Logf("metrics: %v", err)
		return 0, 0, 0, false
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		name, v, found := strings.Cut(line, " ")
		if !found {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		switch name {
		case "paygate_store_commits_total":
			commits, ok = f, true
		case "paygate_store_commit_writes_total":
			writes = f
		case "paygate_store_commit_busy_seconds_total":
			busy = f
		}
	}
	return commits, writes, busy, ok
}

// seedBenchOrders writes n PAYING orders straight into the database, as
// if created earlier.
func seedBenchOrders(b *testing.B, driver, dsn string, n int) {
	b.Helper()
	st, err := store.Open(driver, dsn, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := seedOrderRows(st, n); err != nil {
		b.Fatal(err)
	}
}

// seedOrderRows writes the demo merchant's wxv2 channel and n PAYING
// orders BN00000000000000 ... on it; their next poll is an hour away, so
// the poller leaves them to the notifications.
func seedOrderRows(st *store.Store, n int) error {
	ctx := context.Background()
	if err := st.SyncConfig(ctx, []store.Merchant{{ID: "demo"}},
		[]store.Channel{{ID: "wxv2", MerchantID: "demo", Provider: "wechat_v2", Currency: "CNY"}}); err != nil {
		return err
	}
	now := time.Now().UTC()
	later := store.DueIn(time.Hour)
	rows := make([]store.Order, 0, 200)
	for i := 0; i < n; i++ {
		rows = append(rows, store.Order{ID: store.NewID("ord"), MerchantID: "demo", ChannelID: "wxv2", Provider: "wechat_v2",
			OutTradeNo: benchOrderNo(i), AmountMinor: 100, Currency: "CNY", Status: string(providers.OrderPaying),
			Description: "bench", PayMethod: "wechat", PayerOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", RequestHash: "x",
			ExpiresAt: now.Add(2 * time.Hour), NextPollAt: &later, Version: 1, CreatedAt: now, UpdatedAt: now})
		if len(rows) == cap(rows) || i == n-1 {
			if err := st.DB().Create(&rows).Error; err != nil {
				return err
			}
			rows = rows[:0]
		}
	}
	if st.Driver() == "postgres" {
		// A live database has statistics (autovacuum gathers them); a
		// freshly loaded one would be planned blind.
		return st.DB().Exec("ANALYZE").Error
	}
	return nil
}

func benchOrderNo(i int) string { return fmt.Sprintf("BN%014d", i) }

// ingestWarmup notifications go first, unmeasured (connections, caches).
const ingestWarmup = 200

func benchIngestGateway(b *testing.B, bins benchBins) {
	srv, delivered := startBenchGateway(b, bins, b.N+ingestWarmup)
	bodies := make([][]byte, b.N+ingestWarmup)
	for i := range bodies {
		bodies[i] = []byte(v2NotificationBench(benchOrderNo(i), fmt.Sprintf("42000000012026112%011d", i)))
	}
	ok := func(status int, body []byte) bool { return status == 200 && strings.Contains(string(body), "SUCCESS") }
	url := srv.url + "/notify/wxv2"
	sendAll(b, url, bodies[:ingestWarmup], ok)
	waitFor(b, func() bool { return delivered.Load() == ingestWarmup }, "warm-up webhooks")
	if srv.pgDSN != "" {
		// Statistics as a live database has them (autovacuum gathers
		// them): the warm-up wrote the first events and inbox rows.
		analyze(b, srv.pgDSN)
	}

	before := srv.usage(b)
	commits0, writes0, busy0, _ := srv.commitStats(b)
	b.ResetTimer()
	profiled := srv.profile(b, "ingest", 3)
	start := time.Now()
	sendAll(b, url, bodies[ingestWarmup:], ok)
	acked := time.Since(start)
	if commits, writes, busy, ok := srv.commitStats(b); ok && commits > commits0 {
		// Writes per group: how well concurrent changes share a commit.
		b.ReportMetric((writes-writes0)/(commits-commits0), "writes/commit")
		if srv.pgDSN == "" {
			// Near 1, the one SQLite writer is what holds ingest back.
			b.ReportMetric((busy-busy0)/acked.Seconds(), "writer-busy")
		}
	}
	profiled()
	waitFor(b, func() bool { return delivered.Load() == int64(b.N+ingestWarmup) }, "merchant webhooks")
	elapsed := time.Since(start)
	b.StopTimer()
	// Ingest is every notification acknowledged (durably recorded, its
	// event in the outbox) while the dispatcher delivers on the same
	// cores; CPU and fsyncs count everything until the merchant has every
	// webhook, and delivered/s is that end-to-end rate.
	report(b, b.N, acked, before, srv.usage(b))
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "delivered/s")
	if srv.walFile != "" {
		if fi, err := os.Stat(srv.walFile); err == nil {
			b.ReportMetric(float64(fi.Size())/(1<<20), "wal-MiB")
		}
	}
}

func benchIngestBaseline(b *testing.B, bins benchBins, sync string) {
	driver, dsn := benchDB(b)
	args := []string{"-driver", driver, "-dsn", dsn, "-addr", "127.0.0.1:0"}
	if sync != "" {
		args = append(args, "-sync", sync)
	}
	srv := startBench(b, bins, bins.baseline, args, "")
	if driver == "postgres" {
		srv.pgDSN = dsn
	}
	bodies := make([][]byte, b.N+ingestWarmup)
	for i := range bodies {
		bodies[i] = []byte(v2NotificationBench(benchOrderNo(i), fmt.Sprintf("42000000012026112%011d", i)))
	}
	ok := func(status int, body []byte) bool { return status == 200 && strings.Contains(string(body), "SUCCESS") }
	url := srv.url + "/notify"
	sendAll(b, url, bodies[:ingestWarmup], ok)
	before := srv.usage(b)
	b.ResetTimer()
	start := time.Now()
	sendAll(b, url, bodies[ingestWarmup:], ok)
	elapsed := time.Since(start)
	b.StopTimer()
	report(b, b.N, elapsed, before, srv.usage(b))
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}, Timeout: time.Minute}

// sendAll posts every body once from ingestSenders goroutines.
func sendAll(b *testing.B, url string, bodies [][]byte, ok func(int, []byte) bool) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for g := 0; g < ingestSenders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) || failed.Load() != nil {
					return
				}
				resp, err := benchClient.Post(url, "text/xml", strings.NewReader(string(bodies[i])))
				if err != nil {
					failed.Store(err.Error())
					return
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !ok(resp.StatusCode, got) {
					failed.Store(fmt.Sprintf("answer %d %s", resp.StatusCode, got))
					return
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
}

func waitFor(b *testing.B, cond func() bool, what string) {
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkCreateLoad creates orders through POST /v1/orders from 16
// concurrent callers against the gateway's in-process wechat_v2 sandbox,
// and, taking turns with it in the same run, calls that sandbox's own
// unifiedorder endpoint directly (signed the same way, same concurrency):
// the difference of the two medians is what the gateway adds.
func BenchmarkCreateLoad(b *testing.B) {
	bins, err := benchBinaries()
	if err != nil {
		b.Fatal(err)
	}
	srv, _ := startBenchGateway(b, bins, 0)
	const round = 200
	var gw, sim []time.Duration
	var mu sync.Mutex
	create := func(i int) {
		body := v2OrderJSON("wxv2", fmt.Sprintf("BC%014d", i), "1.00")
		req, _ := http.NewRequest("POST", srv.url+"/v1/orders", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+demoKey)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := benchClient.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode != 201 {
			b.Errorf("create: %d %s", resp.StatusCode, got)
			return
		}
		mu.Lock()
		gw = append(gw, d)
		mu.Unlock()
	}
	direct := func(i int) {
		doc := map[string]string{
			"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "nonce_str": fmt.Sprintf("n%015d", i),
			"body": "Coffee", "out_trade_no": fmt.Sprintf("BD%014d", i), "total_fee": "100", "fee_type": "CNY",
			"spbill_create_ip": "127.0.0.1", "notify_url": srv.url + "/notify/wxv2", "trade_type": "JSAPI",
			"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "sign_type": "MD5",
		}
		sig, _ := wechatv2sim.Signature(doc, v2Key, "MD5")
		doc["sign"] = sig
		start := time.Now()
		resp, err := benchClient.Post(srv.url+"/sandbox/wechat_v2/pay/unifiedorder", "text/xml", strings.NewReader(toXML(doc)))
		if err != nil {
			b.Error(err)
			return
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if !strings.Contains(string(got), "<result_code><![CDATA[SUCCESS]]>") {
			b.Errorf("sandbox unifiedorder: %s", got)
			return
		}
		mu.Lock()
		sim = append(sim, d)
		mu.Unlock()
	}
	// Warm up both paths, then alternate rounds of each.
	concurrently(0, 100, create)
	concurrently(0, 100, direct)
	gw, sim = nil, nil
	b.ResetTimer()
	defer srv.profile(b, "create", 3)()
	// CPU of each kind of round, summed: the gateway's process (which
	// serves the sandbox too) and, on PostgreSQL, the database server's.
	var createCPU, createDB, directCPU time.Duration
	cpu := srv.cpuReader(b)
	for done := 0; done < b.N; done += round {
		n := min(round, b.N-done)
		g0, d0 := cpu()
		concurrently(100+done, n, create)
		g1, d1 := cpu()
		concurrently(100+done, n, direct)
		g2, _ := cpu()
		createCPU += g1 - g0
		directCPU += g2 - g1
		createDB += d1 - d0
	}
	b.StopTimer()
	if b.Failed() {
		return
	}
	gp50, gp99 := percentiles(gw)
	sp50, sp99 := percentiles(sim)
	b.ReportMetric(millis(gp50), "create-p50-ms")
	b.ReportMetric(millis(gp99), "create-p99-ms")
	b.ReportMetric(millis(sp50), "sandbox-p50-ms")
	b.ReportMetric(millis(sp99), "sandbox-p99-ms")
	b.ReportMetric(millis(gp50-sp50), "added-p50-ms")
	// Under 16 callers on two cores a create waits mostly for CPU: its
	// latency follows the CPU each create costs, the sandbox's included.
	b.ReportMetric(float64(createCPU.Microseconds())/float64(b.N), "create-cpu-µs/op")
	b.ReportMetric(float64(directCPU.Microseconds())/float64(b.N), "sandbox-cpu-µs/op")
	if srv.pgDSN != "" {
		b.ReportMetric(float64(createDB.Microseconds())/float64(b.N), "create-db-cpu-µs/op")
	}
}

// concurrently runs fn(from) ... fn(from+n-1) from createCallers goroutines.
func concurrently(from, n int, fn func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < createCallers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(from + i)
			}
		}()
	}
	wg.Wait()
}

func v2OrderJSON(channel, no, amount string) string {
	return fmt.Sprintf(`{"channel":%q,"out_trade_no":%q,"amount":%q,"currency":"CNY","description":"Coffee","payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}`, channel, no, amount)
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)*50/100], s[min(len(s)*99/100, len(s)-1)]
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
