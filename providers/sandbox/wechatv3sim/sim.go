// Package wechatv3sim simulates WeChat Pay API v3 (direct and partner
// JSAPI payments, refunds) for the sandbox. It holds WeChat's side of the
// keys (a "WeChat Pay public key" pair and/or a platform certificate and
// its key, loaded from sandbox-only params), verifies every request's
// Authorization with the merchant's public key, answers signed JSON, and
// sends signed notifications whose resource is AES-256-GCM encrypted with
// the channel's APIv3 key. Its crypto is written apart from the adapter's.
//
// Sandbox-only channel params (ignored by the adapter):
//
//	sandbox_wechatpay_private_key_file  private half of wechatpay_public_key_file
//	sandbox_platform_private_key_file   private key of a certificate in platform_cert_files
//	sandbox_platform_cert_file          that certificate, when platform_cert_files does not list it
//	                                    (a channel that trusts its first download)
//	sandbox_sign_with                   public_key | platform_cert (initial signing key)
//	sandbox_refund_delay_ms             refunds answer PROCESSING, then succeed after this (default 200)
package wechatv3sim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// Kind is the provider kind simulated.
const Kind = "wechat_v3"

// Sandbox-only params.
const (
	ParamPublicKeyPrivateFile = "sandbox_wechatpay_private_key_file"
	ParamPlatformPrivateFile  = "sandbox_platform_private_key_file"
	ParamPlatformCertFile     = "sandbox_platform_cert_file"
	ParamSignWith             = "sandbox_sign_with"
	ParamRefundDelayMS        = "sandbox_refund_delay_ms"
)

// KeyMode is the key WeChat's side signs with.
type KeyMode string

const (
	// KeyPlatformCert signs with the platform certificate's key
	// (Wechatpay-Serial = the certificate's hex serial).
	KeyPlatformCert KeyMode = "platform_cert"
	// KeyPublicKey signs with the WeChat Pay public key pair
	// (Wechatpay-Serial = PUB_KEY_ID_...).
	KeyPublicKey KeyMode = "public_key"
)

// MaxSkew is the request timestamp window (WeChat answers 401 SIGN_ERROR
// beyond about five minutes).
const MaxSkew = 5 * time.Minute

const defaultRefundDelay = 200 * time.Millisecond

var beijing = time.FixedZone("CST", 8*3600)

func init() {
	sandbox.Register(Kind, func(env sandbox.Env) sandbox.Simulator { return New(env) })
}

// merchant is one mchid: the merchant's (or service provider's) API key,
// WeChat's keys for it, and its APIv3 key.
type merchant struct {
	mchid      string
	pub        *rsa.PublicKey // merchant API public key
	certSerial string         // merchant API certificate serial
	apiV3Key   []byte

	pubKeyID   string
	pubKeyPriv *rsa.PrivateKey
	platform   []*platformCert // listed at GET /v3/certificates, oldest first
	signing    *platformCert   // the one notifications and answers are signed with
	mode       KeyMode
	downloads  int // GET /v3/certificates answered
}

type acctKey struct{ mchid, subMchid string }

// account is a direct merchant (subMchid "") or one sub-merchant of a
// service provider.
type account struct {
	key         acctKey
	m           *merchant
	partner     bool
	appid       string // appid or sp_appid
	subAppid    string
	notifyURL   string // the channel's, when an order or refund names none
	refundDelay time.Duration
	orders      map[string]*order // by out_trade_no
	byTxID      map[string]*order
	refunds     map[string]*refundRec // by out_refund_no
}

type order struct {
	OutTradeNo    string
	Description   string
	Total         int64
	NotifyURL     string
	OpenIDField   string // openid | sp_openid | sub_openid
	OpenID        string
	SubAppID      string
	TimeExpire    string
	Fingerprint   string
	PrepayID      string
	State         string // NOTPAY SUCCESS REFUND CLOSED
	TransactionID string
	SuccessTime   string
	Refunded      int64
}

type refundRec struct {
	RefundID    string
	OutRefundNo string
	Order       *order
	Refund      int64
	Reason      string
	NotifyURL   string
	Status      string // PROCESSING SUCCESS
	CreateTime  string
	SuccessTime string
}

// Simulator is the wechat_v3 sandbox.
type Simulator struct {
	env       sandbox.Env
	mu        sync.Mutex
	merchants map[string]*merchant
	accounts  map[acctKey]*account
	byChannel map[string]*account
	bills     billState // trade bills: download tokens, held channels (bill.go)
}

// New builds an empty simulator.
func New(env sandbox.Env) *Simulator {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Client == nil {
		env.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Simulator{env: env, merchants: map[string]*merchant{}, accounts: map[acctKey]*account{}, byChannel: map[string]*account{}}
}

// Kind implements sandbox.Simulator.
func (s *Simulator) Kind() string { return Kind }

// Handler implements sandbox.Simulator.
func (s *Simulator) Handler() http.Handler { return s }

// AddChannel registers a channel: its account, the merchant's public key
// (from merchant_cert_file, or the public half of private_key_file) and
// WeChat's signing keys from the sandbox-only params.
func (s *Simulator) AddChannel(ch providers.Channel) error {
	p := ch.Params
	for _, k := range []string{"appid", "mchid", "api_v3_key", "private_key_file", "cert_serial_no"} {
		if strings.TrimSpace(p.String(k)) == "" {
			return fmt.Errorf("wechatv3sim: params.%s is required", k)
		}
	}
	m := &merchant{mchid: p.String("mchid"), certSerial: p.String("cert_serial_no"), apiV3Key: []byte(p.String("api_v3_key"))}
	if f := p.String("merchant_cert_file"); f != "" {
		certs, err := ReadCertificates(f)
		if err != nil {
			return fmt.Errorf("wechatv3sim: params.merchant_cert_file: %v", err)
		}
		m.pub = certs[0].PublicKey.(*rsa.PublicKey)
	} else {
		k, err := ReadPrivateKey(p.String("private_key_file"))
		if err != nil {
			return fmt.Errorf("wechatv3sim: params.private_key_file: %v", err)
		}
		m.pub = &k.PublicKey
	}
	if f := p.String(ParamPublicKeyPrivateFile); f != "" {
		k, err := ReadPrivateKey(f)
		if err != nil {
			return fmt.Errorf("wechatv3sim: params.%s: %v", ParamPublicKeyPrivateFile, err)
		}
		if m.pubKeyID = p.String("wechatpay_public_key_id"); m.pubKeyID == "" {
			return fmt.Errorf("wechatv3sim: params.wechatpay_public_key_id is required with params.%s", ParamPublicKeyPrivateFile)
		}
		if pf := p.String("wechatpay_public_key_file"); pf != "" {
			pub, err := ReadPublicKey(pf)
			if err != nil {
				return fmt.Errorf("wechatv3sim: params.wechatpay_public_key_file: %v", err)
			}
			if pub.N.Cmp(k.N) != 0 || pub.E != k.E {
				return fmt.Errorf("wechatv3sim: params.%s is not the private half of params.wechatpay_public_key_file", ParamPublicKeyPrivateFile)
			}
		}
		m.pubKeyPriv = k
	}
	if f := p.String(ParamPlatformPrivateFile); f != "" {
		pc, err := loadPlatformCert(f, append(p.Strings("platform_cert_files"), p.Strings(ParamPlatformCertFile)...))
		if err != nil {
			return err
		}
		m.platform, m.signing = []*platformCert{pc}, pc
	}
	switch KeyMode(p.String(ParamSignWith)) {
	case "":
		m.mode = KeyPublicKey
		if m.pubKeyPriv == nil {
			m.mode = KeyPlatformCert
		}
	case KeyPublicKey:
		m.mode = KeyPublicKey
	case KeyPlatformCert:
		m.mode = KeyPlatformCert
	default:
		return fmt.Errorf("wechatv3sim: params.%s must be %s or %s", ParamSignWith, KeyPublicKey, KeyPlatformCert)
	}
	if (m.mode == KeyPublicKey && m.pubKeyPriv == nil) || (m.mode == KeyPlatformCert && m.signing == nil) {
		return fmt.Errorf("wechatv3sim: no signing key for mode %s: set params.%s (+ wechatpay_public_key_id) or params.%s (+ platform_cert_files)",
			m.mode, ParamPublicKeyPrivateFile, ParamPlatformPrivateFile)
	}
	delay := defaultRefundDelay
	if v := p.String(ParamRefundDelayMS); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms < 0 {
			return fmt.Errorf("wechatv3sim: params.%s must be a number of milliseconds", ParamRefundDelayMS)
		}
		delay = time.Duration(ms) * time.Millisecond
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.merchants[m.mchid]; ok {
		if old.pub.N.Cmp(m.pub.N) != 0 || string(old.apiV3Key) != string(m.apiV3Key) {
			return fmt.Errorf("wechatv3sim: mchid %s is already registered with other keys", m.mchid)
		}
		m = old
	} else {
		s.merchants[m.mchid] = m
	}
	key := acctKey{mchid: m.mchid, subMchid: p.String("sub_mchid")}
	a, ok := s.accounts[key]
	if !ok {
		a = &account{key: key, m: m, partner: key.subMchid != "", appid: p.String("appid"), subAppid: p.String("sub_appid"),
			notifyURL: ch.NotifyURL, refundDelay: delay,
			orders: map[string]*order{}, byTxID: map[string]*order{}, refunds: map[string]*refundRec{}}
		s.accounts[key] = a
	}
	s.byChannel[ch.ID] = a
	return nil
}

// UseKey switches the key WeChat's side signs answers and notifications
// with for the channel's merchant, e.g. from platform certificate to
// public key mid-run, as WeChat did in its 2024-2025 migration.
func (s *Simulator) UseKey(channelID string, mode KeyMode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byChannel[channelID]
	if !ok {
		return fmt.Errorf("wechatv3sim: unknown channel %q", channelID)
	}
	switch {
	case mode == KeyPublicKey && a.m.pubKeyPriv != nil, mode == KeyPlatformCert && a.m.signing != nil:
		a.m.mode = mode
		return nil
	}
	return fmt.Errorf("wechatv3sim: channel %s has no %s key", channelID, mode)
}

// signer picks the key for an answer: in public-key mode WeChat answers
// with the public key only when the request named its id in
// Wechatpay-Serial (spec §4.1), else with a certificate when it has one.
// Of its certificates the sandbox answers with the listed one the request
// names, else with the one it signs with (UNCONFIRMED for WeChat: see
// docs/providers/wechat_v3.md); notifications always carry the signing
// one.
func (m *merchant) signer(requestSerial string, notification bool) (string, *rsa.PrivateKey) {
	if m.mode == KeyPublicKey && (notification || requestSerial == m.pubKeyID || m.signing == nil) {
		return m.pubKeyID, m.pubKeyPriv
	}
	if m.signing == nil {
		return m.pubKeyID, m.pubKeyPriv
	}
	if !notification {
		for _, pc := range m.platform {
			if sameSerial(pc.serial, requestSerial) {
				return pc.serial, pc.key
			}
		}
	}
	return m.signing.serial, m.signing.key
}

// signHeaders sets Wechatpay-* headers over body.
func (s *Simulator) signHeaders(h http.Header, serial string, key *rsa.PrivateKey, body []byte) error {
	ts := strconv.FormatInt(s.env.Now().Unix(), 10)
	nonce := randAlnum(32)
	sig, err := SignMessage(key, AnswerSigningString(ts, nonce, body))
	if err != nil {
		return err
	}
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	return nil
}

// apiErr is an error answer.
type apiErr struct {
	status  int
	code    string
	message string
}

func errf(status int, code, format string, args ...any) *apiErr {
	return &apiErr{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// reply writes a signed answer (m nil: unsigned, the caller is unknown).
func (s *Simulator) reply(w http.ResponseWriter, m *merchant, reqSerial string, status int, v any) {
	var body []byte
	if v != nil {
		body, _ = json.Marshal(v)
	}
	w.Header().Set("Request-ID", "sandbox-"+randAlnum(24))
	if m != nil {
		s.mu.Lock()
		serial, key := m.signer(reqSerial, false)
		s.mu.Unlock()
		if err := s.signHeaders(w.Header(), serial, key, body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if body != nil {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Simulator) replyErr(w http.ResponseWriter, m *merchant, reqSerial string, e *apiErr) {
	s.reply(w, m, reqSerial, e.status, map[string]string{"code": e.code, "message": e.message})
}

// ServeHTTP verifies the request's signature and routes it.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.replyErr(w, nil, "", errf(400, "PARAM_ERROR", "body unreadable"))
		return
	}
	auth, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		s.replyErr(w, nil, "", errf(401, "SIGN_ERROR", "%v", err))
		return
	}
	reqSerial := r.Header.Get("Wechatpay-Serial")
	s.mu.Lock()
	m, ok := s.merchants[auth.MchID]
	s.mu.Unlock()
	if !ok {
		s.replyErr(w, nil, "", errf(400, "MCH_NOT_EXISTS", "商户号不存在 (mchid %s is unknown to the sandbox)", auth.MchID))
		return
	}
	if e := s.authenticate(r, m, auth, body); e != nil {
		s.replyErr(w, m, reqSerial, e)
		return
	}
	if r.URL.Path == PathBillFile {
		s.serveBillFile(w, r, m, reqSerial)
		return
	}
	if r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		s.replyErr(w, m, reqSerial, errf(400, "INVALID_REQUEST", "Content-Type must be application/json"))
		return
	}
	status, v, e := s.route(r, m, body)
	if e != nil {
		s.replyErr(w, m, reqSerial, e)
		return
	}
	s.reply(w, m, reqSerial, status, v)
}

// authenticate checks the Authorization header: merchant certificate
// serial, timestamp window, and the signature over
// METHOD\nURI\nTIMESTAMP\nNONCE\nBODY\n with the URI as received.
func (s *Simulator) authenticate(r *http.Request, m *merchant, a Authorization, body []byte) *apiErr {
	if !sameSerial(a.SerialNo, m.certSerial) {
		return errf(401, "SIGN_ERROR", "serial_no %s is not the merchant certificate %s", a.SerialNo, m.certSerial)
	}
	ts, err := strconv.ParseInt(a.Timestamp, 10, 64)
	if err != nil {
		return errf(401, "SIGN_ERROR", "bad timestamp")
	}
	if d := s.env.Now().Sub(time.Unix(ts, 0)); d > MaxSkew || d < -MaxSkew {
		return errf(401, "SIGN_ERROR", "timestamp %s is %s away from the server's clock", a.Timestamp, d.Truncate(time.Second))
	}
	uri := r.RequestURI // the request-target exactly as received (the sandbox prefix stays)
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	if err := VerifyMessage(m.pub, RequestSigningString(r.Method, uri, a.Timestamp, a.Nonce, body), a.Signature); err != nil {
		return errf(401, "SIGN_ERROR", "签名错误 (signature does not verify over %s %s)", r.Method, uri)
	}
	return nil
}

var (
	reOutTradeNo  = regexp.MustCompile(`^[0-9A-Za-z_\-|*]{6,32}$`)
	reOutRefundNo = regexp.MustCompile(`^[0-9A-Za-z_\-|*@]{1,64}$`)
)

func (s *Simulator) route(r *http.Request, m *merchant, body []byte) (int, any, *apiErr) {
	path := r.URL.Path
	q := r.URL.Query()
	post, get := r.Method == http.MethodPost, r.Method == http.MethodGet
	switch {
	case post && path == "/v3/pay/transactions/jsapi":
		return s.prepay(m, false, body)
	case post && path == "/v3/pay/partner/transactions/jsapi":
		return s.prepay(m, true, body)
	case get && strings.HasPrefix(path, "/v3/pay/transactions/id/"):
		return s.query(m, false, q, "", strings.TrimPrefix(path, "/v3/pay/transactions/id/"))
	case get && strings.HasPrefix(path, "/v3/pay/partner/transactions/id/"):
		return s.query(m, true, q, "", strings.TrimPrefix(path, "/v3/pay/partner/transactions/id/"))
	case post && strings.HasPrefix(path, "/v3/pay/transactions/out-trade-no/") && strings.HasSuffix(path, "/close"):
		return s.closeOrder(m, false, body, strings.TrimSuffix(strings.TrimPrefix(path, "/v3/pay/transactions/out-trade-no/"), "/close"))
	case post && strings.HasPrefix(path, "/v3/pay/partner/transactions/out-trade-no/") && strings.HasSuffix(path, "/close"):
		return s.closeOrder(m, true, body, strings.TrimSuffix(strings.TrimPrefix(path, "/v3/pay/partner/transactions/out-trade-no/"), "/close"))
	case get && strings.HasPrefix(path, "/v3/pay/transactions/out-trade-no/"):
		return s.query(m, false, q, strings.TrimPrefix(path, "/v3/pay/transactions/out-trade-no/"), "")
	case get && strings.HasPrefix(path, "/v3/pay/partner/transactions/out-trade-no/"):
		return s.query(m, true, q, strings.TrimPrefix(path, "/v3/pay/partner/transactions/out-trade-no/"), "")
	case post && path == "/v3/refund/domestic/refunds":
		return s.refund(m, body)
	case get && strings.HasPrefix(path, "/v3/refund/domestic/refunds/"):
		return s.queryRefund(m, q, strings.TrimPrefix(path, "/v3/refund/domestic/refunds/"))
	case get && path == PathTradeBill:
		return s.tradeBill(r, m, q)
	case get && path == "/v3/certificates":
		return s.certificates(m, q)
	}
	return 0, nil, errf(404, "NOT_FOUND", "no such API: %s %s", r.Method, path)
}

// resolve finds the account a request addresses and enforces the
// direct/partner rules: mchid (or sp_mchid) in the body/query equals the
// Authorization mchid; a direct merchant must not use /partner/ paths nor
// send sub_mchid; a service provider must use them and name a bound
// sub_mchid. Caller holds s.mu.
func (s *Simulator) resolve(m *merchant, partner bool, bodyMchid, subMchid string) (*account, *apiErr) {
	if bodyMchid != m.mchid {
		return nil, errf(400, "PARAM_ERROR", "请求中的商户号与 Authorization 的商户号不一致 (%q vs %s)", bodyMchid, m.mchid)
	}
	if !partner {
		if subMchid != "" {
			return nil, errf(400, "PARAM_ERROR", "sub_mchid is not accepted for a direct merchant")
		}
		a, ok := s.accounts[acctKey{mchid: m.mchid}]
		if !ok {
			return nil, errf(403, "NO_AUTH", "商户号 %s 是服务商, 不能调用普通商户接口", m.mchid)
		}
		return a, nil
	}
	if subMchid == "" {
		return nil, errf(400, "PARAM_ERROR", "sub_mchid is required")
	}
	a, ok := s.accounts[acctKey{mchid: m.mchid, subMchid: subMchid}]
	if !ok {
		if _, direct := s.accounts[acctKey{mchid: m.mchid}]; direct {
			return nil, errf(403, "NO_AUTH", "商户号 %s 不是服务商, 不能调用服务商接口", m.mchid)
		}
		return nil, errf(403, "NO_AUTH", "特约商户 %s 与服务商 %s 不存在受理关系", subMchid, m.mchid)
	}
	return a, nil
}

type prepayBody struct {
	AppID       string `json:"appid"`
	MchID       string `json:"mchid"`
	SpAppID     string `json:"sp_appid"`
	SpMchID     string `json:"sp_mchid"`
	SubAppID    string `json:"sub_appid"`
	SubMchID    string `json:"sub_mchid"`
	Description string `json:"description"`
	OutTradeNo  string `json:"out_trade_no"`
	TimeExpire  string `json:"time_expire"`
	NotifyURL   string `json:"notify_url"`
	Amount      struct {
		Total    *int64 `json:"total"`
		Currency string `json:"currency"`
	} `json:"amount"`
	Payer struct {
		OpenID    string `json:"openid"`
		SpOpenID  string `json:"sp_openid"`
		SubOpenID string `json:"sub_openid"`
	} `json:"payer"`
}

func (s *Simulator) prepay(m *merchant, partner bool, raw []byte) (int, any, *apiErr) {
	var b prepayBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return 0, nil, errf(400, "PARAM_ERROR", "body: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var a *account
	var e *apiErr
	if partner {
		if b.MchID != "" || b.AppID != "" {
			return 0, nil, errf(400, "PARAM_ERROR", "partner orders take sp_mchid/sp_appid, not mchid/appid")
		}
		a, e = s.resolve(m, true, b.SpMchID, b.SubMchID)
	} else {
		if b.SpMchID != "" || b.SpAppID != "" || b.SubAppID != "" {
			return 0, nil, errf(400, "PARAM_ERROR", "direct orders take mchid/appid only")
		}
		a, e = s.resolve(m, false, b.MchID, b.SubMchID)
	}
	if e != nil {
		return 0, nil, e
	}
	o := &order{OutTradeNo: b.OutTradeNo, Description: b.Description, NotifyURL: b.NotifyURL, TimeExpire: b.TimeExpire, SubAppID: b.SubAppID}
	if partner {
		if b.SpAppID != a.appid {
			return 0, nil, errf(400, "APPID_MCHID_NOT_MATCH", "sp_appid %s 与 sp_mchid 不匹配", b.SpAppID)
		}
		if b.SubAppID != "" && b.SubAppID != a.subAppid {
			return 0, nil, errf(400, "APPID_MCHID_NOT_MATCH", "sub_appid %s 与 sub_mchid 不匹配", b.SubAppID)
		}
		switch {
		case b.Payer.SubOpenID != "" && b.Payer.SpOpenID == "":
			if b.SubAppID == "" {
				return 0, nil, errf(400, "PARAM_ERROR", "sub_appid is required with payer.sub_openid")
			}
			o.OpenIDField, o.OpenID = "sub_openid", b.Payer.SubOpenID
		case b.Payer.SpOpenID != "" && b.Payer.SubOpenID == "":
			o.OpenIDField, o.OpenID = "sp_openid", b.Payer.SpOpenID
		default:
			return 0, nil, errf(400, "PARAM_ERROR", "payer needs exactly one of sp_openid and sub_openid")
		}
		if b.Payer.OpenID != "" {
			return 0, nil, errf(400, "PARAM_ERROR", "partner payer takes sp_openid or sub_openid")
		}
	} else {
		if b.AppID != a.appid {
			return 0, nil, errf(400, "APPID_MCHID_NOT_MATCH", "appid %s 与 mchid 不匹配", b.AppID)
		}
		if b.Payer.OpenID == "" || b.Payer.SpOpenID != "" || b.Payer.SubOpenID != "" {
			return 0, nil, errf(400, "PARAM_ERROR", "payer.openid is required")
		}
		o.OpenIDField, o.OpenID = "openid", b.Payer.OpenID
	}
	switch n := utf8.RuneCountInString(b.Description); {
	case n == 0 || n > 127:
		return 0, nil, errf(400, "PARAM_ERROR", "description must have 1-127 characters")
	case !reOutTradeNo.MatchString(b.OutTradeNo):
		return 0, nil, errf(400, "PARAM_ERROR", "out_trade_no must be 6-32 of [0-9A-Za-z_-|*]")
	case b.NotifyURL == "" || strings.Contains(b.NotifyURL, "?") || !(strings.HasPrefix(b.NotifyURL, "https://") || strings.HasPrefix(b.NotifyURL, "http://")):
		return 0, nil, errf(400, "PARAM_ERROR", "notify_url must be an absolute URL without a query string")
	case b.Amount.Total == nil || *b.Amount.Total <= 0:
		return 0, nil, errf(400, "PARAM_ERROR", "amount.total must be a positive integer (fen)")
	case b.Amount.Currency != "" && b.Amount.Currency != "CNY":
		return 0, nil, errf(400, "PARAM_ERROR", "amount.currency must be CNY")
	}
	if b.TimeExpire != "" {
		t, err := time.Parse(time.RFC3339, b.TimeExpire)
		if err != nil {
			return 0, nil, errf(400, "PARAM_ERROR", "time_expire must be RFC 3339 (yyyy-MM-DDTHH:mm:ss+TIMEZONE)")
		}
		if t.Before(s.env.Now()) {
			return 0, nil, errf(400, "PARAM_ERROR", "time_expire is in the past")
		}
	}
	o.Total = *b.Amount.Total
	o.Fingerprint = fmt.Sprintf("%s|%d|%s|%s|%s", o.Description, o.Total, o.OpenIDField, o.OpenID, o.SubAppID)
	if old, ok := a.orders[o.OutTradeNo]; ok {
		switch {
		case old.State == "SUCCESS" || old.State == "REFUND":
			return 0, nil, errf(400, "ORDERPAID", "该订单已支付")
		case old.State == "CLOSED":
			return 0, nil, errf(400, "ORDER_CLOSED", "订单已关闭")
		case old.Fingerprint != o.Fingerprint:
			return 0, nil, errf(403, "OUT_TRADE_NO_USED", "商户订单号重复")
		}
		return 200, map[string]string{"prepay_id": old.PrepayID}, nil
	}
	o.State = "NOTPAY"
	o.PrepayID = "wx" + s.env.Now().In(beijing).Format("20060102150405") + randHex(20)
	a.orders[o.OutTradeNo] = o
	return 200, map[string]string{"prepay_id": o.PrepayID}, nil
}

func (s *Simulator) query(m *merchant, partner bool, q map[string][]string, outTradeNo, txID string) (int, any, *apiErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mch, sub := first(q, "mchid"), first(q, "sub_mchid")
	if partner {
		if first(q, "mchid") != "" {
			return 0, nil, errf(400, "PARAM_ERROR", "partner queries take sp_mchid, not mchid")
		}
		mch = first(q, "sp_mchid")
	} else if first(q, "sp_mchid") != "" {
		return 0, nil, errf(400, "PARAM_ERROR", "direct queries take mchid")
	}
	a, e := s.resolve(m, partner, mch, sub)
	if e != nil {
		return 0, nil, e
	}
	var o *order
	if txID != "" {
		o = a.byTxID[txID]
	} else {
		o = a.orders[outTradeNo]
	}
	if o == nil {
		return 0, nil, errf(404, "ORDER_NOT_EXIST", "订单不存在")
	}
	return 200, a.transactionJSON(o), nil
}

// transactionJSON is the Transaction object of query answers and
// TRANSACTION.SUCCESS resources. Caller holds s.mu.
func (a *account) transactionJSON(o *order) map[string]any {
	t := map[string]any{
		"out_trade_no": o.OutTradeNo, "trade_type": "JSAPI", "trade_state": o.State,
		"trade_state_desc": map[string]string{"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "REFUND": "转入退款", "CLOSED": "订单已关闭"}[o.State],
		"attach":           "",
	}
	if a.partner {
		t["sp_appid"], t["sp_mchid"], t["sub_mchid"] = a.appid, a.key.mchid, a.key.subMchid
		if o.SubAppID != "" {
			t["sub_appid"] = o.SubAppID
		}
	} else {
		t["appid"], t["mchid"] = a.appid, a.key.mchid
	}
	amount := map[string]any{"total": o.Total, "currency": "CNY", "payer_currency": "CNY"}
	if o.TransactionID != "" {
		t["transaction_id"], t["success_time"], t["bank_type"] = o.TransactionID, o.SuccessTime, "OTHERS"
		t["payer"] = map[string]string{o.OpenIDField: o.OpenID}
		amount["payer_total"] = o.Total
	}
	t["amount"] = amount
	return t
}

func (s *Simulator) closeOrder(m *merchant, partner bool, raw []byte, outTradeNo string) (int, any, *apiErr) {
	var b struct {
		MchID    string `json:"mchid"`
		SpMchID  string `json:"sp_mchid"`
		SubMchID string `json:"sub_mchid"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return 0, nil, errf(400, "PARAM_ERROR", "body: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mch := b.MchID
	if partner {
		mch = b.SpMchID
		if b.MchID != "" {
			return 0, nil, errf(400, "PARAM_ERROR", "partner close takes sp_mchid")
		}
	} else if b.SpMchID != "" {
		return 0, nil, errf(400, "PARAM_ERROR", "direct close takes mchid")
	}
	a, e := s.resolve(m, partner, mch, b.SubMchID)
	if e != nil {
		return 0, nil, e
	}
	o := a.orders[outTradeNo]
	switch {
	case o == nil:
		return 0, nil, errf(404, "ORDER_NOT_EXIST", "订单不存在")
	case o.State == "SUCCESS" || o.State == "REFUND":
		return 0, nil, errf(400, "ORDERPAID", "订单已支付")
	}
	o.State = "CLOSED"
	return http.StatusNoContent, nil, nil
}

type refundBody struct {
	SubMchID      string `json:"sub_mchid"`
	TransactionID string `json:"transaction_id"`
	OutTradeNo    string `json:"out_trade_no"`
	OutRefundNo   string `json:"out_refund_no"`
	Reason        string `json:"reason"`
	NotifyURL     string `json:"notify_url"`
	Amount        struct {
		Refund   *int64 `json:"refund"`
		Total    *int64 `json:"total"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

func (s *Simulator) refund(m *merchant, raw []byte) (int, any, *apiErr) {
	var b refundBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return 0, nil, errf(400, "PARAM_ERROR", "body: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, e := s.resolveRefundAccount(m, b.SubMchID)
	if e != nil {
		return 0, nil, e
	}
	switch {
	case !reOutRefundNo.MatchString(b.OutRefundNo):
		return 0, nil, errf(400, "PARAM_ERROR", "out_refund_no must be 1-64 of [0-9A-Za-z_-|*@]")
	case b.Amount.Refund == nil || *b.Amount.Refund <= 0 || b.Amount.Total == nil || *b.Amount.Total <= 0:
		return 0, nil, errf(400, "PARAM_ERROR", "amount.refund and amount.total must be positive integers (fen)")
	case b.Amount.Currency != "CNY":
		return 0, nil, errf(400, "PARAM_ERROR", "amount.currency must be CNY")
	case utf8.RuneCountInString(b.Reason) > 80:
		return 0, nil, errf(400, "PARAM_ERROR", "reason is longer than 80 characters")
	}
	var o *order
	switch {
	case b.TransactionID != "":
		o = a.byTxID[b.TransactionID]
	case b.OutTradeNo != "":
		o = a.orders[b.OutTradeNo]
	default:
		return 0, nil, errf(400, "PARAM_ERROR", "transaction_id or out_trade_no is required")
	}
	if o == nil {
		return 0, nil, errf(404, "RESOURCE_NOT_EXISTS", "订单不存在")
	}
	if old, ok := a.refunds[b.OutRefundNo]; ok {
		if old.Order != o || old.Refund != *b.Amount.Refund {
			return 0, nil, errf(400, "INVALID_REQUEST", "out_refund_no %s was used with other parameters", b.OutRefundNo)
		}
		return 200, a.refundJSON(old), nil
	}
	switch {
	case o.State != "SUCCESS" && o.State != "REFUND":
		return 0, nil, errf(400, "INVALID_REQUEST", "订单未支付, 不能退款")
	case *b.Amount.Total != o.Total:
		return 0, nil, errf(400, "PARAM_ERROR", "amount.total %d is not the order total %d", *b.Amount.Total, o.Total)
	case o.Refunded+*b.Amount.Refund > o.Total:
		return 0, nil, errf(403, "NOT_ENOUGH", "申请退款金额超过订单可退金额")
	}
	rf := &refundRec{
		RefundID: "50" + randDigits(27), OutRefundNo: b.OutRefundNo, Order: o, Refund: *b.Amount.Refund,
		Reason: b.Reason, NotifyURL: b.NotifyURL, Status: "PROCESSING",
		CreateTime: s.env.Now().In(beijing).Format(time.RFC3339),
	}
	a.refunds[rf.OutRefundNo] = rf
	o.Refunded += rf.Refund
	o.State = "REFUND"
	time.AfterFunc(a.refundDelay, func() { s.completeRefund(a, rf) })
	return 200, a.refundJSON(rf), nil
}

func (s *Simulator) resolveRefundAccount(m *merchant, subMchid string) (*account, *apiErr) {
	partner := subMchid != ""
	if !partner {
		if _, ok := s.accounts[acctKey{mchid: m.mchid}]; !ok {
			return nil, errf(400, "PARAM_ERROR", "sub_mchid is required for a service provider")
		}
	}
	return s.resolve(m, partner, m.mchid, subMchid)
}

// completeRefund makes a PROCESSING refund succeed and sends REFUND.SUCCESS.
func (s *Simulator) completeRefund(a *account, rf *refundRec) {
	s.mu.Lock()
	if rf.Status != "PROCESSING" {
		s.mu.Unlock()
		return
	}
	rf.Status = "SUCCESS"
	rf.SuccessTime = s.env.Now().In(beijing).Format(time.RFC3339)
	res := a.refundNotifyResource(rf)
	url := firstNonEmpty(rf.NotifyURL, a.notifyURL)
	s.mu.Unlock()
	if url == "" {
		return
	}
	sandbox.Deliver(s.env, sandbox.PayOptions{}, s.notificationBuilder(a, url, "REFUND.SUCCESS", "退款成功", "refund", res))
}

// refundJSON is the Refund object of refund answers. Caller holds s.mu.
func (a *account) refundJSON(rf *refundRec) map[string]any {
	o := rf.Order
	out := map[string]any{
		"refund_id": rf.RefundID, "out_refund_no": rf.OutRefundNo, "transaction_id": o.TransactionID,
		"out_trade_no": o.OutTradeNo, "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
		"create_time": rf.CreateTime, "status": rf.Status, "funds_account": "AVAILABLE",
		"amount": map[string]any{
			"total": o.Total, "refund": rf.Refund, "payer_total": o.Total, "payer_refund": rf.Refund,
			"settlement_total": o.Total, "settlement_refund": rf.Refund, "discount_refund": 0,
			"currency": "CNY", "from": []any{},
		},
	}
	if rf.SuccessTime != "" {
		out["success_time"] = rf.SuccessTime
	}
	return out
}

// refundNotifyResource is the plaintext of a REFUND.* resource. Caller
// holds s.mu.
func (a *account) refundNotifyResource(rf *refundRec) map[string]any {
	o := rf.Order
	res := map[string]any{
		"out_trade_no": o.OutTradeNo, "transaction_id": o.TransactionID, "out_refund_no": rf.OutRefundNo,
		"refund_id": rf.RefundID, "refund_status": rf.Status, "success_time": rf.SuccessTime,
		"user_received_account": "支付用户零钱",
		"amount":                map[string]any{"total": o.Total, "refund": rf.Refund, "payer_total": o.Total, "payer_refund": rf.Refund},
	}
	if a.partner {
		res["sp_mchid"], res["sub_mchid"] = a.key.mchid, a.key.subMchid
	} else {
		res["mchid"] = a.key.mchid
	}
	return res
}

func (s *Simulator) queryRefund(m *merchant, q map[string][]string, outRefundNo string) (int, any, *apiErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, e := s.resolveRefundAccount(m, first(q, "sub_mchid"))
	if e != nil {
		return 0, nil, e
	}
	rf, ok := a.refunds[outRefundNo]
	if !ok {
		return 0, nil, errf(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
	}
	return 200, a.refundJSON(rf), nil
}

// notificationBuilder returns a builder that encrypts plaintext once and
// signs each copy at send time (so a delayed copy carries a fresh
// timestamp), with the merchant's current key.
func (s *Simulator) notificationBuilder(a *account, url, eventType, summary, originalType string, plaintext map[string]any) func() (*http.Request, error) {
	pt, _ := json.Marshal(plaintext)
	nonce := randAlnum(12)
	ct, err := SealResource(a.m.apiV3Key, nonce, originalType, pt)
	env := map[string]any{
		"id":            randUUID(),
		"create_time":   s.env.Now().In(beijing).Format(time.RFC3339),
		"resource_type": "encrypt-resource",
		"event_type":    eventType,
		"summary":       summary,
		"resource": map[string]string{
			"original_type": originalType, "algorithm": "AEAD_AES_256_GCM", "ciphertext": ct,
			"associated_data": originalType, "nonce": nonce,
		},
	}
	body, _ := json.Marshal(env)
	return func() (*http.Request, error) {
		if err != nil {
			return nil, err
		}
		req, rerr := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
		if rerr != nil {
			return nil, rerr
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "Mozilla/4.0 (paygate sandbox)")
		s.mu.Lock()
		serial, key := a.m.signer("", true)
		s.mu.Unlock()
		return req, s.signHeaders(req.Header, serial, key, body)
	}
}

// Pay marks an order paid (transaction_id 42000...) and sends
// TRANSACTION.SUCCESS. Paying a paid order sends the notification again.
func (s *Simulator) Pay(_ context.Context, channelID, outTradeNo string, opts sandbox.PayOptions) (any, error) {
	s.mu.Lock()
	a, ok := s.byChannel[channelID]
	if !ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: channel %s", sandbox.ErrNotFound, channelID)
	}
	o, ok := a.orders[outTradeNo]
	if !ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", sandbox.ErrNotFound, outTradeNo)
	}
	switch o.State {
	case "CLOSED":
		s.mu.Unlock()
		return nil, errors.New("order is closed")
	case "NOTPAY":
		if o.TimeExpire != "" {
			if t, err := time.Parse(time.RFC3339, o.TimeExpire); err == nil && s.env.Now().After(t) {
				s.mu.Unlock()
				return nil, errors.New("order expired (time_expire passed)")
			}
		}
		o.State = "SUCCESS"
		o.TransactionID = "4200" + randDigits(24)
		o.SuccessTime = s.env.Now().In(beijing).Format(time.RFC3339)
		a.byTxID[o.TransactionID] = o
	}
	tx := a.transactionJSON(o)
	view := a.transactionJSON(o)
	url := firstNonEmpty(o.NotifyURL, a.notifyURL)
	s.mu.Unlock()
	results := sandbox.Deliver(s.env, opts, s.notificationBuilder(a, url, "TRANSACTION.SUCCESS", "支付成功", "transaction", tx))
	return map[string]any{"transaction": view, "notifications": results}, nil
}

func first(q map[string][]string, k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func randFrom(alphabet string, n int) string {
	out := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range out {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err)
		}
		out[i] = alphabet[v.Int64()]
	}
	return string(out)
}

func randAlnum(n int) string {
	return randFrom("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", n)
}
func randDigits(n int) string { return randFrom("0123456789", n) }
func randHex(n int) string    { return randFrom("0123456789abcdef", n) }
func randUUID() string {
	h := randHex(32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// compile-time check
var _ sandbox.Simulator = (*Simulator)(nil)
