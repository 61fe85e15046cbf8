package store

import "time"

// Merchant mirrors a configured merchant so orders can reference it.
type Merchant struct {
	ID        string `gorm:"primaryKey;size:64"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Channel mirrors a configured channel (no secrets are stored).
type Channel struct {
	ID         string `gorm:"primaryKey;size:64"`
	MerchantID string `gorm:"size:64;not null"`
	Provider   string `gorm:"size:32;not null"`
	Currency   string `gorm:"size:3;not null"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Order is one unified order with its three numbers: the merchant's
// (OutTradeNo), the acquirer's (ProviderTradeNo) and WeChat's
// (TransactionID). Money is integer minor units of Currency.
type Order struct {
	ID         string `gorm:"primaryKey;size:32;index:ix_orders_merchant_created_id,priority:3"`
	MerchantID string `gorm:"size:64;not null;uniqueIndex:ux_orders_merchant_out,priority:1;index:ix_orders_merchant_created_id,priority:1"`
	ChannelID  string `gorm:"size:64;not null;uniqueIndex:ux_orders_ptn,priority:2,where:provider_trade_no IS NOT NULL"`
	Provider   string `gorm:"size:32;not null"`
	OutTradeNo string `gorm:"size:64;not null;uniqueIndex:ux_orders_merchant_out,priority:2"`
	// ux_orders_ptn (provider_trade_no, channel_id): unique per channel,
	// and its first column serves lookups without the channel. This index
	// and ux_orders_txn hold only the orders that have the number (an
	// order gets it when paid): creating an order writes neither, paying
	// it inserts into each without first deleting an entry for NULL. A
	// lookup by number (= ?) implies IS NOT NULL on both databases.
	ProviderTradeNo *string `gorm:"size:128;uniqueIndex:ux_orders_ptn,priority:1,where:provider_trade_no IS NOT NULL"`
	TransactionID   *string `gorm:"size:64;uniqueIndex:ux_orders_txn,where:transaction_id IS NOT NULL"`

	AmountMinor        int64  `gorm:"not null"`
	Currency           string `gorm:"size:3;not null"`
	RefundedMinor      int64  `gorm:"not null;default:0"`
	RefundPendingMinor int64  `gorm:"not null;default:0"` // reserved by refunds in PROCESSING
	Status             string `gorm:"size:16;not null"`
	// ProviderStatus is the provider's own word in its last report
	// (kept whole when the adapter does not know it).
	ProviderStatus string `gorm:"size:64"`

	Description string `gorm:"size:256"`
	PayMethod   string `gorm:"size:32"`
	PayerOpenID string `gorm:"size:128"`
	PayerAppID  string `gorm:"size:64"`
	ClientIP    string `gorm:"size:64"`
	NotifyURL   string `gorm:"size:512"` // merchant webhook override for this order
	ReturnURL   string `gorm:"size:512"`
	Metadata    string `gorm:"type:text"` // JSON object as received
	PayParams   string `gorm:"type:text"` // JSON object for wx.requestPayment
	PayURL      string `gorm:"size:1024"`
	RequestHash string `gorm:"size:64;not null"` // idempotency: the create body's hash

	ExpiresAt time.Time `gorm:"not null"`
	PaidAt    *time.Time
	ClosedAt  *time.Time

	// NextPollAt and LeaseUntil are on the database's clock (DBTime).
	// ix_orders_next_poll holds only the orders still to be polled: a
	// paid or closed order leaves it (NULL) and costs it nothing more.
	NextPollAt   *DBTime `gorm:"column:next_poll_ms;type:bigint;index:ix_orders_next_poll,where:next_poll_ms IS NOT NULL"`
	PollAttempts int     `gorm:"not null;default:0"`
	// PollRequested: something asked for a poll at once (PollNow) while
	// a poll may have been running; the poll's end then keeps it due.
	PollRequested bool    `gorm:"not null;default:false"`
	LeaseUntil    *DBTime `gorm:"column:lease_until_ms;type:bigint"`
	LeaseToken    string  `gorm:"size:64"`

	Version int64 `gorm:"not null;default:1"`
	// ix_orders_merchant_created_id (merchant_id, created_at, id) serves the
	// finance API's keyset paging and export without a sort.
	CreatedAt time.Time `gorm:"not null;index:ix_orders_merchant_created_id,priority:2"`
	UpdatedAt time.Time `gorm:"not null"`
}

// Refund is one (partial) refund of an order.
type Refund struct {
	ID               string     `gorm:"primaryKey;size:32"`
	OrderID          string     `gorm:"size:32;not null;index"`
	MerchantID       string     `gorm:"size:64;not null;uniqueIndex:ux_refunds_merchant_out,priority:1"`
	ChannelID        string     `gorm:"size:64;not null"`
	OutRefundNo      string     `gorm:"size:64;not null;uniqueIndex:ux_refunds_merchant_out,priority:2"`
	ProviderRefundNo string     `gorm:"size:128"`
	AmountMinor      int64      `gorm:"not null"`
	Currency         string     `gorm:"size:3;not null"`
	Reason           string     `gorm:"size:256"`
	Status           string     `gorm:"size:16;not null"`
	ProviderStatus   string     `gorm:"size:64"`
	FailureReason    string     `gorm:"size:256"`
	RequestHash      string     `gorm:"size:64;not null"`
	SubmittedAt      *time.Time // the provider accepted the request
	SucceededAt      *time.Time
	// CallUntil: a provider call for this refund started and may still be
	// running (at the provider, even after this side gave up) until then,
	// on the database's clock. Nothing queries-then-resubmits or re-sends
	// the refund before it.
	CallUntil *DBTime `gorm:"column:call_until_ms;type:bigint"`
	// External: made outside the gateway (in the provider's console) and
	// learned from the provider's notification or answer.
	External bool `gorm:"not null;default:false"`

	// NextPollAt and LeaseUntil are on the database's clock (DBTime).
	NextPollAt   *DBTime `gorm:"column:next_poll_ms;type:bigint;index:ix_refunds_next_poll,where:next_poll_ms IS NOT NULL"`
	PollAttempts int     `gorm:"not null;default:0"`
	// PollRequested: something asked for a poll at once (PollNow) while
	// a poll may have been running; the poll's end then keeps it due.
	PollRequested bool    `gorm:"not null;default:false"`
	LeaseUntil    *DBTime `gorm:"column:lease_until_ms;type:bigint"`
	LeaseToken    string  `gorm:"size:64"`

	Version   int64     `gorm:"not null;default:1"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`

	Order *Order `gorm:"foreignKey:OrderID;constraint:OnDelete:RESTRICT"`
}

// Notification is one inbound provider webhook exactly as received
// (headers redacted of credentials), verified or not, and what came of it.
type Notification struct {
	ID        string `gorm:"primaryKey;size:32"`
	ChannelID string `gorm:"size:64;not null;index:ix_notifications_channel_received,priority:1;index:ix_notifications_pid,priority:1,where:provider_notify_id <> ''"`
	Provider  string `gorm:"size:32"`
	// ix_notifications_pid holds only the notifications that carry the
	// provider's id (WeChat v3, VR Payment): v2's have none.
	ProviderNotifyID string `gorm:"size:128;index:ix_notifications_pid,priority:2"`
	Method           string `gorm:"size:8"`
	Path             string `gorm:"size:512"`
	Headers          string `gorm:"type:text"` // JSON
	Body             []byte
	RemoteAddr       string `gorm:"size:64"`
	Verified         bool
	Kind             string `gorm:"size:16"` // payment | refund
	OrderID          string `gorm:"size:32"`
	Outcome          string `gorm:"size:32;not null"`
	Detail           string `gorm:"size:512"`
	// The retention purge reads the oldest rows by id (NotificationID).
	ReceivedAt time.Time `gorm:"not null;index:ix_notifications_channel_received,priority:2"`
}

// Notification outcomes.
const (
	OutcomeApplied         = "applied"           // changed the state
	OutcomeDuplicate       = "duplicate"         // verified, state already there
	OutcomeQueried         = "queried"           // a hint: the provider was asked and its answer applied
	OutcomeIgnored         = "ignored"           // verified, moves no money the gateway knows of (a failed refund made elsewhere)
	OutcomeBadSignature    = "refused_signature" // verification failed
	OutcomeMalformed       = "refused_malformed"
	OutcomeChannelMismatch = "refused_channel"
	OutcomeAmountMismatch  = "refused_amount"
	OutcomeUnknownOrder    = "unknown_order"
	OutcomeUnknownChannel  = "unknown_channel"
	OutcomeUnknownStatus   = "unknown_status" // verified, a status word the adapter does not know: no transition
	OutcomeRateLimited     = "rate_limited"
	OutcomeError           = "error" // our side failed; the provider will retry
)

// MerchantEvent is the outbox: an event for the merchant's backend,
// written in the same transaction as the state change it reports.
type MerchantEvent struct {
	ID         string `gorm:"primaryKey;size:32"`
	MerchantID string `gorm:"size:64;not null;index:ix_events_merchant_status,priority:1"`
	// DedupeKey makes a second event for the same transition impossible,
	// e.g. "order.paid:ord_...".
	DedupeKey string `gorm:"size:128;not null;uniqueIndex"`
	Type      string `gorm:"size:32;not null"`
	OrderID   string `gorm:"size:32;uniqueIndex:ux_events_order_sequence,priority:1,where:sequence > 0"`
	// Sequence numbers one order's events from 1 (0: an event of no
	// order). The dispatcher sends an order's events in this order: one
	// waits while an earlier one is pending.
	Sequence int64  `gorm:"not null;default:0;uniqueIndex:ux_events_order_sequence,priority:2,where:sequence > 0"`
	RefundID string `gorm:"size:32"`
	URL      string `gorm:"size:512;not null"`
	Payload  []byte `gorm:"not null"` // the exact body sent, frozen at creation
	// Due events are found by ix_events_due, which holds only the pending
	// ones: an event delivered or given up leaves it (its index entry is
	// deleted, none written). NextTryAt and LeaseUntil are on the
	// database's clock (DBTime).
	Status      string  `gorm:"size:16;not null;index:ix_events_merchant_status,priority:2"`
	Attempts    int     `gorm:"not null;default:0"`
	NextTryAt   DBTime  `gorm:"column:next_try_ms;type:bigint;not null;default:0;index:ix_events_due,where:status = 'pending'"`
	LeaseUntil  *DBTime `gorm:"column:lease_until_ms;type:bigint"`
	LeaseToken  string  `gorm:"size:64"`
	LastError   string  `gorm:"size:512"`
	DeliveredAt *time.Time
	CreatedAt   time.Time `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null"`
}

// Event statuses.
const (
	EventPending   = "pending"
	EventDelivered = "delivered"
	EventFailed    = "failed" // gave up after the whole schedule
)

// EventAttempt is one delivery attempt of a merchant event.
type EventAttempt struct {
	ID         string `gorm:"primaryKey;size:32"`
	EventID    string `gorm:"size:32;not null;index"`
	StatusCode int    // 0 when no answer arrived
	Error      string `gorm:"size:512"`
	LatencyMS  int64
	At         time.Time `gorm:"not null"`
}
