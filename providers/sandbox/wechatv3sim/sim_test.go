package wechatv3sim

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

const (
	dd         = demoDir + "/"
	apiV3Key   = "DEMO0SANDBOX0APIV3KEY00000000000"
	mchDirect  = "1900000109"
	appDirect  = "wxd678efh567hg6787"
	mchSP      = "1900000100"
	appSP      = "wx8888888888888888"
	subMch     = "1900000111"
	subApp     = "wxdace645e0bc2cXXX"
	openID     = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	notifyPath = "/notify/"
)

func params(mchid, appid string, extra ...string) providers.Params {
	p := providers.Params{
		"appid": appid, "mchid": mchid, "api_v3_key": apiV3Key,
		"private_key_file": dd + demoMerchantKeyFile, "merchant_cert_file": dd + demoMerchantCertFile, "cert_serial_no": demoMerchantSerial,
		"wechatpay_public_key_file": dd + demoPubKeyFile, "wechatpay_public_key_id": demoPublicKeyID,
		"platform_cert_files":     []any{dd + demoPlatformCertFile},
		ParamPublicKeyPrivateFile: dd + demoPubPrivFile, ParamPlatformPrivateFile: dd + demoPlatformPrivFile,
		ParamRefundDelayMS: "50",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		p[extra[i]] = extra[i+1]
	}
	return p
}

// rig is a sandbox with the simulator mounted as the gateway mounts it,
// plus a notify endpoint that records what the simulator sends.
type rig struct {
	t        *testing.T
	srv      *httptest.Server
	sb       *sandbox.Sandbox
	sim      *Simulator
	merchant *rsa.PrivateKey
	now      time.Time
	mu       sync.Mutex
	notes    []*http.Request
	bodies   [][]byte
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, now: time.Now()}
	mux := http.NewServeMux()
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	r.sb = sandbox.New(sandbox.Env{Client: r.srv.Client()})
	mux.Handle(sandbox.PathPrefix, r.sb)
	mux.HandleFunc(notifyPath, func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.notes = append(r.notes, req)
		r.bodies = append(r.bodies, b)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	sim, _ := r.sb.Simulator(Kind)
	r.sim = sim.(*Simulator)
	for _, ch := range []providers.Channel{
		{ID: "direct", Kind: Kind, Currency: "CNY", Params: params(mchDirect, appDirect), NotifyURL: r.srv.URL + notifyPath + "direct"},
		{ID: "partner", Kind: Kind, Currency: "CNY", Params: params(mchSP, appSP, "sub_mchid", subMch, "sub_appid", subApp), NotifyURL: r.srv.URL + notifyPath + "partner"},
	} {
		if err := r.sb.AddChannel(ch); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if r.merchant, err = ReadPrivateKey(dd + demoMerchantKeyFile); err != nil {
		t.Fatal(err)
	}
	return r
}

type call struct {
	method, uri string // uri below /sandbox/wechat_v3
	body        any
	mchid       string
	serial      string // merchant cert serial in Authorization
	skew        time.Duration
	tamper      bool // sign another body
	wxSerial    string
}

type answer struct {
	status int
	body   map[string]any
	header http.Header
	raw    []byte
}

func (r *rig) do(c call) answer {
	r.t.Helper()
	var raw []byte
	if c.body != nil {
		raw, _ = json.Marshal(c.body)
	}
	uri := "/sandbox/wechat_v3" + c.uri
	ts := strconv.FormatInt(r.now.Add(c.skew).Unix(), 10)
	signed := raw
	if c.tamper {
		signed = append([]byte{}, raw...)
		signed = append(signed, ' ')
	}
	sig, err := SignMessage(r.merchant, RequestSigningString(c.method, uri, ts, "nonce123", signed))
	if err != nil {
		r.t.Fatal(err)
	}
	serial := c.serial
	if serial == "" {
		serial = demoMerchantSerial
	}
	req, _ := http.NewRequest(c.method, r.srv.URL+uri, bytes.NewReader(raw))
	req.Header.Set("Authorization", `WECHATPAY2-SHA256-RSA2048 mchid="`+c.mchid+`",nonce_str="nonce123",timestamp="`+ts+`",serial_no="`+serial+`",signature="`+sig+`"`)
	req.Header.Set("Accept", "application/json")
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.wxSerial == "" {
		c.wxSerial = demoPublicKeyID
	}
	req.Header.Set("Wechatpay-Serial", c.wxSerial)
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: b}
	_ = json.Unmarshal(b, &a.body)
	return a
}

// verifyAnswer checks WeChat's signature on an answer or notification with
// the demo WeChat keys.
func verifyAnswer(t *testing.T, h http.Header, body []byte) string {
	t.Helper()
	serial := h.Get("Wechatpay-Serial")
	var pub *rsa.PublicKey
	switch serial {
	case demoPublicKeyID:
		k, err := ReadPublicKey(dd + demoPubKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		pub = k
	case demoPlatformSerial:
		c, err := ReadCertificates(dd + demoPlatformCertFile)
		if err != nil {
			t.Fatal(err)
		}
		pub = c[0].PublicKey.(*rsa.PublicKey)
	default:
		t.Fatalf("answer signed with unknown serial %q", serial)
	}
	if err := VerifyMessage(pub, AnswerSigningString(h.Get("Wechatpay-Timestamp"), h.Get("Wechatpay-Nonce"), body), h.Get("Wechatpay-Signature")); err != nil {
		t.Fatalf("answer signature: %v", err)
	}
	return serial
}

func prepayBodyDirect(no string) map[string]any {
	return map[string]any{"appid": appDirect, "mchid": mchDirect, "description": "demo", "out_trade_no": no,
		"notify_url": "https://gw.example/notify/direct", "amount": map[string]any{"total": 100, "currency": "CNY"},
		"payer": map[string]any{"openid": openID}}
}

func prepayBodyPartner(no string) map[string]any {
	return map[string]any{"sp_appid": appSP, "sp_mchid": mchSP, "sub_appid": subApp, "sub_mchid": subMch, "description": "demo",
		"out_trade_no": no, "notify_url": "https://gw.example/notify/partner", "amount": map[string]any{"total": 100, "currency": "CNY"},
		"payer": map[string]any{"sub_openid": openID}}
}

func TestSimRequestChecks(t *testing.T) {
	r := newRig(t)
	ok := r.do(call{method: "POST", uri: "/v3/pay/transactions/jsapi", body: prepayBodyDirect("T0000001"), mchid: mchDirect})
	if ok.status != 200 || ok.body["prepay_id"] == nil {
		t.Fatalf("good prepay: %d %s", ok.status, ok.raw)
	}
	if got := verifyAnswer(t, ok.header, ok.raw); got != demoPublicKeyID {
		t.Fatalf("answer signed by %s", got)
	}
	for _, tt := range []struct {
		name   string
		c      call
		status int
		code   string
	}{
		{"bad signature", call{method: "POST", uri: "/v3/pay/transactions/jsapi", body: prepayBodyDirect("T0000002"), mchid: mchDirect, tamper: true}, 401, "SIGN_ERROR"},
		{"stale timestamp", call{method: "POST", uri: "/v3/pay/transactions/jsapi", body: prepayBodyDirect("T0000002"), mchid: mchDirect, skew: -6 * time.Minute}, 401, "SIGN_ERROR"},
		{"future timestamp", call{method: "POST", uri: "/v3/pay/transactions/jsapi", body: prepayBodyDirect("T0000002"), mchid: mchDirect, skew: 6 * time.Minute}, 401, "SIGN_ERROR"},
		{"wrong merchant serial", call{method: "POST", uri: "/v3/pay/transactions/jsapi", body: prepayBodyDirect("T0000002"), mchid: mchDirect, serial: "0123456789ABCDEF"}, 401, "SIGN_ERROR"},
		{"unknown mchid", call{method: "GET", uri: "/v3/pay/transactions/out-trade-no/T0000001?mchid=1900000999", mchid: "1900000999"}, 400, "MCH_NOT_EXISTS"},
		{"body mchid differs from Authorization", call{method: "POST", uri: "/v3/pay/transactions/jsapi", body: prepayBodyDirect("T0000002"), mchid: mchSP}, 400, "PARAM_ERROR"},
		{"query mchid differs from Authorization", call{method: "GET", uri: "/v3/pay/transactions/out-trade-no/T0000001?mchid=" + mchSP, mchid: mchDirect}, 400, "PARAM_ERROR"},
		{"direct merchant on a partner path", call{method: "POST", uri: "/v3/pay/partner/transactions/jsapi", body: map[string]any{
			"sp_appid": appDirect, "sp_mchid": mchDirect, "sub_mchid": subMch, "description": "d", "out_trade_no": "T0000003",
			"notify_url": "https://gw.example/n", "amount": map[string]any{"total": 1}, "payer": map[string]any{"sp_openid": openID}}, mchid: mchDirect}, 403, "NO_AUTH"},
		{"service provider on a direct path", call{method: "POST", uri: "/v3/pay/transactions/jsapi", body: map[string]any{
			"appid": appSP, "mchid": mchSP, "description": "d", "out_trade_no": "T0000004",
			"notify_url": "https://gw.example/n", "amount": map[string]any{"total": 1}, "payer": map[string]any{"openid": openID}}, mchid: mchSP}, 403, "NO_AUTH"},
		{"direct merchant sends sub_mchid on refund", call{method: "POST", uri: "/v3/refund/domestic/refunds", body: map[string]any{
			"sub_mchid": subMch, "out_trade_no": "T0000001", "out_refund_no": "R1", "amount": map[string]any{"refund": 1, "total": 100, "currency": "CNY"}}, mchid: mchDirect}, 403, "NO_AUTH"},
		{"service provider refund without sub_mchid", call{method: "POST", uri: "/v3/refund/domestic/refunds", body: map[string]any{
			"out_trade_no": "T0000001", "out_refund_no": "R1", "amount": map[string]any{"refund": 1, "total": 100, "currency": "CNY"}}, mchid: mchSP}, 400, "PARAM_ERROR"},
		{"sub_mchid not bound", call{method: "GET", uri: "/v3/pay/partner/transactions/out-trade-no/T0000001?sp_mchid=" + mchSP + "&sub_mchid=1900000222", mchid: mchSP}, 403, "NO_AUTH"},
		{"unknown order", call{method: "GET", uri: "/v3/pay/transactions/out-trade-no/T9999999?mchid=" + mchDirect, mchid: mchDirect}, 404, "ORDER_NOT_EXIST"},
		{"same number, other content", call{method: "POST", uri: "/v3/pay/transactions/jsapi", body: func() map[string]any {
			b := prepayBodyDirect("T0000001")
			b["amount"] = map[string]any{"total": 200, "currency": "CNY"}
			return b
		}(), mchid: mchDirect}, 403, "OUT_TRADE_NO_USED"},
		{"fractional fen", call{method: "POST", uri: "/v3/pay/transactions/jsapi", body: func() map[string]any {
			b := prepayBodyDirect("T0000005")
			b["amount"] = map[string]any{"total": 1.5, "currency": "CNY"}
			return b
		}(), mchid: mchDirect}, 400, "PARAM_ERROR"},
		{"notify_url with a query", call{method: "POST", uri: "/v3/pay/transactions/jsapi", body: func() map[string]any {
			b := prepayBodyDirect("T0000006")
			b["notify_url"] = "https://gw.example/n?x=1"
			return b
		}(), mchid: mchDirect}, 400, "PARAM_ERROR"},
		{"partner sub_openid without sub_appid", call{method: "POST", uri: "/v3/pay/partner/transactions/jsapi", body: func() map[string]any {
			b := prepayBodyPartner("T0000007")
			delete(b, "sub_appid")
			return b
		}(), mchid: mchSP}, 400, "PARAM_ERROR"},
		{"refund of an unpaid order", call{method: "POST", uri: "/v3/refund/domestic/refunds", body: map[string]any{
			"out_trade_no": "T0000001", "out_refund_no": "R1", "amount": map[string]any{"refund": 1, "total": 100, "currency": "CNY"}}, mchid: mchDirect}, 400, "INVALID_REQUEST"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := r.do(tt.c)
			if a.status != tt.status || a.body["code"] != tt.code {
				t.Fatalf("answer %d %s, want %d %s", a.status, a.raw, tt.status, tt.code)
			}
			if a.header.Get("Wechatpay-Signature") != "" {
				verifyAnswer(t, a.header, a.raw)
			}
		})
	}
}

func TestSimPayNotifyRefundAndRotation(t *testing.T) {
	r := newRig(t)
	a := r.do(call{method: "POST", uri: "/v3/pay/partner/transactions/jsapi", body: func() map[string]any {
		b := prepayBodyPartner("T1000001")
		b["notify_url"] = r.srv.URL + notifyPath + "partner"
		return b
	}(), mchid: mchSP})
	if a.status != 200 {
		t.Fatalf("prepay: %d %s", a.status, a.raw)
	}
	// Public-key mode, but the request names the certificate: the answer
	// comes signed with the certificate.
	q := "/v3/pay/partner/transactions/out-trade-no/T1000001?sp_mchid=" + mchSP + "&sub_mchid=" + subMch
	if a := r.do(call{method: "GET", uri: q, mchid: mchSP, wxSerial: demoPlatformSerial}); verifyAnswer(t, a.header, a.raw) != demoPlatformSerial {
		t.Fatal("answer to a certificate-serial request not signed with the certificate")
	}
	if _, err := r.sb.Pay(context.Background(), "partner", "T1000001", sandbox.PayOptions{Duplicates: 1}); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	if len(r.notes) != 2 {
		r.mu.Unlock()
		t.Fatalf("%d notifications, want 2 (1 + 1 duplicate)", len(r.notes))
	}
	h, body := r.notes[0].Header, r.bodies[0]
	r.mu.Unlock()
	if verifyAnswer(t, h, body) != demoPublicKeyID {
		t.Fatal("notification not signed with the public key")
	}
	var env struct {
		ID        string `json:"id"`
		EventType string `json:"event_type"`
		Resource  struct {
			Algorithm, Ciphertext, Nonce string
			AssociatedData               string `json:"associated_data"`
			OriginalType                 string `json:"original_type"`
		} `json:"resource"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	pt, err := OpenResource([]byte(apiV3Key), env.Resource.Nonce, env.Resource.AssociatedData, env.Resource.Ciphertext)
	if err != nil || env.EventType != "TRANSACTION.SUCCESS" || env.Resource.Algorithm != "AEAD_AES_256_GCM" || len(env.Resource.Nonce) != 12 {
		t.Fatalf("notification %+v: %v", env, err)
	}
	var tx map[string]any
	_ = json.Unmarshal(pt, &tx)
	txID, _ := tx["transaction_id"].(string)
	if tx["sp_mchid"] != mchSP || tx["sub_mchid"] != subMch || tx["sp_appid"] != appSP || tx["sub_appid"] != subApp ||
		tx["trade_state"] != "SUCCESS" || len(txID) != 28 || txID[:4] != "4200" || tx["payer"].(map[string]any)["sub_openid"] != openID {
		t.Fatalf("transaction = %s", pt)
	}

	// Rotate to certificate signing; the refund notification follows it.
	if err := r.sim.UseKey("partner", KeyPlatformCert); err != nil {
		t.Fatal(err)
	}
	ra := r.do(call{method: "POST", uri: "/v3/refund/domestic/refunds", body: map[string]any{
		"sub_mchid": subMch, "transaction_id": txID, "out_refund_no": "R1000001", "notify_url": r.srv.URL + notifyPath + "partner",
		"amount": map[string]any{"refund": 40, "total": 100, "currency": "CNY"}}, mchid: mchSP})
	if ra.status != 200 || ra.body["status"] != "PROCESSING" || verifyAnswer(t, ra.header, ra.raw) != demoPlatformSerial {
		t.Fatalf("refund: %d %s", ra.status, ra.raw)
	}
	if over := r.do(call{method: "POST", uri: "/v3/refund/domestic/refunds", body: map[string]any{
		"sub_mchid": subMch, "transaction_id": txID, "out_refund_no": "R1000002",
		"amount": map[string]any{"refund": 61, "total": 100, "currency": "CNY"}}, mchid: mchSP}); over.status != 403 || over.body["code"] != "NOT_ENOUGH" {
		t.Fatalf("over-refund: %d %s", over.status, over.raw)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		rq := r.do(call{method: "GET", uri: "/v3/refund/domestic/refunds/R1000001?sub_mchid=" + subMch, mchid: mchSP})
		if rq.body["status"] == "SUCCESS" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refund never succeeded: %s", rq.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		r.mu.Lock()
		n := len(r.notes)
		var h http.Header
		var b []byte
		if n >= 3 {
			h, b = r.notes[2].Header, r.bodies[2]
		}
		r.mu.Unlock()
		if n >= 3 {
			if verifyAnswer(t, h, b) != demoPlatformSerial {
				t.Fatal("refund notification not signed with the certificate after rotation")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no refund notification")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSimAddChannelErrors(t *testing.T) {
	s := New(sandbox.Env{})
	for _, tt := range []struct {
		name string
		p    providers.Params
	}{
		{"missing api_v3_key", func() providers.Params { p := params(mchDirect, appDirect); delete(p, "api_v3_key"); return p }()},
		{"no sandbox signing key", func() providers.Params {
			p := params(mchDirect, appDirect)
			delete(p, ParamPublicKeyPrivateFile)
			delete(p, ParamPlatformPrivateFile)
			return p
		}()},
		{"sandbox key not matching the public key", params(mchDirect, appDirect, ParamPublicKeyPrivateFile, dd+demoPlatformPrivFile)},
		{"platform key matching no certificate", params(mchDirect, appDirect, ParamPlatformPrivateFile, dd+demoPubPrivFile)},
		{"bad sign_with", params(mchDirect, appDirect, ParamSignWith, "hmac")},
	} {
		if err := s.AddChannel(providers.Channel{ID: "x", Kind: Kind, Params: tt.p}); err == nil {
			t.Errorf("%s: AddChannel accepted", tt.name)
		}
	}
	p := params(mchDirect, appDirect)
	delete(p, ParamPlatformPrivateFile)
	if err := s.AddChannel(providers.Channel{ID: "pk-only", Kind: Kind, Params: p}); err != nil {
		t.Fatal(err)
	}
	if err := s.UseKey("pk-only", KeyPlatformCert); err == nil {
		t.Fatal("UseKey(platform_cert) accepted without a platform key")
	}
	if err := s.UseKey("nope", KeyPublicKey); err == nil {
		t.Fatal("UseKey on an unknown channel accepted")
	}
}
