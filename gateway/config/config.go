// Package config loads the gateway's YAML configuration: ${VAR} expansion
// from the environment (a missing variable is an error naming it), strict
// decoding (an unknown key is an error), defaults, and validation whose
// messages name the bad field.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	// The zone database in the binary: merchants' time zones load on
	// hosts without one (minimal containers).
	_ "time/tzdata"

	"gopkg.in/yaml.v3"

	"github.com/paygate/paygate/providers"
)

// Config is the whole gateway configuration (configs/gateway.yaml).
type Config struct {
	Server    Server     `yaml:"server"`
	Database  Database   `yaml:"database"`
	Sandbox   bool       `yaml:"sandbox"`
	Poller    Poller     `yaml:"poller"`
	Webhooks  Webhooks   `yaml:"webhooks"`
	Notify    Notify     `yaml:"notify"`
	Retention Retention  `yaml:"retention"`
	Log       Log        `yaml:"log"`
	Merchants []Merchant `yaml:"merchants"`

	// Reconciliation tunes the daily statement runs and their retries.
	Reconciliation Reconciliation `yaml:"reconciliation"`
}

// Server is the HTTP listener and how providers reach it.
type Server struct {
	Addr string `yaml:"addr"`
	// PublicURL is the base of the notify URLs handed to providers.
	PublicURL string `yaml:"public_url"`
	// ServerIP is sent as the client IP where a provider requires one
	// (WeChat v2 spbill_create_ip) and the payer's is unknown.
	ServerIP        string        `yaml:"server_ip"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MetricsAddr is where /metrics is served, apart from the public
	// listener (default 127.0.0.1:9090; "off" serves none).
	MetricsAddr string `yaml:"metrics_addr"`
	// AllowHTTPWebhooks lets a per-order notify_url use http (default:
	// https only). The merchants' configured webhook_url may always.
	AllowHTTPWebhooks bool `yaml:"allow_http_webhooks"`
	// AllowPrivateWebhooks lets per-order notify_urls reach loopback and
	// private addresses (development only).
	AllowPrivateWebhooks bool `yaml:"allow_private_webhooks"`
	// ExportTimeLimit bounds one CSV export (default 10m).
	ExportTimeLimit time.Duration `yaml:"export_time_limit"`
}

// Database selects the store.
type Database struct {
	Driver string `yaml:"driver"` // sqlite | postgres
	DSN    string `yaml:"dsn"`
}

// Poller tunes the background poller.
type Poller struct {
	Disabled    bool          `yaml:"disabled"`
	Interval    time.Duration `yaml:"interval"`    // how often due work is looked for
	Batch       int           `yaml:"batch"`       // rows claimed per round
	Concurrency int           `yaml:"concurrency"` // provider calls in flight per channel
	// RefundCallMargin is added to a refund call's time budget (twice the
	// channel's timeout) to bound how long it may still run at the
	// provider; no refund is queried-then-resent or re-sent before that.
	RefundCallMargin time.Duration `yaml:"refund_call_margin"`
	// Lease is how long a claimed order or refund stays with this replica;
	// longer than every channel's timeout plus LeaseMargin.
	Lease time.Duration `yaml:"lease"`
}

// Webhooks tunes the merchant-webhook dispatcher.
type Webhooks struct {
	Disabled bool          `yaml:"disabled"`
	Timeout  time.Duration `yaml:"timeout"`
	Interval time.Duration `yaml:"interval"`
	Workers  int           `yaml:"workers"`
	// Lease is how long a claimed event stays with this replica; longer
	// than Timeout plus LeaseMargin.
	Lease time.Duration `yaml:"lease"`
}

// Notify bounds what one source (remote address) can make /notify do.
// A negative rate is no limit.
type Notify struct {
	// A provider sends a busy merchant's callbacks from a few addresses:
	// the limit must stay above its peak, while refusals (what junk
	// costs in storage) are bounded on their own.
	RatePerSource    float64 `yaml:"rate_per_source"`    // requests per second (default 1000)
	BurstPerSource   int     `yaml:"burst_per_source"`   // default 2000
	RefusedPerSource float64 `yaml:"refused_per_source"` // refused notifications recorded per second (default 1)
	RefusedBurst     int     `yaml:"refused_burst"`      // default 30
}

// Retention deletes old inbox rows and finished merchant events, once per
// interval, by one replica at a time (a store job lease).
type Retention struct {
	Disabled bool          `yaml:"disabled"`
	Inbox    time.Duration `yaml:"inbox"`    // notifications older than this (default 90 days)
	Events   time.Duration `yaml:"events"`   // delivered or failed events older than this (default 90 days)
	Interval time.Duration `yaml:"interval"` // default 1h
}

// LeaseMargin is how much longer than the call it covers a lease must be
// at least: a quarter of the call's timeout, for recording the result.
func LeaseMargin(timeout time.Duration) time.Duration { return timeout / 4 }

// Reconciliation tunes the background reconciliation work: the channels'
// daily schedules and the retries of runs whose statement was not ready.
type Reconciliation struct {
	Disabled bool          `yaml:"disabled"`
	Interval time.Duration `yaml:"interval"`    // how often schedules and due retries are looked at (default 30s)
	Retry    time.Duration `yaml:"retry_every"` // how long a WAITING run waits before asking again (default 30m)
}

// Log selects the log format and level.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// Merchant is one merchant: its API keys, webhook and channels.
type Merchant struct {
	ID            string   `yaml:"id"`
	APIKeys       []APIKey `yaml:"api_keys"`
	WebhookURL    string   `yaml:"webhook_url"`
	WebhookSecret string   `yaml:"webhook_secret"`
	// WebhookHosts are hosts the merchant's per-order notify_urls may name
	// even though they resolve to private addresses (its own network).
	WebhookHosts []string `yaml:"webhook_hosts"`
	// Timezone is the merchant's IANA time zone (Asia/Shanghai): the days
	// of the summary report are its days unless a request says otherwise.
	// Empty: UTC.
	Timezone string    `yaml:"timezone"`
	Channels []Channel `yaml:"channels"`
}

// Location is the merchant's time zone (UTC when none is set).
func (m Merchant) Location() *time.Location {
	if m.Timezone == "" {
		return time.UTC
	}
	loc, err := LoadZone(m.Timezone)
	if err != nil {
		return time.UTC // Validate refuses it first
	}
	return loc
}

// LoadZone loads an IANA time zone by name ("Asia/Shanghai", "UTC"). The
// zone database is built into the binary (time/tzdata), so it does not
// depend on the host's. "Local" (the host's zone) is refused.
func LoadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("%q is not an IANA time zone name", name)
	}
	return time.LoadLocation(name)
}

// APIKey is a bearer key, given in clear (hashed at load) or as its SHA-256.
type APIKey struct {
	Key       string   `yaml:"key"`
	KeySHA256 string   `yaml:"key_sha256"`
	Scopes    []string `yaml:"scopes"`
}

// Channel is one merchant account at one provider.
type Channel struct {
	ID       string           `yaml:"id"`
	Provider string           `yaml:"provider"`
	Currency string           `yaml:"currency"`
	BaseURL  string           `yaml:"base_url"`
	Timeout  time.Duration    `yaml:"timeout"`
	Poll     string           `yaml:"poll"` // auto | always | never
	Params   providers.Params `yaml:"params"`
	// Statement is the channel's reconciliation settings (optional).
	Statement *Statement `yaml:"statement"`
}

// Scopes an API key can hold.
const (
	ScopeOrdersWrite  = "orders:write"
	ScopeOrdersRead   = "orders:read"
	ScopeRefundsWrite = "refunds:write"
)

// DefaultMetricsAddr is where /metrics listens unless configured.
const DefaultMetricsAddr = "127.0.0.1:9090"

// MetricsOff as server.metrics_addr serves no /metrics.
const MetricsOff = "off"

// SandboxBaseURL is the base_url value that points a channel at the
// in-process sandbox.
const SandboxBaseURL = "sandbox"

var knownScopes = map[string]bool{ScopeOrdersWrite: true, ScopeOrdersRead: true, ScopeRefundsWrite: true}

// Load reads, expands, decodes, defaults and validates a config file.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(raw, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes a config document; lookup resolves ${VAR} references.
func Parse(raw []byte, lookup func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, err
	}
	if err := expandNode(&root, "", lookup); err != nil {
		return nil, err
	}
	expanded, err := yaml.Marshal(&root)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandNode replaces ${VAR} and ${VAR:-default} in every scalar value.
func expandNode(n *yaml.Node, path string, lookup func(string) (string, bool)) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := expandNode(c, path, lookup); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			p := key
			if path != "" {
				p = path + "." + key
			}
			if err := expandNode(n.Content[i+1], p, lookup); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := expandNode(c, fmt.Sprintf("%s[%d]", path, i), lookup); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		var missing []string
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := envRef.FindStringSubmatch(ref)
			if v, ok := lookup(m[1]); ok && v != "" {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			missing = append(missing, m[1])
			return ""
		})
		if len(missing) > 0 {
			return fmt.Errorf("%s: environment variable %s is not set", path, strings.Join(missing, ", "))
		}
		// A value that came from the environment is a string, whatever it looks like.
		n.Tag = "!!str"
		n.Style = yaml.DoubleQuotedStyle
	}
	return nil
}

// applyDefaults fills what the config leaves out.
func (c *Config) applyDefaults() {
	c.serverDefaults()
	c.backgroundDefaults()
	for i := range c.Merchants {
		for j := range c.Merchants[i].Channels {
			c.Merchants[i].Channels[j].applyDefaults()
		}
	}
}

// orDefault sets *v to def when the config left it zero.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (c *Config) serverDefaults() {
	orDefault(&c.Server.Addr, "127.0.0.1:8080")
	orDefault(&c.Server.PublicURL, "http://"+c.Server.Addr)
	c.Server.PublicURL = strings.TrimRight(c.Server.PublicURL, "/")
	orDefault(&c.Server.ServerIP, "127.0.0.1")
	orDefault(&c.Server.ShutdownTimeout, 15*time.Second)
	orDefault(&c.Server.MetricsAddr, DefaultMetricsAddr)
	orDefault(&c.Server.ExportTimeLimit, 10*time.Minute)
	orDefault(&c.Database.Driver, "sqlite")
	if c.Database.Driver == "sqlite" {
		orDefault(&c.Database.DSN, "data/gateway.db")
	}
	orDefault(&c.Log.Level, "info")
	orDefault(&c.Log.Format, "text")
}

func (c *Config) backgroundDefaults() {
	orDefault(&c.Poller.Interval, time.Second)
	orDefault(&c.Poller.Batch, 50)
	orDefault(&c.Poller.Concurrency, 4)
	orDefault(&c.Poller.RefundCallMargin, 30*time.Second)
	orDefault(&c.Poller.Lease, 30*time.Second)
	orDefault(&c.Webhooks.Timeout, 10*time.Second)
	orDefault(&c.Webhooks.Interval, time.Second)
	orDefault(&c.Webhooks.Workers, 16)
	orDefault(&c.Webhooks.Lease, 30*time.Second)
	orDefault(&c.Notify.RatePerSource, 1000)
	orDefault(&c.Notify.BurstPerSource, 2000)
	orDefault(&c.Notify.RefusedPerSource, 1)
	orDefault(&c.Notify.RefusedBurst, 30)
	orDefault(&c.Retention.Inbox, 90*24*time.Hour)
	orDefault(&c.Retention.Events, 90*24*time.Hour)
	orDefault(&c.Retention.Interval, time.Hour)
	orDefault(&c.Reconciliation.Interval, 30*time.Second)
	orDefault(&c.Reconciliation.Retry, 30*time.Minute)
}

// applyDefaults fills a channel's defaults; its currency is its
// provider's (the adapter's Spec).
func (ch *Channel) applyDefaults() {
	orDefault(&ch.Currency, providers.DefaultCurrency(ch.Provider))
	orDefault(&ch.Poll, "auto")
	orDefault(&ch.Timeout, 10*time.Second)
	if ch.Params == nil {
		ch.Params = providers.Params{}
	}
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Validate checks the config; every error names its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	c.validateServer(bad)
	c.validateBackground(bad)
	c.validateMerchants(bad)
	return errors.Join(errs...)
}

// badFunc records one error naming its field.
type badFunc func(field, format string, args ...any)

func (c *Config) validateServer(bad badFunc) {
	if _, _, err := net.SplitHostPort(c.Server.Addr); err != nil {
		bad("server.addr", "must be host:port (%v)", err)
	}
	if u, err := url.Parse(c.Server.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		bad("server.public_url", "must be an http(s) URL without a query string")
	}
	if net.ParseIP(c.Server.ServerIP) == nil {
		bad("server.server_ip", "must be an IP address")
	}
	if c.Server.MetricsAddr != MetricsOff {
		if _, _, err := net.SplitHostPort(c.Server.MetricsAddr); err != nil {
			bad("server.metrics_addr", "must be host:port or %q (%v)", MetricsOff, err)
		} else if c.Server.MetricsAddr == c.Server.Addr {
			bad("server.metrics_addr", "must differ from server.addr: /metrics is not served to the public")
		}
	}
	switch c.Database.Driver {
	case "sqlite", "postgres":
	default:
		bad("database.driver", "must be sqlite or postgres, got %q", c.Database.Driver)
	}
	if c.Database.DSN == "" {
		bad("database.dsn", "is required")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "must be text or json")
	}
}

// validateBackground checks the inbox limits, retention, reconciliation
// and the dispatcher's lease.
func (c *Config) validateBackground(bad badFunc) {
	if c.Notify.BurstPerSource < 0 || c.Notify.RefusedBurst < 0 {
		bad("notify", "bursts must not be negative")
	}
	if c.Retention.Inbox < time.Hour || c.Retention.Events < time.Hour || c.Retention.Interval < time.Second {
		bad("retention", "inbox and events must be at least 1h, interval at least 1s")
	}
	if c.Reconciliation.Interval < 10*time.Millisecond || c.Reconciliation.Interval > time.Hour {
		bad("reconciliation.interval", "must be between 10ms and 1h")
	}
	if c.Reconciliation.Retry < time.Second || c.Reconciliation.Retry > 24*time.Hour {
		bad("reconciliation.retry_every", "must be between 1s and 24h")
	}
	if c.Webhooks.Lease <= c.Webhooks.Timeout+LeaseMargin(c.Webhooks.Timeout) {
		bad("webhooks.lease", "%s must be longer than webhooks.timeout (%s) plus a quarter of it (%s): a delivery must end before its lease does",
			c.Webhooks.Lease, c.Webhooks.Timeout, c.Webhooks.Timeout+LeaseMargin(c.Webhooks.Timeout))
	}
}

// validateMerchants checks each merchant and its channels, and that ids
// and API keys are unique across all of them.
func (c *Config) validateMerchants(bad badFunc) {
	if len(c.Merchants) == 0 {
		bad("merchants", "at least one merchant is required")
	}
	merchantIDs := map[string]bool{}
	channelIDs := map[string]string{}
	keyHashes := map[string]string{}
	for i, m := range c.Merchants {
		mf := fmt.Sprintf("merchants[%d]", i)
		if !idPattern.MatchString(m.ID) {
			bad(mf+".id", "must match %s", idPattern)
		} else if merchantIDs[m.ID] {
			bad(mf+".id", "duplicate merchant id %q", m.ID)
		}
		merchantIDs[m.ID] = true
		validateKeys(mf, m.APIKeys, keyHashes, bad)
		validateMerchantWebhook(mf, m, bad)
		for j, ch := range m.Channels {
			cf := fmt.Sprintf("%s.channels[%d]", mf, j)
			if !idPattern.MatchString(ch.ID) {
				bad(cf+".id", "must match %s", idPattern)
			} else if other, dup := channelIDs[ch.ID]; dup {
				bad(cf+".id", "duplicate channel id %q (also %s); channel ids are global: they name the notify URL", ch.ID, other)
			}
			channelIDs[ch.ID] = cf
			c.validateChannel(cf, ch, bad)
		}
	}
}

// validateKeys checks a merchant's API keys; keyHashes holds every key
// seen so far, to refuse one configured twice.
func validateKeys(mf string, keys []APIKey, keyHashes map[string]string, bad badFunc) {
	if len(keys) == 0 {
		bad(mf+".api_keys", "at least one key is required")
	}
	for k, key := range keys {
		kf := fmt.Sprintf("%s.api_keys[%d]", mf, k)
		h, err := key.Hash()
		if err != nil {
			bad(kf, "%v", err)
		} else if other, dup := keyHashes[h]; dup {
			bad(kf, "the same key is already configured at %s", other)
		} else {
			keyHashes[h] = kf
		}
		if len(key.Scopes) == 0 {
			bad(kf+".scopes", "at least one scope is required")
		}
		for _, s := range key.Scopes {
			if !knownScopes[s] {
				bad(kf+".scopes", "unknown scope %q (known: orders:write, orders:read, refunds:write)", s)
			}
		}
	}
}

// validateMerchantWebhook checks a merchant's time zone and webhook.
func validateMerchantWebhook(mf string, m Merchant, bad badFunc) {
	if m.Timezone != "" {
		if _, err := LoadZone(m.Timezone); err != nil {
			bad(mf+".timezone", "must be an IANA time zone such as Asia/Shanghai (%v)", err)
		}
	}
	if m.WebhookURL != "" {
		if u, err := url.Parse(m.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(mf+".webhook_url", "must be an http(s) URL")
		}
		if len(m.WebhookSecret) < 16 {
			bad(mf+".webhook_secret", "must be at least 16 characters when webhook_url is set")
		}
	}
	for k, h := range m.WebhookHosts {
		if h == "" || strings.ContainsAny(h, "/:@ ") && net.ParseIP(strings.Trim(h, "[]")) == nil {
			bad(fmt.Sprintf("%s.webhook_hosts[%d]", mf, k), "must be a host name or IP address, without scheme or port")
		}
	}
}

// validateChannel checks one channel: its provider and params, poll
// mode, base URL, timeout (against the poller's lease) and statement.
func (c *Config) validateChannel(cf string, ch Channel, bad badFunc) {
	c.validateProvider(cf, ch, bad)
	switch ch.Poll {
	case "auto", "always", "never":
	default:
		bad(cf+".poll", "must be auto, always or never")
	}
	if ch.BaseURL != "" && ch.BaseURL != SandboxBaseURL {
		if u, err := url.Parse(ch.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(cf+".base_url", "must be %q or an http(s) URL", SandboxBaseURL)
		}
	}
	if ch.BaseURL == SandboxBaseURL && !c.Sandbox {
		bad(cf+".base_url", "is %q but sandbox is off", SandboxBaseURL)
	}
	if ch.Timeout < 0 || ch.Timeout > 2*time.Minute {
		bad(cf+".timeout", "must be between 0 and 2m")
	} else if c.Poller.Lease <= ch.Timeout+LeaseMargin(ch.Timeout) {
		bad("poller.lease", "%s must be longer than %s.timeout (%s) plus a quarter of it (%s): a provider call must end before its lease does",
			c.Poller.Lease, cf, ch.Timeout, ch.Timeout+LeaseMargin(ch.Timeout))
	}
	if ch.Statement != nil {
		ch.Statement.validate(cf+".statement", bad)
	}
}

// validateProvider checks a channel's provider, currency and params as
// its adapter will read them: an unknown or misspelt param names the
// channel and the key.
func (c *Config) validateProvider(cf string, ch Channel, bad badFunc) {
	if !slices.Contains(providers.Kinds(), ch.Provider) {
		bad(cf+".provider", "%q is not a provider (known: %s)", ch.Provider, strings.Join(providers.Kinds(), ", "))
		return
	}
	err := providers.CheckChannel(providers.Channel{ID: ch.ID, Kind: ch.Provider, Currency: ch.Currency, Params: ch.Params})
	var params providers.ParamErrors
	switch {
	case err == nil:
	case errors.As(err, &params):
		for _, pe := range params {
			bad(fmt.Sprintf("%s.params.%s", cf, pe.Key), "channel %s (%s): %s", ch.ID, ch.Provider, pe.Problem)
		}
	default: // the only other thing a channel's kind checks is its currency
		bad(cf+".currency", "channel %s: %v", ch.ID, err)
	}
	for key := range ch.Params {
		if strings.HasPrefix(key, providers.SandboxParamPrefix) && ch.BaseURL != SandboxBaseURL {
			bad(fmt.Sprintf("%s.params.%s", cf, key), "is for the sandbox simulator: the channel's base_url is not %q", SandboxBaseURL)
		}
	}
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Hash returns the lowercase hex SHA-256 the key is looked up by.
func (k APIKey) Hash() (string, error) {
	switch {
	case k.Key != "" && k.KeySHA256 != "":
		return "", errors.New("set key or key_sha256, not both")
	case k.Key != "":
		if len(k.Key) < 16 {
			return "", errors.New("key must be at least 16 characters")
		}
		return HashKey(k.Key), nil
	case k.KeySHA256 != "":
		h := strings.ToLower(k.KeySHA256)
		if !hexSHA256.MatchString(h) {
			return "", errors.New("key_sha256 must be 64 hex digits")
		}
		return h, nil
	default:
		return "", errors.New("key or key_sha256 is required")
	}
}

// HashKey is how API keys are stored and compared.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
