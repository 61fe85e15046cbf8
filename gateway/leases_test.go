package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// The lease tests run two replicas on one database with a slow partner,
// at the ratios of production scaled down: a webhook timeout of 10 s and a
// lease of 30 s become 2 s and 6 s (enough slack over the merchant's 0.8 x
// the timeout for a loaded CI machine); a channel timeout of 10 s with a
// 30 s lease becomes 500 ms and 1.5 s.

// leaseConfig is one replica: no poller, a dispatcher of two workers.
const leaseConfig = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
poller: {disabled: true}
webhooks: {interval: 20ms, workers: 2, timeout: 2s, lease: 6s}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - {id: fake-l, provider: test_fake, currency: CNY, params: {key: "` + fakeSecret + `", account: "acct-1"}}
`

// Two dispatchers and a merchant that answers just inside the timeout:
// every event is delivered once, and every POST made is on record. Before,
// a replica claimed four events per worker under one lease; its last wave
// started after those leases ran out, the other replica sent the same
// events again, and the first one's attempt records were rolled back.
func TestTwoDispatchersWithASlowMerchantDeliverEachEventOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		dsn := storetest.FreshDSN(t, driver)
		recv := gatewaytest.NewReceiver(t, gatewaytest.WebhookSecret)
		recv.SetDelay(1600 * ms) // 0.8 x the timeout
		vars := map[string]string{"DB_DRIVER": driver, "DB": dsn}
		a := gatewaytest.Start(t, leaseConfig, gatewaytest.Options{Vars: vars, Receiver: recv, NoBackground: true})
		b := gatewaytest.Start(t, leaseConfig, gatewaytest.Options{Vars: vars, Receiver: recv, NoBackground: true})
		check := storetest.OpenDSN(t, driver, dsn, store.Options{})
		const n = 8
		now := time.Now().UTC()
		for i := 0; i < n; i++ {
			e := &store.MerchantEvent{MerchantID: "demo", DedupeKey: fmt.Sprintf("test:%d", i), Type: "order.paid", URL: recv.URL(),
				Payload: []byte(fmt.Sprintf(`{"id":"e%d"}`, i)), CreatedAt: now, UpdatedAt: now}
			if err := check.InsertEvent(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		a.App.Start()
		time.Sleep(100 * ms) // a claims first; b finds what a left
		b.App.Start()

		delivered := func() int64 {
			var c int64
			check.DB().Model(&store.MerchantEvent{}).Where("status = ?", store.EventDelivered).Count(&c)
			return c
		}
		eventually(t, 20*time.Second, func() bool { return delivered() == n }, func() string {
			return fmt.Sprintf("%d of %d delivered, %d POSTs", delivered(), n, recv.Hits())
		})
		took := time.Since(start)
		time.Sleep(6500 * ms) // past every lease: a late duplicate would show now
		a.App.Stop()
		b.App.Stop()

		var events []store.MerchantEvent
		check.DB().Find(&events)
		for _, e := range events {
			if e.Status != store.EventDelivered || e.Attempts != 1 || e.LeaseToken != "" {
				t.Errorf("event %s: %s after %d attempts, lease %q", e.ID, e.Status, e.Attempts, e.LeaseToken)
			}
		}
		var attempts int64
		check.DB().Model(&store.EventAttempt{}).Count(&attempts)
		if recv.Hits() != n || attempts != int64(recv.Hits()) {
			t.Fatalf("%d events: %d POSTs made, %d attempts recorded; want %d of each", n, recv.Hits(), attempts, n)
		}
		t.Logf("%s: %d events delivered once each in %s by two dispatchers of 2 workers (merchant answers in 1.6s)", driver, n, took.Round(ms))
	})
}

// pollLeaseConfig is one replica with a slow channel: timeout 500 ms,
// lease 1.5 s, four calls at once, batches of 50.
const pollLeaseConfig = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
poller: {interval: 20ms, batch: 50, concurrency: 4, lease: 1500ms}
webhooks: {disabled: true}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - {id: fake-s, provider: test_fake, currency: CNY, timeout: 500ms, params: {key: "` + fakeSecret + `", account: "acct-1", notify: "false", book: "${BOOK}"}}
`

// Two pollers, a provider that answers in 0.8 x the timeout, and more due
// orders than one replica can poll within a lease: no order is ever polled
// by both at once, and each is polled exactly once. Before, one replica
// claimed the whole batch under one lease and worked through it four at a
// time; the leases of the later waves ran out while they waited, and the
// other replica polled the same orders at the same moment.
func TestTwoPollersWithASlowProviderNeverPollOneOrderAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		dsn := storetest.FreshDSN(t, driver)
		vars := map[string]string{"DB_DRIVER": driver, "DB": dsn, "BOOK": fmt.Sprintf("leases-%s-%d", driver, time.Now().UnixNano())}
		once := func(app *gateway.App) { app.Orders.SetSchedules(orders.Schedules{Fast: []time.Duration{time.Hour}}) }
		a := gatewaytest.Start(t, pollLeaseConfig, gatewaytest.Options{Vars: vars, NoBackground: true, Setup: once})
		b := gatewaytest.Start(t, pollLeaseConfig, gatewaytest.Options{Vars: vars, NoBackground: true, Setup: once})
		check := storetest.OpenDSN(t, driver, dsn, store.Options{})
		book := gatewaytest.Book("fake-s")
		const n = 20 // five waves of four: 2 s of work against a 1.5 s lease
		var nos []string
		for i := 0; i < n; i++ {
			no := fmt.Sprintf("SLOW%06d", i)
			createOn(t, a, "fake-s", no, "1.00")
			nos = append(nos, no)
		}
		if err := check.DB().Model(&store.Order{}).Where("1 = 1").Update("next_poll_ms", store.DueNow()).Error; err != nil {
			t.Fatal(err)
		}
		book.SetQueryBehaviour(400*ms, nil, nil)
		start := time.Now()
		a.App.Start()
		eventually(t, 2*time.Second, func() bool { return book.CallCount("query") > 0 }, func() string { return "a polls nothing" })
		b.App.Start()

		settled := func() bool {
			var open int64
			check.DB().Model(&store.Order{}).Where("poll_attempts = 0 OR lease_token <> ''").Count(&open)
			return open == 0
		}
		eventually(t, 10*time.Second, settled, func() string { return fmt.Sprintf("%d queries so far", book.CallCount("query")) })
		took := time.Since(start)
		time.Sleep(200 * ms)
		a.App.Stop()
		b.App.Stop()
		for _, no := range nos {
			if c := book.MaxConcurrentQueries(no); c != 1 {
				t.Errorf("%s polled by %d callers at once", no, c)
			}
			if q := book.Queries(no); q != 1 {
				t.Errorf("%s polled %d times, want once", no, q)
			}
		}
		t.Logf("%s: %d orders polled once each in %s (%d queries)", driver, n, took.Round(ms), book.CallCount("query"))
	})
}
