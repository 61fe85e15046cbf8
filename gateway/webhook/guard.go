package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// A per-order notify_url comes from a merchant's API call, so it is
// untrusted: without a guard the dispatcher would post wherever it points,
// loopback and the cloud metadata address included, and the attempt
// records would tell the caller what answered (a port scanner, re-fired by
// redeliver). The merchant's configured webhook_url is the operator's and
// trusted.

// ErrDestinationNotAllowed: the address a webhook would be sent to is
// loopback, private, link-local, multicast, unspecified or otherwise not a
// public address, and the merchant's config does not allow its host.
var ErrDestinationNotAllowed = errors.New("webhook destination not allowed")

// MerchantPolicy is what the guard needs to know of one merchant.
type MerchantPolicy struct {
	ID         string
	WebhookURL string   // the configured URL: trusted
	Hosts      []string // webhook_hosts: hosts allowed to resolve to private addresses
}

// Guard decides where merchant webhooks may be sent.
type Guard struct {
	allowHTTP    bool
	allowPrivate bool
	merchants    map[string]merchantPolicy
}

type merchantPolicy struct {
	webhookURL string
	hosts      map[string]bool
}

// NewGuard builds the guard: allowHTTP lets per-order URLs use http;
// allowPrivate (development) lets them reach any address.
func NewGuard(allowHTTP, allowPrivate bool, merchants []MerchantPolicy) *Guard {
	g := &Guard{allowHTTP: allowHTTP, allowPrivate: allowPrivate, merchants: map[string]merchantPolicy{}}
	for _, m := range merchants {
		p := merchantPolicy{webhookURL: m.WebhookURL, hosts: map[string]bool{}}
		for _, h := range m.Hosts {
			p.hosts[normalHost(h)] = true
		}
		g.merchants[m.ID] = p
	}
	return g
}

func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

// Trusted reports whether rawURL is the merchant's configured webhook_url.
func (g *Guard) Trusted(merchantID, rawURL string) bool {
	m, ok := g.merchants[merchantID]
	return ok && m.webhookURL != "" && m.webhookURL == rawURL
}

// CheckURL vets a merchant's per-order notify_url before it is stored:
// https (http only where allowed), and no literal address or local name
// that the dispatcher would refuse anyway. The address a name resolves to
// is checked where the dispatcher connects.
func (g *Guard) CheckURL(merchantID, rawURL string) error {
	if g.Trusted(merchantID, rawURL) {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return errors.New("must be an absolute https URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && g.allowHTTP:
	default:
		return errors.New("must be an https URL")
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	host := normalHost(u.Hostname())
	if g.allowPrivate || g.merchants[merchantID].hosts[host] {
		return nil
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("%w: %s is local", ErrDestinationNotAllowed, host)
	}
	if ip, err := netip.ParseAddr(host); err == nil && !PublicAddr(ip) {
		return fmt.Errorf("%w: %s is not a public address", ErrDestinationNotAllowed, host)
	}
	return nil
}

// clientFor returns the HTTP client an event's URL is posted with: base
// for the merchant's configured URL (or everything, with
// allow_private_webhooks), else the merchant's guarded client.
func (g *Guard) clientFor(merchantID, rawURL string, base *http.Client, guarded map[string]*http.Client) (*http.Client, error) {
	if g == nil || g.Trusted(merchantID, rawURL) {
		return base, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && g.allowHTTP) {
		return nil, fmt.Errorf("%w: scheme %s", ErrDestinationNotAllowed, u.Scheme)
	}
	if g.allowPrivate {
		return base, nil
	}
	if c, ok := guarded[merchantID]; ok {
		return c, nil
	}
	return guarded[""], nil
}

// guardedClients builds one client per merchant whose connections are
// checked where they are dialled (after DNS). Merchants do not share
// connection pools: a connection one merchant's webhook_hosts allowed is
// never reused for another's URL.
func (g *Guard) guardedClients(timeout time.Duration) map[string]*http.Client {
	out := map[string]*http.Client{"": guardedClient(nil, timeout)}
	for id, m := range g.merchants {
		out[id] = guardedClient(m.hosts, timeout)
	}
	return out
}

func guardedClient(allowedHosts map[string]bool, timeout time.Duration) *http.Client {
	plain := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	checked := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: checkDialled}
	t := &http.Transport{
		Proxy: nil, // the address dialled must be the destination's
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if allowedHosts[normalHost(host)] {
				return plain.DialContext(ctx, network, addr)
			}
			return checked.DialContext(ctx, network, addr)
		},
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport:     t,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checkDialled runs for every address the dialer is about to connect to,
// after name resolution, so a name that resolves (or re-resolves) to a
// private address is refused too.
func checkDialled(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDestinationNotAllowed, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %s is not an IP address", ErrDestinationNotAllowed, host)
	}
	if !PublicAddr(ip) {
		return fmt.Errorf("%w: %s", ErrDestinationNotAllowed, ip)
	}
	return nil
}

// nonPublic are ranges that are not public unicast beyond what netip's
// predicates name: "this network", carrier-grade NAT (Alibaba Cloud's
// metadata service is 100.100.100.200), IETF protocol assignments,
// benchmarking, reserved and broadcast, documentation, NAT64 and 6to4
// (their embedded IPv4 address is checked too), and discard-only.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "240.0.0.0/4", "100::/64", "2001:db8::/32",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
	teredo = netip.MustParsePrefix("2001::/32")
)

// PublicAddr reports whether ip is a public unicast address a merchant
// webhook may be sent to. IPv4-mapped IPv6 (::ffff:127.0.0.1) is judged as
// the IPv4 address it carries.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return PublicAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixTo4.Contains(ip):
			return PublicAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		case teredo.Contains(ip):
			return false
		}
	}
	return true
}

// publicError is what a merchant sees of a failed attempt: a few fixed
// phrases, never the raw error (which names internal addresses, ports and
// resolver answers); the log keeps the raw one for the operator.
func publicError(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, ErrDestinationNotAllowed):
		return "destination not allowed: not a public address (the merchant's webhook_hosts may allow it)"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	default:
		return "could not connect or send"
	}
}
