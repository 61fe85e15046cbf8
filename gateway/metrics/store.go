package metrics

import "github.com/prometheus/client_golang/prometheus"

// WatchCommits exports the store's group commit counters at each scrape:
// writes per COMMIT is how well concurrent changes share one fsync.
func (m *Metrics) WatchCommits(read func() (commits, writes int64)) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "paygate_store_commits_total", Help: "Group COMMITs on SQLite's writer (0 on PostgreSQL, which groups its own).",
		}, func() float64 { c, _ := read(); return float64(c) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "paygate_store_commit_writes_total", Help: "Writes carried by those COMMITs.",
		}, func() float64 { _, w := read(); return float64(w) }),
	)
}
