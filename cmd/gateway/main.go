// Command gateway runs the payment gateway.
//
//	go run ./cmd/gateway                  # configs/gateway.yaml: SQLite + sandboxes
//	go run ./cmd/gateway -config my.yaml  # or GATEWAY_CONFIG=my.yaml
//	gateway -healthcheck                  # exit 0 when the running gateway answers /healthz (Docker HEALTHCHECK)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
	_ "github.com/paygate/paygate/providers/all"
)

// gcPercent is the garbage collector's target unless GOGC says otherwise.
// The gateway's live heap is a few MiB and every request allocates: at
// Go's default (100) it collects every few MiB, several times a second
// under load. 400 lets the heap grow to five times the live data between
// collections, a few tens of MiB, for a fraction of the collector's CPU.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	def := os.Getenv("GATEWAY_CONFIG")
	if def == "" {
		def = "configs/gateway.yaml"
	}
	flags := flag.NewFlagSet("gateway", flag.ContinueOnError)
	path := flags.String("config", def, "config file (env GATEWAY_CONFIG)")
	check := flags.Bool("healthcheck", false, "ask the gateway running with this config for /healthz and exit 0 if it answers 200")
	if err := flags.Parse(args); err != nil {
		return err
	}

	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if *check {
		return healthcheck(cfg, &http.Client{Timeout: 3 * time.Second})
	}
	log := newLogger(cfg.Log)
	app, err := gateway.New(cfg, log, gateway.Options{})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		app.Stop()
		return err
	}
	srv := &http.Server{
		Handler:           app.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	var metricsSrv *http.Server
	if cfg.Server.MetricsAddr != config.MetricsOff {
		// A port taken (a local Prometheus also defaults to 9090) costs the
		// metrics, not the payments: logged, and the gateway runs on.
		if mln, err := net.Listen("tcp", cfg.Server.MetricsAddr); err != nil {
			log.Error("metrics listener: /metrics is not served; set server.metrics_addr (GATEWAY_METRICS_ADDR)", "addr", cfg.Server.MetricsAddr, "err", err)
		} else {
			metricsSrv = &http.Server{Handler: app.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = metricsSrv.Serve(mln) }()
			log.Info("metrics listening", "addr", mln.Addr().String())
		}
	}
	app.Start()
	log.Info("gateway listening", "addr", ln.Addr().String(), "public_url", cfg.Server.PublicURL,
		"database", cfg.Database.Driver, "sandbox", cfg.Sandbox, "channels", len(app.Orders.Channels()))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-stop:
		log.Info("shutting down", "signal", sig.String())
	case err := <-errc:
		app.Stop()
		return err
	}
	// Stop taking requests and finish those in flight (notifications
	// included), then stop the poller and dispatcher, releasing leases.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(ctx)
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(ctx)
	}
	app.Stop()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// healthcheck asks the gateway listening on cfg.Server.Addr for /healthz
// (on loopback when it listens on every interface).
func healthcheck(cfg *config.Config, client *http.Client) error {
	host, port, err := net.SplitHostPort(cfg.Server.Addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %d", resp.StatusCode)
	}
	return nil
}
