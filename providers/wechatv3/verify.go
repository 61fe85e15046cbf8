package wechatv3

import (
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
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
// with either the WeChat Pay public key (when Wechatpay-Serial is its id)
// or a platform certificate (by hex serial), like WPG's combined verifier.
type verifier struct {
	pubKeyID string
	pubKey   *rsa.PublicKey
	certs    map[string]*x509.Certificate // normSerial -> cert
	now      func() time.Time
}

func newVerifier(pubKeyID string, pubKey *rsa.PublicKey, certs []*x509.Certificate, now func() time.Time) *verifier {
	v := &verifier{pubKeyID: strings.TrimSpace(pubKeyID), pubKey: pubKey, certs: map[string]*x509.Certificate{}, now: now}
	for _, c := range certs {
		v.certs[normSerial(certSerial(c))] = c
	}
	return v
}

// requestSerial is what the gateway sends as Wechatpay-Serial: the public
// key id when configured (so WeChat answers with that key during the
// certificate -> public key migration), else the platform certificate
// that expires last.
func (v *verifier) requestSerial() string {
	if v.pubKey != nil && v.pubKeyID != "" {
		return v.pubKeyID
	}
	certs := make([]*x509.Certificate, 0, len(v.certs))
	for _, c := range v.certs {
		certs = append(certs, c)
	}
	sort.Slice(certs, func(i, j int) bool { return certs[i].NotAfter.After(certs[j].NotAfter) })
	if len(certs) == 0 {
		return ""
	}
	return certSerial(certs[0])
}

// keyFor picks the verification key named by a Wechatpay-Serial value.
func (v *verifier) keyFor(serial string) (*rsa.PublicKey, error) {
	serial = strings.TrimSpace(serial)
	if serial == "" {
		return nil, fmt.Errorf("%w: no %s header", providers.ErrVerification, HeaderSerial)
	}
	if v.pubKey != nil && serial == v.pubKeyID {
		return v.pubKey, nil
	}
	if c, ok := v.certs[normSerial(serial)]; ok {
		return c.PublicKey.(*rsa.PublicKey), nil
	}
	return nil, fmt.Errorf("%w: unknown %s %q (configured: %s)", providers.ErrVerification, HeaderSerial, providers.Clip(serial, 80), v.known())
}

func (v *verifier) known() string {
	var ks []string
	if v.pubKey != nil {
		ks = append(ks, "public key "+v.pubKeyID)
	}
	for s := range v.certs {
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
