package wechatv3

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/paygate/paygate/providers"
)

// Header names of signed answers and notifications.
const (
	HeaderTimestamp     = "Wechatpay-Timestamp"
	HeaderNonce         = "Wechatpay-Nonce"
	HeaderSignature     = "Wechatpay-Signature"
	HeaderSerial        = "Wechatpay-Serial"
	HeaderSignatureType = "Wechatpay-Signature-Type"
	HeaderRequestID     = "Request-ID"
)

// MaxClockSkew: WPG refuses |now - Wechatpay-Timestamp| >= 300 s.
const MaxClockSkew = 300 * time.Second

// SignTestPrefix marks WeChat's deliberate probe signatures, which must
// fail verification (https://pay.weixin.qq.com/doc/v3/merchant/4016241880).
const SignTestPrefix = "WECHATPAY/SIGNTEST/"

// verifier checks WeChat Pay's signature on answers and notifications
// with either the WeChat Pay public key (when Wechatpay-Serial is a
// PUB_KEY_ID_ id) or a platform certificate (by hex serial), like WPG's
// combined verifier. The certificate set is replaced as a whole when
// downloads bring new certificates (certificates.go).
type verifier struct {
	pubKeyID string
	pubKey   *rsa.PublicKey
	certs    atomic.Pointer[certSet]
	now      func() time.Time
}

// certSet is an immutable set of platform certificates by serial.
type certSet struct {
	bySerial map[string]*x509.Certificate // normSerial -> cert
	newest   *x509.Certificate            // latest NotBefore (WPG GetNewestSerial)
}

func newCertSet(certs []*x509.Certificate) *certSet {
	s := &certSet{bySerial: make(map[string]*x509.Certificate, len(certs))}
	for _, c := range certs {
		s.bySerial[normSerial(certSerial(c))] = c
		if s.newest == nil || c.NotBefore.After(s.newest.NotBefore) ||
			(c.NotBefore.Equal(s.newest.NotBefore) && c.NotAfter.After(s.newest.NotAfter)) {
			s.newest = c
		}
	}
	return s
}

// list returns the certificates, newest first.
func (s *certSet) list() []*x509.Certificate {
	out := make([]*x509.Certificate, 0, len(s.bySerial))
	for _, c := range s.bySerial {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].NotBefore.Equal(out[j].NotBefore) {
			return out[i].NotBefore.After(out[j].NotBefore)
		}
		return certSerial(out[i]) < certSerial(out[j])
	})
	return out
}

// errUnknownSerial marks a certificate serial the verifier does not hold:
// the one failure a certificate download may cure.
var errUnknownSerial = errors.New("unknown certificate serial")

func newVerifier(pubKeyID string, pubKey *rsa.PublicKey, certs []*x509.Certificate, now func() time.Time) *verifier {
	v := &verifier{pubKeyID: strings.TrimSpace(pubKeyID), pubKey: pubKey, now: now}
	v.setCerts(certs)
	return v
}

// setCerts replaces the platform certificates held.
func (v *verifier) setCerts(certs []*x509.Certificate) { v.certs.Store(newCertSet(certs)) }

func (v *verifier) certSet() *certSet { return v.certs.Load() }

// holds reports whether the certificate with this serial is held.
func (v *verifier) holds(serial string) bool {
	_, ok := v.certSet().bySerial[normSerial(serial)]
	return ok
}

// requestSerial is what the gateway sends as Wechatpay-Serial: the public
// key id when configured (so WeChat answers with that key during the
// certificate -> public key migration), else the newest platform
// certificate, the one WeChat asks encrypted fields to be encrypted with.
func (v *verifier) requestSerial() string {
	if v.pubKey != nil && v.pubKeyID != "" {
		return v.pubKeyID
	}
	if c := v.certSet().newest; c != nil {
		return certSerial(c)
	}
	return ""
}

// keyFor picks the verification key named by a Wechatpay-Serial value:
// the public key when it is its id (PUB_KEY_ID_...), else a platform
// certificate by hex serial; an unknown PUB_KEY_ID_ is never looked for
// among certificates.
func (v *verifier) keyFor(serial string) (*rsa.PublicKey, error) {
	serial = strings.TrimSpace(serial)
	if serial == "" {
		return nil, fmt.Errorf("%w: no %s header", providers.ErrVerification, HeaderSerial)
	}
	if v.pubKey != nil && serial == v.pubKeyID {
		return v.pubKey, nil
	}
	if strings.HasPrefix(serial, PublicKeyIDPrefix) { // never a certificate: no download can help
		return nil, fmt.Errorf("%w: unknown %s %q (configured: %s)", providers.ErrVerification, HeaderSerial, serial, v.known())
	}
	if c, ok := v.certSet().bySerial[normSerial(serial)]; ok {
		return c.PublicKey.(*rsa.PublicKey), nil
	}
	return nil, fmt.Errorf("%w: %w: unknown %s %q (configured: %s)", providers.ErrVerification, errUnknownSerial, HeaderSerial, providers.Clip(serial, 80), v.known())
}

func (v *verifier) known() string {
	var ks []string
	if v.pubKey != nil {
		ks = append(ks, "public key "+v.pubKeyID)
	}
	for s := range v.certSet().bySerial {
		ks = append(ks, "certificate "+s)
	}
	sort.Strings(ks)
	if len(ks) == 0 {
		return "none"
	}
	return strings.Join(ks, ", ")
}

// verify checks the Wechatpay-* headers against body. Every failure wraps
// providers.ErrVerification.
func (v *verifier) verify(h http.Header, body []byte) error {
	ts := strings.TrimSpace(h.Get(HeaderTimestamp))
	nonce := strings.TrimSpace(h.Get(HeaderNonce))
	sig := strings.TrimSpace(h.Get(HeaderSignature))
	serial := h.Get(HeaderSerial)
	switch {
	case ts == "":
		return fmt.Errorf("%w: no %s header", providers.ErrVerification, HeaderTimestamp)
	case nonce == "":
		return fmt.Errorf("%w: no %s header", providers.ErrVerification, HeaderNonce)
	case sig == "":
		return fmt.Errorf("%w: no %s header", providers.ErrVerification, HeaderSignature)
	}
	if st := strings.TrimSpace(h.Get(HeaderSignatureType)); st != "" && st != AuthSchema {
		return fmt.Errorf("%w: unsupported %s %q", providers.ErrVerification, HeaderSignatureType, providers.Clip(st, 40))
	}
	if strings.HasPrefix(sig, SignTestPrefix) {
		return fmt.Errorf("%w: signature probe (%s...) refused", providers.ErrVerification, SignTestPrefix)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad %s %q", providers.ErrVerification, HeaderTimestamp, providers.Clip(ts, 20))
	}
	skew := v.now().Sub(time.Unix(sec, 0))
	if skew < 0 {
		skew = -skew
	}
	if skew >= MaxClockSkew {
		return fmt.Errorf("%w: %s %s is %s away from now (limit %s)", providers.ErrVerification, HeaderTimestamp, ts, skew.Truncate(time.Second), MaxClockSkew)
	}
	key, err := v.keyFor(serial)
	if err != nil {
		return err
	}
	if err := verifySHA256WithRSA(key, responseMessage(ts, nonce, body), sig); err != nil {
		return fmt.Errorf("%w: %s %s: %v", providers.ErrVerification, HeaderSerial, providers.Clip(strings.TrimSpace(serial), 80), err)
	}
	return nil
}
