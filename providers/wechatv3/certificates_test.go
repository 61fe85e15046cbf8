package wechatv3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
	"github.com/paygate/paygate/providers/sandbox/wechatv3sim"
)

// WPG core/downloader/mock_download_server_test.go: a GET /v3/certificates
// body whose one certificate (serial D7CE59D1F522D701, the same
// certificate as wpgNotifyCert) is sealed with the 16-byte APIv3 key
// mockAPIv3Key1234 (AES-128-GCM), nonce 3a584b49ed9b, associated data
// "certificate". The mock signs it with WPG's test key at the current
// time, so the signature is made here the same way.
const (
	wpgDownloadAPIv3Key = "mockAPIv3Key1234"
	wpgDownloadBody     = "{\"data\":[{\"effective_time\":\"2021-04-27T16:55:23+08:00\",\"encrypt_certificate\":{" +
		"\"algorithm\":\"AEAD_AES_256_GCM\"," +
		"\"associated_data\":\"certificate\"," +
		"\"ciphertext\":\"QHBP2NGCmcEhGWa1f+t5AeImEdkS+XyUx1nB50LLGTgfDdb+EELcl9/GRJR0m9SFcTSlsS67QKemf2DuvPGTFEn" +
		"EIhZ/I26zym7Ift1YJt7ftiVqoU4lv9aopCWD7IrzQBLT7XeYKh0CFHj0fUeqnNrGC+3EMj+NHbDY6zGfW4SfhvzLxO6tvpQ3xbFyT2C" +
		"gxHmiKiVTxkewiSDuaimy3X/SN/Nq901lhEtqBVMFyFOyT1MvTL0RUWpU+l4Wdyz9xGTrrv0pd7regqfXwklx+Y94ULUd7lhSyb77h9j" +
		"8golVvxYUwrUrxWj5ri6APPd8qedWuxkBjOPUAho/q1ETpjYJqK0eXuVWf5EPBS63jvqEE4IfopXOwltPLEME++6u7H4qjhAfzdUvfLQ" +
		"awUe/zPPwWS5GOWRxov7qnuK3aV0+ybZM33hmPwP5LsPNQlDdaQxcNgqbnmpVWjxCPdiiZ52z19AxcB4Ry9LN5IBAEbTnm9WnCp4cOqN" +
		"OXBr2/l+FRLSqZnNTIFbOzXWKw5AngHbciLEvTYEsFNpT/u1SBCU2xQ3Y+Q8OHIn6kmE3AO/gUmXjciLv05ZGo+DCAnqGOVdr2yCLv2j" +
		"maBSIcrComs1WzliuNfFJ5+On7i+rOAbKMaZLdTcB//Lpa4mfkhULhslQYUT5H4XbQqsi5IPGplYvvNh2+ktahI6lYWnCprFeFthyEfy" +
		"LNc9MGtsO1rdsZqoI6ed+KLzMJDOGAhgEQqSJIOzz546/pyn5DnINlxjMSpq6+Zdan+iuiz3Un2idaLf6iPSx1FtdNPi94EjlI+bQSEi" +
		"hKKm4Em2xVgauajO3mK6+JTPNQMVrbtEV9wIGHvPLVm6Uw3OAuLWL0UCn3P6wuxF7+4X+S8s1EKN/3q/w++U93NKdfnpOKe7Vxg7Pg3f" +
		"96WQzJTvRJ7C1Xm4W7GvS09hGjCNGCvbcGXla14X/Y35o6Uf37NlnmnDe2rdcnmYsXE5qooS0ThLdOKdKNybg+ih9iFPcxdTJ67WfvVP" +
		"vaOhLrRm8cDgTYjfVYAj7lxztRYnZE65PTeWUE/mLZTd52g3WEE8ty79KLcqnzARGq7sjdptcZQ4Vw11hHA3PbrxQdyvuyXbONZzjrMR" +
		"0RsOmJPfyQTYPQuh6xdbcLP8bQiibREl+iOop0PLYRu9GtQ+r2uEI4VIuuNW1DwFzJRkWdxPm8kjC+g7XLDWqBYImFfep9Dfxj6Jam/w" +
		"ILKWVg3JjfuZe6nTwK7xqwDsY4Ylj8rnjnf+Cw3XQh94IU2E3uq3wqhoR1NCM7Qky+a6JIMGCALiqlj2DMnUgPKWEwFJ7bigRCdC+0s+" +
		"QQaeIEQ04Rm8jeuHaNvEsfloqLNrWx0D3ZHeIKB6hEegNnpSllfPJ/lF1U3ZnhMYd6oUef5HuV4wcu4oPf0nCEBi/CGlyRhmRKaondms" +
		"puRv5C4/zqQrqaVfJrkL0XO6EnhaxI0Yh6t5piA6vw73LtNH5fI55d1S2KWu0zUVbfyijzFohSfVZ5Zryo8uSggAgE96O+jiYzXfuS0d" +
		"vCVhXW/lw0ekQnKMx0Xh6U7XIckIvLgb4QQ6Oqv4/GZBo4dV7s78pNj/KvcCI6ya6qfrWgy1+pWmOLO+wcTmfzYOae4IyZnmuDXwyPng=\"," +
		"\"nonce\":\"3a584b49ed9b\"}," +
		"\"expire_time\":\"2031-04-25T16:55:23+08:00\",\"serial_no\":\"D7CE59D1F522D701\"}]}"
)

// TestVectorWPGCertificateDownload opens WPG's download with the same
// function the keeper uses and checks the answer's signature with the
// certificate it holds.
func TestVectorWPGCertificateDownload(t *testing.T) {
	at := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	certs, err := openDownload([]byte(wpgDownloadAPIv3Key), []byte(wpgDownloadBody), at)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := parseCertificatesPEM([]byte(wpgNotifyCert))
	if len(certs) != 1 || certSerial(certs[0]) != "D7CE59D1F522D701" || !bytes.Equal(certs[0].Raw, want[0].Raw) {
		t.Fatalf("opened %v, want WPG's certificate D7CE59D1F522D701", serials(certs))
	}
	if !certs[0].NotAfter.Equal(time.Date(2031, 4, 25, 8, 55, 23, 0, time.UTC)) {
		t.Fatalf("NotAfter = %v", certs[0].NotAfter)
	}

	// The answer is signed like any other: it verifies with the held
	// certificate, and not once altered.
	key, err := parsePrivateKeyPEM(wpgKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	sig, err := wechatv3sim.SignMessage(key, wechatv3sim.AnswerSigningString(ts, "mockNonce1234", []byte(wpgDownloadBody)))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{HeaderTimestamp: {ts}, HeaderNonce: {"mockNonce1234"}, HeaderSignature: {sig}, HeaderSerial: {"D7CE59D1F522D701"}}
	v := newVerifier("", nil, want, func() time.Time { return at })
	if err := v.verify(h, []byte(wpgDownloadBody)); err != nil {
		t.Fatalf("download signature: %v", err)
	}
	if err := v.verify(h, []byte(strings.Replace(wpgDownloadBody, "2031-04-25", "2035-04-25", 1))); err == nil {
		t.Fatal("altered download verified")
	}

	for _, tt := range []struct {
		name string
		key  string
		body string
		at   time.Time
		want string
	}{
		{"wrong APIv3 key", "mockAPIv3Key1235", wpgDownloadBody, at, "AES-GCM authentication failed"},
		{"associated data altered", wpgDownloadAPIv3Key, strings.Replace(wpgDownloadBody, `"associated_data":"certificate"`, `"associated_data":"certificatf"`, 1), at, "AES-GCM authentication failed"},
		{"ciphertext altered", wpgDownloadAPIv3Key, strings.Replace(wpgDownloadBody, "QHBP2NGC", "QHBP2NGD", 1), at, "AES-GCM authentication failed"},
		{"serial_no names another certificate", wpgDownloadAPIv3Key, strings.Replace(wpgDownloadBody, `"serial_no":"D7CE59D1F522D701"`, `"serial_no":"D7CE59D1F522D702"`, 1), at, "does not match"},
		{"other algorithm", wpgDownloadAPIv3Key, strings.Replace(wpgDownloadBody, `"algorithm":"AEAD_AES_256_GCM"`, `"algorithm":"AEAD_SM4_GCM"`, 1), at, "algorithm"},
		{"every certificate expired", wpgDownloadAPIv3Key, wpgDownloadBody, time.Date(2031, 4, 26, 0, 0, 0, 0, time.UTC), "no valid certificate"},
		{"empty list", wpgDownloadAPIv3Key, `{"data":[]}`, at, "no valid certificate"},
		{"not JSON", wpgDownloadAPIv3Key, `<html/>`, at, "undecodable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openDownload([]byte(tt.key), []byte(tt.body), tt.at)
			if !errors.Is(err, errRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a refusal naming %q", err, tt.want)
			}
		})
	}
}

// certWorld is WeChat as the sandbox simulator on an HTTP server, and a
// receiver that hands each notification to the adapter it was meant for.
type certWorld struct {
	t    *testing.T
	sb   *sandbox.Sandbox
	sim  *wechatv3sim.Simulator
	base string // the adapters' base URL

	mu       sync.Mutex
	adapters map[string]*Adapter
	got      []notified
	recvURL  string
}

type notified struct {
	adapter, serial string
	n               providers.Notification
	err             error
}

const simChannel = "cw"

// simParams: WeChat's side of the demo merchant, signing with the
// platform certificate (sign_with platform_cert) unless extra says otherwise.
func simParams(extra providers.Params) providers.Params {
	return with(providers.Params{
		"appid": tAppID, "mchid": tMchID, "api_v3_key": tAPIv3Key,
		"private_key_file": demoDir + "apiclient_key.pem", "cert_serial_no": tCertSerial,
		"wechatpay_public_key_id":             tPubKeyID,
		"platform_cert_files":                 []any{demoDir + "platform_cert.pem"},
		wechatv3sim.ParamPublicKeyPrivateFile: demoDir + "sandbox_wechatpay_private_key.pem",
		wechatv3sim.ParamPlatformPrivateFile:  demoDir + "sandbox_platform_private_key.pem",
		wechatv3sim.ParamSignWith:             string(wechatv3sim.KeyPlatformCert),
	}, flatten(extra)...)
}

func flatten(p providers.Params) []any {
	var kv []any
	for k, v := range p {
		kv = append(kv, k, v)
	}
	return kv
}

// certParams: an adapter in certificate mode that knows the shipped
// platform certificate and not the public key.
func certParams(extra ...any) providers.Params {
	return with(directParams(), append([]any{"wechatpay_public_key_file", nil, "wechatpay_public_key_id", nil}, extra...)...)
}

func newCertWorld(t *testing.T, params providers.Params) *certWorld {
	t.Helper()
	w := &certWorld{t: t, sb: sandbox.New(sandbox.Env{}), adapters: map[string]*Adapter{}}
	srv := httptest.NewServer(w.sb)
	t.Cleanup(srv.Close)
	recv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		name := strings.TrimPrefix(r.URL.Path, "/")
		w.mu.Lock()
		p := w.adapters[name]
		w.mu.Unlock()
		n, err := p.ParseNotify(r.Context(), r, body)
		w.mu.Lock()
		w.got = append(w.got, notified{adapter: name, serial: r.Header.Get(HeaderSerial), n: n, err: err})
		w.mu.Unlock()
		ack := p.NotifyAck(err == nil, "refused")
		rw.WriteHeader(ack.Status)
		_, _ = rw.Write(ack.Body)
	}))
	t.Cleanup(recv.Close)
	w.recvURL = recv.URL
	if err := w.sb.AddChannel(providers.Channel{ID: simChannel, Kind: wechatv3sim.Kind, Currency: "CNY", Params: params}); err != nil {
		t.Fatal(err)
	}
	s, _ := w.sb.Simulator(wechatv3sim.Kind)
	w.sim = s.(*wechatv3sim.Simulator)
	w.base = srv.URL + "/sandbox/wechat_v3"
	return w
}

// adapter builds a wechat_v3 adapter against the simulator; its
// notifications come back to it by name.
func (w *certWorld) adapter(name string, params providers.Params, deps providers.Deps) *Adapter {
	w.t.Helper()
	p, err := newAdapter(providers.Channel{ID: name, Kind: Kind, Currency: "CNY", BaseURL: w.base,
		NotifyURL: w.recvURL + "/" + name, Params: params}, deps)
	if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	w.adapters[name] = p
	w.mu.Unlock()
	return p
}

func (w *certWorld) control(action, serial string) map[string]any {
	w.t.Helper()
	v, err := w.sb.ControlCertificates(simChannel, sandbox.CertificateControl{Action: action, Serial: serial})
	if err != nil {
		w.t.Fatalf("sandbox %s: %v", action, err)
	}
	return v.(map[string]any)
}

// payVia creates an order through p and has WeChat's payer pay it; it
// returns what p made of the notification.
func (w *certWorld) payVia(p *Adapter, no string) notified {
	w.t.Helper()
	req := orderReq()
	req.OutTradeNo, req.ExpiresAt, req.NotifyURL = no, time.Time{}, ""
	if _, err := p.CreateOrder(context.Background(), req); err != nil {
		w.t.Fatalf("create %s: %v", no, err)
	}
	return w.pay(no)
}

func (w *certWorld) pay(no string) notified {
	w.t.Helper()
	w.mu.Lock()
	before := len(w.got)
	w.mu.Unlock()
	if _, err := w.sb.Pay(context.Background(), simChannel, no, sandbox.PayOptions{}); err != nil {
		w.t.Fatalf("pay %s: %v", no, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.got) != before+1 {
		w.t.Fatalf("pay %s: %d notifications reached the adapters", no, len(w.got)-before)
	}
	return w.got[before]
}

func (w *certWorld) downloads() int { return w.sim.CertificateDownloads(simChannel) }

func heldSerials(p *Adapter) []string { return serials(p.verifier.certSet().list()) }

// syncLog is a slog handler's buffer safe for the keeper's goroutines.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func logDeps(l *syncLog) providers.Deps {
	return providers.Deps{Log: slog.New(slog.NewTextHandler(l, nil))}
}

// WeChat rotates (a new certificate listed and signing moved to it at
// once): the first notification under the new serial makes the adapter
// download once, and it is verified; later ones need nothing more.
func TestUnknownSerialLearntByOneDownload(t *testing.T) {
	w := newCertWorld(t, simParams(nil))
	p := w.adapter("a", certParams(), providers.Deps{})
	if got := w.payVia(p, "LEARN0000001"); got.err != nil || got.serial != tPlatformSer {
		t.Fatalf("before the rotation: %+v", got)
	}
	if w.downloads() != 0 {
		t.Fatalf("%d downloads before anything was unknown", w.downloads())
	}
	newSerial := w.control(wechatv3sim.ActionRotate, "")["added"].(string)

	got := w.payVia(p, "LEARN0000002")
	if got.err != nil || got.serial != newSerial || got.n.Order.Status != providers.OrderPaid || got.n.Hint {
		t.Fatalf("first notification under %s: %+v", newSerial, got)
	}
	if w.downloads() != 1 {
		t.Fatalf("%d downloads, want 1", w.downloads())
	}
	if got := w.pay("LEARN0000001"); got.err != nil || got.serial != newSerial {
		t.Fatalf("again under %s: %+v", newSerial, got)
	}
	if w.downloads() != 1 {
		t.Fatalf("%d downloads after a known serial, want still 1", w.downloads())
	}
	if h := heldSerials(p); len(h) != 2 || !strings.Contains(strings.Join(h, ","), newSerial) || !strings.Contains(strings.Join(h, ","), tPlatformSer) {
		t.Fatalf("held %v", h)
	}
	// The newest (latest NotBefore) is what requests name and what
	// sensitive fields are encrypted with.
	if s := p.verifier.requestSerial(); s != newSerial {
		t.Fatalf("Wechatpay-Serial sent = %s, want the newest %s", s, newSerial)
	}
	st := p.VerificationStatus()
	if st.Problem != "" || len(st.Certificates) != 2 || st.Certificates[0].Serial != newSerial || st.Refreshes[RefreshOK] != 1 {
		t.Fatalf("status %+v", st)
	}
}

// Notifications naming serials nobody issued, many at once and one after
// another: all refused, and together they cause one download at most.
func TestForgedSerialsCauseNoDownloadStorm(t *testing.T) {
	w := newCertWorld(t, simParams(nil))
	p := w.adapter("a", certParams(), providers.Deps{})
	forger, err := wechatv3sim.ReadPrivateKey(demoDir + "apiclient_key.pem") // not a WeChat key
	if err != nil {
		t.Fatal(err)
	}
	body := notification(t, tAPIv3Key, EventTransactionSuccess, "transaction", directTransaction())
	forged := func() error {
		var b [20]byte
		_, _ = rand.Read(b[:])
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		sig, err := wechatv3sim.SignMessage(forger, wechatv3sim.AnswerSigningString(ts, "forged", body))
		if err != nil {
			return err
		}
		r := httptest.NewRequest(http.MethodPost, "/notify/a", bytes.NewReader(body))
		r.Header.Set(HeaderTimestamp, ts)
		r.Header.Set(HeaderNonce, "forged")
		r.Header.Set(HeaderSignature, sig)
		r.Header.Set(HeaderSerial, strings.ToUpper(hex.EncodeToString(b[:])))
		_, err = p.ParseNotify(context.Background(), r, body)
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- forged() }()
	}
	wg.Wait()
	for i := 0; i < 20; i++ {
		errs <- forged()
	}
	close(errs)
	for err := range errs {
		if !errors.Is(err, providers.ErrVerification) || !strings.Contains(err.Error(), "unknown Wechatpay-Serial") {
			t.Fatalf("forged serial: %v", err)
		}
	}
	if n := w.downloads(); n > 1 {
		t.Fatalf("60 forged serials caused %d downloads, want at most 1", n)
	}
	if h := heldSerials(p); len(h) != 1 || h[0] != tPlatformSer {
		t.Fatalf("held %v", h)
	}
}

// A download whose signature does not verify with a held key is refused
// and the held set stays: WeChat (here) has moved to a new certificate
// and no longer lists the one the adapter holds, so its answer is signed
// by a certificate the adapter has never verified.
func TestDownloadNotSignedByAHeldKeyIsRefused(t *testing.T) {
	w := newCertWorld(t, simParams(nil))
	l := &syncLog{}
	p := w.adapter("a", certParams(), logDeps(l))
	req := orderReq()
	req.OutTradeNo, req.ExpiresAt, req.NotifyURL = "REFUSED00001", time.Time{}, ""
	if _, err := p.CreateOrder(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	newSerial := w.control(wechatv3sim.ActionRotate, "")["added"].(string)
	w.control(wechatv3sim.ActionRetire, tPlatformSer)

	got := w.pay("REFUSED00001")
	if !errors.Is(got.err, providers.ErrVerification) || got.serial != newSerial {
		t.Fatalf("notification under %s: %+v", newSerial, got)
	}
	if w.downloads() != 1 {
		t.Fatalf("%d downloads, want 1", w.downloads())
	}
	if h := heldSerials(p); len(h) != 1 || h[0] != tPlatformSer {
		t.Fatalf("held %v after a refused download, want the old set", h)
	}
	st := p.VerificationStatus()
	if st.Refreshes[RefreshRefused] != 1 || st.Refreshes[RefreshOK] != 0 || st.Problem != "" {
		t.Fatalf("status %+v", st)
	}
	if !strings.Contains(l.String(), "does not verify with a key already held") {
		t.Fatalf("log: %s", l.String())
	}

	// A scheduled refresh fares the same.
	res, err := p.certs.scheduled(context.Background())
	if res != RefreshRefused || err == nil {
		t.Fatalf("scheduled: %s, %v", res, err)
	}
	if h := heldSerials(p); len(h) != 1 || h[0] != tPlatformSer {
		t.Fatalf("held %v", h)
	}
}

// A download signed by a held key but sealed under another APIv3 key
// (not WeChat's for this merchant) is refused too.
func TestDownloadThatDoesNotDecryptIsRefused(t *testing.T) {
	w := newCertWorld(t, simParams(providers.Params{"api_v3_key": "OTHER0SANDBOX0APIV3KEY0000000000"}))
	p := w.adapter("a", certParams(), providers.Deps{})
	res, err := p.certs.scheduled(context.Background())
	if res != RefreshRefused || err == nil || !strings.Contains(err.Error(), "AES-GCM") {
		t.Fatalf("scheduled: %s, %v", res, err)
	}
	if h := heldSerials(p); len(h) != 1 || h[0] != tPlatformSer {
		t.Fatalf("held %v", h)
	}
}

// The very first download: verified by a configured certificate, or by
// the configured public key, or trusted on first use when (and only when)
// the channel says so, loudly.
func TestFirstDownload(t *testing.T) {
	t.Run("configured certificate", func(t *testing.T) {
		w := newCertWorld(t, simParams(nil))
		added := w.control(wechatv3sim.ActionAdd, "")["added"].(string)
		p := w.adapter("a", certParams(), providers.Deps{})
		if res, err := p.certs.scheduled(context.Background()); res != RefreshOK || err != nil {
			t.Fatalf("scheduled: %s, %v", res, err)
		}
		if h := heldSerials(p); len(h) != 2 || !strings.Contains(strings.Join(h, ","), added) {
			t.Fatalf("held %v", h)
		}
	})
	t.Run("public key", func(t *testing.T) {
		w := newCertWorld(t, simParams(providers.Params{wechatv3sim.ParamSignWith: string(wechatv3sim.KeyPublicKey)}))
		p := w.adapter("a", with(directParams(), "platform_cert_files", nil, ParamCertDownload, "true"), providers.Deps{})
		if len(heldSerials(p)) != 0 {
			t.Fatal("certificates held before the download")
		}
		if res, err := p.certs.scheduled(context.Background()); res != RefreshOK || err != nil {
			t.Fatalf("scheduled: %s, %v", res, err)
		}
		if h := heldSerials(p); len(h) != 1 || h[0] != tPlatformSer {
			t.Fatalf("held %v", h)
		}
	})
	t.Run("trust on first use", func(t *testing.T) {
		w := newCertWorld(t, simParams(nil))
		l := &syncLog{}
		p := w.adapter("a", certParams("platform_cert_files", nil, ParamCertTrustOnFirstUse, true), logDeps(l))
		if st := p.VerificationStatus(); !strings.Contains(st.Problem, "waiting for the first download") {
			t.Fatalf("status before the download: %+v", st)
		}
		if res, err := p.certs.scheduled(context.Background()); res != RefreshOK || err != nil {
			t.Fatalf("scheduled: %s, %v", res, err)
		}
		if h := heldSerials(p); len(h) != 1 || h[0] != tPlatformSer {
			t.Fatalf("held %v", h)
		}
		if !strings.Contains(l.String(), "level=WARN msg=\"TRUST ON FIRST USE") || !strings.Contains(l.String(), tPlatformSer) {
			t.Fatalf("log: %s", l.String())
		}
		if st := p.VerificationStatus(); st.Problem != "" {
			t.Fatalf("status after: %+v", st)
		}
		// Trust on first use is for the first download only: a later one
		// signed by a certificate not held is refused.
		w.control(wechatv3sim.ActionRotate, "")
		w.control(wechatv3sim.ActionRetire, tPlatformSer)
		p.cfg.refreshEvery = time.Nanosecond // the stored set is due
		if res, err := p.certs.scheduled(context.Background()); res != RefreshRefused || err == nil {
			t.Fatalf("second download: %s, %v", res, err)
		}
		if h := heldSerials(p); len(h) != 1 || h[0] != tPlatformSer {
			t.Fatalf("held %v", h)
		}
	})
	t.Run("nothing to verify it with", func(t *testing.T) {
		_, err := newAdapter(providers.Channel{ID: "x", Kind: Kind, Params: certParams("platform_cert_files", nil, ParamCertDownload, "true")}, providers.Deps{})
		if err == nil || !strings.Contains(err.Error(), ParamCertTrustOnFirstUse) {
			t.Fatalf("factory: %v", err)
		}
	})
}

// A merchant on the public key only has no platform certificate: WeChat
// answers 404 RESOURCE_NOT_EXISTS, which is a state, not an outage.
func TestPublicKeyOnlyMerchantHasNoCertificates(t *testing.T) {
	w := newCertWorld(t, simParams(providers.Params{"platform_cert_files": nil, wechatv3sim.ParamPlatformPrivateFile: nil,
		wechatv3sim.ParamSignWith: string(wechatv3sim.KeyPublicKey)}))
	// Migrating channel: public key and a certificate file.
	l := &syncLog{}
	p := w.adapter("a", directParams(), logDeps(l))
	for i := 0; i < 2; i++ {
		p.cfg.refreshEvery = time.Nanosecond
		if res, err := p.certs.scheduled(context.Background()); res != RefreshNotAvailable || err != nil {
			t.Fatalf("scheduled: %s, %v", res, err)
		}
	}
	if st := p.VerificationStatus(); st.Problem != "" || st.Refreshes[RefreshNotAvailable] != 2 {
		t.Fatalf("status %+v", st)
	}
	if n := strings.Count(l.String(), "lists no platform certificate"); n != 1 || strings.Contains(l.String(), "level=WARN") {
		t.Fatalf("logged %d times, want once and no warning: %s", n, l.String())
	}
	if got := w.payVia(p, "PUBONLY00001"); got.err != nil || got.serial != tPubKeyID {
		t.Fatalf("public-key notification: %+v", got)
	}
	// A channel that only trusts its first download has nothing to
	// verify with, and says why.
	q := w.adapter("b", certParams("platform_cert_files", nil, ParamCertTrustOnFirstUse, true), providers.Deps{})
	if res, err := q.certs.scheduled(context.Background()); res != RefreshNotAvailable || err != nil {
		t.Fatalf("scheduled: %s, %v", res, err)
	}
	if st := q.VerificationStatus(); !strings.Contains(st.Problem, "RESOURCE_NOT_EXISTS") {
		t.Fatalf("status %+v", st)
	}
}

// countingStore is a shared store with a real lease, counting reads.
type countingStore struct {
	*memoryCertificateStore
	mu     sync.Mutex
	leases map[string]string
	loads  int
}

func newCountingStore() *countingStore {
	return &countingStore{memoryCertificateStore: newMemoryCertificateStore(), leases: map[string]string{}}
}

func (c *countingStore) LoadCertificates(ctx context.Context, owner string) (providers.StoredCertificates, error) {
	c.mu.Lock()
	c.loads++
	c.mu.Unlock()
	return c.memoryCertificateStore.LoadCertificates(ctx, owner)
}

func (c *countingStore) AcquireLease(_ context.Context, name, holder string, _ time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.leases[name]; ok && h != holder {
		return false, nil
	}
	c.leases[name] = holder
	return true, nil
}

func (c *countingStore) ReleaseLease(_ context.Context, name, holder string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leases[name] == holder {
		delete(c.leases, name)
	}
	return nil
}

// Two replicas share one store: the one that meets the new serial first
// downloads it, the other reads it from the store, and a scheduled
// refresh right after finds the stored set fresh.
func TestReplicasShareTheDownloadedSet(t *testing.T) {
	w := newCertWorld(t, simParams(nil))
	st := newCountingStore()
	deps := providers.Deps{Certificates: st}
	a := w.adapter("a", certParams(), deps)
	b := w.adapter("b", certParams(), deps)
	newSerial := w.control(wechatv3sim.ActionRotate, "")["added"].(string)
	if got := w.payVia(a, "SHARED000001"); got.err != nil || got.serial != newSerial {
		t.Fatalf("replica a: %+v", got)
	}
	if got := w.payVia(b, "SHARED000002"); got.err != nil || got.serial != newSerial {
		t.Fatalf("replica b: %+v", got)
	}
	if w.downloads() != 1 {
		t.Fatalf("%d downloads for two replicas, want 1", w.downloads())
	}
	if res, err := b.certs.scheduled(context.Background()); res != RefreshFresh || err != nil {
		t.Fatalf("b's scheduled refresh: %s, %v", res, err)
	}
	if w.downloads() != 1 {
		t.Fatalf("%d downloads, want 1", w.downloads())
	}
	// While a holds the lease, b does not download: it reads the store.
	if ok, _ := st.AcquireLease(context.Background(), a.certs.lease, a.certs.holder, time.Minute); !ok {
		t.Fatal("lease")
	}
	b.cfg.refreshEvery = time.Nanosecond // the stored set is due
	if res, err := b.certs.scheduled(context.Background()); res != RefreshBusy || err != nil {
		t.Fatalf("b while a refreshes: %s, %v", res, err)
	}
	if w.downloads() != 1 {
		t.Fatalf("%d downloads, want 1", w.downloads())
	}
}

// writeCert writes a self-signed certificate valid from notBefore for
// validFor and returns its file and serial.
func writeCert(t *testing.T, notBefore time.Time, validFor time.Duration) (string, string) {
	t.Helper()
	key, err := wechatv3sim.ReadPrivateKey(demoDir + "sandbox_platform_private_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	serial.SetBit(serial, 63, 1)
	pemBytes, err := wechatv3sim.SelfSignedCert(key, serial, "test", notBefore, validFor)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(f, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return f, fmt.Sprintf("%X", serial)
}

// Expired certificates are not held, from a file or from the store; one
// close to expiry is warned about once a day.
func TestExpiredDroppedAndExpiryWarned(t *testing.T) {
	now := time.Now()
	expired, expiredSerial := writeCert(t, now.Add(-2*365*24*time.Hour), 365*24*time.Hour)
	soon, soonSerial := writeCert(t, now.Add(-365*24*time.Hour), 365*24*time.Hour+10*24*time.Hour)
	l := &syncLog{}
	p, err := newAdapter(providers.Channel{ID: "x", Kind: Kind, BaseURL: "http://127.0.0.1:1",
		Params: certParams("platform_cert_files", []any{expired, soon})}, logDeps(l))
	if err != nil {
		t.Fatal(err)
	}
	if h := heldSerials(p); len(h) != 1 || h[0] != soonSerial {
		t.Fatalf("held %v, want only %s (%s expired)", h, soonSerial, expiredSerial)
	}
	p.certs.warnExpiring()
	p.certs.warnExpiring()
	if n := strings.Count(l.String(), "expires soon and no successor is held"); n != 1 || !strings.Contains(l.String(), soonSerial) {
		t.Fatalf("%d warnings: %s", n, l.String())
	}
	if st := p.VerificationStatus(); len(st.Certificates) != 1 || st.Problem != "" {
		t.Fatalf("status %+v", st)
	}

	// Only expired certificates: the channel cannot verify, and says so.
	q, err := newAdapter(providers.Channel{ID: "y", Kind: Kind,
		Params: certParams("platform_cert_files", []any{expired}, ParamCertDownload, "false")}, providers.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if st := q.VerificationStatus(); !strings.Contains(st.Problem, "expired") || len(st.Certificates) != 0 {
		t.Fatalf("status %+v", st)
	}

	// A stored set is filtered the same way when it is read.
	raw, _ := os.ReadFile(expired)
	st := newCountingStore()
	_ = st.ReplaceCertificates(context.Background(), p.certs.owner, []providers.StoredCertificate{{Serial: expiredSerial, PEM: raw}})
	p.certs.store = st
	if _, err := p.certs.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := heldSerials(p); len(h) != 1 || h[0] != soonSerial {
		t.Fatalf("held %v after reading an expired stored certificate", h)
	}
}

// Sensitive fields are encrypted (RSA-OAEP, SHA-1) for the newest
// certificate, whose serial the request names; WeChat's key opens them.
func TestEncryptSensitiveWithNewestCertificate(t *testing.T) {
	w := newCertWorld(t, simParams(nil))
	p := w.adapter("a", certParams(), providers.Deps{})
	ct, serial, err := p.encryptSensitive("张三")
	if err != nil || serial != tPlatformSer {
		t.Fatalf("encrypt: %s, %v", serial, err)
	}
	key, _ := wechatv3sim.ReadPrivateKey(demoDir + "sandbox_platform_private_key.pem")
	raw, _ := base64.StdEncoding.DecodeString(ct)
	pt, err := rsa.DecryptOAEP(sha1.New(), nil, key, raw, nil)
	if err != nil || string(pt) != "张三" {
		t.Fatalf("decrypt: %q, %v", pt, err)
	}
	newSerial := w.control(wechatv3sim.ActionAdd, "")["added"].(string)
	if res, err := p.certs.scheduled(context.Background()); res != RefreshOK || err != nil {
		t.Fatalf("scheduled: %s, %v", res, err)
	}
	if _, serial, _ := p.encryptSensitive("x"); serial != newSerial {
		t.Fatalf("encrypted for %s, want the newest %s", serial, newSerial)
	}
	// With the public key configured, it is the public key.
	q := w.adapter("b", directParams(), providers.Deps{})
	if _, serial, _ := q.encryptSensitive("x"); serial != tPubKeyID {
		t.Fatalf("encrypted for %s, want %s", serial, tPubKeyID)
	}
}
