package gateway

import (
	"context"
	"time"

	"github.com/paygate/paygate/gateway/metrics"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// certificateStore gives adapters the database as their shared
// certificate store (providers.CertificateStore): a set downloaded by one
// replica reaches the others, and the job lease (on the database's clock)
// lets one replica at a time refresh it. It reads App.Store when called:
// adapters are built before the database is opened.
type certificateStore struct{ a *App }

var _ providers.CertificateStore = certificateStore{}

func (c certificateStore) LoadCertificates(ctx context.Context, owner string) (providers.StoredCertificates, error) {
	rows, age, err := c.a.Store.ProviderCertificates(ctx, owner)
	if err != nil {
		return providers.StoredCertificates{}, err
	}
	out := providers.StoredCertificates{Age: age}
	for _, r := range rows {
		out.Certificates = append(out.Certificates, providers.StoredCertificate{
			Serial: r.Serial, PEM: []byte(r.PEM), NotBefore: r.NotBefore, NotAfter: r.NotAfter,
		})
	}
	return out, nil
}

func (c certificateStore) ReplaceCertificates(ctx context.Context, owner string, certs []providers.StoredCertificate) error {
	rows := make([]store.ProviderCertificate, 0, len(certs))
	for _, sc := range certs {
		rows = append(rows, store.ProviderCertificate{Serial: sc.Serial, PEM: string(sc.PEM), NotBefore: sc.NotBefore, NotAfter: sc.NotAfter})
	}
	return c.a.Store.ReplaceProviderCertificates(ctx, owner, rows)
}

func (c certificateStore) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	return c.a.Store.AcquireJobLease(ctx, name, holder, ttl)
}

func (c certificateStore) ReleaseLease(ctx context.Context, name, holder string) error {
	return c.a.Store.ReleaseJobLease(ctx, name, holder)
}

// verification lists the state of every channel whose adapter reports
// one (wechat_v3).
func (a *App) verification() []metrics.ChannelVerification {
	var out []metrics.ChannelVerification
	for _, ch := range a.Orders.Channels() {
		if r, ok := ch.Provider.(providers.VerificationReporter); ok {
			out = append(out, metrics.ChannelVerification{Channel: ch.ID, Status: r.VerificationStatus()})
		}
	}
	return out
}

// unverifiable maps each channel that cannot verify its provider now to
// why, for /readyz.
func (a *App) unverifiable() map[string]string {
	out := map[string]string{}
	for _, v := range a.verification() {
		if v.Status.Problem != "" {
			out[v.Channel] = v.Status.Problem
		}
	}
	return out
}

// runAdapters starts the background work of adapters that have some
// (certificate refreshes) until ctx ends.
func (a *App) runAdapters(ctx context.Context) {
	for _, ch := range a.Orders.Channels() {
		if r, ok := ch.Provider.(providers.Runner); ok {
			a.done.Add(1)
			go func() { defer a.done.Done(); r.Run(ctx) }()
		}
	}
}
