// Package notify is the ingress of provider notifications: /notify/{channel}.
// For each one it lets the channel's adapter verify and parse it, applies
// the reported state through the same path as a poll, records the raw
// notification and its outcome in the inbox, commits, and only then
// writes the provider's acknowledgement.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// MaxBody caps a notification body; providers send a few KB.
const MaxBody = 256 << 10

// RefusedPrefix is how much of the body, and roughly of the headers, a
// notification refused before it was verified (or for an unknown channel)
// keeps in the inbox: enough to see what it was, not a free store.
const RefusedPrefix = 1 << 10

// Handler serves /notify/{channel}.
type Handler struct {
	svc       *orders.Service
	log       *slog.Logger
	perSource *sourceLimiter
	refused   *sourceLimiter
	// Observe counts notifications by provider and outcome (metrics).
	Observe func(provider, outcome string)
}

// New builds the ingress with DefaultLimits.
func New(svc *orders.Service, log *slog.Logger) *Handler {
	h := &Handler{svc: svc, log: log}
	h.SetLimits(DefaultLimits)
	return h
}

// SetLimits replaces the per-source limits (a zero rate is no limit).
// Call it before the handler serves.
func (h *Handler) SetLimits(l Limits) {
	h.perSource = newSourceLimiter(l.PerSource, l.Burst)
	h.refused = newSourceLimiter(l.Refused, l.RefusedBurst)
}

// redactedHeaders are never stored.
var redactedHeaders = map[string]bool{"Authorization": true, "Cookie": true, "Proxy-Authorization": true, "X-Api-Key": true}

// Handle processes one notification for channelID.
func (h *Handler) Handle(w http.ResponseWriter, r *http.Request, channelID string) {
	ctx := r.Context()
	now := time.Now()
	src := sourceKey(r.RemoteAddr)
	if !h.perSource.allow(src, now) {
		h.count("", store.OutcomeRateLimited)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	}
	rec := &store.Notification{
		ID: store.NewID("ntf"), ChannelID: truncate(channelID, 64), Method: r.Method, Path: truncate(r.URL.RequestURI(), 512),
		Headers: headersJSON(r.Header), RemoteAddr: truncate(r.RemoteAddr, 64), ReceivedAt: now.UTC(),
	}
	ch, ok := h.svc.Channel(channelID)
	if !ok {
		// Not even read whole: nobody is expected here.
		rec.Body, _ = io.ReadAll(io.LimitReader(r.Body, RefusedPrefix))
		h.recordRefused(ctx, rec, r.Header, src, store.OutcomeUnknownChannel, "no such channel")
		http.Error(w, "unknown channel", http.StatusNotFound)
		return
	}
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	rec.Body = body
	rec.Provider = ch.Kind
	p := ch.Provider
	if readErr != nil {
		h.recordRefused(ctx, rec, r.Header, src, store.OutcomeMalformed, "body: "+readErr.Error())
		h.ack(w, p, false, "body too large or unreadable")
		return
	}

	n, err := p.ParseNotify(ctx, r, body)
	if err != nil {
		outcome := store.OutcomeMalformed
		switch {
		case errors.Is(err, providers.ErrVerification):
			outcome = store.OutcomeBadSignature
		case errors.Is(err, providers.ErrChannelMismatch):
			outcome = store.OutcomeChannelMismatch
		}
		rec.Kind = string(n.Kind)
		if outcome == store.OutcomeChannelMismatch {
			// Verified, for another account: kept whole.
			h.record(ctx, rec, outcome, err.Error())
		} else if h.refused.allow(src, now) {
			var poll func()
			if n.Hint && outcome == store.OutcomeBadSignature {
				// Not trusted, but it names an order: record which, and ask
				// the provider soon.
				poll = h.pollSoon(ctx, ch, n, rec)
			}
			h.keepPrefix(rec, r.Header)
			h.record(ctx, rec, outcome, err.Error())
			if poll != nil {
				poll()
			}
		} else {
			h.count(ch.Kind, store.OutcomeRateLimited)
		}
		h.log.Warn("notification refused", "channel", ch.ID, "outcome", outcome, "err", err)
		h.ack(w, p, false, "refused")
		return
	}
	rec.Kind = string(n.Kind)
	rec.Verified = !n.Hint
	if rec.Verified {
		// An id from an unverified body proves nothing: kept, it would make
		// the genuine notification with that id look like a duplicate.
		rec.ProviderNotifyID = truncate(n.ID, 128)
		if done, err := h.svc.Store().NotificationApplied(ctx, ch.ID, n.ID); err == nil && done {
			h.record(ctx, rec, store.OutcomeDuplicate, "notification id seen before")
			h.ack(w, p, true, "")
			return
		}
	}

	o, err := h.findOrder(ctx, ch, n.Order)
	if errors.Is(err, store.ErrNotFound) && n.Kind == providers.NotifyRefund {
		// A refund notification may name only the refund (Supay's may
		// lack the original order's number): find the order through it.
		o, err = h.orderOfRefund(ctx, ch, n.Refund)
	}
	if err != nil {
		outcome, detail := store.OutcomeError, err.Error()
		if errors.Is(err, store.ErrNotFound) {
			// It may race the create; the provider will retry.
			outcome, detail = store.OutcomeUnknownOrder, "no such order on this channel"
		}
		h.record(ctx, rec, outcome, detail)
		h.ack(w, p, false, "unknown order")
		return
	}
	rec.OrderID = o.ID

	if !n.Hint && (n.Kind == providers.NotifyRefund && n.Refund.Unknown() || n.Kind != providers.NotifyRefund && n.Order.Unknown()) {
		// A status word the adapter does not know: no transition. The word
		// is recorded, the provider asked again soon, and the notification
		// not acknowledged (nothing was committed from it).
		word := n.Order.ProviderStatus
		if n.Kind == providers.NotifyRefund {
			word = n.Refund.ProviderStatus
		}
		poll := h.pollSoon(ctx, ch, n, rec)
		h.record(ctx, rec, store.OutcomeUnknownStatus, "provider status word unknown to the adapter: "+truncate(word, 64))
		if poll != nil {
			poll()
		}
		h.log.Warn("notification with an unknown status word", "channel", ch.ID, "order", o.ID, "word", truncate(word, 64))
		h.ack(w, p, false, "not applied")
		return
	}

	switch {
	case n.Hint:
		err = h.settleByQuery(ctx, o, n)
		if err == nil {
			h.record(ctx, rec, store.OutcomeQueried, "applied the provider's answer to a query")
		}
	case n.Kind == providers.NotifyRefund:
		// A refund the gateway does not know (made in the provider's
		// console) is recorded as an external refund.
		_, _, err = h.svc.ApplyRefundReport(ctx, o, n.Refund, orders.Source{Name: "notify", Inbox: rec})
	default:
		_, _, err = h.svc.ApplyOrderReport(ctx, o, n.Order, orders.Source{Name: "notify", Inbox: rec})
		if errors.Is(err, orders.ErrIncompleteReport) {
			// Paid, it says, but not how much: ask the provider instead,
			// whose answer must carry the amount to mark the order PAID.
			if err = h.settleByQuery(ctx, o, n); err == nil {
				h.record(ctx, rec, store.OutcomeQueried, "paid without amount and currency: applied the provider's answer to a query")
				h.ack(w, p, true, "")
				return
			}
		}
	}
	if errors.Is(err, orders.ErrNothingToRecord) {
		h.record(ctx, rec, store.OutcomeIgnored, err.Error())
		h.ack(w, p, true, "")
		return
	}
	if err != nil {
		outcome := store.OutcomeError
		switch {
		case errors.Is(err, orders.ErrMismatch), errors.Is(err, store.ErrOverRefund):
			outcome = store.OutcomeAmountMismatch
		case errors.Is(err, store.ErrNotFound):
			outcome = store.OutcomeUnknownOrder
		}
		h.record(ctx, rec, outcome, err.Error())
		h.log.Warn("notification not applied", "channel", ch.ID, "order", o.ID, "outcome", outcome, "err", err)
		h.ack(w, p, false, "not applied")
		return
	}
	if !n.Hint {
		h.count(ch.Kind, rec.Outcome) // recorded inside the transaction
	}
	h.ack(w, p, true, "")
}

// findOrder looks the order up by each number the notification gives.
func (h *Handler) findOrder(ctx context.Context, ch *orders.Channel, rep providers.OrderState) (*store.Order, error) {
	refs := []store.OrderRef{{OutTradeNo: rep.OutTradeNo}, {ProviderTradeNo: rep.ProviderTradeNo}, {TransactionID: rep.TransactionID}}
	for _, ref := range refs {
		if ref == (store.OrderRef{}) {
			continue
		}
		o, err := h.svc.Store().OrderOfChannel(ctx, ch.MerchantID, ch.ID, ref)
		if !errors.Is(err, store.ErrNotFound) {
			return o, err
		}
	}
	return nil, store.ErrNotFound
}

// orderOfRefund finds the channel's order through a refund the
// notification names by the merchant's refund number or the provider's.
func (h *Handler) orderOfRefund(ctx context.Context, ch *orders.Channel, rep providers.RefundState) (*store.Order, error) {
	rf, err := h.svc.Store().RefundOfChannel(ctx, ch.MerchantID, ch.ID, rep.OutRefundNo, rep.ProviderRefundNo)
	if err != nil {
		return nil, err
	}
	return h.svc.Store().OrderByID(ctx, rf.OrderID)
}

// settleByQuery applies the provider's answer to a query instead of an
// untrusted notification body.
func (h *Handler) settleByQuery(ctx context.Context, o *store.Order, n providers.Notification) error {
	if n.Kind == providers.NotifyRefund {
		rf, err := h.svc.Store().RefundOfOrder(ctx, o.ID, n.Refund.OutRefundNo, n.Refund.ProviderRefundNo)
		if errors.Is(err, store.ErrNotFound) {
			// Perhaps made in the provider's console: what the provider
			// confirms is recorded as an external refund.
			_, err = h.svc.QueryUnknownRefund(ctx, o, n.Refund.OutRefundNo, n.Refund.ProviderRefundNo)
			return err
		}
		if err != nil {
			return err
		}
		_, err = h.svc.RefreshRefund(ctx, rf)
		return err
	}
	_, err := h.svc.Refresh(ctx, o)
	return err
}

// pollSoon finds the order (or refund) an untrusted notification names,
// notes it on the inbox row, and returns what makes the poller ask the
// provider about it at once (nil when there is nothing to ask).
func (h *Handler) pollSoon(ctx context.Context, ch *orders.Channel, n providers.Notification, rec *store.Notification) func() {
	o, err := h.findOrder(ctx, ch, n.Order)
	if err != nil {
		return nil
	}
	rec.OrderID = o.ID
	st := h.svc.Store()
	if n.Kind == providers.NotifyRefund {
		rf, err := st.RefundOfOrder(ctx, o.ID, n.Refund.OutRefundNo, n.Refund.ProviderRefundNo)
		if err != nil || rf.Status != string(providers.RefundProcessing) {
			return nil
		}
		return func() {
			if err := st.PollRefundNow(context.WithoutCancel(ctx), rf.ID); err != nil {
				h.log.Warn("schedule refund poll after refused notification", "refund", rf.ID, "err", err)
			}
		}
	}
	if o.Status != string(providers.OrderPaying) {
		return nil
	}
	return func() {
		if err := st.PollNow(context.WithoutCancel(ctx), o.ID); err != nil {
			h.log.Warn("schedule poll after refused notification", "order", o.ID, "err", err)
		}
	}
}

// recordRefused records a notification refused before verification: a
// prefix of it, and only within the source's refusal rate.
func (h *Handler) recordRefused(ctx context.Context, rec *store.Notification, hdr http.Header, src, outcome, detail string) {
	if !h.refused.allow(src, time.Now()) {
		h.count(rec.Provider, store.OutcomeRateLimited)
		return
	}
	h.keepPrefix(rec, hdr)
	h.record(ctx, rec, outcome, detail)
}

// keepPrefix cuts the record to what a refused notification may keep.
func (h *Handler) keepPrefix(rec *store.Notification, hdr http.Header) {
	if len(rec.Body) > RefusedPrefix {
		rec.Body = rec.Body[:RefusedPrefix]
	}
	rec.Headers = headersPrefixJSON(hdr, RefusedPrefix)
}

func (h *Handler) record(ctx context.Context, rec *store.Notification, outcome, detail string) {
	rec.Outcome = outcome
	rec.Detail = truncate(detail, 500)
	// The request may be cancelled by now; the record must still land.
	if err := h.svc.Store().InsertNotification(context.WithoutCancel(ctx), rec); err != nil {
		h.log.Error("record notification", "channel", rec.ChannelID, "err", err)
	}
	h.count(rec.Provider, outcome)
}

func (h *Handler) count(provider, outcome string) {
	if h.Observe != nil {
		h.Observe(provider, outcome)
	}
}

func (h *Handler) ack(w http.ResponseWriter, p providers.Provider, ok bool, reason string) {
	a := p.NotifyAck(ok, reason)
	if a.ContentType != "" {
		w.Header().Set("Content-Type", a.ContentType)
	}
	status := a.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(a.Body)
}

func headersJSON(h http.Header) string {
	clean := make(map[string][]string, len(h))
	for k, v := range h {
		if redactedHeaders[http.CanonicalHeaderKey(k)] {
			clean[k] = []string{"[redacted]"}
			continue
		}
		clean[k] = v
	}
	b, _ := json.Marshal(clean)
	return string(b)
}

// headersPrefixJSON is headersJSON within about limit bytes: headers in
// name order, values cut to 128 bytes, the rest left out.
func headersPrefixJSON(h http.Header, limit int) string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	clean := map[string][]string{}
	size := 2
	for _, k := range names {
		v := "[redacted]"
		if !redactedHeaders[http.CanonicalHeaderKey(k)] && len(h[k]) > 0 {
			v = truncate(h[k][0], 128)
		}
		k = truncate(k, 64)
		if size += len(k) + len(v) + 8; size > limit {
			break
		}
		clean[k] = []string{v}
	}
	b, _ := json.Marshal(clean)
	return string(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
