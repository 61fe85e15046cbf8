package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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

// A channel param the adapter does not declare stops start-up, naming the
// channel and the key: here the shipped config with Yaband's sub_app_id
// written the way the WeChat adapters spell it.
func TestMisspeltChannelParamStopsStartUp(t *testing.T) {
	raw, err := os.ReadFile("../../configs/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const right = `secret_key: "demo-yaband-secret-0001", sub_app_id:`
	if !strings.Contains(string(raw), right) {
		t.Fatalf("configs/gateway.yaml no longer has %s", right)
	}
	misspelt := strings.Replace(string(raw), right, `secret_key: "demo-yaband-secret-0001", sub_appid:`, 1)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(misspelt), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run([]string{"-config", path})
	if err == nil {
		t.Fatal("the gateway started with a misspelt channel param")
	}
	for _, want := range []string{".params.sub_appid", "channel demo-yaband (yaband)", "did you mean sub_app_id?"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start-up error %q does not say %q", err, want)
		}
	}
}
