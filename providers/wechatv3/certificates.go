package wechatv3

// Platform certificates (spec §11). Merchants registered before late 2024
// verify WeChat with platform certificates, which WeChat rotates: from 180
// days before one expires it lists the old and the new one at
// GET /v3/certificates and moves its signatures to the new one gradually,
// so answers and callbacks carry either serial. A channel in certificate
// mode therefore downloads the list, keeps every valid certificate by
// serial, refreshes it on a schedule well under WeChat's 12 h, and once at
// once (rate-limited) when an answer or a notification names a serial it
// does not hold. The set is shared by every replica through
// providers.CertificateStore, refreshed by one replica at a time under a
// lease, and re-read by the others periodically and on an unknown serial.
//
// A download is trusted only when its signature verifies with a key
// already held: a configured platform certificate or public key, or the
// set downloaded before. Only a channel that says so
// (params.platform_cert_trust_on_first_use) trusts its very first download
// without that, loudly. Each certificate in a download is also sealed with
// the APIv3 key (AES-GCM), which only WeChat and the merchant know.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
)

const pathCertificates = "/v3/certificates"

// Refresh results, as /metrics counts them.
const (
	RefreshOK           = "ok"            // downloaded, verified and stored
	RefreshFresh        = "fresh"         // another replica stored a recent set: adopted it
	RefreshBusy         = "busy"          // another replica is refreshing now: re-read the stored set
	RefreshFailed       = "failed"        // transport, HTTP or store failure: the held set stays
	RefreshRefused      = "refused"       // the download did not verify or decrypt: the held set stays
	RefreshNotAvailable = "not_available" // 404 RESOURCE_NOT_EXISTS: WeChat has no certificate for this merchant (public-key only)
)

const (
	// certLeaseTTL bounds how long a replica that died mid-refresh blocks
	// the others.
	certLeaseTTL = time.Minute
	// learnBudget bounds the wait an unknown serial adds to a notification
	// (WeChat wants an answer within 5 s) or an answer.
	learnBudget = 3 * time.Second
	// learnReloadMin: an unknown serial re-reads the shared set at most
	// this often (a forged serial costs at most one read per interval).
	learnReloadMin = 5 * time.Second
	// CertExpiryWarning: a held certificate this close to expiry is
	// logged as a warning (once a day).
	CertExpiryWarning = 30 * 24 * time.Hour
	// retryFirst is the wait after a failed scheduled refresh, doubling
	// up to the refresh interval.
	retryFirst = 15 * time.Second
)

var (
	errNotAvailable = errors.New("WeChat Pay has no platform certificate for this merchant (404 RESOURCE_NOT_EXISTS): it is on the WeChat Pay public key")
	errRefused      = errors.New("download refused")
)

// downloadAnswer is GET /v3/certificates' body (WPG core/downloader/models.go).
type downloadAnswer struct {
	Data []struct {
		SerialNo           string    `json:"serial_no"`
		EffectiveTime      string    `json:"effective_time"`
		ExpireTime         string    `json:"expire_time"`
		EncryptCertificate *resource `json:"encrypt_certificate"`
	} `json:"data"`
}

// openDownload decrypts every certificate of a download with the APIv3
// key and checks it is the RSA certificate its serial_no names. Expired
// ones are left out; a download with nothing valid, or any entry that
// does not decrypt or parse, is refused as a whole.
func openDownload(apiV3Key, body []byte, now time.Time) ([]*x509.Certificate, error) {
	var ans downloadAnswer
	if err := httpx.DecodeJSON(body, &ans); err != nil {
		return nil, fmt.Errorf("%w: undecodable answer: %v", errRefused, err)
	}
	var out []*x509.Certificate
	for i, e := range ans.Data {
		if e.EncryptCertificate == nil {
			return nil, fmt.Errorf("%w: data[%d] has no encrypt_certificate", errRefused, i)
		}
		r := e.EncryptCertificate
		if r.Algorithm != AlgorithmAEAD {
			return nil, fmt.Errorf("%w: data[%d]: algorithm %q, want %s", errRefused, i, r.Algorithm, AlgorithmAEAD)
		}
		pt, err := decryptResource(apiV3Key, r.Nonce, r.AssociatedData, r.Ciphertext)
		if err != nil {
			return nil, fmt.Errorf("%w: data[%d] (serial %s): %v", errRefused, i, e.SerialNo, err)
		}
		certs, err := parseCertificatesPEM(pt)
		if err != nil {
			return nil, fmt.Errorf("%w: data[%d] (serial %s): %v", errRefused, i, e.SerialNo, err)
		}
		c := certs[0]
		if len(certs) != 1 || normSerial(certSerial(c)) != normSerial(e.SerialNo) {
			return nil, fmt.Errorf("%w: data[%d]: serial_no %s does not match the certificate it carries (%s)", errRefused, i, e.SerialNo, certSerial(c))
		}
		if _, err := checkRSAPublic(c.PublicKey.(*rsa.PublicKey)); err != nil {
			return nil, fmt.Errorf("%w: certificate %s: %v", errRefused, certSerial(c), err)
		}
		if !c.NotAfter.After(now) {
			continue
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no valid certificate in the answer (%d listed)", errRefused, len(ans.Data))
	}
	return out, nil
}

// certKeeper keeps a channel's platform certificates: the configured
// files plus the shared, downloaded set, expired ones dropped.
type certKeeper struct {
	p        *Adapter
	download bool
	store    providers.CertificateStore
	log      *slog.Logger
	owner    string // the shared set's key: the calling mchid and WeChat's host
	lease    string
	holder   string

	// sem admits one refresh, reload or learn at a time.
	sem               chan struct{}
	lastLearnReload   time.Time // guarded by sem
	lastLearnDownload time.Time // guarded by sem

	mu           sync.Mutex
	stored       []*x509.Certificate // the shared set as last read or written
	refreshes    map[string]uint64
	lastProblem  string // why the last refresh did not bring a set
	notAvailable bool
	warned       map[string]time.Time // serial -> last expiry warning
}

func newCertKeeper(p *Adapter, ch providers.Channel, deps providers.Deps) *certKeeper {
	k := &certKeeper{
		p: p, download: p.cfg.certDownload, store: deps.Certificates, log: deps.Logger(),
		sem: make(chan struct{}, 1), refreshes: map[string]uint64{}, warned: map[string]time.Time{},
	}
	if k.store == nil {
		k.store = newMemoryCertificateStore()
	}
	k.owner = certOwner(p.cfg.mchid, ch.BaseURL)
	sum := sha256.Sum256([]byte(k.owner))
	k.lease = "wechat_v3.certificates:" + hex.EncodeToString(sum[:16])
	var b [8]byte
	_, _ = rand.Read(b[:])
	k.holder = hex.EncodeToString(b[:])
	k.apply() // configured certificates that have expired are dropped at once
	return k
}

// certOwner names a shared set: platform certificates belong to the
// mchid that calls (the service provider's in partner mode) at one WeChat
// host, so partner channels of one provider share a set, and a sandbox
// never mixes with production.
func certOwner(mchid, baseURL string) string {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	o := mchid + "@" + strings.TrimRight(baseURL, "/")
	if len(o) > 200 {
		sum := sha256.Sum256([]byte(baseURL))
		o = mchid + "@sha256:" + hex.EncodeToString(sum[:16])
	}
	return o
}

func (k *certKeeper) acquire(ctx context.Context) bool {
	select {
	case k.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (k *certKeeper) release() { <-k.sem }

func (k *certKeeper) count(result string) {
	k.mu.Lock()
	k.refreshes[result]++
	k.mu.Unlock()
}

// apply hands the verifier the configured certificates and the shared
// set, without the expired ones.
func (k *certKeeper) apply() {
	now := k.p.now()
	k.mu.Lock()
	all := append(append([]*x509.Certificate(nil), k.p.cfg.certs...), k.stored...)
	k.mu.Unlock()
	held := make([]*x509.Certificate, 0, len(all))
	for _, c := range all {
		if c.NotAfter.After(now) {
			held = append(held, c)
		}
	}
	k.p.verifier.setCerts(held)
}

// reload adopts the set stored by any replica (an empty store keeps what
// is held). Caller holds sem.
func (k *certKeeper) reload(ctx context.Context) (providers.StoredCertificates, error) {
	st, err := k.store.LoadCertificates(ctx, k.owner)
	if err != nil {
		return st, fmt.Errorf("read the shared certificate set: %w", err)
	}
	if len(st.Certificates) == 0 {
		return st, nil
	}
	var certs []*x509.Certificate
	for _, sc := range st.Certificates {
		cs, err := parseCertificatesPEM(sc.PEM)
		if err != nil || len(cs) != 1 {
			k.log.Error("stored WeChat Pay platform certificate unreadable: skipped", "serial", sc.Serial, "err", err)
			continue
		}
		certs = append(certs, cs[0])
	}
	k.mu.Lock()
	k.stored = certs
	k.mu.Unlock()
	k.apply()
	return st, nil
}

// downloadCerts fetches, verifies and opens GET /v3/certificates. It
// reports whether the set was trusted on first use.
func (k *certKeeper) downloadCerts(ctx context.Context) ([]*x509.Certificate, bool, error) {
	resp, err := k.p.send(ctx, http.MethodGet, pathCertificates, nil)
	if err != nil {
		var pe *providers.Error
		if errors.As(err, &pe) && pe.Code == providers.ErrCodeNotFound && pe.ProviderCode == "RESOURCE_NOT_EXISTS" {
			return nil, false, errNotAvailable
		}
		return nil, false, err
	}
	h, body := resp.Header(), resp.Body()
	verr := k.p.verifier.verify(h, body)
	if verr == nil {
		certs, err := openDownload(k.p.cfg.apiV3Key, body, k.p.now())
		return certs, false, err
	}
	// Trust on first use: only when asked for, only when no certificate is
	// held at all, and only the certificate the answer names.
	if !k.p.cfg.trustFirst || !errors.Is(verr, errUnknownSerial) || len(k.p.verifier.certSet().bySerial) > 0 {
		return nil, false, fmt.Errorf("%w: the answer's signature does not verify with a key already held: %v", errRefused, verr)
	}
	certs, err := openDownload(k.p.cfg.apiV3Key, body, k.p.now())
	if err != nil {
		return nil, false, err
	}
	if err := newVerifier("", nil, certs, k.p.now).verify(h, body); err != nil {
		return nil, false, fmt.Errorf("%w: first download not signed by a certificate it lists: %v", errRefused, err)
	}
	return certs, true, nil
}

// refresh downloads the set under the shared lease, unless another
// replica stored one less than a refresh interval ago; for an unknown
// serial (want), unless the stored set has it. Caller holds sem.
func (k *certKeeper) refresh(ctx context.Context, want string) (string, error) {
	ok, err := k.store.AcquireLease(ctx, k.lease, k.holder, certLeaseTTL)
	if err != nil {
		return RefreshFailed, fmt.Errorf("certificate lease: %w", err)
	}
	if !ok {
		_, err := k.reload(ctx)
		return RefreshBusy, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = k.store.ReleaseLease(rctx, k.lease, k.holder)
	}()
	st, err := k.reload(ctx)
	switch {
	case err != nil:
	case want != "" && k.p.verifier.holds(want):
		return RefreshFresh, nil
	case want == "" && len(st.Certificates) > 0 && st.Age < k.p.cfg.refreshEvery:
		return RefreshFresh, nil
	}
	certs, tofu, err := k.downloadCerts(ctx)
	switch {
	case errors.Is(err, errNotAvailable):
		k.mu.Lock()
		k.notAvailable, k.lastProblem = true, err.Error()
		k.mu.Unlock()
		return RefreshNotAvailable, nil
	case errors.Is(err, errRefused):
		return RefreshRefused, err
	case err != nil:
		return RefreshFailed, err
	}
	if tofu {
		k.log.Warn("TRUST ON FIRST USE: WeChat Pay platform certificates accepted without a held key to verify the download "+
			"(params.platform_cert_trust_on_first_use); compare the serials with the merchant platform",
			"owner", k.owner, "serials", serials(certs))
	}
	k.mu.Lock()
	k.stored, k.notAvailable, k.lastProblem = certs, false, ""
	k.mu.Unlock()
	k.apply()
	stored := make([]providers.StoredCertificate, 0, len(certs))
	for _, c := range certs {
		stored = append(stored, providers.StoredCertificate{
			Serial: certSerial(c), NotBefore: c.NotBefore, NotAfter: c.NotAfter,
			PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}),
		})
	}
	if err := k.store.ReplaceCertificates(ctx, k.owner, stored); err != nil {
		// Held here; the other replicas download for themselves.
		return RefreshFailed, fmt.Errorf("downloaded %s but could not share them: %w", strings.Join(serials(certs), ", "), err)
	}
	return RefreshOK, nil
}

// scheduled runs one scheduled refresh and records its result.
func (k *certKeeper) scheduled(ctx context.Context) (string, error) {
	if !k.acquire(ctx) {
		return RefreshFailed, ctx.Err()
	}
	defer k.release()
	k.mu.Lock()
	wasNotAvailable := k.notAvailable
	k.mu.Unlock()
	res, err := k.refresh(ctx, "")
	k.count(res)
	switch {
	case err != nil:
		k.mu.Lock()
		k.lastProblem = fmt.Sprintf("last refresh %s: %v", res, err)
		k.mu.Unlock()
		k.log.Warn("WeChat Pay platform certificate refresh did not complete: the held set stays", "owner", k.owner, "result", res, "err", err)
	case res == RefreshOK:
		k.log.Info("WeChat Pay platform certificates refreshed", "owner", k.owner, "serials", serials(k.p.verifier.certSet().list()))
	case res == RefreshNotAvailable && !wasNotAvailable:
		k.log.Info("WeChat Pay lists no platform certificate for this merchant (public-key only): nothing to refresh", "owner", k.owner)
	}
	return res, err
}

// learn is called when a signature names a certificate serial that is not
// held: re-read the shared set (another replica may have it), then
// download once, both rate-limited so forged serials cannot make the
// gateway hammer WeChat or the database. It reports whether the serial is
// held afterwards.
func (k *certKeeper) learn(ctx context.Context, serial string) bool {
	if !k.download {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, learnBudget)
	defer cancel()
	if !k.acquire(ctx) {
		return false
	}
	defer k.release()
	if k.p.verifier.holds(serial) { // learnt while this caller waited
		return true
	}
	now := k.p.now()
	if now.Sub(k.lastLearnReload) >= learnReloadMin || k.lastLearnReload.IsZero() {
		k.lastLearnReload = now
		if _, err := k.reload(ctx); err == nil && k.p.verifier.holds(serial) {
			return true
		}
	}
	if !k.lastLearnDownload.IsZero() && now.Sub(k.lastLearnDownload) < k.p.cfg.refetchMin {
		return false
	}
	k.lastLearnDownload = now
	res, err := k.refresh(ctx, serial)
	k.count(res)
	if err != nil {
		k.log.Warn("download for an unknown WeChat Pay certificate serial did not complete", "owner", k.owner, "serial", serial, "result", res, "err", err)
	}
	for res == RefreshBusy && !k.p.verifier.holds(serial) {
		// Another replica is downloading: wait for what it stores.
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
		_, _ = k.reload(ctx)
	}
	held := k.p.verifier.holds(serial)
	if held {
		k.log.Info("WeChat Pay platform certificate learnt for a new serial", "owner", k.owner, "serial", serial, "result", res)
	} else {
		k.log.Warn("WeChat Pay certificate serial unknown after a refresh", "owner", k.owner, "serial", serial)
	}
	return held
}

// run refreshes on the schedule, re-reads the shared set between
// refreshes, drops expired certificates and warns of coming expiries.
func (k *certKeeper) run(ctx context.Context) {
	next := time.Now() // the first refresh at once
	wait := retryFirst
	for {
		if k.download && !time.Now().Before(next) {
			res, err := k.scheduled(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				next = time.Now().Add(wait)
				wait = min(2*wait, k.p.cfg.refreshEvery)
			case res == RefreshBusy:
				next = time.Now().Add(k.p.cfg.reloadEvery)
			default:
				next, wait = time.Now().Add(k.p.cfg.refreshEvery), retryFirst
			}
		} else if k.acquire(ctx) {
			if k.download {
				if _, err := k.reload(ctx); err != nil && ctx.Err() == nil {
					k.log.Warn("WeChat Pay platform certificates: re-reading the shared set failed", "owner", k.owner, "err", err)
				}
			}
			k.apply()
			k.release()
		}
		k.warnExpiring()
		sleep := k.p.cfg.reloadEvery
		if k.download {
			sleep = max(min(sleep, time.Until(next)), 10*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(sleep):
		}
	}
}

// warnExpiring logs each held certificate within CertExpiryWarning of
// its expiry, once a day.
func (k *certKeeper) warnExpiring() {
	now := k.p.now()
	held := k.p.verifier.certSet().list()
	for _, c := range held {
		left := c.NotAfter.Sub(now)
		if left > CertExpiryWarning {
			continue
		}
		s := certSerial(c)
		k.mu.Lock()
		last, warned := k.warned[s]
		due := !warned || now.Sub(last) >= 24*time.Hour
		if due {
			k.warned[s] = now
		}
		k.mu.Unlock()
		if !due {
			continue
		}
		successor := ""
		for _, o := range held {
			if o.NotAfter.After(c.NotAfter.Add(CertExpiryWarning)) {
				successor = certSerial(o)
				break
			}
		}
		if successor != "" {
			k.log.Warn("WeChat Pay platform certificate expires soon; a newer one is held", "owner", k.owner, "serial", s,
				"expires_at", c.NotAfter, "days_left", int(left.Hours()/24), "successor", successor)
		} else {
			k.log.Warn("WeChat Pay platform certificate expires soon and no successor is held: check the download (or move the merchant to the WeChat Pay public key)",
				"owner", k.owner, "serial", s, "expires_at", c.NotAfter, "days_left", int(left.Hours()/24))
		}
	}
}

func serials(certs []*x509.Certificate) []string {
	out := make([]string, 0, len(certs))
	for _, c := range certs {
		out = append(out, certSerial(c))
	}
	sort.Strings(out)
	return out
}

// verify checks an answer's or a notification's signature; a certificate
// serial not held makes a certificate-mode channel learn it first.
func (p *Adapter) verify(ctx context.Context, h http.Header, body []byte) error {
	err := p.verifier.verify(h, body)
	if err == nil || p.certs == nil || !errors.Is(err, errUnknownSerial) {
		return err
	}
	if !p.certs.learn(ctx, strings.TrimSpace(h.Get(HeaderSerial))) {
		return err
	}
	return p.verifier.verify(h, body)
}

// Run implements providers.Runner: the certificate schedule.
func (p *Adapter) Run(ctx context.Context) {
	if p.certs != nil {
		p.certs.run(ctx)
	}
}

// VerificationStatus implements providers.VerificationReporter.
func (p *Adapter) VerificationStatus() providers.VerificationStatus {
	now := p.now()
	var st providers.VerificationStatus
	for _, c := range p.verifier.certSet().list() {
		if c.NotAfter.After(now) {
			st.Certificates = append(st.Certificates, providers.CertificateInfo{Serial: certSerial(c), NotBefore: c.NotBefore, NotAfter: c.NotAfter})
		}
	}
	var lastProblem string
	var notAvailable bool
	if k := p.certs; k != nil {
		k.mu.Lock()
		st.Refreshes = make(map[string]uint64, len(k.refreshes))
		for r, n := range k.refreshes {
			st.Refreshes[r] = n
		}
		lastProblem, notAvailable = k.lastProblem, k.notAvailable
		k.mu.Unlock()
	}
	if p.verifier.pubKey != nil || len(st.Certificates) > 0 {
		return st
	}
	switch {
	case notAvailable:
		st.Problem = "no WeChat Pay key: WeChat lists no platform certificate for this merchant (404 RESOURCE_NOT_EXISTS); set params." +
			ParamPublicKeyFile + " and params." + ParamPublicKeyID
	case lastProblem != "":
		st.Problem = "no valid WeChat Pay platform certificate held (" + lastProblem + ")"
	case p.certs != nil && p.certs.download:
		st.Problem = "no valid WeChat Pay platform certificate held yet (waiting for the first download)"
	default:
		st.Problem = "no valid WeChat Pay platform certificate: every configured one has expired"
	}
	return st
}

// memoryCertificateStore keeps one process's set when the gateway gives
// no shared store (tools, tests).
type memoryCertificateStore struct {
	mu   sync.Mutex
	sets map[string]memorySet
}

type memorySet struct {
	certs []providers.StoredCertificate
	at    time.Time
}

func newMemoryCertificateStore() *memoryCertificateStore {
	return &memoryCertificateStore{sets: map[string]memorySet{}}
}

func (m *memoryCertificateStore) LoadCertificates(_ context.Context, owner string) (providers.StoredCertificates, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sets[owner]
	if !ok {
		return providers.StoredCertificates{}, nil
	}
	return providers.StoredCertificates{Certificates: append([]providers.StoredCertificate(nil), s.certs...), Age: time.Since(s.at)}, nil
}

func (m *memoryCertificateStore) ReplaceCertificates(_ context.Context, owner string, certs []providers.StoredCertificate) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sets[owner] = memorySet{certs: append([]providers.StoredCertificate(nil), certs...), at: time.Now()}
	return nil
}

func (m *memoryCertificateStore) AcquireLease(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}

func (m *memoryCertificateStore) ReleaseLease(context.Context, string, string) error { return nil }
