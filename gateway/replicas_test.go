package gateway_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// replicaConfig is one replica of a gateway whose replicas share a
// database. The provider (fake, without callbacks, so the poller owns its
// orders) keeps one book for all replicas, as a real provider would.
const replicaConfig = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
poller: {interval: 20ms, batch: 10, concurrency: 8}
webhooks: {interval: 20ms, workers: 4}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - {id: fake-r, provider: test_fake, currency: CNY, params: {key: "` + fakeSecret + `", account: "acct-1", notify: "false", book: "${BOOK}"}}
`

// Two gateway instances on one database and 200 due orders: every order
// is polled, never by both at once, and every merchant event is delivered
// exactly once. PostgreSQL is the point (FOR UPDATE SKIP LOCKED leases);
// the SQLite variant shows the same on one shared file.
func TestReplicasPollAndDeliverEachOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		dsn := storetest.FreshDSN(t, driver)
		recv := gatewaytest.NewReceiver(t, gatewaytest.WebhookSecret)
		vars := map[string]string{"DB_DRIVER": driver, "DB": dsn, "BOOK": fmt.Sprintf("replicas-%s-%d", driver, time.Now().UnixNano())}
		var polls, delivered [2]atomic.Int64
		setup := func(i int) func(*gateway.App) {
			return func(app *gateway.App) {
				app.Orders.SetSchedules(orders.Schedules{Fast: []time.Duration{40 * ms}})
				app.Dispatcher.SetSchedule([]time.Duration{10 * ms, 10 * ms, 10 * ms})
				observePoll, observeHook := app.Poller.Observe, app.Dispatcher.Observe
				app.Poller.Observe = func(kind, result string) {
					if kind == "order" {
						polls[i].Add(1)
					}
					observePoll(kind, result)
				}
				app.Dispatcher.Observe = func(result string, d time.Duration) {
					if result == "delivered" {
						delivered[i].Add(1)
					}
					observeHook(result, d)
				}
			}
		}
		envs := []*gatewaytest.Env{
			gatewaytest.Start(t, replicaConfig, gatewaytest.Options{Vars: vars, Receiver: recv, NoBackground: true, Setup: setup(0)}),
			gatewaytest.Start(t, replicaConfig, gatewaytest.Options{Vars: vars, Receiver: recv, NoBackground: true, Setup: setup(1)}),
		}
		check := storetest.OpenDSN(t, driver, dsn, store.Options{}) // the test's own view of the database
		book := gatewaytest.Book("fake-r")

		const n, unpaid = 200, 40
		var nos []string
		for i := 0; i < n; i++ {
			no := fmt.Sprintf("REPL%06d", i)
			createOn(t, envs[i%2], "fake-r", no, "1.00")
			nos = append(nos, no)
			if i >= unpaid {
				book.MarkPaid(no) // paid at the provider; no callback comes
			}
		}
		if err := check.DB().Model(&store.Order{}).Where("1 = 1").Update("next_poll_ms", store.DueNow()).Error; err != nil {
			t.Fatal(err)
		}
		book.SetQueryBehaviour(3*ms, nil, nil) // calls take time, so overlaps would show
		start := time.Now()
		envs[0].App.Start()
		envs[1].App.Start()

		paidCount := func() int64 {
			var c int64
			check.DB().Model(&store.Order{}).Where("status = 'PAID'").Count(&c)
			return c
		}
		eventually(t, 20*time.Second, func() bool {
			if paidCount() != n-unpaid || len(recv.Events()) < n-unpaid {
				return false
			}
			for _, no := range nos[:unpaid] {
				if book.Queries(no) < 3 { // the unpaid ones keep being polled
					return false
				}
			}
			return true
		}, func() string {
			return fmt.Sprintf("%d paid, %d events received, polls %d/%d", paidCount(), len(recv.Events()), polls[0].Load(), polls[1].Load())
		})
		took := time.Since(start)
		time.Sleep(100 * ms) // rounds after the last event: nothing more may arrive
		envs[0].App.Stop()
		envs[1].App.Stop()

		for _, no := range nos {
			if q := book.Queries(no); q < 1 {
				t.Fatalf("%s never polled", no)
			}
			if c := book.MaxConcurrentQueries(no); c != 1 {
				t.Fatalf("%s polled by %d callers at once", no, c)
			}
		}
		byID := map[string]int{}
		for _, e := range recv.Events() {
			byID[e.ID]++
			if !e.SignatureOK || e.Type != "order.paid" {
				t.Fatalf("event %s %s signature ok %v", e.ID, e.Type, e.SignatureOK)
			}
		}
		if len(byID) != n-unpaid {
			t.Fatalf("%d distinct events received, want %d", len(byID), n-unpaid)
		}
		for id, c := range byID {
			if c != 1 {
				t.Fatalf("event %s delivered %d times", id, c)
			}
		}
		for _, no := range nos[unpaid:] {
			if got := recv.Matching("order.paid", no); len(got) != 1 {
				t.Fatalf("%s: %d order.paid events", no, len(got))
			}
		}
		var attempts int64
		check.DB().Model(&store.EventAttempt{}).Count(&attempts)
		if attempts != n-unpaid {
			t.Fatalf("%d delivery attempts recorded, want %d (one per event)", attempts, n-unpaid)
		}
		var leased int64
		check.DB().Model(&store.Order{}).Where("lease_token <> ''").Count(&leased)
		if leased != 0 {
			t.Fatalf("%d orders still leased after both stopped", leased)
		}
		if polls[0].Load() == 0 || polls[1].Load() == 0 {
			t.Fatalf("one replica did all the polling: %d / %d", polls[0].Load(), polls[1].Load())
		}
		var queries int
		for _, no := range nos {
			queries += book.Queries(no)
		}
		t.Logf("%s: %d orders, %d provider queries (max 1 per order at once) in %s; polls per replica %d / %d; deliveries %d / %d",
			driver, n, queries, took.Round(time.Millisecond), polls[0].Load(), polls[1].Load(), delivered[0].Load(), delivered[1].Load())
	})
}
