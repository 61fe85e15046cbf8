package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/config"
)

// The Dockerfile's HEALTHCHECK runs `gateway -healthcheck`: the old one ran
// /bin/sh (dash, no /dev/tcp) and was always unhealthy. The check asks the
// configured listener for /healthz, on loopback when it listens on every
// interface (the container's GATEWAY_ADDR=0.0.0.0:8080).
func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	client := &http.Client{Timeout: time.Second}
	for _, addr := range []string{srv.Listener.Addr().String(), "0.0.0.0:" + port, ":" + port} {
		if err := healthcheck(&config.Config{Server: config.Server{Addr: addr}}, client); err != nil {
			t.Errorf("healthcheck %s: %v", addr, err)
		}
	}
	status = http.StatusServiceUnavailable
	if err := healthcheck(&config.Config{Server: config.Server{Addr: srv.Listener.Addr().String()}}, client); err == nil {
		t.Error("a 503 passed")
	}
	srv.Close()
	if err := healthcheck(&config.Config{Server: config.Server{Addr: "127.0.0.1:" + port}}, client); err == nil {
		t.Error("nothing listening passed")
	}
}
