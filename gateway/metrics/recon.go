package metrics

import "github.com/prometheus/client_golang/prometheus"

// Recon counts reconciliation outcomes.
type Recon struct {
	Differences *prometheus.CounterVec
	Runs        *prometheus.CounterVec
}

// NewRecon registers the reconciliation counters (once per Metrics).
func (m *Metrics) NewRecon() *Recon {
	r := &Recon{
		Differences: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygate_reconciliation_differences_total",
			Help: "Statement rows and gateway records judged by reconciliation, by provider and kind (matched, missing_at_gateway, missing_at_provider, amount_mismatch, status_mismatch, healed).",
		}, []string{"provider", "kind"}),
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygate_reconciliation_runs_total", Help: "Finished reconciliation runs by provider and status.",
		}, []string{"provider", "status"}),
	}
	m.reg.MustRegister(r.Differences, r.Runs)
	return r
}

// Difference counts n judged items of a kind.
func (r *Recon) Difference(provider, kind string, n int64) {
	r.Differences.WithLabelValues(provider, kind).Add(float64(n))
}

// Run counts a finished run.
func (r *Recon) Run(provider, status string) { r.Runs.WithLabelValues(provider, status).Inc() }
