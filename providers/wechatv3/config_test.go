package wechatv3

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paygate/paygate/providers"
)

func TestFactoryLoadsKeys(t *testing.T) {
	dir := t.TempDir()
	key, err := loadPrivateKeyFile(demoDir + "apiclient_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pkcs1 := write("pkcs1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	der8, _ := x509.MarshalPKCS8PrivateKey(key)
	pkcs8 := write("pkcs8.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der8}))
	pubPKCS1 := write("pub1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&loadWechatSide(t).pubKeyPriv.PublicKey)}))
	garbage := write("garbage.pem", []byte("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"))
	notPEM := write("text.pem", []byte("hello, I am not a key\n"))

	for _, tt := range []struct {
		name    string
		params  providers.Params
		wantErr string // substring; "" = loads
	}{
		{"demo direct (PKCS#8, cert, public key + platform cert)", directParams(), ""},
		{"demo partner", partnerParams(), ""},
		{"PKCS#1 private key", with(directParams(), "private_key_file", pkcs1), ""},
		{"PKCS#8 private key", with(directParams(), "private_key_file", pkcs8), ""},
		{"public key in PKCS#1 form", with(directParams(), "wechatpay_public_key_file", pubPKCS1), ""},
		{"public key only", with(directParams(), "platform_cert_files", nil), ""},
		{"platform certificate only", with(directParams(), "wechatpay_public_key_file", nil, "wechatpay_public_key_id", nil), ""},
		{"platform certificates as a single string", with(directParams(), "platform_cert_files", demoDir+"platform_cert.pem"), ""},
		{"no merchant certificate (serial unchecked)", with(directParams(), "merchant_cert_file", nil), ""},
		{"serial in lower case", with(directParams(), "cert_serial_no", strings.ToLower(tCertSerial)), ""},

		{"missing params", providers.Params{"appid": tAppID}, "params.api_v3_key: is required; params.cert_serial_no: is required; params.mchid: is required; params.private_key_file: is required"},
		{"missing private key file", with(directParams(), "private_key_file", filepath.Join(dir, "nope.pem")), "params.private_key_file: open"},
		{"garbage PEM", with(directParams(), "private_key_file", garbage), "params.private_key_file: parse PKCS#8 private key"},
		{"not PEM at all", with(directParams(), "private_key_file", notPEM), "params.private_key_file: no PEM private key block found"},
		{"certificate given as private key", with(directParams(), "private_key_file", demoDir+"apiclient_cert.pem"), "params.private_key_file: no PEM private key block found"},
		{"private key not matching the merchant certificate", with(directParams(), "private_key_file", demoDir+"sandbox_platform_private_key.pem"), "params.private_key_file does not match params.merchant_cert_file"},
		{"cert_serial_no not the certificate's", with(directParams(), "cert_serial_no", "0123456789ABCDEF"), "params.cert_serial_no \"0123456789ABCDEF\" differs from the serial of params.merchant_cert_file"},
		{"unreadable merchant certificate", with(directParams(), "merchant_cert_file", filepath.Join(dir, "nope.pem")), "params.merchant_cert_file: open"},
		{"api_v3_key 16 bytes", with(directParams(), "api_v3_key", "testMchAPIv3Key0"), "params.api_v3_key must be exactly 32 bytes"},
		{"api_v3_key 33 bytes", with(directParams(), "api_v3_key", tAPIv3Key+"X"), "params.api_v3_key must be exactly 32 bytes"},
		{"no WeChat key at all", with(directParams(), "platform_cert_files", nil, "wechatpay_public_key_file", nil, "wechatpay_public_key_id", nil), "no WeChat Pay key"},
		{"public key without id", with(directParams(), "wechatpay_public_key_id", nil), "params.wechatpay_public_key_id is required with params.wechatpay_public_key_file"},
		{"id without public key", with(directParams(), "wechatpay_public_key_file", nil), "params.wechatpay_public_key_file is required with params.wechatpay_public_key_id"},
		{"id that is a certificate serial", with(directParams(), "wechatpay_public_key_id", tPlatformSer), "must start with PUB_KEY_ID_"},
		{"missing public key file", with(directParams(), "wechatpay_public_key_file", filepath.Join(dir, "nope.pem")), "params.wechatpay_public_key_file: open"},
		{"private key given as public key", with(directParams(), "wechatpay_public_key_file", demoDir+"apiclient_key.pem"), "params.wechatpay_public_key_file: no PEM public key block found"},
		{"missing platform certificate", with(directParams(), "platform_cert_files", []any{filepath.Join(dir, "nope.pem")}), "params.platform_cert_files: "},
		{"platform certificate that is a key", with(directParams(), "platform_cert_files", []any{demoDir + "wechatpay_public_key.pem"}), "no PEM certificate found"},
		{"sub_appid without sub_mchid", with(directParams(), "sub_appid", tSubAppID), "params.sub_appid is set without params.sub_mchid"},
		{"sub_mchid equal to mchid", with(directParams(), "sub_mchid", tMchID), "params.sub_mchid equals params.mchid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := providers.New(providers.Channel{ID: "c1", Kind: Kind, Currency: "CNY", Params: tt.params}, providers.Deps{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: err = %v, want it to contain %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "channel c1 (wechat_v3)") {
				t.Fatalf("error does not name the channel: %v", err)
			}
			if strings.Contains(err.Error(), tAPIv3Key) || strings.Contains(err.Error(), "MII") {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestFactoryRefusesOtherCurrency(t *testing.T) {
	_, err := providers.New(providers.Channel{ID: "c1", Kind: Kind, Currency: "EUR", Params: directParams()}, providers.Deps{})
	if err == nil || !strings.Contains(err.Error(), "CNY only") {
		t.Fatalf("err = %v", err)
	}
}

func TestCapabilities(t *testing.T) {
	c := newTestProvider(t, directParams(), "").Capabilities()
	if !c.Notify || !c.RefundNotify || !c.Query || !c.Close || !c.Refund || !c.RefundQuery || !c.RequiresOpenID ||
		len(c.Currencies) != 1 || c.Currencies[0] != "CNY" || len(c.PayMethods) != 1 || c.PayMethods[0] != "wechat" || c.RefundCurrency != "" {
		t.Fatalf("capabilities = %+v", c)
	}
}
