package wechatv3sim

// Platform certificates: GET /v3/certificates lists the merchant's
// platform certificates, each sealed with the APIv3 key (AES-256-GCM,
// associated data "certificate"), signed like any answer; the control
// calls add a certificate, move signing to it and retire the old one, as
// WeChat does when it rotates (spec §11).

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/paygate/paygate/providers/sandbox"
)

// CertificateValidity is how long a platform certificate the sandbox
// makes is valid (WeChat's last 5 years).
const CertificateValidity = 5 * 365 * 24 * time.Hour

// platformCert is one of WeChat's platform certificates and its key.
type platformCert struct {
	serial string
	cert   *x509.Certificate
	pem    []byte
	key    *rsa.PrivateKey
}

// loadPlatformCert reads the sandbox's platform key and finds its
// certificate among files.
func loadPlatformCert(keyFile string, files []string) (*platformCert, error) {
	k, err := ReadPrivateKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("wechatv3sim: params.%s: %v", ParamPlatformPrivateFile, err)
	}
	for _, f := range files {
		certs, err := ReadCertificates(f)
		if err != nil {
			return nil, fmt.Errorf("wechatv3sim: platform certificate %s: %v", f, err)
		}
		for _, c := range certs {
			if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && pub.N.Cmp(k.N) == 0 {
				return &platformCert{serial: SerialHex(c), cert: c, key: k,
					pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})}, nil
			}
		}
	}
	return nil, fmt.Errorf("wechatv3sim: no certificate in params.platform_cert_files or params.%s holds the key of params.%s",
		ParamPlatformCertFile, ParamPlatformPrivateFile)
}

// newPlatformCert makes a fresh key and self-signed certificate with a
// random 40-hex-digit serial, valid from now.
func newPlatformCert(now time.Time) (*platformCert, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, err
	}
	serial.SetBit(serial, 156, 1) // 40 hex digits, never a leading zero
	pemBytes, err := SelfSignedCert(key, serial, "Tenpay.com Root CA (sandbox platform certificate)", now.Add(-time.Minute), CertificateValidity)
	if err != nil {
		return nil, err
	}
	certs, err := DecodeCertificates(pemBytes)
	if err != nil {
		return nil, err
	}
	return &platformCert{serial: SerialHex(certs[0]), cert: certs[0], pem: pemBytes, key: key}, nil
}

// certificates answers GET /v3/certificates: every listed certificate
// sealed under the APIv3 key, or 404 RESOURCE_NOT_EXISTS for a merchant on
// the public key only.
func (s *Simulator) certificates(m *merchant, q map[string][]string) (int, any, *apiErr) {
	switch first(q, "algorithm_type") {
	case "", "RSA", "ALL":
	default:
		return 0, nil, errf(400, "PARAM_ERROR", "algorithm_type must be RSA, SM2 or ALL (the sandbox has RSA only)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m.downloads++
	if len(m.platform) == 0 {
		return 0, nil, errf(404, "RESOURCE_NOT_EXISTS", "无可用的平台证书，请改用微信支付公钥验签 (no platform certificate: this merchant is on the WeChat Pay public key)")
	}
	data := make([]map[string]any, 0, len(m.platform))
	for _, pc := range m.platform {
		nonce := randAlnum(12)
		ct, err := SealResource(m.apiV3Key, nonce, "certificate", pc.pem)
		if err != nil {
			return 0, nil, errf(500, "SYSTEM_ERROR", "seal certificate: %v", err)
		}
		data = append(data, map[string]any{
			"serial_no":      pc.serial,
			"effective_time": pc.cert.NotBefore.In(beijing).Format(time.RFC3339),
			"expire_time":    pc.cert.NotAfter.In(beijing).Format(time.RFC3339),
			"encrypt_certificate": map[string]string{
				"algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "certificate", "ciphertext": ct,
			},
		})
	}
	return http.StatusOK, map[string]any{"data": data}, nil
}

// Certificate control actions (sandbox.CertificateControl.Action).
const (
	ActionList     = "list"      // the listed certificates and the signing one
	ActionAdd      = "add"       // list a new certificate; signing stays
	ActionSignWith = "sign_with" // move signing to serial (default: the newest)
	ActionRetire   = "retire"    // stop listing serial (not the signing one)
	ActionRotate   = "rotate"    // add, then sign with the new one at once
)

// ControlCertificates implements sandbox.CertificateRotator.
func (s *Simulator) ControlCertificates(channelID string, req sandbox.CertificateControl) (any, error) {
	var fresh *platformCert
	if req.Action == ActionAdd || req.Action == ActionRotate {
		var err error
		if fresh, err = newPlatformCert(s.env.Now()); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byChannel[channelID]
	if !ok {
		return nil, fmt.Errorf("%w: channel %s", sandbox.ErrNotFound, channelID)
	}
	m := a.m
	find := func(serial string) *platformCert {
		for _, pc := range m.platform {
			if sameSerial(pc.serial, serial) {
				return pc
			}
		}
		return nil
	}
	switch req.Action {
	case ActionList, "":
	case ActionAdd, ActionRotate:
		if m.signing == nil && m.pubKeyPriv == nil {
			return nil, errors.New("the channel has no WeChat key at all")
		}
		m.platform = append(m.platform, fresh)
		if req.Action == ActionRotate || m.signing == nil {
			m.signing = fresh
		}
	case ActionSignWith:
		pc := find(req.Serial)
		if req.Serial == "" && len(m.platform) > 0 {
			pc = m.platform[len(m.platform)-1]
		}
		if pc == nil {
			return nil, fmt.Errorf("serial %q is not listed", req.Serial)
		}
		m.signing = pc
	case ActionRetire:
		pc := find(req.Serial)
		switch {
		case pc == nil:
			return nil, fmt.Errorf("serial %q is not listed", req.Serial)
		case pc == m.signing:
			return nil, fmt.Errorf("serial %s signs now: move signing first", pc.serial)
		}
		kept := m.platform[:0:0]
		for _, o := range m.platform {
			if o != pc {
				kept = append(kept, o)
			}
		}
		m.platform = kept
	default:
		return nil, fmt.Errorf("action must be %s, %s, %s, %s or %s", ActionList, ActionAdd, ActionSignWith, ActionRetire, ActionRotate)
	}
	return m.certificateView(channelID, fresh), nil
}

// certificateView is the control answer. Caller holds s.mu.
func (m *merchant) certificateView(channelID string, added *platformCert) map[string]any {
	list := make([]map[string]any, 0, len(m.platform))
	for _, pc := range m.platform {
		list = append(list, map[string]any{
			"serial": pc.serial, "not_before": pc.cert.NotBefore.UTC().Format(time.RFC3339),
			"not_after": pc.cert.NotAfter.UTC().Format(time.RFC3339), "signing": pc == m.signing,
		})
	}
	v := map[string]any{"channel": channelID, "mchid": m.mchid, "sign_with": string(m.mode), "certificates": list, "downloads": m.downloads}
	if m.signing != nil {
		v["signing_serial"] = m.signing.serial
	}
	if added != nil {
		v["added"] = added.serial
	}
	return v
}

// CertificateDownloads counts the GET /v3/certificates the channel's
// merchant made.
func (s *Simulator) CertificateDownloads(channelID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.byChannel[channelID]; ok {
		return a.m.downloads
	}
	return 0
}

// SigningSerial is the platform certificate the channel's merchant signs
// with ("" when none).
func (s *Simulator) SigningSerial(channelID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.byChannel[channelID]; ok && a.m.signing != nil {
		return a.m.signing.serial
	}
	return ""
}

var _ sandbox.CertificateRotator = (*Simulator)(nil)
