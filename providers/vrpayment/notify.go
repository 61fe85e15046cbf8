package vrpayment

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/paygate/paygate/providers"
)

// webhook is wallee's webhook body: {eventId, entityId, listenerEntityId,
// listenerEntityTechnicalName, spaceId, webhookListenerId, timestamp,
// state?}. It names an entity; it carries no amount.
type webhook struct {
	EventID                     json.Number `json:"eventId"`
	EntityID                    json.Number `json:"entityId"`
	ListenerEntityID            json.Number `json:"listenerEntityId"`
	ListenerEntityTechnicalName string      `json:"listenerEntityTechnicalName"`
	SpaceID                     json.Number `json:"spaceId"`
	WebhookListenerID           json.Number `json:"webhookListenerId"`
	Timestamp                   string      `json:"timestamp"`
	State                       string      `json:"state"`
}

// ParseNotify reads a VR Payment webhook as a hint only: VR Payment sends
// no trusted callback for this flow (Capabilities.Notify is false), and the
// optional x-signature (ECDSA, key fetched from the API) is not checked, so
// nothing in the body is believed. The gateway re-reads the entity by id
// and applies that answer. The space must be the channel's
// (ErrChannelMismatch). Listeners must be configured for the Transaction
// and Refund entities; any other entity is refused as malformed (its
// entityId is not a transaction or refund id).
func (p *Adapter) ParseNotify(ctx context.Context, r *http.Request, body []byte) (providers.Notification, error) {
	if r.Method != http.MethodPost {
		return providers.Notification{}, fmt.Errorf("%w: webhook must be a POST, got %s", providers.ErrMalformed, providers.Clip(r.Method, 16))
	}
	var w webhook
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&w); err != nil {
		return providers.Notification{}, fmt.Errorf("%w: %s", providers.ErrMalformed, providers.Clip(err.Error(), 200))
	}
	if w.SpaceID == "" || w.EntityID == "" || w.ListenerEntityTechnicalName == "" {
		return providers.Notification{}, fmt.Errorf("%w: spaceId, entityId and listenerEntityTechnicalName are required", providers.ErrMalformed)
	}
	if w.SpaceID.String() != p.spaceID {
		return providers.Notification{}, fmt.Errorf("%w: spaceId %s", providers.ErrChannelMismatch, providers.Clip(w.SpaceID.String(), 32))
	}
	entity := w.EntityID.String()
	if !idPattern.MatchString(entity) {
		return providers.Notification{}, fmt.Errorf("%w: entityId %q is not an id", providers.ErrMalformed, providers.Clip(entity, 32))
	}
	n := providers.Notification{ID: w.EventID.String(), Hint: true}
	switch w.ListenerEntityTechnicalName {
	case "Transaction":
		n.Kind = providers.NotifyPayment
		n.Order = providers.OrderState{ProviderTradeNo: entity, ProviderStatus: providers.Clip(w.State, 64), Status: mapTransactionState(w.State)}
	case "Refund":
		n.Kind = providers.NotifyRefund
		n.Refund = providers.RefundState{ProviderRefundNo: entity, ProviderStatus: providers.Clip(w.State, 64), Status: mapRefundState(w.State)}
	default:
		return providers.Notification{}, fmt.Errorf("%w: webhook for entity %q: configure listeners for Transaction and Refund only", providers.ErrMalformed, providers.Clip(w.ListenerEntityTechnicalName, 64))
	}
	return n, nil
}

// NotifyAck: wallee wants a 2xx once the webhook is handled (empty body);
// 500 makes it retry (the wallee-family plugins' convention).
func (p *Adapter) NotifyAck(ok bool, reason string) providers.Ack {
	if ok {
		return providers.Ack{Status: http.StatusOK}
	}
	return providers.Ack{Status: http.StatusInternalServerError}
}
