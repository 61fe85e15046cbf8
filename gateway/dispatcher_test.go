package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// Stopping the gateway finishes the webhook deliveries in flight and
// leaves every event not yet sent in the outbox, unleased (the dispatcher
// claims only what its idle workers start at once).
func TestShutdownReleasesUnsentEvents(t *testing.T) {
	var hits atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(150 * ms)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer slow.Close()
	st := storetest.Open(t, "sqlite", store.Options{})
	cfg := `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: sqlite, dsn: "${DB}"}
poller: {disabled: true}
webhooks: {interval: 20ms, workers: 1}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:read]}]
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - {id: fake-1, provider: test_fake, currency: CNY, params: {key: "k", account: "a"}}
`
	// The merchant's configured webhook_url (trusted on loopback).
	env := gatewaytest.Start(t, cfg, gatewaytest.Options{NoBackground: true, Store: st, Vars: map[string]string{"WEBHOOK_URL": slow.URL}})
	now := time.Now().UTC()
	for i := 0; i < 4; i++ {
		e := &store.MerchantEvent{MerchantID: "demo", DedupeKey: "test:" + string(rune('a'+i)), Type: "order.paid", URL: slow.URL,
			Payload: []byte(`{}`), CreatedAt: now, UpdatedAt: now}
		if err := st.InsertEvent(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	env.App.Start()
	eventually(t, 2*time.Second, func() bool { return hits.Load() >= 1 }, func() string { return "no delivery started" })
	start := time.Now()
	env.App.Stop()
	took := time.Since(start)
	if took > 400*ms {
		t.Fatalf("stop took %s: it delivered the waiting events (4 x 150ms) instead of leaving them", took)
	}
	var events []store.MerchantEvent
	if err := st.DB().Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	sent, released := 0, 0
	for _, e := range events {
		if e.LeaseToken != "" || e.LeaseUntil != nil {
			t.Fatalf("event %s still leased after stop", e.ID)
		}
		switch {
		case e.Status == store.EventDelivered && e.Attempts == 1:
			sent++ // the one in flight was finished and recorded
		case e.Status == store.EventPending && e.Attempts == 0:
			released++
		default:
			t.Fatalf("event %s: %s after %d attempts", e.ID, e.Status, e.Attempts)
		}
	}
	if sent != int(hits.Load()) || released == 0 || sent+released != 4 {
		t.Fatalf("%d sent (%d hits), %d released", sent, hits.Load(), released)
	}
}
