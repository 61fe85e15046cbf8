package orders

import (
	"context"
	"errors"
	"fmt"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// ErrNothingToRecord: a provider's report about a refund the gateway never
// knew that changes no money (it failed): acknowledged, nothing recorded.
var ErrNothingToRecord = errors.New("nothing to record")

// errRecordedMeanwhile: the refund an external report names was recorded
// by a concurrent report; apply this one to that row instead.
var errRecordedMeanwhile = errors.New("refund recorded meanwhile")

// ApplyRefundReport applies a provider's report about a refund of order
// o: to the gateway's refund it names, or, when the gateway has none (a
// refund made in the provider's console), by recording it as an external
// refund first (see ApplyExternalRefund). Duplicate or concurrent reports
// change the refund once and emit one event.
func (s *Service) ApplyRefundReport(ctx context.Context, o *store.Order, rep providers.RefundState, src Source) (*store.Refund, bool, error) {
	for range 3 {
		r, err := s.st.RefundOfOrder(ctx, o.ID, rep.OutRefundNo, rep.ProviderRefundNo)
		if err == nil {
			return s.ApplyRefundState(ctx, r.ID, rep, src)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, false, err
		}
		if o.Status != string(providers.OrderPaid) && o.Status != string(providers.OrderRefunded) {
			// A refund of an order not paid here: its payment news was lost.
			// Ask the provider about the order first.
			if cur, err := s.Refresh(ctx, o); err == nil {
				o = cur
			}
		}
		r, moved, err := s.ApplyExternalRefund(ctx, o, rep, src)
		if errors.Is(err, errRecordedMeanwhile) {
			continue
		}
		return r, moved, err
	}
	return nil, false, fmt.Errorf("refund %s of order %s: too many concurrent reports", rep.OutRefundNo, o.ID)
}

// ApplyExternalRefund records a refund the provider reports for order o
// that the gateway did not make (one made in the provider's console) and
// applies its state: SUCCEEDED settles the order's refunded amount (and
// makes the order REFUNDED when nothing is left) and tells the merchant
// refund.succeeded; PROCESSING reserves the amount and the poller follows
// it. The refund keeps the provider's out_refund_no (or its refund number
// when it gives none) and is marked external. The order's refunds never
// exceed what was paid, whatever their source: a report for more than is
// left unrefunded is refused (ErrMismatch) and changes nothing. A report
// of a failed refund the gateway never knew changes nothing.
func (s *Service) ApplyExternalRefund(ctx context.Context, o *store.Order, rep providers.RefundState, src Source) (*store.Refund, bool, error) {
	no := rep.OutRefundNo
	if no == "" {
		no = rep.ProviderRefundNo
	}
	switch {
	case no == "" || len(no) > 64:
		return nil, false, fmt.Errorf("%w: a refund of order %s the gateway does not know, without a usable refund number", ErrMismatch, o.OutTradeNo)
	case rep.Status != providers.RefundSucceeded && rep.Status != providers.RefundProcessing:
		return nil, false, fmt.Errorf("%w: a %s refund %s of order %s the gateway does not know", ErrNothingToRecord, rep.Status, no, o.OutTradeNo)
	case rep.Amount.Minor <= 0:
		return nil, false, fmt.Errorf("%w: external refund %s of order %s without an amount", ErrMismatch, no, o.OutTradeNo)
	case rep.Amount.Currency != "" && rep.Amount.Currency != o.Currency:
		return nil, false, fmt.Errorf("%w: external refund %s in %s, order %s is in %s", ErrMismatch, no, rep.Amount.Currency, o.OutTradeNo, o.Currency)
	}
	var out *store.Refund
	moved, err := s.transact(ctx, "refund", src, func(tx *store.Store) (step, error) {
		if _, err := tx.RefundOfOrder(ctx, o.ID, rep.OutRefundNo, rep.ProviderRefundNo); err == nil {
			return step{}, errRecordedMeanwhile
		} else if !errors.Is(err, store.ErrNotFound) {
			return step{}, err
		}
		ok, err := tx.ReserveExternalRefund(ctx, o.ID, rep.Amount.Minor)
		if err != nil {
			return step{}, err
		}
		if !ok {
			cur, err := tx.OrderByID(ctx, o.ID)
			if err != nil {
				return step{}, err
			}
			return step{}, fmt.Errorf("%w: external refund %s of %s %s, but order %s is %s with %s of %s refunded",
				ErrMismatch, no, providers.FormatMinor(rep.Amount.Minor, cur.Currency), cur.Currency, cur.OutTradeNo, cur.Status,
				providers.FormatMinor(cur.RefundedMinor, cur.Currency), providers.FormatMinor(cur.AmountMinor, cur.Currency))
		}
		now := s.now().UTC()
		r := &store.Refund{
			ID: store.NewID("rfd"), OrderID: o.ID, MerchantID: o.MerchantID, ChannelID: o.ChannelID,
			OutRefundNo: no, ProviderRefundNo: rep.ProviderRefundNo, AmountMinor: rep.Amount.Minor, Currency: o.Currency,
			Reason: "made outside the gateway", Status: string(providers.RefundProcessing), ProviderStatus: rep.ProviderStatus,
			RequestHash: "external", External: true, SubmittedAt: &now, Version: 1, CreatedAt: now, UpdatedAt: now,
		}
		if rep.Status == providers.RefundProcessing {
			ch, _ := s.Channel(o.ChannelID)
			due := store.DueIn(s.NextRefundPoll(ch, 0, now).Sub(now))
			r.NextPollAt = &due
		}
		if err := tx.InsertRefund(ctx, r); err != nil {
			if errors.Is(err, store.ErrDuplicate) {
				return step{}, errRecordedMeanwhile
			}
			return step{}, err
		}
		st := step{orderID: o.ID, moved: true, status: r.Status}
		if rep.Status == providers.RefundSucceeded {
			at := rep.SucceededAt.UTC()
			if rep.SucceededAt.IsZero() {
				at = now
			}
			if err := tx.SettleRefundAmount(ctx, o.ID, r.AmountMinor, true, string(providers.OrderRefunded)); err != nil {
				return step{}, err
			}
			if err := tx.UpdateRefund(ctx, r, map[string]any{"status": string(providers.RefundSucceeded), "succeeded_at": at}); err != nil {
				return step{}, err
			}
			st.status = r.Status
			st.event = &event{merchantID: o.MerchantID, typ: refundEvent(providers.RefundSucceeded), dedupe: r.ID, url: o.NotifyURL,
				orderID: o.ID, refundID: r.ID, data: ViewRefund(r, o.OutTradeNo)}
		}
		out = r
		return st, nil
	})
	if err != nil {
		return nil, false, err
	}
	s.log.Warn("recorded a refund made outside the gateway", "order", o.ID, "out_refund_no", no,
		"amount", providers.FormatMinor(out.AmountMinor, out.Currency), "status", out.Status, "source", src.Name)
	return out, moved, nil
}

// QueryUnknownRefund asks the provider about a refund of order o that the
// gateway does not know (an untrusted notification named it) and records
// what the provider confirms, as ApplyRefundReport does.
func (s *Service) QueryUnknownRefund(ctx context.Context, o *store.Order, outRefundNo, providerRefundNo string) (*store.Refund, error) {
	ch, err := s.channelOf(o)
	if err != nil {
		return nil, err
	}
	if !ch.Caps.RefundQuery {
		return nil, fmt.Errorf("%w: refund %s of order %s is unknown and channel %s cannot query refunds", store.ErrNotFound, outRefundNo, o.OutTradeNo, ch.ID)
	}
	rep, err := ch.Provider.QueryRefund(ctx, providers.RefundRef{Order: OrderRef(o), OutRefundNo: outRefundNo, ProviderRefundNo: providerRefundNo})
	if err != nil {
		return nil, err
	}
	if rep.OutRefundNo == "" {
		rep.OutRefundNo = outRefundNo
	}
	if rep.ProviderRefundNo == "" {
		rep.ProviderRefundNo = providerRefundNo
	}
	r, _, err := s.ApplyRefundReport(ctx, o, rep, Source{Name: "query"})
	return r, err
}
