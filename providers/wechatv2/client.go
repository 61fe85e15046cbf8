package wechatv2

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-resty/resty/v2"
	"github.com/paygate/paygate/providers"
)

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
