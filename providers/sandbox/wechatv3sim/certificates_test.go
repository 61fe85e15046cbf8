package wechatv3sim

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// listed decrypts a GET /v3/certificates answer with the simulator's own
// code and returns serial -> certificate, checking each entry's fields.
func listed(t *testing.T, a answer) map[string]*rsa.PublicKey {
	t.Helper()
	var body struct {
		Data []struct {
			SerialNo           string            `json:"serial_no"`
			EffectiveTime      string            `json:"effective_time"`
			ExpireTime         string            `json:"expire_time"`
			EncryptCertificate map[string]string `json:"encrypt_certificate"`
		} `json:"data"`
	}
	if err := json.Unmarshal(a.raw, &body); err != nil {
		t.Fatal(err)
	}
	out := map[string]*rsa.PublicKey{}
	for _, e := range body.Data {
		ec := e.EncryptCertificate
		if ec["algorithm"] != "AEAD_AES_256_GCM" || ec["associated_data"] != "certificate" || len(ec["nonce"]) != 12 {
			t.Fatalf("encrypt_certificate %v", ec)
		}
		pt, err := OpenResource([]byte(apiV3Key), ec["nonce"], ec["associated_data"], ec["ciphertext"])
		if err != nil {
			t.Fatalf("%s: %v", e.SerialNo, err)
		}
		certs, err := DecodeCertificates(pt)
		if err != nil || len(certs) != 1 || SerialHex(certs[0]) != e.SerialNo {
			t.Fatalf("%s: %v %v", e.SerialNo, certs, err)
		}
		eff, err1 := time.Parse(time.RFC3339, e.EffectiveTime)
		exp, err2 := time.Parse(time.RFC3339, e.ExpireTime)
		if err1 != nil || err2 != nil || !eff.Equal(certs[0].NotBefore) || !exp.Equal(certs[0].NotAfter) || !strings.HasSuffix(e.ExpireTime, "+08:00") {
			t.Fatalf("%s: effective %s expire %s", e.SerialNo, e.EffectiveTime, e.ExpireTime)
		}
		out[e.SerialNo] = certs[0].PublicKey.(*rsa.PublicKey)
	}
	return out
}

func TestSimCertificatesAndRotation(t *testing.T) {
	r := newRig(t)
	get := func(wxSerial string) answer {
		return r.do(call{method: "GET", uri: "/v3/certificates", mchid: mchDirect, wxSerial: wxSerial})
	}
	a := get(demoPlatformSerial)
	if a.status != 200 {
		t.Fatalf("GET /v3/certificates: %d %s", a.status, a.raw)
	}
	if got := listed(t, a); len(got) != 1 || got[demoPlatformSerial] == nil {
		t.Fatalf("listed %v", got)
	}
	// In public-key mode an answer to a request naming the key id is
	// signed with it; one naming the certificate, with the certificate.
	if s := verifyAnswer(t, a.header, a.raw); s != demoPlatformSerial {
		t.Fatalf("signed by %s", s)
	}
	if b := get(demoPublicKeyID); verifyAnswer(t, b.header, b.raw) != demoPublicKeyID {
		t.Fatal("answer to a request naming the public key is not signed with it")
	}
	if s := verifyAnswer(t, a.header, a.raw); s != demoPlatformSerial {
		t.Fatalf("signed by %s", s)
	}

	// Rotation, step 1: a new certificate is listed; signing stays.
	if err := r.sim.UseKey("direct", KeyPlatformCert); err != nil {
		t.Fatal(err)
	}
	v, err := r.sb.ControlCertificates("direct", sandbox.CertificateControl{Action: ActionAdd})
	if err != nil {
		t.Fatal(err)
	}
	added := v.(map[string]any)["added"].(string)
	if len(added) != 40 || v.(map[string]any)["signing_serial"] != demoPlatformSerial {
		t.Fatalf("add: %v", v)
	}
	a = get(demoPlatformSerial)
	keys := listed(t, a)
	if len(keys) != 2 || keys[added] == nil || verifyAnswer(t, a.header, a.raw) != demoPlatformSerial {
		t.Fatalf("after add: %v", keys)
	}
	// Step 2: signing moves to it. A request naming a listed certificate
	// is still answered under it; one naming nothing known, under the new.
	if _, err := r.sb.ControlCertificates("direct", sandbox.CertificateControl{Action: ActionSignWith}); err != nil {
		t.Fatal(err)
	}
	if r.sim.SigningSerial("direct") != added {
		t.Fatalf("signing %s, want %s", r.sim.SigningSerial("direct"), added)
	}
	a = get(demoPlatformSerial)
	if a.header.Get("Wechatpay-Serial") != demoPlatformSerial {
		t.Fatalf("answer to a request naming the old certificate signed by %s", a.header.Get("Wechatpay-Serial"))
	}
	a = get("0123456789")
	if a.header.Get("Wechatpay-Serial") != added ||
		VerifyMessage(keys[added], AnswerSigningString(a.header.Get("Wechatpay-Timestamp"), a.header.Get("Wechatpay-Nonce"), a.raw), a.header.Get("Wechatpay-Signature")) != nil {
		t.Fatalf("answer under the new certificate: %v", a.header)
	}
	// Notifications are signed by the new one.
	no := "CERTROT00001"
	prepay := prepayBodyDirect(no)
	prepay["notify_url"] = r.srv.URL + notifyPath + "direct"
	if p := r.do(call{method: "POST", uri: "/v3/pay/transactions/jsapi", body: prepay, mchid: mchDirect}); p.status != 200 {
		t.Fatalf("prepay: %d %s", p.status, p.raw)
	}
	if _, err := r.sb.Pay(t.Context(), "direct", no, sandbox.PayOptions{}); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	if len(r.notes) != 1 {
		r.mu.Unlock()
		t.Fatalf("%d notifications", len(r.notes))
	}
	note, body := r.notes[0], r.bodies[0]
	r.mu.Unlock()
	if note.Header.Get("Wechatpay-Serial") != added ||
		VerifyMessage(keys[added], AnswerSigningString(note.Header.Get("Wechatpay-Timestamp"), note.Header.Get("Wechatpay-Nonce"), body), note.Header.Get("Wechatpay-Signature")) != nil {
		t.Fatalf("notification under %s", note.Header.Get("Wechatpay-Serial"))
	}
	// Step 3: the old one is retired; the signing one cannot be.
	if _, err := r.sb.ControlCertificates("direct", sandbox.CertificateControl{Action: ActionRetire, Serial: added}); err == nil {
		t.Fatal("retired the signing certificate")
	}
	if _, err := r.sb.ControlCertificates("direct", sandbox.CertificateControl{Action: ActionRetire, Serial: demoPlatformSerial}); err != nil {
		t.Fatal(err)
	}
	a = get(demoPlatformSerial)
	if keys := listed(t, a); len(keys) != 1 || keys[added] == nil || a.header.Get("Wechatpay-Serial") != added {
		t.Fatalf("after retire: %v, signed by %s", keys, a.header.Get("Wechatpay-Serial"))
	}
	if n := r.sim.CertificateDownloads("direct"); n != 6 {
		t.Fatalf("%d downloads counted, want 6", n)
	}
	if _, err := r.sb.ControlCertificates("direct", sandbox.CertificateControl{Action: "explode"}); err == nil {
		t.Fatal("unknown action accepted")
	}
}

// A merchant on the public key only has no platform certificate: 404
// RESOURCE_NOT_EXISTS.
func TestSimCertificatesPublicKeyOnly(t *testing.T) {
	r := newRig(t)
	p := params("1900000209", appDirect)
	delete(p, "platform_cert_files")
	delete(p, ParamPlatformPrivateFile)
	if err := r.sb.AddChannel(providers.Channel{ID: "pubonly", Kind: Kind, Currency: "CNY", Params: p}); err != nil {
		t.Fatal(err)
	}
	a := r.do(call{method: "GET", uri: "/v3/certificates", mchid: "1900000209"})
	if a.status != 404 || a.body["code"] != "RESOURCE_NOT_EXISTS" || verifyAnswer(t, a.header, a.raw) != demoPublicKeyID {
		t.Fatalf("GET /v3/certificates: %d %s", a.status, a.raw)
	}
}

// The control endpoint over HTTP, as a newcomer would call it.
func TestSimCertificateControlEndpoint(t *testing.T) {
	r := newRig(t)
	post := func(channel, body string) (int, map[string]any) {
		resp, err := http.Post(r.srv.URL+"/sandbox/certificates/"+channel, "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	status, v := post("partner", `{"action":"rotate"}`)
	if status != 200 || v["added"] == nil || v["signing_serial"] != v["added"] || len(v["certificates"].([]any)) != 2 {
		t.Fatalf("rotate: %d %v", status, v)
	}
	if status, _ := post("nope", `{"action":"rotate"}`); status != 404 {
		t.Fatalf("unknown channel: %d", status)
	}
	if status, _ := post("partner", `{"action":`); status != 400 {
		t.Fatalf("bad body: %d", status)
	}
	resp, err := http.Get(r.srv.URL + "/sandbox/certificates/partner")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("list: %v %v", resp, err)
	}
	resp.Body.Close()
}
