package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
	notifyin "github.com/paygate/paygate/gateway/notify"
	"github.com/paygate/paygate/store"
)

const inboxConfig = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
poller: {disabled: true}
webhooks: {disabled: true}
notify: {rate_per_source: RATE, burst_per_source: BURST, refused_per_source: 0.001, refused_burst: 10}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    channels:
      - {id: fake-1, provider: test_fake, currency: CNY, params: {key: "` + fakeSecret + `", account: "acct-1"}}
`

func inboxBytes(t *testing.T, env *gatewaytest.Env) (rows int, size int) {
	t.Helper()
	var ns []store.Notification
	if err := env.App.Store.DB().Find(&ns).Error; err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		size += len(n.Body) + len(n.Headers) + len(n.Detail) + len(n.Path)
	}
	return len(ns), size
}

// Finding 3 (the open inbox): /notify/<anything> stored the whole body
// (256 KiB) and headers before knowing the channel; 40 requests stored
// 11.3 MiB. Now an unknown channel or a refusal before verification keeps
// a 1 KiB prefix, and only within the source's refusal rate.
func TestInboxStaysBoundedUnderJunk(t *testing.T) {
	cfg := strings.NewReplacer("RATE", "1000", "BURST", "1000").Replace(inboxConfig)
	env := gatewaytest.Start(t, cfg, gatewaytest.Options{NoBackground: true})
	junk := bytes.Repeat([]byte("A"), notifyin.MaxBody)
	send := func(path string) int {
		req, _ := http.NewRequest("POST", env.URL+path, bytes.NewReader(junk))
		req.Header.Set("X-Junk", strings.Repeat("h", 8<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < 20; i++ {
		if code := send("/notify/no-such-channel-" + strings.Repeat("x", i)); code != 404 {
			t.Fatalf("unknown channel: %d", code)
		}
		send("/notify/fake-1") // refused: not a notification
	}
	rows, size := inboxBytes(t, env)
	if rows > 10 || size > rows*(notifyin.RefusedPrefix*2+1024) {
		t.Fatalf("40 junk requests of %d KiB stored %d rows, %d bytes", len(junk)>>10, rows, size)
	}
	t.Logf("40 junk requests of 256 KiB: %d rows, %d bytes stored", rows, size)

	// A genuine notification is stored whole and applied all the same.
	if r := env.Do("POST", "/v1/orders", demoKey, orderBody("INBOX00001", "1.00")); r.Status != 201 {
		t.Fatal(r.Status)
	}
	if code, _ := notify(t, env, "fake-1", paidNotification("INBOX00001", 100)); code != 200 {
		t.Fatalf("genuine notification after the junk: %d", code)
	}
}

// Per source, /notify answers 429 beyond its rate (and stores nothing).
func TestNotifyRateLimitPerSource(t *testing.T) {
	cfg := strings.NewReplacer("RATE", "0.001", "BURST", "5").Replace(inboxConfig)
	env := gatewaytest.Start(t, cfg, gatewaytest.Options{NoBackground: true})
	codes := map[int]int{}
	for i := 0; i < 8; i++ {
		resp, err := http.Post(env.URL+"/notify/no-such-channel", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[404] != 5 || codes[429] != 3 {
		t.Fatalf("answers %v, want 5 x 404 then 3 x 429", codes)
	}
	if rows, _ := inboxBytes(t, env); rows != 5 {
		t.Fatalf("%d rows", rows)
	}
}

// Old inbox rows and finished merchant events are deleted, pending events
// never; one replica at a time holds the job's lease.
func TestRetentionPurgesOldRows(t *testing.T) {
	cfg := strings.NewReplacer("RATE", "1000", "BURST", "1000").Replace(inboxConfig)
	env := gatewaytest.Start(t, cfg, gatewaytest.Options{NoBackground: true})
	st := env.App.Store
	ctx := context.Background()
	old := time.Now().Add(-100 * 24 * time.Hour).UTC()
	recent := time.Now().Add(-time.Hour).UTC()
	for i, at := range []time.Time{old, old, recent} {
		if err := st.InsertNotification(ctx, &store.Notification{ChannelID: "fake-1", Outcome: store.OutcomeApplied, ReceivedAt: at, Body: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	for i, e := range []struct {
		status string
		at     time.Time
	}{{store.EventDelivered, old}, {store.EventFailed, old}, {store.EventPending, old}, {store.EventDelivered, recent}} {
		ev := &store.MerchantEvent{MerchantID: "demo", DedupeKey: "ret:" + string(rune('a'+i)), Type: "order.paid", URL: "https://x.example",
			Payload: []byte(`{}`), Status: e.status, NextTryAt: store.At(e.at), CreatedAt: e.at, UpdatedAt: e.at}
		if err := st.InsertEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if err := st.DB().Create(&store.EventAttempt{ID: store.NewID("att"), EventID: ev.ID, At: e.at}).Error; err != nil {
			t.Fatal(err)
		}
	}
	did, err := env.App.Retention.Once(ctx)
	if err != nil || !did {
		t.Fatalf("retention: %v %v", did, err)
	}
	if n := count(t, env, &store.Notification{}, ""); n != 1 {
		t.Fatalf("%d notifications left, want 1", n)
	}
	var left []store.MerchantEvent
	st.DB().Order("dedupe_key").Find(&left)
	if len(left) != 2 || left[0].Status != store.EventPending || left[1].NextTryAt.Time.Before(recent.Add(-time.Minute)) {
		t.Fatalf("events left: %+v", left)
	}
	if n := count(t, env, &store.EventAttempt{}, ""); n != 2 {
		t.Fatalf("%d attempts left, want 2", n)
	}
	// Another replica's job waits for the lease.
	other := gatewaytest.Start(t, cfg, gatewaytest.Options{NoBackground: true, Store: st})
	if did, err := other.App.Retention.Once(ctx); err != nil || did {
		t.Fatalf("second replica ran the purge while the first holds the lease: %v %v", did, err)
	}
}
