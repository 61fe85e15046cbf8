// Package gateway wires the payment gateway: store, provider adapters,
// use cases, HTTP API, notify ingress, poller, merchant-webhook dispatcher
// and, with `sandbox: true`, the in-process provider sandboxes.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/gateway/httpapi"
	"github.com/paygate/paygate/gateway/metrics"
	"github.com/paygate/paygate/gateway/notify"
	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/gateway/poller"
	"github.com/paygate/paygate/gateway/recon"
	"github.com/paygate/paygate/gateway/retention"
	"github.com/paygate/paygate/gateway/webhook"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
	"github.com/paygate/paygate/store"
)

// Options are what tests and tools may inject.
type Options struct {
	// HTTPClient is used for provider calls, sandbox notifications and
	// merchant webhooks; default: a plain client.
	HTTPClient *http.Client
	// Store, when set, is used instead of opening cfg.Database.
	Store *store.Store
}

// App is a wired gateway.
type App struct {
	Config     *config.Config
	Store      *store.Store
	Orders     *orders.Service
	Dispatcher *webhook.Dispatcher
	Poller     *poller.Poller
	Retention  *retention.Job
	Sandbox    *sandbox.Sandbox
	Metrics    *metrics.Metrics
	Notify     *notify.Handler
	Recon      *recon.Engine

	log     *slog.Logger
	handler http.Handler
	ownsDB  bool

	mu     sync.Mutex
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// New builds the gateway from cfg. It opens and migrates the database and
// builds every channel's adapter, so bad keys fail here.
func New(cfg *config.Config, log *slog.Logger, opts Options) (*App, error) {
	client := opts.HTTPClient
	if client == nil {
		// Calls to one provider host come from many requests at once: keep
		// enough idle connections that they are reused, not dialled anew
		// (the default keeps two per host).
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		client = &http.Client{Timeout: 30 * time.Second, Transport: t}
	}
	a := &App{Config: cfg, log: log, Metrics: metrics.New()}
	if cfg.Sandbox {
		a.Sandbox = sandbox.New(sandbox.Env{Client: client})
	}
	merchants, channels, err := a.buildMerchants(client)
	if err != nil {
		return nil, err
	}
	keys, err := httpapi.KeysFromConfig(cfg.Merchants)
	if err != nil {
		return nil, err
	}
	a.Store = opts.Store
	if a.Store == nil {
		st, err := store.Open(cfg.Database.Driver, cfg.Database.DSN, store.Options{})
		if err != nil {
			return nil, err
		}
		a.Store, a.ownsDB = st, true
	}
	a.Orders = orders.New(a.Store, merchants, channels, log)
	if err := a.Orders.SaveConfig(context.Background()); err != nil {
		a.closeStore()
		return nil, err
	}
	a.wireBackground(client)
	a.Metrics.WatchVerification(a.verification, time.Now)
	a.Metrics.WatchCommits(func() (int64, int64, time.Duration) {
		s := a.Store.CommitStats()
		return s.Commits, s.Writes, s.Busy
	})
	if a.Recon, err = a.buildRecon(); err != nil {
		a.closeStore()
		return nil, err
	}
	api := httpapi.New(a.Orders, keys, log)
	api.Kick = a.Dispatcher.Kick
	api.ExportTimeLimit = cfg.Server.ExportTimeLimit
	api.Recon = a.Recon
	a.handler = a.router(api)
	return a, nil
}

// buildMerchants builds the configured merchants and every channel's
// adapter (registering sandbox channels with their simulators).
func (a *App) buildMerchants(client *http.Client) ([]*orders.Merchant, []*orders.Channel, error) {
	var (
		merchants []*orders.Merchant
		channels  []*orders.Channel
	)
	for _, m := range a.Config.Merchants {
		merchants = append(merchants, &orders.Merchant{ID: m.ID, WebhookURL: m.WebhookURL, WebhookSecret: m.WebhookSecret, Location: m.Location()})
		for _, c := range m.Channels {
			ch, err := a.buildChannel(m.ID, c, client)
			if err != nil {
				return nil, nil, err
			}
			channels = append(channels, ch)
		}
	}
	return merchants, channels, nil
}

// wireBackground builds what works beside the API: the merchant-webhook
// dispatcher (with its guard, which also vets per-order notify URLs), the
// poller, retention and the notification ingress, and connects their
// metrics.
func (a *App) wireBackground(client *http.Client) {
	cfg, log := a.Config, a.log
	var policies []webhook.MerchantPolicy
	secrets := map[string]string{}
	for _, m := range cfg.Merchants {
		policies = append(policies, webhook.MerchantPolicy{ID: m.ID, WebhookURL: m.WebhookURL, Hosts: m.WebhookHosts})
		if m.WebhookSecret != "" {
			secrets[m.ID] = m.WebhookSecret
		}
	}
	a.Orders.SetRefundCallMargin(cfg.Poller.RefundCallMargin)
	a.Orders.Observe = a.Metrics.Transition
	guard := webhook.NewGuard(cfg.Server.AllowHTTPWebhooks, cfg.Server.AllowPrivateWebhooks, policies)
	a.Orders.CheckNotifyURL = guard.CheckURL
	a.Dispatcher = webhook.New(a.Store, secrets, log, webhook.Options{
		Client: client, Timeout: cfg.Webhooks.Timeout, Interval: cfg.Webhooks.Interval, Workers: cfg.Webhooks.Workers,
		Lease: cfg.Webhooks.Lease, Guard: guard,
	})
	a.Dispatcher.Observe = a.Metrics.Webhook
	a.Orders.EventWritten = a.Dispatcher.Kick
	a.Poller = poller.New(a.Orders, a.Store, log, cfg.Poller.Interval, cfg.Poller.Batch, cfg.Poller.Concurrency)
	a.Poller.SetLease(cfg.Poller.Lease)
	a.Poller.Observe = a.Metrics.Poll
	a.Retention = retention.New(a.Store, log, cfg.Retention.Inbox, cfg.Retention.Events, cfg.Retention.Interval)
	a.Retention.Observe = a.Metrics.Deleted
	a.Notify = notify.New(a.Orders, log)
	a.Notify.SetLimits(notify.Limits{
		PerSource: rateOf(cfg.Notify.RatePerSource), Burst: cfg.Notify.BurstPerSource,
		Refused: rateOf(cfg.Notify.RefusedPerSource), RefusedBurst: cfg.Notify.RefusedBurst,
	})
	a.Notify.Observe = a.Metrics.Notification
}

// buildChannel resolves a configured channel's URLs and builds its adapter.
func (a *App) buildChannel(merchantID string, c config.Channel, client *http.Client) (*orders.Channel, error) {
	pub := a.Config.Server.PublicURL
	ch := providers.Channel{
		ID: c.ID, MerchantID: merchantID, Kind: c.Provider, Currency: c.Currency, BaseURL: c.BaseURL,
		Timeout: c.Timeout, NotifyURL: pub + "/notify/" + c.ID, ServerIP: a.Config.Server.ServerIP, Params: c.Params,
	}
	if c.BaseURL == config.SandboxBaseURL {
		ch.BaseURL = sandbox.BaseURL(pub, c.Provider)
		if err := a.Sandbox.AddChannel(ch); err != nil {
			return nil, fmt.Errorf("channel %s: %w", c.ID, err)
		}
	}
	p, err := providers.New(ch, providers.Deps{HTTPClient: client, Certificates: certificateStore{a}, Log: a.log.With("channel", c.ID)})
	if err != nil {
		return nil, err
	}
	return &orders.Channel{Channel: ch, Poll: c.Poll, Provider: p, Caps: p.Capabilities()}, nil
}

// Handler is the gateway's HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// MetricsHandler serves Prometheus metrics. It is not part of Handler:
// the binary serves it on server.metrics_addr, away from the public
// listener.
func (a *App) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.Metrics.Handler())
	// Profiles for the operator, on the same private listener: measure
	// before optimising (go tool pprof http://127.0.0.1:9090/debug/pprof/profile).
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

func (a *App) router(api *httpapi.API) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.ContextWithFallback = true
	r.Use(a.recovery, a.accessLog)
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := a.Store.Ping(ctx); err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "database unreachable"})
			return
		}
		// A channel that cannot verify its provider is reported, not made
		// a reason to take the replica out: every replica shares its keys,
		// so none would be left to serve the other channels.
		if bad := a.unverifiable(); len(bad) > 0 {
			c.JSON(http.StatusOK, gin.H{"status": "degraded", "channels_cannot_verify": bad})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
	r.GET("/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", httpapi.OpenAPI) })
	r.Any("/notify/:channel", func(c *gin.Context) { a.Notify.Handle(c.Writer, c.Request, c.Param("channel")) })
	if a.Sandbox != nil {
		r.Any("/sandbox/*path", gin.WrapH(a.Sandbox))
	}
	api.Register(r)
	r.NoRoute(func(c *gin.Context) {
		c.JSON(http.StatusNotFound, gin.H{"error": gin.H{"code": "NOT_FOUND", "message": "no such route"}})
	})
	return r
}

// recovery turns a handler's panic into a 500 in the error shape. A
// panic with http.ErrAbortHandler (a streamed answer that failed midway,
// such as a CSV export) goes on to net/http, which cuts the connection so
// the client sees a broken transfer rather than a complete-looking one;
// gin's own recovery would swallow it and end the response cleanly.
func (a *App) recovery(c *gin.Context) {
	defer func() {
		rec := recover()
		if rec == nil {
			return
		}
		if err, ok := rec.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(rec)
		}
		a.log.Error("panic in handler", "path", c.FullPath(), "panic", fmt.Sprint(rec))
		if c.Writer.Written() {
			panic(http.ErrAbortHandler)
		}
		c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": gin.H{"code": "INTERNAL", "message": "internal error"}})
	}()
	c.Next()
}

// accessLog logs method, route, status and latency: never headers or
// bodies, which carry keys and signatures.
func (a *App) accessLog(c *gin.Context) {
	start := time.Now()
	id := c.GetHeader("X-Request-Id")
	if id == "" || len(id) > 64 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Header("X-Request-Id", id)
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	a.Metrics.HTTP.WithLabelValues(route, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	a.log.Debug("http", "method", c.Request.Method, "route", route, "status", status, "ms", time.Since(start).Milliseconds(), "request_id", id)
}

// Start runs the poller and the dispatcher in the background.
func (a *App) Start() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	if !a.Config.Webhooks.Disabled {
		a.done.Add(1)
		go func() { defer a.done.Done(); a.Dispatcher.Run(ctx) }()
	}
	if !a.Config.Poller.Disabled {
		a.done.Add(1)
		go func() { defer a.done.Done(); a.Poller.Run(ctx) }()
		if !a.Config.Retention.Disabled {
			a.done.Add(1)
			go func() { defer a.done.Done(); a.Retention.Run(ctx) }()
		}
	}
	a.runAdapters(ctx)
	if !a.Config.Reconciliation.Disabled {
		a.done.Add(1)
		go func() { defer a.done.Done(); a.Recon.Run(ctx) }()
	}
}

// Stop stops the background work, waits for what is in flight (claimed
// rows are finished and their leases released) and closes the database
// the app opened.
func (a *App) Stop() {
	a.mu.Lock()
	cancel := a.cancel
	a.cancel = nil
	a.mu.Unlock()
	if cancel != nil {
		cancel()
		a.done.Wait()
	}
	a.closeStore()
}

func (a *App) closeStore() {
	if a.ownsDB && a.Store != nil {
		_ = a.Store.Close()
	}
}

// rateOf reads a configured rate: negative is no limit.
func rateOf(perSecond float64) rate.Limit {
	if perSecond < 0 {
		return 0
	}
	return rate.Limit(perSecond)
}
