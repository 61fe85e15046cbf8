package wechatv3

import (
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/providers"
)

// Channel params of kind wechat_v3 (the public config contract).
const (
	ParamAppID            = "appid"
	ParamMchID            = "mchid"
	ParamSubMchID         = "sub_mchid"
	ParamSubAppID         = "sub_appid"
	ParamAPIv3Key         = "api_v3_key"
	ParamPrivateKeyFile   = "private_key_file"
	ParamCertSerialNo     = "cert_serial_no"
	ParamMerchantCertFile = "merchant_cert_file"
	ParamPublicKeyFile    = "wechatpay_public_key_file"
	ParamPublicKeyID      = "wechatpay_public_key_id"
	ParamPlatformCerts    = "platform_cert_files"

	// Platform certificate download (certificates.go).
	ParamCertDownload           = "platform_cert_download"             // auto (default) | true | false
	ParamCertTrustOnFirstUse    = "platform_cert_trust_on_first_use"   // true: the very first download is trusted unverified
	ParamCertRefreshInterval    = "platform_cert_refresh_interval"     // default 2h, at most 12h
	ParamCertReloadInterval     = "platform_cert_reload_interval"      // default 1m: re-read the set other replicas stored
	ParamCertRefetchMinInterval = "platform_cert_refetch_min_interval" // default 1m: downloads for unknown serials at most this often
)

// Defaults and bounds of the certificate download.
const (
	DefaultCertRefreshInterval    = 2 * time.Hour
	MaxCertRefreshInterval        = 12 * time.Hour // WeChat: poll at intervals under 12 h (spec §11)
	DefaultCertReloadInterval     = time.Minute
	DefaultCertRefetchMinInterval = time.Minute
)

// PublicKeyIDPrefix starts every WeChat Pay public key id
// (e.g. PUB_KEY_ID_0000000000000024101100397200000006).
const PublicKeyIDPrefix = "PUB_KEY_ID_"

// Params are a wechat_v3 channel's params (the keys are the Param*
// constants). sub_mchid set means partner (service-provider) mode.
type Params struct {
	AppID            string           `param:"appid,required"`
	MchID            string           `param:"mchid,required"`
	SubMchID         string           `param:"sub_mchid"`
	SubAppID         string           `param:"sub_appid"`
	APIv3Key         providers.Secret `param:"api_v3_key,required"`
	PrivateKeyFile   string           `param:"private_key_file,required"`
	CertSerialNo     string           `param:"cert_serial_no,required"`
	MerchantCertFile string           `param:"merchant_cert_file"`
	PublicKeyFile    string           `param:"wechatpay_public_key_file"`
	PublicKeyID      string           `param:"wechatpay_public_key_id"`
	PlatformCerts    []string         `param:"platform_cert_files"`

	CertDownload           string `param:"platform_cert_download"`
	CertTrustOnFirstUse    string `param:"platform_cert_trust_on_first_use"`
	CertRefreshInterval    string `param:"platform_cert_refresh_interval"`
	CertReloadInterval     string `param:"platform_cert_reload_interval"`
	CertRefetchMinInterval string `param:"platform_cert_refetch_min_interval"`
}

// config is a validated wechat_v3 channel.
type config struct {
	appid    string // appid, or sp_appid in partner mode
	mchid    string // mchid, or sp_mchid in partner mode
	subMchid string // partner mode only
	subAppid string // partner mode, optional
	partner  bool

	apiV3Key   []byte
	privateKey *rsa.PrivateKey
	certSerial string

	pubKeyID string
	pubKey   *rsa.PublicKey
	certs    []*x509.Certificate // from platform_cert_files

	certDownload bool // certificate mode: download and refresh platform certificates
	trustFirst   bool // the first download may be trusted unverified
	refreshEvery time.Duration
	reloadEvery  time.Duration
	refetchMin   time.Duration
}

// loadConfig validates params and loads every key, so a bad channel fails
// at start-up with an error naming the param.
func loadConfig(p Params) (*config, error) {
	c := &config{appid: p.AppID, mchid: p.MchID, subMchid: p.SubMchID, subAppid: p.SubAppID, certSerial: p.CertSerialNo}
	c.partner = c.subMchid != ""
	if !c.partner && c.subAppid != "" {
		return nil, fmt.Errorf("params.%s is set without params.%s (partner mode needs both)", ParamSubAppID, ParamSubMchID)
	}
	if c.partner && c.subMchid == c.mchid {
		return nil, fmt.Errorf("params.%s equals params.%s: in partner mode params.%s is the service provider's", ParamSubMchID, ParamMchID, ParamMchID)
	}

	key := p.APIv3Key.Reveal()
	if len(key) != 32 {
		return nil, fmt.Errorf("params.%s must be exactly 32 bytes (the APIv3 key set on the merchant platform), got %d", ParamAPIv3Key, len(key))
	}
	c.apiV3Key = []byte(key)

	var err error
	if c.privateKey, err = loadPrivateKeyFile(p.PrivateKeyFile); err != nil {
		return nil, fmt.Errorf("params.%s: %v", ParamPrivateKeyFile, err)
	}
	if f := p.MerchantCertFile; f != "" {
		certs, err := loadCertificatesFile(f)
		if err != nil {
			return nil, fmt.Errorf("params.%s: %v", ParamMerchantCertFile, err)
		}
		mc := certs[0]
		if !samePublicKey(mc.PublicKey.(*rsa.PublicKey), &c.privateKey.PublicKey) {
			return nil, fmt.Errorf("params.%s does not match params.%s (the certificate holds another key)", ParamPrivateKeyFile, ParamMerchantCertFile)
		}
		if normSerial(certSerial(mc)) != normSerial(c.certSerial) {
			return nil, fmt.Errorf("params.%s %q differs from the serial of params.%s (%s)", ParamCertSerialNo, c.certSerial, ParamMerchantCertFile, certSerial(mc))
		}
	}

	pkFile := p.PublicKeyFile
	c.pubKeyID = p.PublicKeyID
	switch {
	case pkFile != "" && c.pubKeyID == "":
		return nil, fmt.Errorf("params.%s is required with params.%s", ParamPublicKeyID, ParamPublicKeyFile)
	case pkFile == "" && c.pubKeyID != "":
		return nil, fmt.Errorf("params.%s is required with params.%s", ParamPublicKeyFile, ParamPublicKeyID)
	case pkFile != "":
		if !strings.HasPrefix(c.pubKeyID, PublicKeyIDPrefix) {
			return nil, fmt.Errorf("params.%s %q must start with %s (it is the id shown next to the WeChat Pay public key, not a certificate serial)", ParamPublicKeyID, c.pubKeyID, PublicKeyIDPrefix)
		}
		if c.pubKey, err = loadPublicKeyFile(pkFile); err != nil {
			return nil, fmt.Errorf("params.%s: %v", ParamPublicKeyFile, err)
		}
	}
	for _, f := range p.PlatformCerts {
		certs, err := loadCertificatesFile(f)
		if err != nil {
			return nil, fmt.Errorf("params.%s: %s: %v", ParamPlatformCerts, f, err)
		}
		c.certs = append(c.certs, certs...)
	}
	if err := c.loadDownloadParams(p); err != nil {
		return nil, err
	}
	if c.pubKey == nil && len(c.certs) == 0 && !c.trustFirst {
		return nil, fmt.Errorf("no WeChat Pay key to verify answers and notifications: set params.%s + params.%s, and/or params.%s (or params.%s: true)",
			ParamPublicKeyFile, ParamPublicKeyID, ParamPlatformCerts, ParamCertTrustOnFirstUse)
	}
	return c, nil
}

// loadDownloadParams decides certificate mode: a channel that names
// platform certificates (or trusts its first download) downloads and
// refreshes them unless params.platform_cert_download is false; a
// public-key-only channel does not, unless it is true.
func (c *config) loadDownloadParams(p Params) error {
	var err error
	if c.trustFirst, err = boolParam(ParamCertTrustOnFirstUse, p.CertTrustOnFirstUse, false); err != nil {
		return err
	}
	switch v := strings.ToLower(p.CertDownload); v {
	case "", "auto":
		c.certDownload = len(c.certs) > 0 || c.trustFirst
	default:
		if c.certDownload, err = strconv.ParseBool(v); err != nil {
			return fmt.Errorf("params.%s must be auto, true or false, got %q", ParamCertDownload, v)
		}
	}
	if c.trustFirst && !c.certDownload {
		return fmt.Errorf("params.%s needs the download (params.%s is false)", ParamCertTrustOnFirstUse, ParamCertDownload)
	}
	for _, d := range []struct {
		param, value string
		dst          *time.Duration
		def, max     time.Duration
	}{
		{ParamCertRefreshInterval, p.CertRefreshInterval, &c.refreshEvery, DefaultCertRefreshInterval, MaxCertRefreshInterval},
		{ParamCertReloadInterval, p.CertReloadInterval, &c.reloadEvery, DefaultCertReloadInterval, 24 * time.Hour},
		{ParamCertRefetchMinInterval, p.CertRefetchMinInterval, &c.refetchMin, DefaultCertRefetchMinInterval, 24 * time.Hour},
	} {
		*d.dst = d.def
		v := d.value
		if v == "" {
			continue
		}
		dur, err := time.ParseDuration(v)
		if err != nil || dur <= 0 || dur > d.max {
			return fmt.Errorf("params.%s must be a duration above 0 and at most %s (e.g. 2h), got %q", d.param, d.max, v)
		}
		*d.dst = dur
	}
	return nil
}

func boolParam(key, v string, def bool) (bool, error) {
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("params.%s must be true or false, got %q", key, v)
	}
	return b, nil
}
