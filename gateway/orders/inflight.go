package orders

import (
	"context"
	"errors"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// RefundCallMargin is added to a refund call's time budget to bound how
// long the call may still be running at the provider after this side
// stopped waiting (a request already received keeps going there).
const RefundCallMargin = 30 * time.Second

// defaultCallTimeout is a provider HTTP call's timeout when the channel
// sets none (httpx.DefaultTimeout).
const defaultCallTimeout = 10 * time.Second

// SetRefundCallMargin replaces RefundCallMargin (tests shorten it). Call
// it before the service is used.
func (s *Service) SetRefundCallMargin(d time.Duration) { s.callMargin = d }

// refundCallBudget is how long this side lets one Refund call run: two of
// the channel's HTTP timeouts, for adapters that look the order up first.
func refundCallBudget(ch *Channel) time.Duration {
	t := ch.Timeout
	if t <= 0 {
		t = defaultCallTimeout
	}
	return 2 * t
}

// refundCallWindow is how long after its start a refund call can still be
// running anywhere: its budget plus the margin. The end is recorded in the
// refund row (CallUntil, on the database's clock) before the call.
func (s *Service) refundCallWindow(ch *Channel) time.Duration {
	return refundCallBudget(ch) + s.callMargin
}

// callRefund makes one Refund call within its budget. The call is not cut
// short by the caller's cancellation (a client that hangs up): an answer
// that arrives is worth having.
func (s *Service) callRefund(ctx context.Context, r *store.Refund, o *store.Order, ch *Channel) (providers.RefundState, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refundCallBudget(ch))
	defer cancel()
	return ch.Provider.Refund(ctx, providers.RefundRequest{
		Order: OrderRef(o), OutRefundNo: r.OutRefundNo, Amount: providers.Money{Minor: r.AmountMinor, Currency: r.Currency},
		Reason: r.Reason, NotifyURL: ch.NotifyURL,
	})
}

// PollRefund is the poller's look at a PROCESSING refund: nothing at all
// while an earlier provider call for it may still be running; otherwise
// it asks the provider and applies the answer, and re-sends the refund
// (same out_refund_no, which providers refund once) when the provider
// does not know it, that is when the earlier call never arrived.
func (s *Service) PollRefund(ctx context.Context, r *store.Refund) (*store.Refund, error) {
	if r.Status != string(providers.RefundProcessing) {
		return r, nil
	}
	if running, err := s.st.RefundCallRunning(ctx, r.ID); err != nil || running {
		return r, err
	}
	o, err := s.st.OrderByID(ctx, r.OrderID)
	if err != nil {
		return nil, err
	}
	ch, err := s.channelOf(o)
	if err != nil {
		return nil, err
	}
	if !ch.Caps.RefundQuery {
		// Settled by the provider's refund notification; an outcome the
		// gateway never learned cannot be asked about, and resubmitting to a
		// provider without refund idempotency could refund twice.
		if r.SubmittedAt == nil {
			s.log.Warn("refund outcome unknown and the provider has no refund query: check it by hand", "refund", r.ID, "channel", ch.ID)
		}
		return r, nil
	}
	rep, err := ch.Provider.QueryRefund(ctx, refundRef(r, o))
	if providers.IsCode(err, providers.ErrCodeNotFound) {
		if r.External {
			// Made in the provider's console, never by the gateway: nothing
			// to send again.
			s.log.Warn("external refund unknown to the provider's query: check it by hand", "refund", r.ID, "channel", ch.ID)
			return r, nil
		}
		return s.resendRefund(ctx, r, o, ch)
	}
	if err != nil {
		return nil, err
	}
	out, _, err := s.ApplyRefundState(ctx, r.ID, rep, Source{Name: "poll"})
	return out, err
}

// resendRefund sends a refund again that the provider says it does not
// know, if no other call for it may be running (the claim is recorded in
// the row first). Whatever goes wrong with a re-send is an unknown
// outcome, never a refusal: a "duplicate" or "in progress" answer, or any
// other, may hide an earlier call that went through, so the refund stays
// PROCESSING with its amount reserved and is asked about again.
func (s *Service) resendRefund(ctx context.Context, r *store.Refund, o *store.Order, ch *Channel) (*store.Refund, error) {
	ok, err := s.st.StartRefundCall(ctx, r.ID, s.refundCallWindow(ch))
	if err != nil {
		return nil, err
	}
	if !ok {
		return r, nil // another call started meanwhile, or it settled
	}
	rep, err := s.callRefund(ctx, r, o, ch)
	if err != nil {
		s.log.Warn("refund re-send: no answer to rely on, will ask again", "refund", r.ID, "channel", ch.ID, "err", err)
		return s.st.RefundByID(ctx, r.ID)
	}
	return s.refundAccepted(ctx, r, rep)
}

// refundAccepted records that the provider took the refund and applies
// its answer.
func (s *Service) refundAccepted(ctx context.Context, r *store.Refund, rep providers.RefundState) (*store.Refund, error) {
	for i := 0; i < 5; i++ {
		// The call answered: it is no longer running anywhere, so the
		// guard is lifted and polls may ask at once.
		err := s.st.UpdateRefund(ctx, r, map[string]any{"submitted_at": nowPtr(s.now()), "call_until_ms": nil})
		if !errors.Is(err, store.ErrConflict) {
			if err != nil {
				return nil, err
			}
			break
		}
		fresh, gerr := s.st.RefundByID(ctx, r.ID)
		if gerr != nil {
			return nil, gerr
		}
		r = fresh
	}
	out, _, err := s.ApplyRefundState(ctx, r.ID, rep, Source{Name: "refund"})
	return out, err
}

func refundRef(r *store.Refund, o *store.Order) providers.RefundRef {
	return providers.RefundRef{Order: OrderRef(o), OutRefundNo: r.OutRefundNo, ProviderRefundNo: r.ProviderRefundNo,
		Amount: providers.Money{Minor: r.AmountMinor, Currency: r.Currency}}
}
