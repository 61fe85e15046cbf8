package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paygate/paygate/providers"
)

// ChannelVerification is one channel's verification state, as its adapter
// reports it.
type ChannelVerification struct {
	Channel string
	Status  providers.VerificationStatus
}

// WatchVerification exports, at each scrape, the certificates every
// reporting channel holds, their expiry, its refresh results and whether
// it can verify at all.
func (m *Metrics) WatchVerification(list func() []ChannelVerification, now func() time.Time) {
	m.reg.MustRegister(&verificationCollector{list: list, now: now})
}

var (
	descHeld = prometheus.NewDesc("paygate_provider_certificates",
		"Provider certificates a channel holds to verify answers and notifications (WeChat Pay platform certificates).", []string{"channel"}, nil)
	descExpiry = prometheus.NewDesc("paygate_provider_certificate_expiry_seconds",
		"Seconds until a held provider certificate expires.", []string{"channel", "serial"}, nil)
	descRefresh = prometheus.NewDesc("paygate_provider_certificate_refreshes_total",
		"Provider certificate refreshes by result (ok, fresh, busy, failed, refused, not_available).", []string{"channel", "result"}, nil)
	descVerify = prometheus.NewDesc("paygate_channel_can_verify",
		"1 when the channel holds a key to verify its provider, 0 when it cannot (see /readyz).", []string{"channel"}, nil)
)

type verificationCollector struct {
	list func() []ChannelVerification
	now  func() time.Time
}

func (c *verificationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descHeld
	ch <- descExpiry
	ch <- descRefresh
	ch <- descVerify
}

func (c *verificationCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, v := range c.list() {
		ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(len(v.Status.Certificates)), v.Channel)
		for _, cert := range v.Status.Certificates {
			ch <- prometheus.MustNewConstMetric(descExpiry, prometheus.GaugeValue, cert.NotAfter.Sub(now).Seconds(), v.Channel, cert.Serial)
		}
		for result, n := range v.Status.Refreshes {
			ch <- prometheus.MustNewConstMetric(descRefresh, prometheus.CounterValue, float64(n), v.Channel, result)
		}
		can := 1.0
		if v.Status.Problem != "" {
			can = 0
		}
		ch <- prometheus.MustNewConstMetric(descVerify, prometheus.GaugeValue, can, v.Channel)
	}
}
