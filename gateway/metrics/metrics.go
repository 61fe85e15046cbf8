// Package metrics holds the gateway's Prometheus metrics.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the gateway's counters and histograms, on their own registry.
type Metrics struct {
	reg           *prometheus.Registry
	Notifications *prometheus.CounterVec
	Transitions   *prometheus.CounterVec
	Webhooks      *prometheus.CounterVec
	WebhookTime   prometheus.Histogram
	Polls         *prometheus.CounterVec
	HTTP          *prometheus.HistogramVec
	Retention     *prometheus.CounterVec
}

// New registers the metrics.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygate_notifications_total", Help: "Provider notifications by provider and outcome.",
		}, []string{"provider", "outcome"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygate_transitions_total", Help: "Order and refund state changes by new status and source (notify, poll, query...).",
		}, []string{"kind", "status", "source"}),
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygate_webhook_attempts_total", Help: "Merchant webhook attempts by result.",
		}, []string{"result"}),
		WebhookTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "paygate_webhook_latency_seconds", Help: "Merchant webhook attempt latency.", Buckets: prometheus.DefBuckets,
		}),
		Polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygate_polls_total", Help: "Provider polls by kind and result.",
		}, []string{"kind", "result"}),
		Retention: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygate_retention_deleted_total", Help: "Rows deleted by the retention job, by table.",
		}, []string{"table"}),
		HTTP: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "paygate_http_request_seconds", Help: "API request latency by route and status.", Buckets: prometheus.DefBuckets,
		}, []string{"route", "status"}),
	}
	m.reg.MustRegister(m.Notifications, m.Transitions, m.Webhooks, m.WebhookTime, m.Polls, m.HTTP, m.Retention,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Notification counts one notification.
func (m *Metrics) Notification(provider, outcome string) {
	m.Notifications.WithLabelValues(provider, outcome).Inc()
}

// Transition counts one state change.
func (m *Metrics) Transition(kind, status, source string) {
	m.Transitions.WithLabelValues(kind, status, source).Inc()
}

// Webhook counts one delivery attempt.
func (m *Metrics) Webhook(result string, latency time.Duration) {
	m.Webhooks.WithLabelValues(result).Inc()
	m.WebhookTime.Observe(latency.Seconds())
}

// Poll counts one poll.
func (m *Metrics) Poll(kind, result string) {
	m.Polls.WithLabelValues(kind, result).Inc()
}

// Deleted counts rows the retention job deleted.
func (m *Metrics) Deleted(table string, n int64) {
	m.Retention.WithLabelValues(table).Add(float64(n))
}
