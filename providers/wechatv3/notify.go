package wechatv3

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/paygate/paygate/providers"
)

// Notification event types (spec §5.3, §2.4).
const (
	EventTransactionSuccess = "TRANSACTION.SUCCESS"
	EventRefundSuccess      = "REFUND.SUCCESS"
	EventRefundAbnormal     = "REFUND.ABNORMAL"
	EventRefundClosed       = "REFUND.CLOSED"
)

// envelope is a v3 notification body (WPG core/notify/notify_request.go).
type envelope struct {
	ID           string    `json:"id"`
	CreateTime   string    `json:"create_time"`
	EventType    string    `json:"event_type"`
	ResourceType string    `json:"resource_type"`
	Summary      string    `json:"summary"`
	Resource     *resource `json:"resource"`
}

type resource struct {
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
	OriginalType   string `json:"original_type"`
}

func parseEnvelope(body []byte) (envelope, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return env, fmt.Errorf("%w: body is not a v3 notification: %s", providers.ErrMalformed, providers.Clip(err.Error(), 300))
	}
	if env.ID == "" || env.EventType == "" || env.Resource == nil || env.Resource.Ciphertext == "" {
		return env, fmt.Errorf("%w: notification lacks id, event_type or resource", providers.ErrMalformed)
	}
	return env, nil
}

func (p *Adapter) decrypt(r *resource) ([]byte, error) {
	if r.Algorithm != AlgorithmAEAD {
		return nil, fmt.Errorf("%w: resource algorithm %q, want %s", providers.ErrMalformed, providers.Clip(r.Algorithm, 32), AlgorithmAEAD)
	}
	pt, err := decryptResource(p.cfg.apiV3Key, r.Nonce, r.AssociatedData, r.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: resource: %s", providers.ErrVerification, providers.Clip(err.Error(), 300))
	}
	return pt, nil
}

// ParseNotify verifies the Wechatpay-* headers over the raw body first,
// then decrypts the resource with the APIv3 key and checks that it names
// this channel's account.
//
// When the signature cannot be trusted (forged, stale, unknown serial,
// probe) but the body is a notification, it returns the verification error
// together with a Hint notification carrying only the numbers it names
// (learnt by decrypting, never a status or amount): the gateway may query
// the order, never settle it from this body.
func (p *Adapter) ParseNotify(ctx context.Context, r *http.Request, body []byte) (providers.Notification, error) {
	var h http.Header
	if r != nil {
		h = r.Header
	}
	verr := p.verify(ctx, h, body)
	env, perr := parseEnvelope(body)
	if verr != nil {
		if perr != nil {
			return providers.Notification{}, verr
		}
		return p.hint(env), verr
	}
	if perr != nil {
		return providers.Notification{}, perr
	}
	pt, err := p.decrypt(env.Resource)
	if err != nil {
		return providers.Notification{}, err
	}
	switch {
	case env.EventType == EventTransactionSuccess:
		return p.paymentNotification(env, pt)
	case strings.HasPrefix(env.EventType, "REFUND."):
		return p.refundNotification(env, pt)
	}
	return providers.Notification{}, fmt.Errorf("%w: unsupported event_type %q", providers.ErrMalformed, providers.Clip(env.EventType, 64))
}

func (p *Adapter) paymentNotification(env envelope, pt []byte) (providers.Notification, error) {
	var tx transaction
	if err := json.Unmarshal(pt, &tx); err != nil {
		return providers.Notification{}, fmt.Errorf("%w: transaction resource: %s", providers.ErrMalformed, providers.Clip(err.Error(), 300))
	}
	if err := p.checkTransactionAccount(tx); err != nil {
		return providers.Notification{}, fmt.Errorf("%w: %s", providers.ErrChannelMismatch, providers.Clip(err.Error(), 300))
	}
	if tx.OutTradeNo == "" {
		return providers.Notification{}, fmt.Errorf("%w: transaction resource has no out_trade_no", providers.ErrMalformed)
	}
	st, err := tx.state()
	if err != nil {
		return providers.Notification{}, fmt.Errorf("%w: transaction resource: %s", providers.ErrMalformed, providers.Clip(err.Error(), 300))
	}
	return providers.Notification{Kind: providers.NotifyPayment, ID: env.ID, Order: st}, nil
}

func (p *Adapter) refundNotification(env envelope, pt []byte) (providers.Notification, error) {
	var rf refund
	if err := json.Unmarshal(pt, &rf); err != nil {
		return providers.Notification{}, fmt.Errorf("%w: refund resource: %s", providers.ErrMalformed, providers.Clip(err.Error(), 300))
	}
	if err := p.checkRefundAccount(rf); err != nil {
		return providers.Notification{}, fmt.Errorf("%w: %s", providers.ErrChannelMismatch, providers.Clip(err.Error(), 300))
	}
	if rf.OutRefundNo == "" || rf.OutTradeNo == "" {
		return providers.Notification{}, fmt.Errorf("%w: refund resource lacks out_refund_no or out_trade_no", providers.ErrMalformed)
	}
	if want := strings.TrimPrefix(env.EventType, "REFUND."); rf.status() != want {
		return providers.Notification{}, fmt.Errorf("%w: event_type %s but refund_status %q", providers.ErrMalformed, providers.Clip(env.EventType, 64), providers.Clip(rf.status(), 32))
	}
	st, err := rf.state()
	if err != nil {
		return providers.Notification{}, fmt.Errorf("%w: refund resource: %s", providers.ErrMalformed, providers.Clip(err.Error(), 300))
	}
	return providers.Notification{
		Kind: providers.NotifyRefund, ID: env.ID, Refund: st,
		Order: providers.OrderState{OutTradeNo: rf.OutTradeNo, TransactionID: rf.TransactionID, ProviderTradeNo: rf.TransactionID},
	}, nil
}

// hint reads the numbers of an untrusted notification. It decrypts with
// the APIv3 key only to learn which order to query; the status and amounts
// are dropped. A resource of another account yields nothing.
func (p *Adapter) hint(env envelope) providers.Notification {
	pt, err := p.decrypt(env.Resource)
	if err != nil {
		return providers.Notification{}
	}
	switch {
	case strings.HasPrefix(env.EventType, "TRANSACTION."):
		var tx transaction
		if json.Unmarshal(pt, &tx) != nil || p.checkTransactionAccount(tx) != nil || tx.OutTradeNo == "" {
			return providers.Notification{}
		}
		return providers.Notification{Kind: providers.NotifyPayment, ID: env.ID, Hint: true,
			Order: providers.OrderState{OutTradeNo: tx.OutTradeNo, TransactionID: tx.TransactionID, ProviderTradeNo: tx.TransactionID}}
	case strings.HasPrefix(env.EventType, "REFUND."):
		var rf refund
		if json.Unmarshal(pt, &rf) != nil || p.checkRefundAccount(rf) != nil || rf.OutTradeNo == "" {
			return providers.Notification{}
		}
		return providers.Notification{Kind: providers.NotifyRefund, ID: env.ID, Hint: true,
			Order:  providers.OrderState{OutTradeNo: rf.OutTradeNo, TransactionID: rf.TransactionID, ProviderTradeNo: rf.TransactionID},
			Refund: providers.RefundState{OutRefundNo: rf.OutRefundNo, ProviderRefundNo: rf.RefundID}}
	}
	return providers.Notification{}
}

// NotifyAck: success is HTTP 204 with no body; failure is HTTP 500 with
// {"code":"FAIL","message":...} so WeChat retries (only the status counts).
func (p *Adapter) NotifyAck(ok bool, reason string) providers.Ack {
	if ok {
		return providers.Ack{Status: http.StatusNoContent}
	}
	if reason == "" {
		reason = "失败"
	}
	reason = truncateRunes(reason, 200)
	b, _ := json.Marshal(map[string]string{"code": "FAIL", "message": reason})
	return providers.Ack{Status: http.StatusInternalServerError, ContentType: "application/json", Body: b}
}
