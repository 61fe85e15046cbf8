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

// Handle processes one notification for channelID: rate limit, read,
// verify and parse (refuse), apply, acknowledge.
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
		ID: store.NotificationID(now), ChannelID: truncate(channelID, 64), Method: r.Method, Path: truncate(r.URL.RequestURI(), 512),
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
	if readErr != nil {
		h.recordRefused(ctx, rec, r.Header, src, store.OutcomeMalformed, "body: "+readErr.Error())
		h.ack(w, ch.Provider, false, "body too large or unreadable")
		return
	}
	n, err := ch.Provider.ParseNotify(ctx, r, body)
	if err != nil {
		h.refuse(ctx, ch, n, rec, r.Header, src, err)
		h.ack(w, ch.Provider, false, "refused")
		return
	}
	applied, reason := h.apply(ctx, ch, n, rec)
	h.ack(w, ch.Provider, applied, reason)
}

// outcomeOf names what an error did to a notification in the inbox;
// fallback is the outcome of an error that names none of these.
func outcomeOf(err error, fallback string) string {
	switch {
	case errors.Is(err, providers.ErrVerification):
		return store.OutcomeBadSignature
	case errors.Is(err, providers.ErrChannelMismatch):
		return store.OutcomeChannelMismatch
	case errors.Is(err, providers.ErrMalformed):
		return store.OutcomeMalformed
	case errors.Is(err, orders.ErrMismatch), errors.Is(err, store.ErrOverRefund):
		return store.OutcomeAmountMismatch
	case errors.Is(err, store.ErrNotFound):
		return store.OutcomeUnknownOrder
	default:
		return fallback
	}
}

// refuse records a notification the adapter refused. One verified for
// another account is kept whole; the others keep a prefix, within the
// source's refusal rate. An untrusted one that names an order makes the
// provider be asked about it soon.
func (h *Handler) refuse(ctx context.Context, ch *orders.Channel, n providers.Notification, rec *store.Notification, hdr http.Header, src string, err error) {
	outcome := outcomeOf(err, store.OutcomeMalformed)
	rec.Kind = string(n.Kind)
	switch {
	case outcome == store.OutcomeChannelMismatch:
		h.record(ctx, rec, outcome, err.Error())
	case h.refused.allow(src, time.Now()):
		var poll func() error
		if n.Hint && outcome == store.OutcomeBadSignature {
			// Not trusted, but it names an order: record which, and ask
			// the provider soon.
			rec.OrderID, poll = h.svc.PollSoon(ctx, ch, n)
		}
		h.keepPrefix(rec, hdr)
		h.record(ctx, rec, outcome, err.Error())
		h.pollNow(poll, rec)
	default:
		h.count(ch.Kind, store.OutcomeRateLimited)
	}
	h.log.Warn("notification refused", "channel", ch.ID, "outcome", outcome, "err", err)
}

// apply applies a verified (or hint) notification and says whether to
// acknowledge it, with the reason when not.
func (h *Handler) apply(ctx context.Context, ch *orders.Channel, n providers.Notification, rec *store.Notification) (bool, string) {
	rec.Kind = string(n.Kind)
	rec.Verified = !n.Hint
	if rec.Verified {
		// An id from an unverified body proves nothing: kept, it would make
		// the genuine notification with that id look like a duplicate.
		rec.ProviderNotifyID = truncate(n.ID, 128)
		if seen, err := h.svc.NotificationSeen(ctx, ch.ID, n.ID); err == nil && seen {
			h.record(ctx, rec, store.OutcomeDuplicate, "notification id seen before")
			return true, ""
		}
	}
	o, err := h.svc.OrderReported(ctx, ch, n)
	if err != nil {
		outcome, detail := outcomeOf(err, store.OutcomeError), err.Error()
		if outcome == store.OutcomeUnknownOrder {
			// It may race the create; the provider will retry.
			detail = "no such order on this channel"
		}
		h.record(ctx, rec, outcome, detail)
		return false, "unknown order"
	}
	rec.OrderID = o.ID
	if !n.Hint && (n.Kind == providers.NotifyRefund && n.Refund.Unknown() || n.Kind != providers.NotifyRefund && n.Order.Unknown()) {
		h.unknownWord(ctx, ch, o, n, rec)
		return false, "not applied"
	}
	queried, err := h.transition(ctx, o, n, rec)
	switch {
	case errors.Is(err, orders.ErrNothingToRecord):
		h.record(ctx, rec, store.OutcomeIgnored, err.Error())
		return true, ""
	case err != nil:
		outcome := outcomeOf(err, store.OutcomeError)
		h.record(ctx, rec, outcome, err.Error())
		h.log.Warn("notification not applied", "channel", ch.ID, "order", o.ID, "outcome", outcome, "err", err)
		return false, "not applied"
	case queried != "":
		h.record(ctx, rec, store.OutcomeQueried, queried)
	default:
		h.count(ch.Kind, rec.Outcome) // recorded inside the transaction
	}
	return true, ""
}

// transition applies what the notification says, or, for a hint or a
// payment without its amount, the provider's answer to a query (queried
// then says so for the inbox row).
func (h *Handler) transition(ctx context.Context, o *store.Order, n providers.Notification, rec *store.Notification) (queried string, err error) {
	src := orders.Source{Name: "notify", Inbox: rec}
	switch {
	case n.Hint:
		return "applied the provider's answer to a query", h.svc.SettleByQuery(ctx, o, n)
	case n.Kind == providers.NotifyRefund:
		// A refund the gateway does not know (made in the provider's
		// console) is recorded as an external refund.
		_, _, err = h.svc.ApplyRefundReport(ctx, o, n.Refund, src)
		return "", err
	}
	_, _, err = h.svc.ApplyOrderReport(ctx, o, n.Order, src)
	if errors.Is(err, orders.ErrIncompleteReport) {
		// Paid, it says, but not how much: ask the provider instead,
		// whose answer must carry the amount to mark the order PAID.
		return "paid without amount and currency: applied the provider's answer to a query", h.svc.SettleByQuery(ctx, o, n)
	}
	return "", err
}

// unknownWord records a notification whose status word the adapter does
// not know: no transition; the word is recorded, the provider asked again
// soon, and the notification not acknowledged (nothing was committed).
func (h *Handler) unknownWord(ctx context.Context, ch *orders.Channel, o *store.Order, n providers.Notification, rec *store.Notification) {
	word := n.Order.ProviderStatus
	if n.Kind == providers.NotifyRefund {
		word = n.Refund.ProviderStatus
	}
	_, poll := h.svc.PollSoon(ctx, ch, n)
	h.record(ctx, rec, store.OutcomeUnknownStatus, "provider status word unknown to the adapter: "+truncate(word, 64))
	h.pollNow(poll, rec)
	h.log.Warn("notification with an unknown status word", "channel", ch.ID, "order", o.ID, "word", truncate(word, 64))
}

// pollNow makes the poller ask about the notification's order now (after
// its inbox row is written); poll may be nil.
func (h *Handler) pollNow(poll func() error, rec *store.Notification) {
	if poll == nil {
		return
	}
	if err := poll(); err != nil {
		h.log.Warn("schedule a poll after a notification not applied", "order", rec.OrderID, "err", err)
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
	if err := h.svc.RecordNotification(context.WithoutCancel(ctx), rec); err != nil {
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
