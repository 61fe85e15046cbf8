package orders

import (
	"context"

	"github.com/paygate/paygate/store"
)

// EnqueueEvent writes a merchant event that reports no order transition
// (reconciliation.completed) in tx, through the same outbox as order
// events: signed, retried, recorded. dedupe makes a second event for the
// same fact impossible. Call EventsWritten after tx commits.
func (s *Service) EnqueueEvent(ctx context.Context, tx *store.Store, merchantID, typ, dedupe string, data any) error {
	return s.enqueue(ctx, tx, merchantID, typ, dedupe, "", "", "", data, 0, "")
}

// EventsWritten wakes the dispatcher after a commit that wrote events.
func (s *Service) EventsWritten() { s.eventsWritten() }
