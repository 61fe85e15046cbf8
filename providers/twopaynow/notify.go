package twopaynow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/providers"
)

// ParseNotify reads a 2paynow notification: a GET with the fields in the
// query (also accepted: a form-urlencoded POST body). Fields: amount,
// amount_cny, currency, function, merchant_trade_no, mid,
// passback_parameters, sign, timestamp, trade_no, trade_status (and
// whatever 2paynow adds, e.g. forex_rate).
//
// 2paynow's signature is md5(function+mid+timestamp+key): it covers no
// other field, so it cannot be verified "over every field". It proves only
// that 2paynow sent *a* notification for this mid at that time. Hence:
// verify the signature, the mid and the timestamp's freshness, then report
// the numbers as a Hint: the gateway re-queries the order and applies the
// query's answer, never the body's status or amount.
func (p *Adapter) ParseNotify(ctx context.Context, r *http.Request, body []byte) (providers.Notification, error) {
	vals, err := notifyValues(r, body)
	if err != nil {
		return providers.Notification{}, fmt.Errorf("%w: %s", providers.ErrMalformed, providers.Clip(err.Error(), 200))
	}
	get := func(k string) (string, error) {
		v := vals[k]
		if len(v) > 1 {
			return "", fmt.Errorf("%w: field %s repeated", providers.ErrMalformed, k)
		}
		if len(v) == 0 {
			return "", nil
		}
		return v[0], nil
	}
	var f = map[string]string{}
	for _, k := range []string{"sign", "function", "mid", "timestamp", "trade_no", "trade_status", "merchant_trade_no", "passback_parameters", "amount", "currency"} {
		v, err := get(k)
		if err != nil {
			return providers.Notification{}, err
		}
		f[k] = v
	}
	for _, k := range []string{"sign", "function", "mid", "timestamp"} {
		if f[k] == "" {
			return providers.Notification{}, fmt.Errorf("%w: field %s missing", providers.ErrMalformed, k)
		}
	}
	if !verifySign(f["sign"], f["function"], f["mid"], f["timestamp"], p.key) {
		return providers.Notification{}, fmt.Errorf("%w: 2paynow sign mismatch", providers.ErrVerification)
	}
	if !notifyFunctions[f["function"]] {
		return providers.Notification{}, fmt.Errorf("%w: function %q is not a notification's (precreate or wap_precreate)", providers.ErrVerification, providers.Clip(f["function"], 32))
	}
	if f["mid"] != p.mid {
		return providers.Notification{}, fmt.Errorf("%w: mid %s", providers.ErrChannelMismatch, providers.Clip(f["mid"], 32))
	}
	ms, err := strconv.ParseInt(f["timestamp"], 10, 64)
	if err != nil {
		return providers.Notification{}, fmt.Errorf("%w: timestamp %q is not Unix milliseconds", providers.ErrMalformed, providers.Clip(f["timestamp"], 32))
	}
	if skew := p.now().Sub(time.UnixMilli(ms)); skew > NotifyMaxSkew || skew < -NotifyMaxSkew {
		return providers.Notification{}, fmt.Errorf("%w: timestamp is %s away from now (more than %s: stale or replayed)", providers.ErrVerification, skew.Round(time.Second), NotifyMaxSkew)
	}

	tradeNo := f["trade_no"]
	if tradeNo == "" {
		return providers.Notification{}, fmt.Errorf("%w: trade_no missing", providers.ErrMalformed)
	}
	outTradeNo := f["merchant_trade_no"]
	if outTradeNo == "" && f["passback_parameters"] != "" {
		var pb passback
		if err := json.Unmarshal([]byte(f["passback_parameters"]), &pb); err != nil {
			return providers.Notification{}, fmt.Errorf("%w: passback_parameters is not our JSON: %s", providers.ErrMalformed, providers.Clip(err.Error(), 200))
		}
		outTradeNo = pb.OutTradeNo
	}
	st := providers.OrderState{
		Status:          mapTradeStatus(f["trade_status"]),
		ProviderStatus:  f["trade_status"],
		OutTradeNo:      outTradeNo,
		ProviderTradeNo: tradeNo,
	}
	if f["amount"] != "" {
		cur := providers.FirstNonEmpty(strings.ToUpper(f["currency"]), p.currency)
		m, err := providers.ParseProviderAmount(f["amount"], cur)
		if err != nil {
			return providers.Notification{}, fmt.Errorf("%w: amount: %v", providers.ErrMalformed, err)
		}
		st.Amount = m
	}
	if st.Status == providers.OrderPaid {
		st.PaidAt = time.UnixMilli(ms)
	}
	return providers.Notification{Kind: providers.NotifyPayment, Order: st, Hint: true}, nil
}

// notifyValues takes the fields from the query (GET) or from a
// form-urlencoded POST body (falling back to the query when the body is
// empty).
func notifyValues(r *http.Request, body []byte) (url.Values, error) {
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost && len(strings.TrimSpace(string(body))) > 0 {
		ct := r.Header.Get("Content-Type")
		if ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
			return nil, fmt.Errorf("POST body of type %q, want a form", providers.Clip(ct, 64))
		}
		raw = string(body)
	}
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("no fields")
	}
	return url.ParseQuery(raw)
}

// notifyFunctions are the `function` values a notification may carry: the
// function of the call that placed the order (the driver's CompleteRequest
// sample: precreate). The signature covers only function+mid+timestamp, so
// without this check any signed request of ours (a query, a cancel) seen
// on the wire would verify as a notification for ten minutes.
var notifyFunctions = map[string]bool{fnPrecreate: true, fnWapPrecreate: true}

// NotifyAck answers 2paynow: `success` (text/plain, HTTP 200) once the
// state change is committed; `fail` with HTTP 400 otherwise so it retries.
// UNCONFIRMED: the `success` string is known only from a field report.
func (p *Adapter) NotifyAck(ok bool, reason string) providers.Ack {
	if ok {
		return providers.Ack{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte(AckSuccess)}
	}
	return providers.Ack{Status: http.StatusBadRequest, ContentType: "text/plain; charset=utf-8", Body: []byte(AckFailure)}
}

// The acknowledgement bodies.
const (
	AckSuccess = "success"
	AckFailure = "fail"
)
