package vrpayment

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-resty/resty/v2"

	"github.com/paygate/paygate/providers"
)

// query builds "spaceId=..[&id=..]" in the SDK's order. Every value is a
// decimal id, so nothing needs escaping and the signed path is exactly the
// one sent.
func (p *Provider) query(id string) string {
	q := "spaceId=" + p.spaceID
	if id != "" {
		q += "&id=" + id
	}
	return q
}

// do sends one authenticated call and returns the body of a 2xx answer.
// path is the endpoint without the /api prefix; rawQuery is already
// encoded; body, when not nil, is sent as JSON.
func (p *Provider) do(ctx context.Context, method, path, rawQuery string, body any) ([]byte, error) {
	rel := apiPrefix + path
	if rawQuery != "" {
		rel += "?" + rawQuery
	}
	u, err := url.Parse(p.ch.BaseURL + rel)
	if err != nil {
		return nil, providers.Errorf(providers.ErrCodeRejected, "", "bad request URL: %v", err)
	}
	var payload []byte
	if body != nil {
		if payload, err = json.Marshal(body); err != nil {
			return nil, providers.Errorf(providers.ErrCodeRejected, "", "encode request: %v", err)
		}
	}
	resp, err := p.client.Do(func() (*resty.Response, error) {
		// Timestamp and MAC per attempt: the server checks the time.
		ts := strconv.FormatInt(p.now().Unix(), 10)
		r := p.client.R(ctx).
			SetHeader("Accept", "application/json").
			SetHeader("x-mac-version", macVersion).
			SetHeader("x-mac-userid", p.userID).
			SetHeader("x-mac-timestamp", ts).
			SetHeader("x-mac-value", MACValue(p.key, p.userID, ts, method, u.RequestURI()))
		if method == http.MethodPost {
			r.SetHeader("Content-Type", "application/json;charset=utf-8")
			if payload != nil {
				r.SetBody(payload)
			}
		}
		return r.Execute(method, rel)
	})
	if resp != nil && resp.StatusCode() >= 500 {
		return nil, serverError(resp)
	}
	if err != nil {
		return nil, err // *providers.Error from httpx (transport failure, breaker open)
	}
	if resp.StatusCode() >= 200 && resp.StatusCode() < 300 {
		return resp.Body(), nil
	}
	return nil, clientError(resp.StatusCode(), resp.Body())
}

// apiError is wallee's ClientError (HTTP 442) and ServerError (HTTP 542)
// body: {id, date, message, defaultMessage, type}.
type apiError struct {
	ID             string `json:"id"`
	Message        string `json:"message"`
	DefaultMessage string `json:"defaultMessage"`
	Type           string `json:"type"` // END_USER_ERROR | CONFIGURATION_ERROR | DEVELOPER_ERROR
}

func parseAPIError(body []byte) apiError {
	var e apiError
	_ = json.Unmarshal(body, &e)
	if e.Message == "" {
		e.Message = e.DefaultMessage
	}
	return e
}

// serverError: 5xx, including wallee's 542 ServerError, is
// PROVIDER_UNAVAILABLE (retry later).
func serverError(resp *resty.Response) error {
	e := parseAPIError(resp.Body())
	return &providers.Error{Code: providers.ErrCodeUnavailable, ProviderCode: fmt.Sprintf("HTTP %d", resp.StatusCode()), Message: e.Message}
}

// clientError maps a non-2xx, non-5xx answer:
//   - 442 ClientError: PROVIDER_NOT_FOUND when the message says the entity
//     does not exist (isNotFound), else PROVIDER_REJECTED; ProviderCode is
//     the error type (e.g. DEVELOPER_ERROR);
//   - 404: PROVIDER_NOT_FOUND;
//   - 409 (optimistic-locking conflict in the SDK): PROVIDER_UNAVAILABLE,
//     the same call may be retried;
//   - anything else (401/403 authentication, 400...): PROVIDER_REJECTED.
func clientError(status int, body []byte) error {
	e := parseAPIError(body)
	code := fmt.Sprintf("HTTP %d", status)
	if status == 442 && e.Type != "" {
		code = e.Type
	}
	switch {
	case status == http.StatusNotFound || (status == 442 && isNotFound(e.Message)):
		return &providers.Error{Code: providers.ErrCodeNotFound, ProviderCode: code, Message: e.Message}
	case status == http.StatusConflict:
		return &providers.Error{Code: providers.ErrCodeUnavailable, ProviderCode: code, Message: e.Message}
	case providers.InProgressMessage(e.Message):
		// e.g. a refund with this externalId is already being processed.
		return &providers.Error{Code: providers.ErrCodeInProgress, ProviderCode: code, Message: e.Message}
	default:
		return &providers.Error{Code: providers.ErrCodeRejected, ProviderCode: code, Message: e.Message}
	}
}

// isNotFound reads a ClientError message. UNCONFIRMED wording: wallee's
// message for an unknown id is not public; these are the usual forms.
func isNotFound(msg string) bool {
	s := strings.ToLower(msg)
	for _, w := range []string{"not found", "does not exist", "could not be found", "no entity", "unknown id"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func badResponse(format string, args ...any) error {
	return providers.Errorf(providers.ErrCodeBadResponse, "", format, args...)
}
