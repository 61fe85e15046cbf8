package orders

import (
	"context"
	"errors"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// The use cases of the notification ingress (gateway/notify): it never
// reaches the store but through these.

// NotificationSeen reports whether a verified notification with this
// provider id was applied on the channel before.
func (s *Service) NotificationSeen(ctx context.Context, channelID, id string) (bool, error) {
	return s.st.NotificationApplied(ctx, channelID, id)
}

// RecordNotification writes a notification's inbox row when no transition
// writes it (refused, duplicate, ignored, or settled by a query).
func (s *Service) RecordNotification(ctx context.Context, rec *store.Notification) error {
	return s.st.InsertNotification(ctx, rec)
}

// OrderReported finds the channel's order a notification names: by each
// of the three numbers it gives, or, for a refund notification that names
// only the refund (Supay's may lack the original order's number), through
// that refund. store.ErrNotFound when there is none.
func (s *Service) OrderReported(ctx context.Context, ch *Channel, n providers.Notification) (*store.Order, error) {
	o, err := s.orderByNumbers(ctx, ch, n.Order)
	if !errors.Is(err, store.ErrNotFound) || n.Kind != providers.NotifyRefund {
		return o, err
	}
	rf, err := s.st.RefundOfChannel(ctx, ch.MerchantID, ch.ID, n.Refund.OutRefundNo, n.Refund.ProviderRefundNo)
	if err != nil {
		return nil, err
	}
	return s.st.OrderByID(ctx, rf.OrderID)
}

// orderByNumbers looks the order up by each number the report gives.
func (s *Service) orderByNumbers(ctx context.Context, ch *Channel, rep providers.OrderState) (*store.Order, error) {
	refs := []store.OrderRef{{OutTradeNo: rep.OutTradeNo}, {ProviderTradeNo: rep.ProviderTradeNo}, {TransactionID: rep.TransactionID}}
	for _, ref := range refs {
		if ref == (store.OrderRef{}) {
			continue
		}
		o, err := s.st.OrderOfChannel(ctx, ch.MerchantID, ch.ID, ref)
		if !errors.Is(err, store.ErrNotFound) {
			return o, err
		}
	}
	return nil, store.ErrNotFound
}

// SettleByQuery applies the provider's answer to a query instead of a
// notification's body (one not trusted on its own, or one without the
// amount a payment needs). A refund the gateway does not know, perhaps
// made in the provider's console, is recorded as an external refund if
// the provider confirms it.
func (s *Service) SettleByQuery(ctx context.Context, o *store.Order, n providers.Notification) error {
	if n.Kind != providers.NotifyRefund {
		_, err := s.Refresh(ctx, o)
		return err
	}
	rf, err := s.st.RefundOfOrder(ctx, o.ID, n.Refund.OutRefundNo, n.Refund.ProviderRefundNo)
	if errors.Is(err, store.ErrNotFound) {
		_, err = s.QueryUnknownRefund(ctx, o, n.Refund.OutRefundNo, n.Refund.ProviderRefundNo)
		return err
	}
	if err != nil {
		return err
	}
	_, err = s.RefreshRefund(ctx, rf)
	return err
}

// PollSoon finds the order (or the refund) a notification that was not
// applied names, and returns its id with what makes the poller ask the
// provider about it at once; poll is nil when there is nothing to ask
// (no such order, or one no longer waiting).
func (s *Service) PollSoon(ctx context.Context, ch *Channel, n providers.Notification) (orderID string, poll func() error) {
	o, err := s.orderByNumbers(ctx, ch, n.Order)
	if err != nil {
		return "", nil
	}
	if n.Kind == providers.NotifyRefund {
		rf, err := s.st.RefundOfOrder(ctx, o.ID, n.Refund.OutRefundNo, n.Refund.ProviderRefundNo)
		if err != nil || rf.Status != string(providers.RefundProcessing) {
			return o.ID, nil
		}
		return o.ID, func() error { return s.st.PollRefundNow(context.WithoutCancel(ctx), rf.ID) }
	}
	if o.Status != string(providers.OrderPaying) {
		return o.ID, nil
	}
	return o.ID, func() error { return s.st.PollNow(context.WithoutCancel(ctx), o.ID) }
}
