// Command webhookecho is a stand-in merchant backend for the README tour:
// it receives the gateway's webhooks, checks their signature as a merchant
// should, and prints them with the order's event sequence number. It
// remembers the last sequence number seen per order and warns about a
// stale one (not newer than one already seen: a redelivery, or a replay)
// and about a gap (an earlier event given up on): a merchant acts on an
// order's newest word only.
//
//	go run ./scripts/webhookecho -addr 127.0.0.1:9000 -secret demo-webhook-secret-0000000000
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/paygate/paygate/gateway/webhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address")
	secret := flag.String("secret", "demo-webhook-secret-0000000000", "the merchant's webhook_secret")
	flag.Parse()
	seen := newSequences()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		ok := webhook.Verify(*secret, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute)
		verdict := "signature OK"
		if !ok {
			verdict = "BAD SIGNATURE (refused)"
		}
		fmt.Printf("%s %s %s  event %s  %s\n", time.Now().Format(time.TimeOnly), r.Method, r.URL.Path,
			r.Header.Get(webhook.HeaderEventID), verdict)
		if ok {
			fmt.Println(describe(seen, body))
		}
		fmt.Printf("%s\n\n", body)
		if !ok {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	log.Printf("merchant webhook receiver on http://%s (secret from -secret)", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}

// event is what a merchant reads of a webhook to order it.
type event struct {
	Type        string `json:"type"`
	Sequence    int64  `json:"sequence"`
	OrderStatus string `json:"order_status"`
	Data        struct {
		OutTradeNo string `json:"out_trade_no"`
	} `json:"data"`
}

// describe says which event of which order a webhook is, and whether it
// is news.
func describe(seen *sequences, body []byte) string {
	var e event
	if err := json.Unmarshal(body, &e); err != nil || e.Data.OutTradeNo == "" || e.Sequence == 0 {
		return "  (not about an order)"
	}
	line := fmt.Sprintf("  %s  order %s  #%d  order_status %s", e.Type, e.Data.OutTradeNo, e.Sequence, e.OrderStatus)
	switch last := seen.observe(e.Data.OutTradeNo, e.Sequence); {
	case e.Sequence <= last:
		line += fmt.Sprintf("\n  WARNING stale: #%d of order %s was already seen; keep the order's newer state", last, e.Data.OutTradeNo)
	case e.Sequence > last+1:
		line += fmt.Sprintf("\n  note: #%d..#%d of order %s not seen here (given up on, or sent before this receiver started)",
			last+1, e.Sequence-1, e.Data.OutTradeNo)
	}
	return line
}

// sequences is the newest sequence number seen per order.
type sequences struct {
	mu   sync.Mutex
	last map[string]int64
}

func newSequences() *sequences { return &sequences{last: map[string]int64{}} }

// observe records seq for order and returns the newest seen before it.
func (s *sequences) observe(order string, seq int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.last[order]
	s.last[order] = max(last, seq)
	return last
}
