package cloudpay

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/go-resty/resty/v2"
	"github.com/paygate/paygate/providers"
)

// envelope is the open interface's answer.
type envelope struct {
	ErrCode  *int64          `json:"errcode"`
	ErrMsg   string          `json:"errmsg"`
	RespData json.RawMessage `json:"respdata"`
}

// v2 is the part of respdata every interface shares.
type v2 struct {
	ReturnCode string `json:"return_code"`
	ReturnMsg  string `json:"return_msg"`
	ResultCode string `json:"result_code"`
	ErrCode    string `json:"err_code"`
	ErrCodeDes string `json:"err_code_des"`
	SubMchID   string `json:"sub_mch_id"`
}

// call posts body to path and decodes respdata into out after the three
// levels of success: errcode 0, return_code SUCCESS, result_code SUCCESS.
func (p *Adapter) call(ctx context.Context, path string, body any, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("cloudpay: encode request: %w", err)
	}
	resp, err := p.http.Do(func() (*resty.Response, error) {
		return p.http.R(ctx).SetHeader("Content-Type", "application/json").SetHeader("Accept", "application/json").
			SetBody(raw).Post(path)
	})
	if err != nil {
		return err
	}
	if s := resp.StatusCode(); s < 200 || s > 299 {
		code := providers.ErrCodeRejected
		if s == http.StatusTooManyRequests {
			code = providers.ErrCodeUnavailable
		}
		return providers.Errorf(code, "", "%s: HTTP %d", path, s)
	}
	var env envelope
	if err := json.Unmarshal(resp.Body(), &env); err != nil || env.ErrCode == nil {
		return providers.Errorf(providers.ErrCodeBadResponse, "", "%s: not an open-interface answer", path)
	}
	if *env.ErrCode != 0 {
		code := providers.ErrCodeRejected
		if *env.ErrCode == -1 { // "system busy" on WeChat's open interfaces
			code = providers.ErrCodeUnavailable
		}
		return providers.Errorf(code, strconv.FormatInt(*env.ErrCode, 10), "%s: %s", path, env.ErrMsg)
	}
	var head v2
	if err := json.Unmarshal(env.RespData, &head); err != nil {
		return providers.Errorf(providers.ErrCodeBadResponse, "", "%s: respdata: %v", path, err)
	}
	if head.ReturnCode != "SUCCESS" {
		// e.g. "受理关系不存在": bind the mch id in the Cloud Run console.
		return providers.Errorf(providers.ErrCodeRejected, "", "%s: return_code %q: %s", path, head.ReturnCode, head.ReturnMsg)
	}
	if head.ResultCode != "SUCCESS" {
		msg := firstNonEmpty(head.ErrCodeDes, head.ReturnMsg)
		code := ErrorCode(head.ErrCode)
		if code == providers.ErrCodeRejected && providers.InProgressMessage(msg) {
			code = providers.ErrCodeInProgress // the same request is already there
		}
		return providers.Errorf(code, head.ErrCode, "%s: %s", path, msg)
	}
	if head.SubMchID != "" && head.SubMchID != p.subMchID {
		return providers.Errorf(providers.ErrCodeBadResponse, "", "%s: answer names sub_mch_id %s", path, head.SubMchID)
	}
	if out != nil {
		if err := json.Unmarshal(env.RespData, out); err != nil {
			return providers.Errorf(providers.ErrCodeBadResponse, "", "%s: respdata: %v", path, err)
		}
	}
	return nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// truncateBytes cuts s to at most n bytes on a rune boundary (v2 lengths
// are in bytes).
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

const nonceChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func nonce() string {
	b := make([]byte, 32)
	max := big.NewInt(int64(len(nonceChars)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("cloudpay: crypto/rand failed: " + err.Error())
		}
		b[i] = nonceChars[v.Int64()]
	}
	return string(b)
}
