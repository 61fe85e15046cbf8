// Command paysim runs the provider sandboxes alone, as one server, for
// demos and load tests. It reads a gateway config for the channels (their
// keys are what the simulated providers check signatures with) and sends
// notifications to the gateway's public_url.
//
//	go run ./cmd/paysim -config configs/gateway.yaml -addr 127.0.0.1:8081
//
// Point a gateway (sandbox: false) at it with base_url
// "http://127.0.0.1:8081/sandbox/<provider>" per channel.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/providers"
	_ "github.com/paygate/paygate/providers/all"
	"github.com/paygate/paygate/providers/sandbox"
)

func main() {
	def := os.Getenv("GATEWAY_CONFIG")
	if def == "" {
		def = "configs/gateway.yaml"
	}
	path := flag.String("config", def, "gateway config whose channels are simulated")
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	flag.Parse()
	cfg, err := config.Load(*path)
	if err != nil {
		log.Fatal(err)
	}
	sb := sandbox.New(sandbox.Env{Client: &http.Client{Timeout: 10 * time.Second}})
	n := 0
	for _, m := range cfg.Merchants {
		for _, c := range m.Channels {
			if _, ok := sb.Simulator(c.Provider); !ok {
				continue
			}
			err := sb.AddChannel(providers.Channel{ID: c.ID, Kind: c.Provider, Currency: c.Currency, Params: c.Params,
				NotifyURL: cfg.Server.PublicURL + "/notify/" + c.ID})
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("channel %-20s %-16s base_url http://%s/sandbox/%s\n", c.ID, c.Provider, *addr, c.Provider)
			n++
		}
	}
	mux := http.NewServeMux()
	mux.Handle(sandbox.PathPrefix, sb)
	log.Printf("paysim: %d channel(s), simulators %v, on http://%s; notifications go to %s", n, sb.Kinds(), *addr, cfg.Server.PublicURL)
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
