package twopaynow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
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
func (p *Provider) call(ctx context.Context, q url.Values) (answer, error) {
	query := q.Encode()
	resp, err := p.client.Do(func() (*resty.Response, error) {
		return p.client.R(ctx).
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

// mapError maps a 2paynow error envelope {"status":403,"error_info":"..."}.
// 2paynow publishes no error-code table; the only observed answer is
// 403 "mid not exist" (driver test against the live API). So:
//   - status 5xx: PROVIDER_UNAVAILABLE (retry);
//   - error_info saying an order/trade does not exist: PROVIDER_NOT_FOUND
//     (isNotFound; UNCONFIRMED wording);
//   - anything else: PROVIDER_REJECTED, ProviderCode = the status.
func mapError(status, info string) error {
	code := status
	if code == "" || strings.HasPrefix(code, `"`) || strings.HasPrefix(code, "null") {
		return providers.Errorf(providers.ErrCodeBadResponse, "", "2paynow answer has no integer status (error_info %q)", info)
	}
	if strings.HasPrefix(code, "5") && len(code) == 3 {
		return providers.Errorf(providers.ErrCodeUnavailable, code, "2paynow: %s", info)
	}
	if isNotFound(info) {
		return providers.Errorf(providers.ErrCodeNotFound, code, "2paynow: %s", info)
	}
	if providers.InProgressMessage(info) {
		// e.g. a refund already under way: never a final refusal.
		return providers.Errorf(providers.ErrCodeInProgress, code, "2paynow: %s", info)
	}
	return providers.Errorf(providers.ErrCodeRejected, code, "2paynow: %s", info)
}

// isNotFound decides whether error_info says the order is unknown.
// UNCONFIRMED: 2paynow's wording for an unknown trade_no is not public; we
// take "not exist", "not found", "no such", "no record" and 不存在, except
// when the subject is the account ("mid not exist" is a configuration
// error, observed live) or the signature.
func isNotFound(info string) bool {
	s := strings.ToLower(info)
	for _, acct := range []string{"mid", "merchant", "key", "sign"} {
		if strings.HasPrefix(s, acct) {
			return false
		}
	}
	for _, w := range []string{"not exist", "not found", "no such", "no record", "不存在"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
