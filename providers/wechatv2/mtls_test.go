package wechatv2

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
)

// testCA issues client certificates, as WeChat's CA issues
// apiclient_cert.pem.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCA{cert: cert, key: key}
}

// issue writes a client certificate for mchID signed by the CA, and its key.
func (ca testCA) issue(t *testing.T, mchID string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: mchID},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "apiclient_cert.pem"), filepath.Join(dir, "apiclient_key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// The v2 refund against a server that, like WeChat's /secapi/, demands a
// client certificate issued by its CA: the channel's certificate gets
// through; no certificate, or one from another CA, is refused in the TLS
// handshake before any request is read, and the adapter reports an
// unknown outcome (PROVIDER_UNAVAILABLE: ask again), never a refusal the
// gateway could take for "the refund failed".
func TestRefundMutualTLSRequired(t *testing.T) {
	// The other CA has the same name, so the client does present its
	// certificate (Go sends one only to a server naming its issuer), and
	// the server must check the signature to refuse it.
	wechatCA, otherCA := newTestCA(t, "Tenpay.com CA (test)"), newTestCA(t, "Tenpay.com CA (test)")
	goodCert, goodKey := wechatCA.issue(t, "10000100")
	wrongCert, wrongKey := otherCA.issue(t, "10000100")

	var mu sync.Mutex
	var reached []string
	f := &fakeWeChat{key: officialKey, answer: func(_ string, req map[string]string) (int, map[string]string) {
		return 200, okAnswer(map[string]string{"out_refund_no": req["out_refund_no"], "refund_id": "50000000001", "refund_fee": req["refund_fee"]})
	}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached = append(reached, r.TLS.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		f.ServeHTTP(w, r)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(wechatCA.cert)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	var handshakes syncBuffer
	srv.Config.ErrorLog = log.New(&handshakes, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	req := providers.RefundRequest{
		Order:       providers.OrderRef{OutTradeNo: "T1234567", Amount: providers.Money{Minor: 10, Currency: "CNY"}},
		OutRefundNo: "R1234567", Amount: providers.Money{Minor: 1, Currency: "CNY"},
	}
	for _, tt := range []struct {
		name          string
		cert, key     string
		wantOK        bool
		wantReachedCN string
		serverSays    string // the server's handshake error
	}{
		{"the channel's certificate", goodCert, goodKey, true, "10000100", ""},
		{"no client certificate", "", "", false, "", "client didn't provide a certificate"},
		{"a certificate from another CA", wrongCert, wrongKey, false, "", "failed to verify certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			reached = nil
			mu.Unlock()
			handshakes.Reset()
			params := directParams()
			if tt.cert != "" {
				params["cert_file"], params["key_file"] = tt.cert, tt.key
			}
			p, err := New(providers.Channel{ID: "tls", Kind: Kind, BaseURL: srv.URL, Params: params},
				providers.Deps{HTTPClient: srv.Client()}) // trusts the server's certificate, has none of its own
			if err != nil {
				t.Fatal(err)
			}
			st, err := p.Refund(context.Background(), req)
			mu.Lock()
			got := append([]string(nil), reached...)
			mu.Unlock()
			if tt.wantOK {
				if err != nil || st.ProviderRefundNo != "50000000001" || len(got) != 1 || got[0] != tt.wantReachedCN {
					t.Fatalf("refund: %+v, %v; server saw %q", st, err, got)
				}
				return
			}
			if err == nil || len(got) != 0 {
				t.Fatalf("refund without an accepted certificate: %+v, %v; server saw %q", st, err, got)
			}
			if c := providers.CodeOf(err); c != providers.ErrCodeUnavailable {
				t.Fatalf("code %s (%v), want %s: the outcome is unknown to the caller", c, err, providers.ErrCodeUnavailable)
			}
			if !strings.Contains(err.Error(), "tls") && !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("error does not say what failed: %v", err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for !strings.Contains(handshakes.String(), tt.serverSays) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond) // the server logs after the client gives up
			}
			if !strings.Contains(handshakes.String(), tt.serverSays) {
				t.Fatalf("server handshake log %q, want %q", handshakes.String(), tt.serverSays)
			}
		})
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}
