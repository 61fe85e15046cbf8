package vrpayment

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-resty/resty/v2"

	"github.com/paygate/paygate/providers"
)

// query builds "spaceId=..[&id=..]" in the SDK's order. Every value is a
// decimal id, so nothing needs escaping and the signed path is exactly the
// one sent.
func (p *Adapter) query(id string) string {
	q := "spaceId=" + p.spaceID
	if id != "" {
		q += "&id=" + id
	}
	return q
}

// do sends one authenticated call and returns the body of a 2xx answer.
// path is the endpoint without the /api prefix; rawQuery is already
// encoded; body, when not nil, is sent as JSON.
func (p *Adapter) do(ctx context.Context, method, path, rawQuery string, body any) ([]byte, error) {
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
	resp, err := p.http.Do(func() (*resty.Response, error) {
		// Timestamp and MAC per attempt: the server checks the time.
		ts := strconv.FormatInt(p.now().Unix(), 10)
		r := p.http.R(ctx).
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
