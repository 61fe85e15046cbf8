// Package orders holds the gateway's use cases: create, query, close and
// refund orders, and apply what a provider reports (by notification, poll
// or synchronous query) through one state machine whose every transition
// is a compare-and-set committed together with its merchant event.
package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// Channel is a configured channel bound to its provider adapter. The
// embedded providers.Channel is what the adapter was built from (its
// Timeout is how long one provider call may take).
type Channel struct {
	providers.Channel
	Poll     string // auto | always | never
	Provider providers.Provider
	Caps     providers.Capabilities
}

// PollsFast reports whether the poller owns the channel's orders: the
// provider sends no trusted notification or the config says always.
func (c *Channel) PollsFast() bool {
	return c.Poll == "always" || (c.Poll == "auto" && !c.Caps.Notify)
}

// Merchant is a configured merchant's webhook endpoint and time zone.
type Merchant struct {
	ID            string
	WebhookURL    string
	WebhookSecret string
	// Location is the merchant's time zone: the summary report's days.
	Location *time.Location
}

// Service runs the use cases.
type Service struct {
	st        *store.Store
	channels  map[string]*Channel
	merchants map[string]*Merchant
	now       func() time.Time
	log       *slog.Logger
	sched     Schedules
	// callMargin is added to a refund call's time budget to bound how long
	// it may still run at the provider after this side gave up.
	callMargin time.Duration
	// CheckNotifyURL, when set, vets a merchant's per-order notify_url at
	// create (scheme, literal addresses); the dispatcher checks again
	// where it connects.
	CheckNotifyURL func(merchantID, rawURL string) error
	// EventWritten is called after a commit that wrote merchant events, to
	// wake the dispatcher.
	EventWritten func()
	// Observe reports transitions for metrics: kind ("order"/"refund"),
	// the new status and where the news came from.
	Observe func(kind, status, source string)
}

// New builds the service.
func New(st *store.Store, merchants []*Merchant, channels []*Channel, log *slog.Logger) *Service {
	s := &Service{st: st, channels: map[string]*Channel{}, merchants: map[string]*Merchant{}, now: time.Now, log: log,
		sched: DefaultSchedules(), callMargin: RefundCallMargin}
	for _, m := range merchants {
		s.merchants[m.ID] = m
	}
	for _, c := range channels {
		s.channels[c.ID] = c
	}
	return s
}

// SaveConfig writes the configured merchants and channels to the store,
// which keys orders to them.
func (s *Service) SaveConfig(ctx context.Context) error {
	var merchants []store.Merchant
	for _, m := range s.merchants {
		merchants = append(merchants, store.Merchant{ID: m.ID})
	}
	var channels []store.Channel
	for _, c := range s.channels {
		channels = append(channels, store.Channel{ID: c.ID, MerchantID: c.MerchantID, Provider: c.Kind, Currency: c.Currency})
	}
	return s.st.SyncConfig(ctx, merchants, channels)
}

// Channel returns a channel by id.
func (s *Service) Channel(id string) (*Channel, bool) {
	c, ok := s.channels[id]
	return c, ok
}

// Channels lists the channels, sorted by id.
func (s *Service) Channels() []*Channel {
	out := make([]*Channel, 0, len(s.channels))
	for _, c := range s.channels {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Merchant returns a merchant by id.
func (s *Service) Merchant(id string) (*Merchant, bool) {
	m, ok := s.merchants[id]
	return m, ok
}

func (s *Service) channelOf(o *store.Order) (*Channel, error) {
	c, ok := s.channels[o.ChannelID]
	if !ok {
		return nil, fmt.Errorf("order %s: channel %s is no longer configured", o.ID, o.ChannelID)
	}
	return c, nil
}

func (s *Service) observe(kind, status, source string) {
	if s.Observe != nil {
		s.Observe(kind, status, source)
	}
}

func (s *Service) eventsWritten() {
	if s.EventWritten != nil {
		s.EventWritten()
	}
}

// enqueue writes a merchant event in tx. data is what the API shows of
// the order or refund. An order's event carries its sequence number (the
// order's events counted from 1) and the order's status now, after the
// change it reports, so a merchant can tell a stale event from the last
// word; the dispatcher sends one order's events in that sequence. seq and
// orderStatus are those, when the caller has them from the order's own
// update (UpdateOrderForEvent); with seq 0 they are looked up here.
func (s *Service) enqueue(ctx context.Context, tx *store.Store, merchantID, typ, dedupe, url, orderID, refundID string, data any, seq int64, orderStatus string) error {
	e, err := s.newEvent(ctx, tx, merchantID, typ, dedupe, url, orderID, refundID, data, seq, orderStatus)
	if err != nil || e == nil {
		return err
	}
	return s.eventWritten(tx.InsertEvent(ctx, e), e)
}

// newEvent is the merchant event enqueue writes, or nil when the merchant
// asked for no webhooks.
func (s *Service) newEvent(ctx context.Context, tx *store.Store, merchantID, typ, dedupe, url, orderID, refundID string, data any, seq int64, orderStatus string) (*store.MerchantEvent, error) {
	if url == "" {
		m, ok := s.merchants[merchantID]
		if !ok || m.WebhookURL == "" {
			return nil, nil // the merchant asked for no webhooks
		}
		url = m.WebhookURL
	}
	if orderID != "" && seq == 0 {
		var err error
		if seq, orderStatus, err = tx.NextEventSequence(ctx, orderID); err != nil {
			return nil, fmt.Errorf("number the %s event of order %s: %w", typ, orderID, err)
		}
	}
	id := store.NewID("evt")
	now := s.now().UTC()
	payload, err := json.Marshal(EventPayload{ID: id, Type: typ, CreatedAt: now.Truncate(time.Second), Sequence: seq, OrderStatus: orderStatus, Data: data})
	if err != nil {
		return nil, err
	}
	return &store.MerchantEvent{
		ID: id, MerchantID: merchantID, DedupeKey: typ + ":" + dedupe, Type: typ,
		OrderID: orderID, Sequence: seq, RefundID: refundID, URL: url, Payload: payload,
		Status: store.EventPending, NextTryAt: store.DueNow(), CreatedAt: now, UpdatedAt: now,
	}, nil
}

// eventWritten is what becomes of an insert of e that returned err.
func (s *Service) eventWritten(err error, e *store.MerchantEvent) error {
	if errors.Is(err, store.ErrDuplicate) {
		s.duplicateEvent(e)
		return nil
	}
	return err
}

// duplicateEvent notes an event that was not written because one with
// its dedupe key was there: the transition was already reported; the
// compare-and-set makes this unreachable, the unique key makes it
// harmless.
func (s *Service) duplicateEvent(e *store.MerchantEvent) {
	s.log.Warn("merchant event already exists", "type", e.Type, "key", e.DedupeKey)
}

// EventPayload is the body of a merchant webhook.
type EventPayload struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	// Sequence counts the order's events from 1; OrderStatus is the
	// order's status when the event was made. Absent on events about no
	// order.
	Sequence    int64  `json:"sequence,omitempty"`
	OrderStatus string `json:"order_status,omitempty"`
	Data        any    `json:"data"`
}
