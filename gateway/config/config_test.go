package config

import (
	"os"
	"strings"
	"testing"

	_ "github.com/paygate/paygate/providers/all"
)

const minimal = `
server: {addr: "127.0.0.1:8080"}
sandbox: true
merchants:
  - id: demo
    api_keys: [{key: "${API_KEY}", scopes: [orders:write]}]
    webhook_url: "http://127.0.0.1:9000/payments"
    webhook_secret: "${SECRET:-demo-secret-0123456789}"
    channels:
      - id: wx
        provider: wechat_v2
        base_url: sandbox
        params: {appid: "wx123", mch_id: 10000100, api_key: "${WX_KEY}"}
`

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseExpandsAndDefaults(t *testing.T) {
	cfg, err := Parse([]byte(minimal), env(map[string]string{"API_KEY": "key-0123456789abcdef", "WX_KEY": "0123"}))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Merchants[0]
	ch := m.Channels[0]
	if m.APIKeys[0].Key != "key-0123456789abcdef" || m.WebhookSecret != "demo-secret-0123456789" {
		t.Fatalf("expansion: %+v", m)
	}
	if ch.Params.String("api_key") != "0123" || ch.Params.String("mch_id") != "10000100" {
		t.Fatalf("params: %v", ch.Params)
	}
	if ch.Currency != "CNY" || ch.Poll != "auto" || ch.Timeout.Seconds() != 10 {
		t.Fatalf("channel defaults: %+v", ch)
	}
	if cfg.Server.PublicURL != "http://127.0.0.1:8080" || cfg.Database.Driver != "sqlite" || cfg.Database.DSN != "data/gateway.db" {
		t.Fatalf("defaults: %+v %+v", cfg.Server, cfg.Database)
	}
	if cfg.Server.MetricsAddr != "127.0.0.1:9090" || cfg.Server.AllowHTTPWebhooks || cfg.Server.AllowPrivateWebhooks ||
		cfg.Notify.RatePerSource != 1000 || cfg.Notify.BurstPerSource != 2000 || cfg.Notify.RefusedPerSource != 1 || cfg.Retention.Inbox.Hours() != 90*24 ||
		cfg.Poller.RefundCallMargin.Seconds() != 30 {
		t.Fatalf("edge defaults: %+v %+v %+v %+v", cfg.Server, cfg.Notify, cfg.Retention, cfg.Poller)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	vars := map[string]string{"API_KEY": "key-0123456789abcdef", "WX_KEY": "k"}
	tests := []struct {
		name, doc string
		vars      map[string]string
		want      []string
	}{
		{"missing variable", minimal, map[string]string{"API_KEY": "key-0123456789abcdef"},
			[]string{"merchants[0].channels[0].params.api_key", "WX_KEY is not set"}},
		{"unknown key", strings.Replace(minimal, "sandbox: true", "sandbox: true\nsandbx: true", 1), vars,
			[]string{"sandbx"}},
		{"bad currency", strings.Replace(minimal, "base_url: sandbox", "base_url: sandbox\n        currency: EURO", 1), vars,
			[]string{"merchants[0].channels[0].currency"}},
		// A channel's params are its adapter's, decoded strictly: a
		// misspelt key stops start-up naming the channel and the key.
		{"misspelt channel param", strings.Replace(minimal, `api_key: "${WX_KEY}"}`, `api_key: "${WX_KEY}", sub_mch_id: "1900000110", sub_app_id: "wx456"}`, 1), vars,
			[]string{"merchants[0].channels[0].params.sub_app_id", "channel wx (wechat_v2)", "unknown param (did you mean sub_appid?)"}},
		{"unknown channel param", strings.Replace(minimal, `api_key: "${WX_KEY}"}`, `api_key: "${WX_KEY}", colour: blue}`, 1), vars,
			[]string{"merchants[0].channels[0].params.colour", "known: api_key, appid, cert_file"}},
		{"missing channel param", strings.Replace(minimal, `mch_id: 10000100, `, ``, 1), vars,
			[]string{"merchants[0].channels[0].params.mch_id", "is required"}},
		{"simulator param off the sandbox", strings.Replace(strings.Replace(minimal, `api_key: "${WX_KEY}"}`, `api_key: "${WX_KEY}", sandbox_sign_with: x}`, 1), "base_url: sandbox", "base_url: https://api.mch.weixin.qq.com", 1), vars,
			[]string{"merchants[0].channels[0].params.sandbox_sign_with", "sandbox simulator"}},
		{"unknown provider", strings.Replace(minimal, "provider: wechat_v2", "provider: wechat_v9", 1), vars,
			[]string{"merchants[0].channels[0].provider", `"wechat_v9" is not a provider`}},
		{"currency the provider does not take", strings.Replace(minimal, "base_url: sandbox", "base_url: sandbox\n        currency: EUR", 1), vars,
			[]string{"merchants[0].channels[0].currency", "wechat_v2 takes CNY only"}},
		{"bad poll", strings.Replace(minimal, "base_url: sandbox", "base_url: sandbox\n        poll: sometimes", 1), vars,
			[]string{"merchants[0].channels[0].poll"}},
		{"sandbox off", strings.Replace(minimal, "sandbox: true", "sandbox: false", 1), vars,
			[]string{"merchants[0].channels[0].base_url", "sandbox is off"}},
		{"bad scope", strings.Replace(minimal, "scopes: [orders:write]", "scopes: [orders:delete]", 1), vars,
			[]string{"merchants[0].api_keys[0].scopes", "orders:delete"}},
		{"short key", minimal, map[string]string{"API_KEY": "short", "WX_KEY": "k"},
			[]string{"merchants[0].api_keys[0]", "at least 16"}},
		{"short secret", minimal, map[string]string{"API_KEY": "key-0123456789abcdef", "WX_KEY": "k", "SECRET": "short"},
			[]string{"merchants[0].webhook_secret"}},
		{"duplicate channel", strings.Replace(minimal, "      - id: wx\n", "      - id: wx\n        provider: wechat_v2\n        base_url: sandbox\n      - id: wx\n", 1), vars,
			[]string{"merchants[0].channels[1].id", "duplicate"}},
		{"bad driver", minimal + "database: {driver: mysql}\n", vars, []string{"database.driver"}},
		{"metrics on the API listener", strings.Replace(minimal, `addr: "127.0.0.1:8080"}`, `addr: "127.0.0.1:8080", metrics_addr: "127.0.0.1:8080"}`, 1), vars,
			[]string{"server.metrics_addr"}},
		{"bad webhook host", strings.Replace(minimal, "    channels:", "    webhook_hosts: [\"https://x.example/\"]\n    channels:", 1), vars,
			[]string{"merchants[0].webhook_hosts[0]"}},
		{"tiny retention", minimal + "retention: {inbox: 1m}\n", vars, []string{"retention"}},
		{"bad timezone", strings.Replace(minimal, "  - id: demo\n", "  - id: demo\n    timezone: Beijing\n", 1), vars,
			[]string{"merchants[0].timezone", "IANA"}},
		{"host timezone", strings.Replace(minimal, "  - id: demo\n", "  - id: demo\n    timezone: Local\n", 1), vars,
			[]string{"merchants[0].timezone"}},
		// A lease must outlast the call it covers, with a quarter to spare.
		{"webhook lease too short", minimal + "webhooks: {timeout: 30s, lease: 37s}\n", vars,
			[]string{"webhooks.lease", "webhooks.timeout (30s)", "37.5s"}},
		{"poll lease too short for a slow channel", strings.Replace(minimal, "base_url: sandbox", "base_url: sandbox\n        timeout: 2m", 1), vars,
			[]string{"poller.lease", "merchants[0].channels[0].timeout (2m0s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), env(tt.vars))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLeasesLongEnoughAreAccepted(t *testing.T) {
	doc := strings.Replace(minimal, "base_url: sandbox", "base_url: sandbox\n        timeout: 2m", 1) +
		"poller: {lease: 151s}\nwebhooks: {timeout: 30s, lease: 38s}\n"
	cfg, err := Parse([]byte(doc), env(map[string]string{"API_KEY": "key-0123456789abcdef", "WX_KEY": "k"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Poller.Lease.Seconds() != 151 || cfg.Webhooks.Lease.Seconds() != 38 {
		t.Fatalf("leases %s %s", cfg.Poller.Lease, cfg.Webhooks.Lease)
	}
	if def, _ := Parse([]byte(minimal), env(map[string]string{"API_KEY": "key-0123456789abcdef", "WX_KEY": "k"})); def.Poller.Lease.Seconds() != 30 || def.Webhooks.Lease.Seconds() != 30 {
		t.Fatalf("default leases %s %s", def.Poller.Lease, def.Webhooks.Lease)
	}
}

func TestShippedConfigLoadsWithoutEnvironment(t *testing.T) {
	raw, err := os.ReadFile("../../configs/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(raw, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("configs/gateway.yaml: %v", err)
	}
	if !cfg.Sandbox || cfg.Database.Driver != "sqlite" {
		t.Fatalf("shipped config must run on SQLite with the sandbox: %+v", cfg)
	}
	// The tour's merchant backend (webhookecho on 127.0.0.1:9000) is the
	// merchant's configured webhook_url: trusted, so it stays reachable.
	// /metrics is not on the public listener.
	if cfg.Merchants[0].WebhookURL != "http://127.0.0.1:9000/payments" || cfg.Server.MetricsAddr != DefaultMetricsAddr || cfg.Server.AllowPrivateWebhooks {
		t.Fatalf("shipped config: webhook %q metrics %q private %v", cfg.Merchants[0].WebhookURL, cfg.Server.MetricsAddr, cfg.Server.AllowPrivateWebhooks)
	}
}

func TestKeyHash(t *testing.T) {
	// printf '%s' 'demo-key-0000000000000001' | sha256sum
	const want = "167977f306119d8fac9026465065cfdca64e75ae7a842068c6a99d21eb6685de"
	if got := HashKey("demo-key-0000000000000001"); got != want {
		t.Fatalf("HashKey = %s, want %s", got, want)
	}
	h, err := APIKey{KeySHA256: strings.ToUpper(want)}.Hash()
	if err != nil || h != want {
		t.Fatalf("key_sha256 form: %q %v, want %q", h, err, want)
	}
	if _, err := (APIKey{Key: "a-long-enough-key-1", KeySHA256: want}).Hash(); err == nil {
		t.Fatal("both key and key_sha256 accepted")
	}
	if _, err := (APIKey{KeySHA256: "abc"}).Hash(); err == nil {
		t.Fatal("a short key_sha256 accepted")
	}
}
