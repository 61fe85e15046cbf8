// Package wechatv2 is the WeChat Pay API v2 adapter (kind wechat_v2): XML
// over HTTPS, MD5 or HMAC-SHA256 signatures with the APIv2 key, integer
// fen amounts, mini-program (JSAPI) payments, in direct mode or in
// service-provider mode (params.sub_mch_id set). Wire facts and their
// sources: docs/providers/wechat_v2.md.
package wechatv2

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
)

// ProductionBaseURL is the real API host (backup: https://api2.mch.weixin.qq.com).
const ProductionBaseURL = "https://api.mch.weixin.qq.com"

// API v2 paths, the same in direct and service-provider mode.
const (
	PathUnifiedOrder = "/pay/unifiedorder"
	PathOrderQuery   = "/pay/orderquery"
	PathCloseOrder   = "/pay/closeorder"
	PathRefund       = "/secapi/pay/refund" // mutual TLS on the real host
	PathRefundQuery  = "/pay/refundquery"
)

// Wire words.
const (
	codeSuccess = "SUCCESS"
	codeFail    = "FAIL"
	tradeJSAPI  = "JSAPI"
	currencyCNY = "CNY"
)

// Field length limits (bytes; WeChat counts bytes of UTF-8).
const (
	maxBodyField       = 127 // body
	maxRefundDescField = 80  // refund_desc
)

// cst is China Standard Time (Asia/Shanghai, UTC+8, no DST since 1991):
// time_expire, time_end and success_time are in it. A fixed zone needs no
// tzdata on the host.
var cst = time.FixedZone("CST", 8*3600)

func init() {
	providers.Register(providers.KindWeChatV2, New)
}

// config is a channel's validated params.
type config struct {
	appID     string
	mchID     string
	apiKey    string
	signType  string
	subMchID  string // set: service-provider mode
	subAppID  string
	certFile  string
	keyFile   string
	notifyURL string
	serverIP  string
}

func (c config) sp() bool { return c.subMchID != "" }

// Adapter is one wechat_v2 channel.
type Adapter struct {
	ch   providers.Channel
	cfg  config
	http *httpx.Client
	now  func() time.Time
}

var _ providers.Provider = (*Adapter)(nil)

// New is the wechat_v2 Factory: it validates params and loads the client
// certificate so a bad channel fails at start-up.
func New(ch providers.Channel, deps providers.Deps) (providers.Provider, error) {
	p := ch.Params
	if err := p.Require("appid", "mch_id", "api_key"); err != nil {
		return nil, err
	}
	cfg := config{
		appID:     strings.TrimSpace(p.String("appid")),
		mchID:     strings.TrimSpace(p.String("mch_id")),
		apiKey:    p.String("api_key"),
		signType:  strings.ToUpper(strings.TrimSpace(p.String("sign_type"))),
		subMchID:  strings.TrimSpace(p.String("sub_mch_id")),
		subAppID:  strings.TrimSpace(p.String("sub_appid")),
		certFile:  strings.TrimSpace(p.String("cert_file")),
		keyFile:   strings.TrimSpace(p.String("key_file")),
		notifyURL: ch.NotifyURL,
		serverIP:  ch.ServerIP,
	}
	switch cfg.signType {
	case "":
		cfg.signType = SignMD5
	case SignMD5, SignHMACSHA256:
	default:
		return nil, fmt.Errorf("params.sign_type must be %s or %s, got %q", SignMD5, SignHMACSHA256, p.String("sign_type"))
	}
	// The APIv2 key is 32 characters in the merchant platform; the refund
	// notification's AES-256 key is derived from it, so any length works,
	// but an obviously truncated key is a config mistake.
	if len(cfg.apiKey) < 16 {
		return nil, errors.New("params.api_key looks truncated (WeChat APIv2 keys are 32 characters)")
	}
	if cfg.subAppID != "" && cfg.subMchID == "" {
		return nil, errors.New("params.sub_appid is set but params.sub_mch_id is not (sub_appid is only for service-provider mode)")
	}
	if (cfg.certFile == "") != (cfg.keyFile == "") {
		return nil, errors.New("params.cert_file and params.key_file must be given together")
	}
	if ch.BaseURL == "" {
		ch.BaseURL = ProductionBaseURL
	}
	ch.BaseURL = strings.TrimRight(ch.BaseURL, "/")
	opts := []httpx.Option{httpx.WithResponseLimit(MaxBodyBytes)}
	// The client certificate is presented only when a server asks for it,
	// so one client (one breaker per channel) serves every path. Without a
	// certificate refunds on the real host fail with a TLS/CERT error;
	// see docs/providers/wechat_v2.md.
	if cfg.certFile != "" {
		opts = append(opts, httpx.WithClientCert(cfg.certFile, cfg.keyFile))
	}
	hc, err := httpx.New(ch, deps, opts...)
	if err != nil {
		return nil, fmt.Errorf("params.cert_file/params.key_file: %w", err)
	}
	return &Adapter{ch: ch, cfg: cfg, http: hc, now: deps.NowFunc()}, nil
}

// Kind implements providers.Provider.
func (a *Adapter) Kind() string { return providers.KindWeChatV2 }

// Capabilities implements providers.Provider.
func (a *Adapter) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify:         true,
		RefundNotify:   true,
		Query:          true,
		Close:          true,
		Refund:         true,
		RefundQuery:    true,
		Currencies:     []string{currencyCNY},
		PayMethods:     []string{providers.PayMethodWeChat},
		RequiresOpenID: true,
	}
}

// baseFields are the account fields every request carries.
func (a *Adapter) baseFields() map[string]string {
	f := map[string]string{
		"appid":     a.cfg.appID,
		"mch_id":    a.cfg.mchID,
		"nonce_str": nonceStr(),
		"sign_type": a.cfg.signType,
	}
	if a.cfg.sp() {
		f["sub_mch_id"] = a.cfg.subMchID
	}
	return f
}

// call signs fields, POSTs them to path and returns the verified answer
// with return_code and result_code SUCCESS. Every failure is a
// *providers.Error.
func (a *Adapter) call(ctx context.Context, path string, fields map[string]string) (map[string]string, error) {
	s, err := sign(fields, a.cfg.apiKey, a.cfg.signType)
	if err != nil {
		return nil, providers.Errorf(providers.ErrCodeRejected, "", "%v", err)
	}
	fields["sign"] = s
	body := encodeXML(fields)
	resp, err := a.http.Do(func() (*resty.Response, error) {
		return a.http.R(ctx).
			SetHeader("Content-Type", "text/xml; charset=utf-8").
			SetHeader("Accept", "text/xml, application/xml").
			SetBody(body).
			Post(a.ch.BaseURL + path)
	})
	if err != nil {
		if errors.Is(err, resty.ErrResponseBodyTooLarge) {
			return nil, providers.Errorf(providers.ErrCodeBadResponse, "", "%s: answer larger than %d bytes", path, MaxBodyBytes)
		}
		return nil, err
	}
	if resp.StatusCode() != http.StatusOK {
		return nil, providers.Errorf(providers.ErrCodeUnavailable, "", "%s: HTTP %d", path, resp.StatusCode())
	}
	return a.checkAnswer(path, resp.Body())
}

// checkAnswer parses and verifies an answer and turns FAIL codes into
// errors.
func (a *Adapter) checkAnswer(path string, body []byte) (map[string]string, error) {
	m, err := parseXML(body, "xml")
	if err != nil {
		return nil, &providers.Error{Code: providers.ErrCodeBadResponse, Message: path, Err: err}
	}
	if rc := m["return_code"]; rc != codeSuccess {
		// Communication-level failure (bad signature, missing or
		// malformed parameter, ...): WeChat does not sign these answers
		// and did not process the request.
		if rc != codeFail {
			return nil, providers.Errorf(providers.ErrCodeBadResponse, "", "%s: return_code %q", path, clip(rc, 32))
		}
		return nil, providers.Errorf(providers.ErrCodeRejected, returnFailCode(m["return_msg"]), "%s: %s", path, clip(m["return_msg"], 120))
	}
	if _, ok := verify(m, a.cfg.apiKey, a.cfg.signType); !ok {
		return nil, &providers.Error{Code: providers.ErrCodeBadResponse, Message: path + ": answer signature invalid", Err: providers.ErrVerification}
	}
	if err := a.checkAccount(m); err != nil {
		return nil, &providers.Error{Code: providers.ErrCodeBadResponse, Message: path, Err: err}
	}
	switch m["result_code"] {
	case codeSuccess:
		return m, nil
	case codeFail:
		return nil, mapErrCode(m["err_code"], fmt.Sprintf("%s: %s", path, clip(m["err_code_des"], 120)))
	default:
		return nil, providers.Errorf(providers.ErrCodeBadResponse, "", "%s: result_code %q", path, m["result_code"])
	}
}

// checkAccount refuses a document naming another account than the
// channel's: appid and mch_id must be ours, and sub_mch_id must be ours in
// service-provider mode and absent in direct mode. sub_appid, when both
// sides have one, must match. Absent appid/mch_id are tolerated (some
// answers omit them); notifications require them separately.
func (a *Adapter) checkAccount(m map[string]string) error {
	mismatch := func(field string) error {
		return fmt.Errorf("%w: %s is not the channel's", providers.ErrChannelMismatch, field)
	}
	if v, ok := m["appid"]; ok && v != a.cfg.appID {
		return mismatch("appid")
	}
	if v, ok := m["mch_id"]; ok && v != a.cfg.mchID {
		return mismatch("mch_id")
	}
	if a.cfg.sp() {
		if v, ok := m["sub_mch_id"]; ok && v != a.cfg.subMchID {
			return mismatch("sub_mch_id")
		}
	} else if m["sub_mch_id"] != "" {
		return mismatch("sub_mch_id")
	}
	if v := m["sub_appid"]; v != "" && a.cfg.subAppID != "" && v != a.cfg.subAppID {
		return mismatch("sub_appid")
	}
	return nil
}

// nonceStr returns 32 random characters of [0-9A-Za-z] (nonce_str ≤ 32).
func nonceStr() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("wechatv2: crypto/rand: " + err.Error())
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// truncateUTF8 cuts s to at most n bytes without splitting a UTF-8
// sequence (WeChat limits count bytes; a split rune is NOT_UTF8).
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	// Back up over continuation bytes (10xxxxxx) to a rune start.
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut]
}

// clip shortens provider text for error messages.
func clip(s string, n int) string { return truncateUTF8(s, n) }
