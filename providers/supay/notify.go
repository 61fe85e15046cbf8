package supay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/paygate/paygate/providers"
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: supay: %s", providers.ErrMalformed, providers.Clip(fmt.Sprintf(format, args...), 300))
}

// decodeNotifyBody reads a form-urlencoded body (parse_str in the
// integrations). A flat JSON object is accepted as a fallback. A field
// given twice is refused: which copy was signed would be ambiguous.
func decodeNotifyBody(body []byte) (map[string]string, error) {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return nil, errors.New("empty body")
	}
	out := map[string]string{}
	if strings.HasPrefix(s, "{") {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("JSON: %v", err)
		}
		for k, v := range m {
			switch t := v.(type) {
			case string:
				out[k] = t
			case json.Number:
				out[k] = t.String()
			case nil:
				out[k] = ""
			default:
				return nil, fmt.Errorf("field %q is not a scalar", k)
			}
		}
		return out, nil
	}
	values, err := url.ParseQuery(s)
	if err != nil {
		return nil, fmt.Errorf("form: %v", err)
	}
	for k, vs := range values {
		if len(vs) != 1 {
			return nil, fmt.Errorf("field %q appears %d times", k, len(vs))
		}
		out[k] = vs[0]
	}
	return out, nil
}

// ParseNotify verifies a Supay notification (MD5 over every received
// field except sign and sign_type, empty values skipped, &key= appended)
// and only then reads it.
func (p *Adapter) ParseNotify(_ context.Context, _ *http.Request, body []byte) (providers.Notification, error) {
	fields, err := decodeNotifyBody(bytes.TrimSpace(body))
	if err != nil {
		return providers.Notification{}, malformed("%v", err)
	}
	sign := fields["sign"]
	if sign == "" {
		return providers.Notification{}, malformed("no sign")
	}
	if t := fields["sign_type"]; t != "" && !strings.EqualFold(t, SignTypeMD5) {
		return providers.Notification{}, malformed("sign_type %q is not MD5", t)
	}
	if !verifySign(fields, p.key, sign) {
		hint := providers.Notification{Hint: true, Kind: providers.NotifyPayment,
			Order: providers.OrderState{OutTradeNo: fields["outer_trade_no"], ProviderTradeNo: fields["inner_trade_no"]}}
		return hint, fmt.Errorf("%w: supay notification signature does not match", providers.ErrVerification)
	}
	if mch := fields["mch_id"]; mch != "" && mch != p.mchID {
		return providers.Notification{}, fmt.Errorf("%w: supay notification for mch_id %q, channel mch_id is %q", providers.ErrChannelMismatch, providers.Clip(mch, 64), p.mchID)
	}
	kind := fields["notify_type"]
	if kind == "" {
		switch {
		case fields["refund_status"] != "":
			kind = NotifyTypeRefund
		case fields["trade_status"] != "":
			kind = NotifyTypeTrade
		}
	}
	currency := providers.FirstNonEmpty(fields["currency"], p.ch.Currency)
	switch kind {
	case NotifyTypeTrade:
		word := fields["trade_status"]
		if word == "" {
			return providers.Notification{}, malformed("trade_status_sync without trade_status")
		}
		if fields["outer_trade_no"] == "" {
			return providers.Notification{}, malformed("trade_status_sync without outer_trade_no")
		}
		st := providers.OrderState{
			Status:          NotifyTradeStatus(word),
			ProviderStatus:  word,
			OutTradeNo:      fields["outer_trade_no"],
			ProviderTradeNo: fields["inner_trade_no"],
			TransactionID:   fields["transaction_id"],
		}
		if a := fields["trade_amount"]; a != "" {
			if st.Amount, err = providers.ParseProviderAmount(a, currency); err != nil {
				return providers.Notification{}, malformed("trade_amount: %v", err)
			}
		}
		return providers.Notification{Kind: providers.NotifyPayment, Order: st}, nil
	case NotifyTypeRefund:
		word := fields["refund_status"]
		if word == "" {
			return providers.Notification{}, malformed("refund_status_sync without refund_status")
		}
		outTradeNo, outRefundNo, providerRefundNo := refundNotifyNumbers(fields)
		if outRefundNo == "" {
			return providers.Notification{}, malformed("refund_status_sync without outer_trade_no")
		}
		rs := providers.RefundState{
			Status:           RefundNotifyStatus(word),
			ProviderStatus:   word,
			OutRefundNo:      outRefundNo,
			ProviderRefundNo: providerRefundNo,
		}
		if a := fields["refund_amount"]; a != "" {
			if rs.Amount, err = providers.ParseProviderAmount(a, currency); err != nil {
				return providers.Notification{}, malformed("refund_amount: %v", err)
			}
		}
		return providers.Notification{Kind: providers.NotifyRefund, Order: providers.OrderState{OutTradeNo: outTradeNo}, Refund: rs}, nil
	default:
		return providers.Notification{}, malformed("unknown notify_type %q", kind)
	}
}

// refundNotifyNumbers reads the numbers of a refund_status_sync. Public
// code names only inner_trade_no, outer_trade_no and refund_amount. A
// Supay refund is a trade of its own keyed by its own mch_order_no, so
// outer_trade_no is read as the refund's number (out_refund_no) and
// inner_trade_no as Supay's refund number; the original order's number is
// read from orig_outer_trade_no (the sibling field of create_refund's
// orig_mch_order_no, as in the Alipay-style protocols this one follows)
// and is empty when absent: the gateway then finds the refund by its
// out_refund_no. UNCONFIRMED: change here when Supay's fields are known.
func refundNotifyNumbers(f map[string]string) (outTradeNo, outRefundNo, providerRefundNo string) {
	outTradeNo = f["orig_outer_trade_no"]
	if outTradeNo == "" {
		outTradeNo = f["orig_mch_order_no"]
	}
	return outTradeNo, f["outer_trade_no"], f["inner_trade_no"]
}

// NotifyAck: `success` as plain text (assumed by analogy with this
// Alipay-style protocol; README "Assumptions"). Failure: `fail` with HTTP
// 400, so the delivery counts as failed whether Supay reads the body or
// the status.
func (p *Adapter) NotifyAck(ok bool, _ string) providers.Ack {
	if ok {
		return providers.Ack{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("success")}
	}
	return providers.Ack{Status: http.StatusBadRequest, ContentType: "text/plain; charset=utf-8", Body: []byte("fail")}
}
