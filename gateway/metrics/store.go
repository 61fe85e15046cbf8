package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WatchCommits exports the store's group commit counters at each scrape:
// writes per COMMIT is how well concurrent changes share one fsync.
func (m *Metrics) WatchCommits(read func() (commits, writes int64, busy time.Duration)) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "paygate_store_commits_total", Help: "Group COMMITs on SQLite's writer; on PostgreSQL, groups of order changes sent as one pipeline and transaction.",
		}, func() float64 { c, _, _ := read(); return float64(c) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "paygate_store_commit_writes_total", Help: "Writes carried by those COMMITs.",
		}, func() float64 { _, w, _ := read(); return float64(w) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "paygate_store_commit_busy_seconds_total", Help: "Time SQLite's one writer spent in group transactions; a rate near 1 means writes queue behind it.",
		}, func() float64 { _, _, b := read(); return b.Seconds() }),
	)
}
