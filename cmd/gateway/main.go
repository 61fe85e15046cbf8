// Command gateway runs the payment gateway.
//
//	go run ./cmd/gateway                  # configs/gateway.yaml: SQLite + sandboxes
//	go run ./cmd/gateway -config my.yaml  # or GATEWAY_CONFIG=my.yaml
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
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
	_ "github.com/paygate/paygate/providers/all"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run() error {
	if p := os.Getenv("PAYGATE_CPUPROFILE"); p != "" {
		f, _ := os.Create(p)
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	def := os.Getenv("GATEWAY_CONFIG")
	if def == "" {
		def = "configs/gateway.yaml"
	}
	path := flag.String("config", def, "config file (env GATEWAY_CONFIG)")
	flag.Parse()

	cfg, err := config.Load(*path)
	if err != nil {
		return err
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
