// Command webhookecho is a stand-in merchant backend for the README tour:
// it receives the gateway's webhooks, checks their signature as a merchant
// should, and prints them.
//
//	go run ./scripts/webhookecho -addr 127.0.0.1:9000 -secret demo-webhook-secret-0000000000
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/paygate/paygate/gateway/webhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address")
	secret := flag.String("secret", "demo-webhook-secret-0000000000", "the merchant's webhook_secret")
	flag.Parse()
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
		fmt.Printf("%s %s %s  event %s  %s\n%s\n\n", time.Now().Format(time.TimeOnly), r.Method, r.URL.Path,
			r.Header.Get(webhook.HeaderEventID), verdict, body)
		if !ok {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	log.Printf("merchant webhook receiver on http://%s (secret from -secret)", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
