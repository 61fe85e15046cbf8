package wechatv3sim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Demo files shipped under configs/sandbox/wechat_v3 (DEMO KEYS FOR THE
// SANDBOX ONLY). They are regenerated with
//
//	WECHATV3SIM_WRITE_DEMO=1 go test ./providers/sandbox/wechatv3sim -run TestWriteDemoFiles
const (
	demoDir              = "../../../configs/sandbox/wechat_v3"
	demoMerchantSerial   = "5D1A2B3C4D5E6F708192A3B4C5D6E7F801234567"
	demoPlatformSerial   = "3775B6A45ACD588826D15E583A95F5DD2B0C9E11"
	demoPublicKeyID      = "PUB_KEY_ID_0000000000000099000000000000000001"
	demoWarning          = "# DEMO KEY FOR THE PAYGATE SANDBOX ONLY - PUBLIC, NEVER USE IN PRODUCTION.\n"
	demoMerchantKeyFile  = "apiclient_key.pem"
	demoMerchantCertFile = "apiclient_cert.pem"
	demoPubKeyFile       = "wechatpay_public_key.pem"
	demoPubPrivFile      = "sandbox_wechatpay_private_key.pem"
	demoPlatformCertFile = "platform_cert.pem"
	demoPlatformPrivFile = "sandbox_platform_private_key.pem"
)

func TestWriteDemoFiles(t *testing.T) {
	if os.Getenv("WECHATV3SIM_WRITE_DEMO") == "" {
		t.Skip("set WECHATV3SIM_WRITE_DEMO=1 to regenerate the demo keys")
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(demoDir, name), append([]byte(demoWarning), data...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gen := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	pkcs8 := func(k *rsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	serial := func(h string) *big.Int {
		n, ok := new(big.Int).SetString(h, 16)
		if !ok {
			t.Fatal(h)
		}
		return n
	}
	if err := os.MkdirAll(demoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	validFor := 20 * 365 * 24 * time.Hour

	merchant := gen()
	write(demoMerchantKeyFile, pkcs8(merchant))
	mc, err := SelfSignedCert(merchant, serial(demoMerchantSerial), "1900000109 (demo merchant API certificate)", start, validFor)
	if err != nil {
		t.Fatal(err)
	}
	write(demoMerchantCertFile, mc)

	wxpub := gen()
	der, err := x509.MarshalPKIXPublicKey(&wxpub.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	write(demoPubKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	write(demoPubPrivFile, pkcs8(wxpub))

	platform := gen()
	pc, err := SelfSignedCert(platform, serial(demoPlatformSerial), "Tenpay.com Root CA (demo platform certificate)", start, validFor)
	if err != nil {
		t.Fatal(err)
	}
	write(demoPlatformCertFile, pc)
	write(demoPlatformPrivFile, pkcs8(platform))
}

// TestDemoFilesAreConsistent checks the shipped demo files pair up: each
// private key matches its public key or certificate, and the serials are
// the ones the example configs name.
func TestDemoFilesAreConsistent(t *testing.T) {
	p := func(n string) string { return filepath.Join(demoDir, n) }
	mk, err := ReadPrivateKey(p(demoMerchantKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := ReadCertificates(p(demoMerchantCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if !mk.PublicKey.Equal(mc[0].PublicKey) || SerialHex(mc[0]) != demoMerchantSerial {
		t.Errorf("merchant cert: serial %s, key match %v", SerialHex(mc[0]), mk.PublicKey.Equal(mc[0].PublicKey))
	}
	pub, err := ReadPublicKey(p(demoPubKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ReadPrivateKey(p(demoPubPrivFile))
	if err != nil {
		t.Fatal(err)
	}
	if !priv.PublicKey.Equal(pub) {
		t.Error("wechatpay public key does not match its sandbox private key")
	}
	pc, err := ReadCertificates(p(demoPlatformCertFile))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ReadPrivateKey(p(demoPlatformPrivFile))
	if err != nil {
		t.Fatal(err)
	}
	if !pk.PublicKey.Equal(pc[0].PublicKey) || SerialHex(pc[0]) != demoPlatformSerial {
		t.Errorf("platform cert: serial %s", SerialHex(pc[0]))
	}
	if mk.PublicKey.Equal(pub) || mk.PublicKey.Equal(pc[0].PublicKey) || pub.Equal(pc[0].PublicKey) {
		t.Error("demo keys must be three different pairs")
	}
}
