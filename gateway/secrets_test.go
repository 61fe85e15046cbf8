package gateway_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/store"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Secrets never appear in logs, API answers, stored notifications or
// merchant events, on good paths and failing ones.
func TestSecretsStayOutOfLogsAndOutput(t *testing.T) {
	var logs syncBuffer
	env := gatewaytest.Start(t, v2Config, gatewaytest.Options{WebhookSchedule: fastRetries, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	env.Receiver.FailNext(1)
	var answers strings.Builder
	record := func(r gatewaytest.Response) { answers.Write(r.Body) }

	record(env.Do("POST", "/v1/orders", demoKey, v2Order("wxv2", "SECR000001", "1.00")))
	record(env.Do("POST", "/v1/orders", demoKey, v2Order("wxv2-sp", "SECR000002", "1.00")))
	record(env.Do("POST", "/v1/orders", "wrong-key-but-long-enough", v2Order("wxv2", "SECR000003", "1.00")))
	record(env.Do("POST", "/v1/orders", demoKey, map[string]any{"amount": "x"}))
	record(env.Pay("wxv2", "SECR000001", map[string]any{"duplicates": 1}))
	env.WaitStatus(demoKey, "SECR000001", "PAID", 2*time.Second)
	req, _ := http.NewRequest("POST", env.URL+"/notify/wxv2", strings.NewReader(v2Notification(t, map[string]string{"out_trade_no": "SECR000001", "total_fee": "100"}, "0000000000000000000000000000000f")))
	req.Header.Set("Authorization", "Bearer "+demoKey)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	record(env.Do("POST", "/v1/orders/SECR000001/refunds", demoKey, map[string]any{"out_refund_no": "SECR00000R", "amount": "0.50"}))
	env.Receiver.Wait("refund.succeeded", "SECR000001", 1, 3*time.Second)
	ev := env.Receiver.Wait("order.paid", "SECR000001", 1, 3*time.Second)
	record(env.Do("GET", "/v1/events/"+ev[0].ID, demoKey, nil))
	if r := env.Do("GET", "/metrics", "", nil); r.Status != http.StatusNotFound {
		t.Errorf("/metrics on the public listener: %d", r.Status)
	}
	metricsOut := httptest.NewRecorder()
	env.App.MetricsHandler().ServeHTTP(metricsOut, httptest.NewRequest("GET", "/metrics", nil))
	answers.Write(metricsOut.Body.Bytes())

	var stored strings.Builder
	var inbox []store.Notification
	env.App.Store.DB().Find(&inbox)
	for _, n := range inbox {
		stored.WriteString(n.Headers)
		stored.Write(n.Body)
		stored.WriteString(n.Detail)
	}
	var events []store.MerchantEvent
	env.App.Store.DB().Find(&events)
	for _, e := range events {
		stored.Write(e.Payload)
		stored.WriteString(e.LastError)
	}
	for _, e := range env.Receiver.Events() {
		stored.Write(e.Body)
	}

	secrets := map[string]string{
		"API key":             demoKey,
		"webhook secret":      gatewaytest.WebhookSecret,
		"WeChat v2 key":       v2Key,
		"WeChat v2 SP key":    "sp0key0000000000000000000000000a",
		"Authorization value": "Bearer " + demoKey,
	}
	for name, secret := range secrets {
		for where, text := range map[string]string{"logs": logs.String(), "API answers": answers.String(), "database": stored.String()} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s appears in the %s", name, where)
			}
		}
	}
	if !strings.Contains(logs.String(), "level=") {
		t.Fatal("no logs captured: the test would pass vacuously")
	}
	if !strings.Contains(stored.String(), "[redacted]") {
		t.Error("the Authorization header sent with a notification was not stored redacted")
	}
}
