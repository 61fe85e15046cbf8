package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// Fifty copies of one WeChat Pay v2 notification at once, through real
// HTTP: under the group commit they share transactions, and still the
// order changes once, the merchant gets one order.paid, and every copy is
// acknowledged only once its outcome is durable.
func TestFiftyConcurrentDuplicatesOneTransition(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		env := startOn(t, driver, v2Config, gatewaytest.Options{})
		if r := env.Do("POST", "/v1/orders", demoKey, v2Order("wxv2", "FIFTY00001", "1.00")); r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		body := v2NotificationBench("FIFTY00001", "4200000001202612040000050")
		var wg sync.WaitGroup
		acks := make([]string, 50)
		start := make(chan struct{})
		for i := range acks {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				resp, err := http.Post(env.URL+"/notify/wxv2", "text/xml", strings.NewReader(body))
				if err != nil {
					acks[i] = err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				acks[i] = string(b)
			}(i)
		}
		close(start)
		wg.Wait()
		for i, a := range acks {
			if !strings.Contains(a, "SUCCESS") {
				t.Fatalf("copy %d answered %q", i, a)
			}
		}
		o := env.Do("GET", "/v1/orders/FIFTY00001", demoKey, nil)
		if o.Str("status") != "PAID" {
			t.Fatalf("order: %s", o.Body)
		}
		env.Receiver.Wait("order.paid", "FIFTY00001", 1, 5*time.Second)
		time.Sleep(300 * time.Millisecond)
		if got := env.Receiver.Matching("order.paid", "FIFTY00001"); len(got) != 1 {
			t.Fatalf("merchant got %d order.paid events, want 1", len(got))
		}
		if a, d := count(t, env, &store.Notification{}, "outcome = ?", store.OutcomeApplied), count(t, env, &store.Notification{}, "outcome = ?", store.OutcomeDuplicate); a != 1 || d != 49 {
			t.Fatalf("inbox: %d applied, %d duplicate; want 1 and 49", a, d)
		}
		if n := count(t, env, &store.MerchantEvent{}, ""); n != 1 {
			t.Fatalf("%d outbox rows, want 1", n)
		}
	})
}

// TestCrashUnderNotificationLoad runs the real binary under 32 concurrent
// notification senders and kills it with SIGKILL in the middle of the
// load: after a restart on the same database every notification it had
// acknowledged is PAID with its merchant event, whatever group of the
// group commit it was in.
func TestCrashUnderNotificationLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary; skipped with -short")
	}
	storetest.Each(t, func(t *testing.T, driver string) {
		bins, err := benchBinaries()
		if err != nil {
			t.Fatal(err)
		}
		dsn := filepath.Join(t.TempDir(), "gateway.db")
		if driver == "postgres" {
			dsn = storetest.FreshDSN(t, driver)
		}
		const orders = 3000
		seedOrders(t, driver, dsn, orders)
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
		}))
		defer recv.Close()
		addr := freeAddr(t)
		cfg := filepath.Join(t.TempDir(), "gateway.yaml")
		doc := fmt.Sprintf(benchGatewayConfig, addr, addr, freeAddr(t), driver, dsn, demoKey, recv.URL, gatewaytest.WebhookSecret, v2Key)
		if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		url := "http://" + addr
		first := startProcess(t, bins.gateway, cfg, url)

		var acked sync.Map
		var sent, nacked atomic.Int64
		var next atomic.Int64
		var wg sync.WaitGroup
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
		for g := 0; g < 32; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= orders {
						return
					}
					no := benchOrderNo(i)
					body := v2NotificationBench(no, fmt.Sprintf("42000000012026112%011d", i))
					sent.Add(1)
					resp, err := client.Post(url+"/notify/wxv2", "text/xml", strings.NewReader(body))
					if err != nil {
						return // the gateway died: this one was never acknowledged
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 && strings.Contains(string(b), "SUCCESS") {
						acked.Store(no, true)
					} else {
						nacked.Add(1)
					}
				}
			}()
		}
		// Kill it mid-load, once a good number were acknowledged.
		deadline := time.Now().Add(30 * time.Second)
		for count := 0; count < 300 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
			count = 0
			acked.Range(func(any, any) bool { count++; return true })
		}
		if err := first.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = first.Wait()
		wg.Wait()

		second := startProcess(t, bins.gateway, cfg, url)
		defer func() { _ = second.Process.Signal(syscall.SIGTERM); _ = second.Wait() }()
		st, err := store.Open(driver, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		n, lost := 0, 0
		acked.Range(func(k, _ any) bool {
			n++
			o, err := st.OrderByOutTradeNo(context.Background(), "demo", k.(string))
			if err != nil || o.Status != string(providers.OrderPaid) {
				lost++
				if lost <= 5 {
					t.Errorf("acknowledged %s is not PAID after the crash (err %v)", k, err)
				}
				return true
			}
			var events int64
			st.DB().Model(&store.MerchantEvent{}).Where("order_id = ?", o.ID).Count(&events)
			if events != 1 {
				t.Errorf("acknowledged %s has %d merchant events, want 1", k, events)
			}
			return true
		})
		if lost > 0 {
			t.Fatalf("%d of %d acknowledged notifications lost", lost, n)
		}
		if n == int(sent.Load()) {
			t.Fatalf("all %d notifications were acknowledged: the kill came after the load, not during it", n)
		}
		t.Logf("%s: %d sent, %d acknowledged before the kill, all PAID after the restart", driver, sent.Load(), n)
	})
}

// seedOrders is seedBenchOrders for a test.
func seedOrders(t *testing.T, driver, dsn string, n int) {
	t.Helper()
	st, err := store.Open(driver, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := seedOrderRows(st, n); err != nil {
		t.Fatal(err)
	}
}
