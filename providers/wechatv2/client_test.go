package wechatv2

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
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
	"github.com/paygate/paygate/providers/sandbox/wechatv2sim"
)

// fakeWeChat records requests and answers with answer(req) signed by the
// simulator's signer (unless the answer has return_code FAIL).
type fakeWeChat struct {
	mu     sync.Mutex
	reqs   []map[string]string
	paths  []string
	key    string
	answer func(path string, req map[string]string) (int, map[string]string)
}

func (f *fakeWeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, err := parseXML(body, "xml")
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.paths = append(f.paths, r.URL.Path)
	f.mu.Unlock()
	status, ans := f.answer(r.URL.Path, req)
	if ans["return_code"] == "SUCCESS" && ans["sign"] == "" {
		ans["sign"], _ = wechatv2sim.Signature(ans, f.key, req["sign_type"])
	}
	if ans["sign"] == "-" {
		delete(ans, "sign")
	}
	w.WriteHeader(status)
	_, _ = w.Write(encodeXML(ans))
}

func (f *fakeWeChat) last() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[len(f.reqs)-1]
}

func okAnswer(extra map[string]string) map[string]string {
	m := map[string]string{"return_code": "SUCCESS", "return_msg": "OK", "appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "nonce_str": "n", "result_code": "SUCCESS"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func fakeAdapter(t *testing.T, params providers.Params, f *fakeWeChat) *Adapter {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.key = params.String("api_key")
	p, err := New(providers.Channel{ID: "fake", Kind: Kind, Currency: "CNY", BaseURL: srv.URL + "/", NotifyURL: "https://gw.example/notify/fake", ServerIP: "10.0.0.1", Params: params},
		providers.Deps{HTTPClient: srv.Client(), Now: fixedNow(1700000000)})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Adapter)
}

// The unified order on the wire: every field, formats and the signature
// (checked with the simulator's independent verifier).
func TestUnifiedOrderWire(t *testing.T) {
	f := &fakeWeChat{answer: func(string, map[string]string) (int, map[string]string) {
		return 200, okAnswer(map[string]string{"trade_type": "JSAPI", "prepay_id": "wx201410272009395522657a690389285100"})
	}}
	for _, st := range []string{SignMD5, SignHMACSHA256} {
		params := directParams()
		params["sign_type"] = st
		a := fakeAdapter(t, params, f)
		desc := strings.Repeat("测", 50)
		res, err := a.CreateOrder(context.Background(), providers.CreateOrderRequest{
			OutTradeNo: "T20240101000001", Amount: providers.Money{Minor: 12345, Currency: "CNY"},
			Description: desc, PayerOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
			ExpiresAt: time.Date(2024, 1, 1, 16, 30, 0, 0, time.UTC),
		})
		if err != nil {
			t.Fatal(err)
		}
		req := f.last()
		want := map[string]string{
			"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "sign_type": st, "trade_type": "JSAPI",
			"out_trade_no": "T20240101000001", "total_fee": "12345", "fee_type": "CNY",
			"spbill_create_ip": "10.0.0.1", // ClientIP empty -> the channel's server IP
			"notify_url":       "https://gw.example/notify/fake", "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
			"time_expire": "20240102003000", // UTC+8
			"body":        strings.Repeat("测", 42),
		}
		for k, v := range want {
			if req[k] != v {
				t.Errorf("%s: %s = %q, want %q", st, k, req[k], v)
			}
		}
		for _, k := range []string{"sub_mch_id", "sub_appid", "sub_openid"} {
			if _, ok := req[k]; ok {
				t.Errorf("%s: direct mode sent %s", st, k)
			}
		}
		if len(req["nonce_str"]) != 32 {
			t.Errorf("nonce_str %q", req["nonce_str"])
		}
		if want, _ := wechatv2sim.Signature(req, officialKey, st); req["sign"] != want {
			t.Errorf("%s: request sign %s, simulator computes %s", st, req["sign"], want)
		}
		p := res.PayParams
		if p["appId"] != "wxd930ea5d5a258f4f" || p["timeStamp"] != "1700000000" || p["package"] != "prepay_id=wx201410272009395522657a690389285100" || p["signType"] != st {
			t.Errorf("%s: pay params %v", st, p)
		}
		five := map[string]string{"appId": p["appId"], "timeStamp": p["timeStamp"], "nonceStr": p["nonceStr"], "package": p["package"], "signType": p["signType"]}
		if want, _ := wechatv2sim.Signature(five, officialKey, st); p["paySign"] != want {
			t.Errorf("%s: paySign %s, simulator computes %s", st, p["paySign"], want)
		}
	}
}

func TestCreateOrderRefusedBeforeCalling(t *testing.T) {
	f := &fakeWeChat{answer: func(string, map[string]string) (int, map[string]string) { return 200, okAnswer(nil) }}
	a := fakeAdapter(t, directParams(), f)
	base := providers.CreateOrderRequest{OutTradeNo: "T1234567", Amount: providers.Money{Minor: 1, Currency: "CNY"}, PayerOpenID: "o1", NotifyURL: "https://gw.example/n"}
	for name, mut := range map[string]func(*providers.CreateOrderRequest){
		"EUR":               func(r *providers.CreateOrderRequest) { r.Amount.Currency = "EUR" },
		"zero":              func(r *providers.CreateOrderRequest) { r.Amount.Minor = 0 },
		"no openid":         func(r *providers.CreateOrderRequest) { r.PayerOpenID = "" },
		"other appid":       func(r *providers.CreateOrderRequest) { r.PayerAppID = "wxsomeoneelse" },
		"notify query":      func(r *providers.CreateOrderRequest) { r.NotifyURL = "https://gw.example/n?x=1" },
		"pay method paypal": func(r *providers.CreateOrderRequest) { r.PayMethod = "paypal" },
	} {
		req := base
		mut(&req)
		if _, err := a.CreateOrder(context.Background(), req); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if len(f.reqs) != 0 {
		t.Fatalf("%d requests sent", len(f.reqs))
	}
}

// Answers are verified before use and their codes mapped.
func TestAnswerHandling(t *testing.T) {
	ctx := context.Background()
	ref := providers.OrderRef{OutTradeNo: "T1234567"}
	for _, tc := range []struct {
		name     string
		status   int
		answer   map[string]string
		want     providers.ErrorCode
		provCode string
	}{
		{"unsigned FAIL (bad signature)", 200, map[string]string{"return_code": "FAIL", "return_msg": "签名错误"}, providers.ErrCodeRejected, "SIGNERROR"},
		{"unsigned FAIL (missing param)", 200, map[string]string{"return_code": "FAIL", "return_msg": "缺少参数"}, providers.ErrCodeRejected, "LACK_PARAMS"},
		{"answer signed with another key", 200, okAnswer(map[string]string{"trade_state": "SUCCESS", "sign": "9A0A8659F005D6984697E2CA0A9CF3B7"}), providers.ErrCodeBadResponse, ""},
		{"answer without sign", 200, okAnswer(map[string]string{"trade_state": "SUCCESS", "sign": "-"}), providers.ErrCodeBadResponse, ""},
		{"answer for another mch_id", 200, okAnswer(map[string]string{"mch_id": "10000101", "trade_state": "NOTPAY"}), providers.ErrCodeBadResponse, ""},
		{"answer naming a sub_mch_id on a direct channel", 200, okAnswer(map[string]string{"sub_mch_id": "1", "trade_state": "NOTPAY"}), providers.ErrCodeBadResponse, ""},
		{"ORDERNOTEXIST", 200, okAnswer(map[string]string{"result_code": "FAIL", "err_code": "ORDERNOTEXIST"}), providers.ErrCodeNotFound, "ORDERNOTEXIST"},
		{"SYSTEMERROR", 200, okAnswer(map[string]string{"result_code": "FAIL", "err_code": "SYSTEMERROR"}), providers.ErrCodeUnavailable, "SYSTEMERROR"},
		{"odd return_code", 200, map[string]string{"return_code": "MAYBE"}, providers.ErrCodeBadResponse, ""},
		{"odd result_code", 200, okAnswer(map[string]string{"result_code": "MAYBE"}), providers.ErrCodeBadResponse, ""},
		{"HTTP 500", 500, map[string]string{"return_code": "FAIL"}, providers.ErrCodeUnavailable, ""},
		{"HTTP 404", 404, map[string]string{"return_code": "FAIL"}, providers.ErrCodeUnavailable, ""},
	} {
		ans := tc.answer
		f := &fakeWeChat{answer: func(string, map[string]string) (int, map[string]string) { return tc.status, copyMap(ans) }}
		a := fakeAdapter(t, directParams(), f)
		_, err := a.QueryOrder(ctx, ref)
		var pe *providers.Error
		if !providers.IsCode(err, tc.want) {
			t.Errorf("%s: err = %v, want %s", tc.name, err, tc.want)
		} else if tc.provCode != "" && (!asError(err, &pe) || pe.ProviderCode != tc.provCode) {
			t.Errorf("%s: provider code of %v, want %s", tc.name, err, tc.provCode)
		}
		if err != nil && strings.Contains(err.Error(), officialKey) {
			t.Errorf("%s: error leaks the key", tc.name)
		}
	}
}

func asError(err error, pe **providers.Error) bool {
	e, ok := err.(*providers.Error)
	*pe = e
	return ok
}

// Query by transaction_id when known, else out_trade_no; refund by
// transaction_id with every amount in fen; refund query by out_refund_no.
func TestQueryAndRefundKeys(t *testing.T) {
	f := &fakeWeChat{answer: func(path string, req map[string]string) (int, map[string]string) {
		switch path {
		case PathOrderQuery:
			return 200, okAnswer(map[string]string{"trade_state": "NOTPAY", "out_trade_no": "T1234567"})
		case PathRefund:
			return 200, okAnswer(map[string]string{"out_refund_no": req["out_refund_no"], "refund_id": "50000000012024010100000000001", "refund_fee": req["refund_fee"]})
		case PathRefundQuery:
			return 200, okAnswer(map[string]string{"refund_count": "1", "out_refund_no_0": "R1234567", "refund_status_0": "PROCESSING", "refund_fee_0": "25", "refund_id_0": "5000"})
		}
		return 200, okAnswer(nil)
	}}
	a := fakeAdapter(t, directParams(), f)
	ctx := context.Background()
	if _, err := a.QueryOrder(ctx, providers.OrderRef{OutTradeNo: "T1234567", TransactionID: "4200000001202401010000000001"}); err != nil {
		t.Fatal(err)
	}
	if r := f.last(); r["transaction_id"] != "4200000001202401010000000001" || r["out_trade_no"] != "" {
		t.Errorf("query by %v", r)
	}
	if _, err := a.QueryOrder(ctx, providers.OrderRef{OutTradeNo: "T1234567"}); err != nil {
		t.Fatal(err)
	}
	if r := f.last(); r["out_trade_no"] != "T1234567" || r["transaction_id"] != "" {
		t.Errorf("query by %v", r)
	}
	order := providers.OrderRef{OutTradeNo: "T1234567", TransactionID: "4200000001202401010000000001", Amount: providers.Money{Minor: 100, Currency: "CNY"}}
	st, err := a.Refund(ctx, providers.RefundRequest{Order: order, OutRefundNo: "R1234567", Amount: providers.Money{Minor: 25, Currency: "CNY"}, Reason: "退货"})
	if err != nil || st.Status != providers.RefundProcessing || st.ProviderRefundNo != "50000000012024010100000000001" || st.Amount.Minor != 25 {
		t.Fatalf("refund %+v %v", st, err)
	}
	r := f.last()
	if f.paths[len(f.paths)-1] != "/secapi/pay/refund" || r["transaction_id"] != order.TransactionID || r["total_fee"] != "100" || r["refund_fee"] != "25" ||
		r["refund_fee_type"] != "CNY" || r["out_refund_no"] != "R1234567" || r["notify_url"] != "https://gw.example/notify/fake" || r["refund_desc"] != "退货" {
		t.Errorf("refund request %v", r)
	}
	st, err = a.QueryRefund(ctx, providers.RefundRef{Order: order, OutRefundNo: "R1234567"})
	if err != nil || st.Status != providers.RefundProcessing || st.Amount.Minor != 25 {
		t.Fatalf("refund query %+v %v", st, err)
	}
	if r := f.last(); r["out_refund_no"] != "R1234567" {
		t.Errorf("refund query %v", r)
	}
	if _, err := a.Refund(ctx, providers.RefundRequest{Order: providers.OrderRef{OutTradeNo: "T1234567"}, OutRefundNo: "R2", Amount: providers.Money{Minor: 1, Currency: "CNY"}}); !providers.IsCode(err, providers.ErrCodeRejected) {
		t.Errorf("refund without the order total: %v", err)
	}
}

func TestFactoryValidation(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeClientCert(t, dir)
	for _, tc := range []struct {
		name   string
		params providers.Params
		errHas string
	}{
		{"missing all", providers.Params{}, "params.api_key: is required; params.appid: is required; params.mch_id: is required"},
		{"misspelt sub_appid", providers.Params{"appid": "wx1", "mch_id": "1", "api_key": officialKey, "sub_mch_id": "2", "sub_app_id": "wx2"}, "params.sub_app_id: unknown param (did you mean sub_appid?)"},
		{"missing key", providers.Params{"appid": "wx1", "mch_id": "1"}, "params.api_key"},
		{"bad sign_type", providers.Params{"appid": "wx1", "mch_id": "1", "api_key": officialKey, "sign_type": "SHA1"}, "params.sign_type"},
		{"short key", providers.Params{"appid": "wx1", "mch_id": "1", "api_key": "short"}, "params.api_key"},
		{"sub_appid without sub_mch_id", providers.Params{"appid": "wx1", "mch_id": "1", "api_key": officialKey, "sub_appid": "wx2"}, "params.sub_mch_id"},
		{"cert without key", providers.Params{"appid": "wx1", "mch_id": "1", "api_key": officialKey, "cert_file": certFile}, "params.key_file"},
		{"unreadable cert", providers.Params{"appid": "wx1", "mch_id": "1", "api_key": officialKey, "cert_file": filepath.Join(dir, "none.pem"), "key_file": keyFile}, "params.cert_file"},
		{"ok lower-case sign_type", providers.Params{"appid": "wx1", "mch_id": "1", "api_key": officialKey, "sign_type": "hmac-sha256", "cert_file": certFile, "key_file": keyFile}, ""},
	} {
		_, err := New(providers.Channel{ID: "c", Kind: Kind, Params: tc.params}, providers.Deps{})
		switch {
		case tc.errHas == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)):
			t.Errorf("%s: err = %v, want it to name %s", tc.name, err, tc.errHas)
		}
		if err != nil && strings.Contains(err.Error(), officialKey) {
			t.Errorf("%s: error leaks the key", tc.name)
		}
	}
	p, _ := New(providers.Channel{ID: "c", Kind: Kind, Params: directParams()}, providers.Deps{})
	if p.(*Adapter).ch.BaseURL != ProductionBaseURL {
		t.Errorf("empty base_url -> %q", p.(*Adapter).ch.BaseURL)
	}
}

// writeClientCert writes a self-signed client certificate and key (PEM).
func writeClientCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "10000100"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "apiclient_cert.pem"), filepath.Join(dir, "apiclient_key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// With cert_file/key_file the refund is made over mutual TLS; the shared
// base client is left without the certificate.
func TestRefundMutualTLS(t *testing.T) {
	certFile, keyFile := writeClientCert(t, t.TempDir())
	var mu sync.Mutex
	var peerCN []string
	f := &fakeWeChat{key: officialKey, answer: func(_ string, req map[string]string) (int, map[string]string) {
		return 200, okAnswer(map[string]string{"out_refund_no": req["out_refund_no"], "refund_id": "5000", "refund_fee": req["refund_fee"]})
	}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if len(r.TLS.PeerCertificates) > 0 {
			peerCN = append(peerCN, r.TLS.PeerCertificates[0].Subject.CommonName)
		} else {
			peerCN = append(peerCN, "")
		}
		mu.Unlock()
		f.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	shared := srv.Client()
	ch := func(params providers.Params) providers.Channel {
		return providers.Channel{ID: "tls", Kind: Kind, BaseURL: srv.URL, Params: params}
	}
	withCert := directParams()
	withCert["cert_file"], withCert["key_file"] = certFile, keyFile
	p, err := New(ch(withCert), providers.Deps{HTTPClient: shared})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := New(ch(directParams()), providers.Deps{HTTPClient: shared})
	if err != nil {
		t.Fatal(err)
	}
	req := providers.RefundRequest{Order: providers.OrderRef{OutTradeNo: "T1234567", Amount: providers.Money{Minor: 10, Currency: "CNY"}}, OutRefundNo: "R1234567", Amount: providers.Money{Minor: 1, Currency: "CNY"}}
	if _, err := p.Refund(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Refund(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(peerCN) != 2 || peerCN[0] != "10000100" || peerCN[1] != "" {
		t.Fatalf("client certificates seen: %q (want the channel's, then none)", peerCN)
	}
}
