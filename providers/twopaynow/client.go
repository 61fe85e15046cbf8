package twopaynow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-resty/resty/v2"

	"github.com/paygate/paygate/providers"
)

// answer is 2paynow's JSON answer, field by field.
type answer map[string]json.RawMessage

// str returns a field as text: a JSON string unquoted, a number as
// written, null or absent as "".
func (a answer) str(key string) string {
	raw, ok := a[key]
	if !ok {
		return ""
	}
	s := strings.TrimSpace(string(raw))
	if s == "null" {
		return ""
	}
	if strings.HasPrefix(s, `"`) {
		var v string
		if json.Unmarshal(raw, &v) == nil {
			return strings.TrimSpace(v)
		}
		return ""
	}
	return s
}

// call sends one signed GET to {base}/zhifu/mc_itf and checks the envelope:
// success is an integer `status` 200 with `function` present (the driver's
// AbstractResponse::isSuccessful); anything else is an error mapped by
// mapError.
func (p *Adapter) call(ctx context.Context, q url.Values) (answer, error) {
	query := q.Encode()
	resp, err := p.http.Do(func() (*resty.Response, error) {
		return p.http.R(ctx).
			SetHeader("Accept", "application/json").
			SetQueryString(query).
			Get(apiPath)
	})
	if err != nil {
		return nil, err // a *providers.Error (PROVIDER_UNAVAILABLE) from httpx
	}
	var a answer
	if err := json.Unmarshal(resp.Body(), &a); err != nil || a == nil {
		if resp.StatusCode() >= 400 {
			return nil, providers.Errorf(providers.ErrCodeRejected, fmt.Sprintf("HTTP %d", resp.StatusCode()), "2paynow answered HTTP %d without a JSON envelope", resp.StatusCode())
		}
		return nil, providers.Errorf(providers.ErrCodeBadResponse, "", "2paynow answer is not a JSON object (HTTP %d)", resp.StatusCode())
	}
	status := strings.TrimSpace(string(a["status"]))
	if status == "200" {
		if a.str("function") == "" {
			return nil, providers.Errorf(providers.ErrCodeBadResponse, "200", "2paynow answered status 200 without `function`")
		}
		return a, nil
	}
	return nil, mapError(status, a.str("error_info"))
}

// signed starts a query with function, mid, the current timestamp in Unix
// milliseconds and the signature.
func (p *Adapter) signed(function string) url.Values {
	ts := strconv.FormatInt(p.now().UnixMilli(), 10)
	q := url.Values{}
	q.Set("function", function)
	q.Set("mid", p.mid)
	q.Set("timestamp", ts)
	q.Set("sign", Sign(function, p.mid, ts, p.key))
	return q
}
