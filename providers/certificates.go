package providers

import (
	"context"
	"time"
)

// CertificateStore keeps certificates an adapter downloads from its
// provider (WeChat Pay v3 platform certificates) where every gateway
// replica sees them, and leases so that one replica at a time refreshes
// a set. The gateway wires it to the database; without one an adapter
// keeps its set in memory.
type CertificateStore interface {
	// LoadCertificates returns the set stored under owner (empty when
	// none) and its age on the store's clock.
	LoadCertificates(ctx context.Context, owner string) (StoredCertificates, error)
	// ReplaceCertificates stores certs as owner's whole set.
	ReplaceCertificates(ctx context.Context, owner string, certs []StoredCertificate) error
	// AcquireLease takes or renews the named lease for holder for ttl; it
	// reports false while another holder has it.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder still holds it.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// StoredCertificate is one certificate of a stored set.
type StoredCertificate struct {
	Serial    string
	PEM       []byte
	NotBefore time.Time
	NotAfter  time.Time
}

// StoredCertificates is a stored set and how long ago it was stored.
type StoredCertificates struct {
	Certificates []StoredCertificate
	Age          time.Duration
}

// VerificationReporter is implemented by adapters whose verification keys
// change while the gateway runs (downloaded certificates): the gateway
// shows their state in /readyz and /metrics.
type VerificationReporter interface {
	VerificationStatus() VerificationStatus
}

// VerificationStatus is what an adapter can verify with now.
type VerificationStatus struct {
	// Problem, when not empty, says why the channel cannot verify the
	// provider's answers and notifications at the moment.
	Problem string
	// Certificates are the certificates held, newest first.
	Certificates []CertificateInfo
	// Refreshes counts refresh attempts since start by result.
	Refreshes map[string]uint64
}

// CertificateInfo describes one held certificate.
type CertificateInfo struct {
	Serial    string
	NotBefore time.Time
	NotAfter  time.Time
}

// Runner is implemented by adapters with background work (refreshing
// certificates); the gateway runs it until ctx ends.
type Runner interface {
	Run(ctx context.Context)
}
