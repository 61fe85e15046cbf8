package orders

import "time"

// Backstop is the poll schedule of every PAYING order of a channel whose
// provider notifies: callbacks get lost, so the gateway asks anyway.
// After the last step it asks every 30 minutes until the order expires.
var Backstop = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute}

// Fast is the poll schedule of channels the poller owns (no trusted
// callback, or poll: always); after the last step it asks every minute.
var Fast = []time.Duration{3 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute}

// RefundBackstop is the poll schedule of refunds in PROCESSING on
// channels whose provider notifies refund results.
var RefundBackstop = []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}

// RefundFast is the schedule of refunds the poller owns (no refund
// notification).
var RefundFast = []time.Duration{2 * time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, time.Hour}

func delay(schedule []time.Duration, attempts int) time.Duration {
	if attempts < len(schedule) {
		return schedule[attempts]
	}
	return schedule[len(schedule)-1]
}

// NextOrderPoll is when a PAYING order is asked about next, after
// attempts polls: per the channel's schedule, never later than its expiry
// (when the poller closes it). poll: never leaves only the expiry.
func NextOrderPoll(ch *Channel, attempts int, now, expiresAt time.Time) time.Time {
	if ch.Poll == "never" {
		return expiresAt
	}
	schedule := Backstop
	if ch.PollsFast() {
		schedule = Fast
	}
	next := now.Add(delay(schedule, attempts))
	if next.After(expiresAt) {
		return expiresAt
	}
	return next
}

// NextRefundPoll is when a PROCESSING refund is asked about next.
func NextRefundPoll(ch *Channel, attempts int, now time.Time) time.Time {
	if ch != nil && !ch.Caps.RefundNotify {
		return now.Add(delay(RefundFast, attempts))
	}
	return now.Add(delay(RefundBackstop, attempts))
}
