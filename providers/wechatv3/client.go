package wechatv3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-resty/resty/v2"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
)

// signingOption installs the request signer as resty's pre-request hook:
// it runs on the final *http.Request, so the signed URL is exactly
// URL.RequestURI() as sent and the signed body exactly the bytes sent.
func (p *Adapter) signingOption() httpx.Option {
	return func(c *resty.Client) error {
		c.SetPreRequestHook(func(_ *resty.Client, req *http.Request) error {
			return p.signRequest(req)
		})
		return nil
	}
}

// signRequest sets Authorization and Wechatpay-Serial on req.
func (p *Adapter) signRequest(req *http.Request) error {
	var body []byte
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return fmt.Errorf("wechatv3: read body to sign: %w", err)
		}
		body, err = io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return fmt.Errorf("wechatv3: read body to sign: %w", err)
		}
	}
	ts := p.now().Unix()
	nonce := p.nonce()
	sig, err := signSHA256WithRSA(p.cfg.privateKey, requestMessage(req.Method, req.URL.RequestURI(), ts, nonce, body))
	if err != nil {
		return fmt.Errorf("wechatv3: sign request: %w", err)
	}
	req.Header.Set("Authorization", authorization(signAlgorithm, p.cfg.mchid, nonce, ts, p.cfg.certSerial, sig))
	if s := p.verifier.requestSerial(); s != "" {
		req.Header.Set(HeaderSerial, s)
	}
	return nil
}

// apiError is WeChat's error body (WPG core/error.go).
type apiError struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Detail  json.RawMessage `json:"detail"`
}

// call sends one API request. body (when not nil) is sent as JSON; a 2xx
// answer must carry a valid WeChat Pay signature (204 too, over the empty
// body) before out is decoded.
func (p *Adapter) call(ctx context.Context, method, pathAndQuery string, body, out any) error {
	resp, err := p.send(ctx, method, pathAndQuery, body)
	if err != nil {
		return err
	}
	if err := p.verify(ctx, resp.Header(), resp.Body()); err != nil {
		return &providers.Error{Code: providers.ErrCodeBadResponse, Message: fmt.Sprintf("%s %s answer not trusted", method, pathOnly(pathAndQuery)), Err: err}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Body(), out); err != nil {
		return providers.Errorf(providers.ErrCodeBadResponse, "", "%s %s: undecodable answer: %v", method, pathOnly(pathAndQuery), err)
	}
	return nil
}

// send sends one API request and returns a 2xx answer, unverified; any
// other answer or failure is a *providers.Error.
func (p *Adapter) send(ctx context.Context, method, pathAndQuery string, body any) (*resty.Response, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("wechatv3: encode request: %w", err)
		}
	}
	resp, err := p.http.Do(func() (*resty.Response, error) {
		r := p.http.R(ctx).SetHeader("Accept", "application/json")
		if raw != nil {
			r.SetHeader("Content-Type", "application/json").SetBody(raw)
		}
		return r.Execute(method, pathAndQuery)
	})
	if err != nil {
		if resp != nil { // 5xx: keep WeChat's code for people
			var pe *providers.Error
			if errors.As(err, &pe) {
				var ae apiError
				if json.Unmarshal(resp.Body(), &ae) == nil && ae.Code != "" {
					pe.ProviderCode, pe.Message = ae.Code, fmt.Sprintf("HTTP %d: %s", resp.StatusCode(), ae.Message)
				}
			}
		}
		return nil, err
	}
	status := resp.StatusCode()
	if status < 200 || status > 299 {
		return nil, mapHTTPError(status, resp.Body())
	}
	return resp, nil
}

func pathOnly(s string) string {
	p, _, _ := strings.Cut(s, "?")
	return p
}

// mapHTTPError maps a non-2xx answer (spec §8). Like WPG (core.CheckResponse
// runs before the validator), error answers are not signature-checked; the
// transport is TLS to WeChat's host.
func mapHTTPError(status int, body []byte) error {
	var ae apiError
	_ = json.Unmarshal(body, &ae)
	code := ErrorCode(status, ae.Code)
	if code == providers.ErrCodeRejected && providers.InProgressMessage(ae.Message) {
		// The same request is already there (e.g. a refund in progress).
		code = providers.ErrCodeInProgress
	}
	msg := fmt.Sprintf("HTTP %d", status)
	if ae.Message != "" {
		msg += ": " + ae.Message
	}
	return &providers.Error{Code: code, ProviderCode: ae.Code, Message: msg}
}

// ErrorCode maps WeChat's HTTP status and error code to the gateway's.
func ErrorCode(status int, code string) providers.ErrorCode {
	switch code {
	case "ORDERNOTEXIST", "ORDER_NOT_EXIST", "RESOURCE_NOT_EXISTS", "ORDER_NOT_EXISTS":
		return providers.ErrCodeNotFound
	case "ORDER_CLOSED", "ORDERCLOSED":
		return providers.ErrCodeOrderClosed
	case "ORDERPAID", "ORDER_PAID": // v2 word; kept in case v3 answers it (UNCONFIRMED)
		return providers.ErrCodeOrderPaid
	case "OUT_TRADE_NO_USED":
		return providers.ErrCodeDuplicate
	case "SYSTEM_ERROR", "SYSTEMERROR", "FREQUENCY_LIMITED", "BIZERR_NEED_RETRY":
		return providers.ErrCodeUnavailable
	case "":
		switch {
		case status == http.StatusNotFound:
			return providers.ErrCodeNotFound
		case status == http.StatusTooManyRequests || status >= 500:
			return providers.ErrCodeUnavailable
		}
	}
	if status >= 500 || status == http.StatusTooManyRequests {
		return providers.ErrCodeUnavailable
	}
	// SIGN_ERROR, PARAM_ERROR, INVALID_REQUEST, APPID_MCHID_NOT_MATCH,
	// MCH_NOT_EXISTS, NOT_ENOUGH, NO_AUTH, RULE_LIMIT, TRADE_ERROR,
	// ACCOUNT_ERROR, USER_ACCOUNT_ABNORMAL, ...: refused for good.
	return providers.ErrCodeRejected
}
