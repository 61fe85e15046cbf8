package notify

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits bound what one source (remote address) can make the ingress do.
// Anyone can POST to /notify, so without them one client could fill the
// inbox, each row a durable write on the one writer.
type Limits struct {
	// PerSource requests per second on /notify from one source, and its
	// burst; beyond it the request is answered 429 and not stored.
	PerSource rate.Limit
	Burst     int
	// Refused is how many refused (unknown channel, failed verification,
	// unreadable) notifications per second one source may have recorded,
	// and its burst; beyond it they are refused without an inbox row.
	Refused      rate.Limit
	RefusedBurst int
}

// DefaultLimits: a provider's notifications come from a few addresses, in
// bursts (duplicates, retries); refusals are rare.
var DefaultLimits = Limits{PerSource: 100, Burst: 400, Refused: 1, RefusedBurst: 30}

// maxSources bounds the limiter table; idle entries are dropped first.
const maxSources = 10000

// sourceLimiter keeps one token bucket per source.
type sourceLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	sources map[string]*source
}

type source struct {
	lim  *rate.Limiter
	seen time.Time
}

func newSourceLimiter(limit rate.Limit, burst int) *sourceLimiter {
	return &sourceLimiter{limit: limit, burst: burst, sources: map[string]*source{}}
}

// allow takes one token from the source's bucket.
func (l *sourceLimiter) allow(key string, now time.Time) bool {
	if l == nil || l.limit <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.sources[key]
	if !ok {
		if len(l.sources) >= maxSources {
			l.evict(now)
		}
		s = &source{lim: rate.NewLimiter(l.limit, l.burst)}
		l.sources[key] = s
	}
	s.seen = now
	return s.lim.AllowN(now, 1)
}

// evict drops sources idle long enough for their bucket to be full again
// (forgetting them changes nothing); if none is, the oldest half.
func (l *sourceLimiter) evict(now time.Time) {
	refill := time.Duration(float64(l.burst)/float64(l.limit)*float64(time.Second)) + time.Second
	for k, s := range l.sources {
		if now.Sub(s.seen) > refill {
			delete(l.sources, k)
		}
	}
	if len(l.sources) < maxSources {
		return
	}
	n := 0
	for k := range l.sources {
		delete(l.sources, k)
		if n++; n >= maxSources/2 {
			return
		}
	}
}

// sourceKey names the source of a request: its IP address, IPv6 by its
// /64 (one host usually holds a whole /64).
func sourceKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
