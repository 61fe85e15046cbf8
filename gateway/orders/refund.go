package orders

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// RefundInput is the body of POST /v1/orders/{out_trade_no}/refunds.
type RefundInput struct {
	OutRefundNo string `json:"out_refund_no"`
	Amount      string `json:"amount"`
	Currency    string `json:"currency"` // optional; must be the channel's refund currency
	Reason      string `json:"reason"`
}

const maxReason = 80

// refundable order states: refunds only of paid money.
var refundable = []string{string(providers.OrderPaid)}

// CreateRefund refunds part or all of a paid order. The amount is reserved
// atomically against the refundable rest before the provider is called,
// so concurrent refunds can never exceed what was paid. Idempotent on
// out_refund_no: the same body answers the stored refund, another body 409.
func (s *Service) CreateRefund(ctx context.Context, merchantID, outTradeNo string, in RefundInput) (*store.Refund, *store.Order, bool, error) {
	o, err := s.Get(ctx, merchantID, outTradeNo)
	if err != nil {
		return nil, nil, false, err
	}
	ch, err := s.channelOf(o)
	if err != nil {
		return nil, nil, false, err
	}
	plan, err := validateRefund(o, ch, in)
	if err != nil {
		return nil, nil, false, err
	}
	if existing, err := s.st.RefundByOutRefundNo(ctx, merchantID, in.OutRefundNo); err == nil {
		r, err := s.replayRefund(ctx, existing, plan.hash)
		return r, o, false, err
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, false, err
	}
	r, err := s.reserveRefund(ctx, o, ch, plan)
	if errors.Is(err, store.ErrDuplicate) {
		// A concurrent request with the same number won the insert.
		existing, gerr := s.st.RefundByOutRefundNo(ctx, merchantID, in.OutRefundNo)
		if gerr != nil {
			return nil, nil, false, gerr
		}
		r, err := s.replayRefund(ctx, existing, plan.hash)
		return r, o, false, err
	}
	if err != nil {
		return nil, nil, false, err
	}
	if r, err = s.submitRefund(ctx, r, o, ch); err != nil {
		return nil, nil, false, err
	}
	o, err = s.st.OrderByID(ctx, o.ID)
	return r, o, true, err
}

// refundPlan is a refund request validated against its order and channel.
type refundPlan struct {
	in       RefundInput
	amount   providers.Money
	currency string
	hash     string // of the normalised request: a repeat must match it
}

// validateRefund checks a refund request completely before anything is
// written: numbers, reason, amount in the order's currency, and what the
// channel can refund.
func validateRefund(o *store.Order, ch *Channel, in RefundInput) (*refundPlan, error) {
	if !NumberPattern.MatchString(in.OutRefundNo) {
		return nil, Invalid("out_refund_no", "must match %s", NumberPattern)
	}
	if utf8.RuneCountInString(in.Reason) > maxReason || !utf8.ValidString(in.Reason) || hasControl(in.Reason) {
		return nil, Invalid("reason", "must be valid UTF-8 of at most %d characters, without control characters", maxReason)
	}
	currency := o.Currency
	if in.Currency != "" && !providers.KnownCurrency(in.Currency) {
		return nil, Invalid("currency", "%q is not an ISO-4217 currency code", in.Currency)
	}
	if in.Amount == "" {
		return nil, Invalid("amount", "is required, as a decimal string such as \"1.00\"")
	}
	amount, err := providers.ParseAmount(in.Amount, currency)
	if err != nil {
		return nil, Invalid("amount", "%v", err)
	}
	if !ch.Caps.Refund {
		return nil, Refused(CodeUnsupported, "", "channel %s (%s) cannot refund", ch.ID, ch.Kind)
	}
	if rc := ch.Caps.RefundCurrency; rc != "" && rc != o.Currency {
		return nil, Refused(CodeCurrencyUnsupported, "currency",
			"refunds on channel %s must be in %s; the order is in %s", ch.ID, rc, o.Currency)
	}
	if in.Currency != "" && in.Currency != currency {
		return nil, Refused(CodeCurrencyUnsupported, "currency",
			"refunds of this order are in %s, not %s", currency, in.Currency)
	}
	b, _ := json.Marshal(struct {
		Order, No, Amount, Currency, Reason string
	}{o.ID, in.OutRefundNo, amount.String(), currency, in.Reason})
	sum := sha256.Sum256(b)
	return &refundPlan{in: in, amount: amount, currency: currency, hash: hex.EncodeToString(sum[:])}, nil
}

// reserveRefund inserts the refund PROCESSING with its amount reserved
// on the order, in one transaction: a refund the order's rest cannot
// cover, or of an order not PAID, is refused and nothing is written. The
// provider call is claimed in the row it creates: until its call window
// ends (on the database's clock) nothing queries-then-resubmits or
// re-sends this refund. store.ErrDuplicate when the number is taken.
func (s *Service) reserveRefund(ctx context.Context, o *store.Order, ch *Channel, plan *refundPlan) (*store.Refund, error) {
	now := s.now().UTC()
	next := store.DueIn(s.NextRefundPoll(ch, 0, now).Sub(now))
	callUntil := store.DueIn(s.refundCallWindow(ch))
	r := &store.Refund{
		ID: store.NewID("rfd"), OrderID: o.ID, MerchantID: o.MerchantID, ChannelID: o.ChannelID,
		OutRefundNo: plan.in.OutRefundNo, AmountMinor: plan.amount.Minor, Currency: plan.currency, Reason: plan.in.Reason,
		Status: string(providers.RefundProcessing), RequestHash: plan.hash, NextPollAt: &next, CallUntil: &callUntil,
		Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	var refused error
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		ok, err := tx.ReserveRefund(ctx, o.ID, plan.amount.Minor, refundable)
		if err != nil {
			return err
		}
		if !ok {
			why, err := refusedReservation(ctx, tx, o)
			if err != nil {
				return err
			}
			refused = why
			return refused
		}
		return tx.InsertRefund(ctx, r)
	})
	if refused != nil {
		return nil, refused
	}
	return r, err
}

// refusedReservation says why an order's rest could not cover a refund.
func refusedReservation(ctx context.Context, tx *store.Store, o *store.Order) (*Error, error) {
	cur, err := tx.OrderByID(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	if cur.Status != string(providers.OrderPaid) {
		return Refused(CodeOrderState, "", "order %s is %s; only PAID orders can be refunded", o.OutTradeNo, cur.Status), nil
	}
	rest := cur.AmountMinor - cur.RefundedMinor - cur.RefundPendingMinor
	return Refused(CodeRefundExceeds, "amount", "at most %s %s can still be refunded",
		providers.FormatMinor(rest, cur.Currency), cur.Currency), nil
}

// replayRefund answers a repeated refund request. A repeat of a refund
// still PROCESSING makes it due for the poller, which asks the provider
// (and re-sends only when no earlier call can still be running); the
// request itself never calls the provider again.
func (s *Service) replayRefund(ctx context.Context, r *store.Refund, hash string) (*store.Refund, error) {
	if r.RequestHash != hash {
		return nil, Refused(CodeConflict, "out_refund_no",
			"out_refund_no %s was already used with a different request", r.OutRefundNo)
	}
	if r.Status == string(providers.RefundProcessing) {
		if err := s.st.PollRefundNow(ctx, r.ID); err != nil {
			s.log.Warn("refund repeat: schedule a poll", "refund", r.ID, "err", err)
		}
	}
	return r, nil
}

// submitRefund makes the refund's first provider call (claimed in the row
// at its creation) and applies the answer. An unknown outcome (timeout,
// 5xx, an answer that fails verification, "already in progress") leaves
// the refund PROCESSING with its amount reserved; the poller asks again
// once no call can still be running. Only a definite refusal of this
// first call fails it.
func (s *Service) submitRefund(ctx context.Context, r *store.Refund, o *store.Order, ch *Channel) (*store.Refund, error) {
	rep, err := s.callRefund(ctx, r, o, ch)
	if err != nil {
		if OutcomeUnknown(err) {
			// The refund may be under way: keep it PROCESSING, amount reserved.
			s.log.Warn("refund: outcome unknown, will ask again", "refund", r.ID, "channel", ch.ID, "err", err)
			return r, nil
		}
		s.log.Info("refund: provider refused", "refund", r.ID, "channel", ch.ID, "err", err)
		var pe *providers.Error
		reason := err.Error()
		if errors.As(err, &pe) {
			reason = pe.ProviderCode
			if pe.Message != "" {
				reason += ": " + pe.Message
			}
		}
		out, _, aerr := s.ApplyRefundState(ctx, r.ID, providers.RefundState{Status: providers.RefundFailed}, Source{Name: "refund"})
		if aerr != nil {
			return nil, aerr
		}
		if err := s.st.UpdateRefund(ctx, out, map[string]any{"failure_reason": truncate(reason, 250)}); err != nil {
			return nil, err
		}
		return out, nil
	}
	return s.refundAccepted(ctx, r, rep)
}

// GetRefund returns a refund of a merchant's order.
func (s *Service) GetRefund(ctx context.Context, merchantID, outTradeNo, outRefundNo string) (*store.Refund, *store.Order, error) {
	o, err := s.Get(ctx, merchantID, outTradeNo)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.st.RefundOfOrder(ctx, o.ID, outRefundNo, "")
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, NotFound("refund %s of order %s not found", outRefundNo, outTradeNo)
	}
	return r, o, err
}

// Close closes an unpaid order at the provider, then locally.
func (s *Service) Close(ctx context.Context, merchantID, outTradeNo string) (*store.Order, error) {
	o, err := s.Get(ctx, merchantID, outTradeNo)
	if err != nil {
		return nil, err
	}
	switch providers.OrderStatus(o.Status) {
	case providers.OrderClosed:
		return o, nil
	case providers.OrderPaying:
	default:
		return nil, Refused(CodeOrderState, "", "order %s is %s; only PAYING orders can be closed", outTradeNo, o.Status)
	}
	ch, err := s.channelOf(o)
	if err != nil {
		return nil, err
	}
	if !ch.Caps.Close {
		return nil, Refused(CodeUnsupported, "", "channel %s (%s) cannot close orders; the order expires at %s",
			ch.ID, ch.Kind, o.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"))
	}
	o, err = s.CloseAtProvider(ctx, o, "close")
	if err != nil {
		return nil, err
	}
	if o.Status != string(providers.OrderClosed) {
		return nil, Refused(CodeOrderState, "", "order %s is %s at the provider", outTradeNo, o.Status)
	}
	return o, nil
}

// CloseAtProvider closes the order at the provider and then locally; when
// the provider says it is paid, the payment is applied instead.
func (s *Service) CloseAtProvider(ctx context.Context, o *store.Order, source string) (*store.Order, error) {
	ch, err := s.channelOf(o)
	if err != nil {
		return nil, err
	}
	if ch.Caps.Close {
		err = ch.Provider.CloseOrder(ctx, OrderRef(o))
	}
	switch providers.CodeOf(err) {
	case "", providers.ErrCodeOrderClosed, providers.ErrCodeNotFound:
		// Closed now, closed before, or never created at the provider.
		out, _, aerr := s.ApplyOrderState(ctx, o.ID, providers.OrderState{Status: providers.OrderClosed}, Source{Name: source})
		return out, aerr
	case providers.ErrCodeOrderPaid:
		return s.Refresh(ctx, o)
	case providers.ErrCodeUnavailable, providers.ErrCodeBadResponse, providers.ErrCodeInProgress:
		e := Refused(CodeProviderUnavailable, "", "the provider could not be reached or its answer could not be verified; try again")
		e.Err = err // the poller tells an open breaker from a failed call
		return nil, e
	}
	return nil, Refused(CodeProviderRejected, "", "the provider refused to close the order: %v", err)
}
