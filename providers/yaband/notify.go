package yaband

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/paygate/paygate/providers"
)

// resultDataPrefix is the form field name the official SDK strips from a
// url-encoded notification body (YB-sdk Notify::KEY).
const resultDataPrefix = "resultData="

// dotForm is the "signature.payment-status-JSON" form the notify page's
// prose describes (every example is a JSON object; parsed defensively).
var dotForm = regexp.MustCompile(`(?s)^([0-9a-fA-F]{64})\.(\{.*)$`)

// decodeNotifyBody accepts the body shapes Yaband is known to send:
//   - JSON {"sign": "...", "data": {...}} (YB-docs notify.html);
//   - the same JSON url-encoded, optionally as `resultData=<...>` (YB-sdk
//     Notify::input url-decodes the raw body and strips the prefix);
//   - "<sign>.<json>" (notify.html prose).
//
// A body that starts with '{' is parsed as is: url-decoding raw JSON
// would turn '+' into ' ' inside signed values.
func decodeNotifyBody(body []byte) (string, map[string]any, error) {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "", nil, errors.New("empty body")
	}
	var dotSign string
	if m := dotForm.FindStringSubmatch(s); m != nil {
		dotSign, s = m[1], m[2]
	} else if !strings.HasPrefix(s, "{") {
		decoded, err := url.QueryUnescape(s)
		if err != nil {
			return "", nil, fmt.Errorf("url-decode: %v", err)
		}
		s = strings.TrimSpace(strings.TrimPrefix(decoded, resultDataPrefix))
		if m := dotForm.FindStringSubmatch(s); m != nil {
			dotSign, s = m[1], m[2]
		}
	}
	obj, err := decodeObject(json.RawMessage(s))
	if err != nil {
		return "", nil, fmt.Errorf("JSON: %v", err)
	}
	sign := dotSign
	data := obj
	if inner, present := obj["data"]; present {
		switch t := inner.(type) {
		case map[string]any:
			data = t
		case string: // data sent as a JSON string
			if data, err = decodeObject(json.RawMessage(mustQuote(t))); err != nil {
				return "", nil, fmt.Errorf("data: %v", err)
			}
		default:
			return "", nil, errors.New("data is not an object")
		}
		if sign == "" {
			sign, _ = obj["sign"].(string)
		}
	}
	if strings.TrimSpace(sign) == "" {
		return "", nil, errors.New("no sign")
	}
	if len(data) == 0 {
		return "", nil, errors.New("empty data")
	}
	return sign, data, nil
}

func mustQuote(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: yaband: %s", providers.ErrMalformed, providers.Clip(fmt.Sprintf(format, args...), 300))
}

// ParseNotify verifies a Yaband notification (HMAC-SHA256 over every field
// of `data`, sorted k=v, values as received) and only then reads it.
func (p *Adapter) ParseNotify(_ context.Context, _ *http.Request, body []byte) (providers.Notification, error) {
	sign, data, err := decodeNotifyBody(body)
	if err != nil {
		return providers.Notification{}, malformed("%v", err)
	}
	fields, err := flattenData(data)
	if err != nil {
		return providers.Notification{}, malformed("data: %v", err)
	}
	if !verifySign(p.secret, fields, sign) {
		// Not trusted: only the numbers it names, so the gateway may query.
		hint := providers.Notification{Hint: true, Kind: providers.NotifyPayment,
			Order: providers.OrderState{OutTradeNo: fields["order_id"], ProviderTradeNo: fields["trade_id"]}}
		return hint, fmt.Errorf("%w: yaband notification signature does not match", providers.ErrVerification)
	}
	if user := fields["user"]; user != p.user {
		return providers.Notification{}, fmt.Errorf("%w: yaband notification for user %q, channel user is %q", providers.ErrChannelMismatch, providers.Clip(user, 64), p.user)
	}
	m := make(map[string]any, len(fields))
	for k, v := range fields {
		m[k] = v
	}
	kind := strings.ToLower(fields["type"])
	if kind == "" {
		kind = "payment"
		if fields["refund_id"] != "" {
			kind = "refund"
		}
	}
	switch kind {
	case "payment":
		st, err := p.orderState("notify", m, providers.OrderRef{})
		if err != nil {
			return providers.Notification{}, malformed("%v", err)
		}
		if st.OutTradeNo == "" && st.ProviderTradeNo == "" {
			return providers.Notification{}, malformed("payment notification names no order_id nor trade_id")
		}
		return providers.Notification{Kind: providers.NotifyPayment, Order: st}, nil
	case "refund":
		currency := providers.FirstNonEmpty(fields["refund_currency"], fields["currency"])
		rs, err := refundState("notify", m, "", currency)
		if err != nil {
			return providers.Notification{}, malformed("%v", err)
		}
		if rs.ProviderStatus == "" {
			return providers.Notification{}, malformed("refund notification without state")
		}
		if rs.OutRefundNo == "" && rs.ProviderRefundNo == "" {
			return providers.Notification{}, malformed("refund notification names no m_refund_id nor refund_id")
		}
		return providers.Notification{
			Kind: providers.NotifyRefund,
			Order: providers.OrderState{
				OutTradeNo:      fields["order_id"],
				ProviderTradeNo: fields["trade_id"],
				TransactionID:   fields["transaction_id"],
			},
			Refund: rs,
		}, nil
	default:
		return providers.Notification{}, malformed("unknown notification type %q", fields["type"])
	}
}

// NotifyAck: Yaband wants the plain-text body `ok` (YB-sdk Response::OK;
// YB-mage sets text/plain). On failure the SDK answers `bad`; Yaband
// publishes no retry rule, so the failure also carries HTTP 400 to make
// the delivery count as failed whichever signal Yaband reads.
func (p *Adapter) NotifyAck(ok bool, _ string) providers.Ack {
	if ok {
		return providers.Ack{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("ok")}
	}
	return providers.Ack{Status: http.StatusBadRequest, ContentType: "text/plain; charset=utf-8", Body: []byte("bad")}
}
