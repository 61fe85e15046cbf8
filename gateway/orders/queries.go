package orders

import (
	"context"
	"errors"
	"time"

	"github.com/paygate/paygate/store"
)

// Refunds lists an order's refunds.
func (s *Service) Refunds(ctx context.Context, o *store.Order) ([]store.Refund, error) {
	return s.st.RefundsOfOrder(ctx, o.ID)
}

// ListOrders is a page of a merchant's orders (f names the merchant):
// up to limit from the key after from, in key order.
func (s *Service) ListOrders(ctx context.Context, f store.OrderFilter, from *store.OrderKey, limit int) ([]store.Order, error) {
	return s.st.ListOrders(ctx, f, from, limit)
}

// ExportOrders hands every order f matches to fn, batch by batch.
func (s *Service) ExportOrders(ctx context.Context, f store.OrderFilter, batch int, fn func(*store.Order) error) error {
	return s.st.ExportOrders(ctx, f, batch, fn)
}

// SummarizeOrders totals the orders f matches by groupBy, days in loc.
func (s *Service) SummarizeOrders(ctx context.Context, f store.OrderFilter, groupBy string, loc *time.Location) ([]store.SummaryRow, error) {
	return s.st.SummarizeOrders(ctx, f, groupBy, loc)
}

// Events lists a merchant's events, of one order when orderID is set.
func (s *Service) Events(ctx context.Context, merchantID, orderID, status string, limit int) ([]store.MerchantEvent, error) {
	return s.st.EventsOf(ctx, merchantID, orderID, status, limit)
}

// Event returns one of the merchant's events with its delivery attempts;
// another merchant's event is not found.
func (s *Service) Event(ctx context.Context, merchantID, id string) (*store.MerchantEvent, []store.EventAttempt, error) {
	e, err := s.st.EventByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && e.MerchantID != merchantID) {
		return nil, nil, NotFound("event %s not found", id)
	}
	if err != nil {
		return nil, nil, err
	}
	attempts, err := s.st.AttemptsOf(ctx, e.ID)
	if err != nil {
		return nil, nil, err
	}
	return e, attempts, nil
}

// Redeliver makes one of the merchant's events due again.
func (s *Service) Redeliver(ctx context.Context, merchantID, id string) (*store.MerchantEvent, error) {
	e, err := s.st.Redeliver(ctx, merchantID, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, NotFound("event %s not found", id)
	case errors.Is(err, store.ErrConflict):
		return nil, Refused(CodeInProgress, "", "event %s is being delivered right now; ask again once this attempt is recorded", id)
	}
	return e, err
}
