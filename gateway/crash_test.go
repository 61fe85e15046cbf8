package gateway_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
)

// TestCrashAndRestart runs the real binary, kills it with SIGKILL while a
// merchant webhook is in flight, and restarts it on the same SQLite file:
// the payment it acknowledged is still there, and the undelivered event
// goes out within a minute (after the dead process's 30 s lease).
func TestCrashAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary for about 35 s; skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gateway")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/gateway").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	var hang atomic.Bool
	hang.Store(true)
	var mu sync.Mutex
	delivered := map[string]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			// The merchant is stuck; the gateway dies meanwhile. (Reading
			// the body first lets the server notice the peer went away.)
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			return
		}
		mu.Lock()
		delivered[r.Header.Get("X-Gateway-Event-Id")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer func() { recv.CloseClientConnections(); recv.Close() }()

	addr, metricsAddr := freeAddr(t), freeAddr(t)
	cfg := filepath.Join(dir, "gateway.yaml")
	doc := fmt.Sprintf(`
server: {addr: "%s", public_url: "http://%s", metrics_addr: "%s"}
database: {driver: sqlite, dsn: "%s"}
sandbox: true
merchants:
  - id: demo
    api_keys: [{key: "%s", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_url: "%s/payments"
    webhook_secret: "%s"
    channels:
      - id: wxv2
        provider: wechat_v2
        base_url: sandbox
        params: {appid: "wxd930ea5d5a258f4f", mch_id: "10000100", api_key: "%s", sign_type: MD5}
`, addr, addr, metricsAddr, filepath.Join(dir, "gateway.db"), demoKey, recv.URL, gatewaytest.WebhookSecret, v2Key)
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	env := &gatewaytest.Env{T: t, URL: "http://" + addr}

	first := startProcess(t, bin, cfg, env.URL)
	if r := env.Do("POST", "/v1/orders", demoKey, v2Order("wxv2", "CRASH00001", "8.88")); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	pay := env.Pay("wxv2", "CRASH00001", nil)
	if pay.Status != 200 || !strings.Contains(string(pay.Body), "SUCCESS") {
		t.Fatalf("pay: %d %s", pay.Status, pay.Body)
	}
	// The notification was acknowledged; the webhook is in flight. Crash.
	time.Sleep(300 * time.Millisecond)
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	crashed := time.Now()

	hang.Store(false)
	second := startProcess(t, bin, cfg, env.URL)
	if o := env.Do("GET", "/v1/orders/CRASH00001", demoKey, nil); o.Str("status") != "PAID" {
		t.Fatalf("after the crash the acknowledged payment is lost: %s", o.Body)
	}
	deadline := crashed.Add(time.Minute)
	for {
		mu.Lock()
		n := len(delivered)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the undelivered event did not go out within a minute of the restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("event delivered %s after the crash", time.Since(crashed).Round(time.Second))

	// The Docker HEALTHCHECK: the binary asks its own /healthz.
	if out, err := exec.Command(bin, "-healthcheck", "-config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("healthcheck of a running gateway: %v %s", err, out)
	}
	// /metrics is on metrics_addr, not on the public listener.
	if r := env.Do("GET", "/metrics", "", nil); r.Status != http.StatusNotFound {
		t.Fatalf("/metrics on the public listener: %d", r.Status)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if resp, err := http.Get("http://" + metricsAddr + path); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s on metrics_addr: %v %v", path, err, resp)
		} else {
			resp.Body.Close()
		}
	}
	if r := env.Do("GET", "/debug/pprof/", "", nil); r.Status != http.StatusNotFound {
		t.Fatalf("profiles on the public listener: %d", r.Status)
	}

	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- second.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
	case <-time.After(20 * time.Second):
		_ = second.Process.Signal(syscall.SIGQUIT)
		time.Sleep(time.Second)
		t.Fatalf("no graceful stop within 20 s:\n%s", logsOf(second))
	}
	if err := exec.Command(bin, "-healthcheck", "-config", cfg).Run(); err == nil {
		t.Fatal("healthcheck passed with the gateway stopped")
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range delivered {
		if n != 1 {
			t.Fatalf("event %s delivered %d times", id, n)
		}
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess runs the gateway binary and waits until it is ready.
func startProcess(t testing.TB, bin, cfg, url string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "-config", cfg)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	for i := 0; i < 200; i++ {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gateway did not become ready:\n%s", logs.String())
	return nil
}

func logsOf(cmd *exec.Cmd) string {
	if b, ok := cmd.Stderr.(*syncBuffer); ok {
		return b.String()
	}
	return ""
}
