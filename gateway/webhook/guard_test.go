package webhook

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPublicAddr(t *testing.T) {
	for addr, public := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700:4700::1111": true, "203.0.114.1": true,
		"127.0.0.1": false, "127.1.2.3": false, "::1": false, "10.0.0.5": false, "172.16.3.4": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "fd12:3456::1": false, "224.0.0.1": false, "ff02::1": false,
		"0.0.0.0": false, "::": false, "0.1.2.3": false, "100.100.100.200": false, "255.255.255.255": false, "192.0.2.1": false,
		"::ffff:127.0.0.1": false, "::ffff:169.254.169.254": false, "::ffff:8.8.8.8": true,
		"64:ff9b::7f00:1": false, "64:ff9b::808:808": true, "2002:7f00:1::": false, "2002:808:808::": true, "2001:0:4136::1": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(addr)); got != public {
			t.Errorf("PublicAddr(%s) = %v, want %v", addr, got, public)
		}
	}
}

func TestCheckURL(t *testing.T) {
	g := NewGuard(false, false, []MerchantPolicy{{ID: "shop", WebhookURL: "http://10.0.0.9/payments", Hosts: []string{"hooks.internal", "10.1.2.3"}}})
	for raw, ok := range map[string]bool{
		"https://shop.example/pay":          true,
		"http://shop.example/pay":           false, // https only
		"http://10.0.0.9/payments":          true,  // the configured URL: trusted
		"https://127.0.0.1/x":               false,
		"https://[::1]:8443/x":              false,
		"https://[::ffff:127.0.0.1]/x":      false,
		"https://169.254.169.254/latest":    false,
		"https://localhost:9000/x":          false,
		"https://api.localhost/x":           false,
		"https://10.1.2.3/x":                true, // webhook_hosts
		"https://HOOKS.internal/x":          true, // a name: checked when dialled
		"https://user:pw@shop.example/x":    false,
		"https://0.0.0.0/x":                 false,
		"https://100.100.100.200/meta-data": false,
	} {
		if err := g.CheckURL("shop", raw); (err == nil) != ok {
			t.Errorf("CheckURL(%s) = %v, want ok=%v", raw, err, ok)
		}
	}
	if err := NewGuard(true, false, nil).CheckURL("shop", "http://shop.example/pay"); err != nil {
		t.Errorf("allow_http_webhooks: %v", err)
	}
	if err := NewGuard(false, true, nil).CheckURL("shop", "https://127.0.0.1/x"); err != nil {
		t.Errorf("allow_private_webhooks: %v", err)
	}
}

// The address actually dialled is checked, after name resolution: a name
// that resolves to loopback is refused just as the literal is, unless
// the merchant's webhook_hosts lists it.
func TestGuardedClientChecksTheDialledAddress(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	g := NewGuard(true, false, []MerchantPolicy{{ID: "own", Hosts: []string{"localhost"}}, {ID: "other"}})
	clients := g.guardedClients(2 * time.Second)
	for _, u := range []string{"http://localhost:" + port + "/x", "http://127.0.0.1:" + port + "/x", "http://[::ffff:127.0.0.1]:" + port + "/x"} {
		_, err := clients["other"].Get(u)
		if !errors.Is(err, ErrDestinationNotAllowed) {
			t.Errorf("GET %s: %v, want ErrDestinationNotAllowed", u, err)
		}
		if msg := publicError(err); strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, port) || strings.Contains(msg, "refused") {
			t.Errorf("merchant-facing error names internals: %q", msg)
		}
	}
	if hits != 0 {
		t.Fatalf("%d requests reached the loopback server", hits)
	}
	resp, err := clients["own"].Get("http://localhost:" + port + "/x")
	if err != nil {
		t.Fatalf("webhook_hosts: %v", err)
	}
	resp.Body.Close()
	if hits != 1 {
		t.Fatalf("allowed host: %d hits", hits)
	}
}
