package orders

import "time"

// Backstop is the default poll schedule of every PAYING order of a channel
// whose provider notifies: callbacks get lost, so the gateway asks anyway.
// After the last step it asks every 30 minutes until the order expires.
var Backstop = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute}

// Fast is the default poll schedule of channels the poller owns (no
// trusted callback, or poll: always); after the last step it asks every
// minute.
var Fast = []time.Duration{3 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute}

// RefundBackstop is the default poll schedule of refunds in PROCESSING on
// channels whose provider notifies refund results.
var RefundBackstop = []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}

// RefundFast is the default schedule of refunds the poller owns (no
// refund notification).
var RefundFast = []time.Duration{2 * time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, time.Hour}

// CloseRetry is how the poller retries closing an expired order whose
// close at the provider failed: it waits half the time the order has been
// expired, between Min and Max, and gives up once it has been expired for
// GiveUp.
type CloseRetry struct {
	Min, Max, GiveUp time.Duration
}

// DefaultCloseRetry: 1 minute at first, backing off to every 6 hours,
// giving up after 3 days (about 20 attempts in all).
var DefaultCloseRetry = CloseRetry{Min: time.Minute, Max: 6 * time.Hour, GiveUp: 72 * time.Hour}

// Schedules are the poll backoffs a Service uses: the wait before each
// poll, by the number of polls so far; the last step repeats.
type Schedules struct {
	Backstop   []time.Duration // PAYING orders of channels whose provider notifies
	Fast       []time.Duration // PAYING orders of channels the poller owns
	Refund     []time.Duration // refunds in PROCESSING, provider notifies refunds
	RefundFast []time.Duration // refunds in PROCESSING the poller owns
	CloseRetry CloseRetry      // expired orders whose close failed
}

// DefaultSchedules are Backstop, Fast, RefundBackstop, RefundFast and
// DefaultCloseRetry.
func DefaultSchedules() Schedules {
	return Schedules{Backstop: Backstop, Fast: Fast, Refund: RefundBackstop, RefundFast: RefundFast, CloseRetry: DefaultCloseRetry}
}

// SetSchedules replaces the poll schedules (tests shorten them); empty
// ones keep their default. Call it before the service is used.
func (s *Service) SetSchedules(sc Schedules) {
	def := DefaultSchedules()
	if len(sc.Backstop) == 0 {
		sc.Backstop = def.Backstop
	}
	if len(sc.Fast) == 0 {
		sc.Fast = def.Fast
	}
	if len(sc.Refund) == 0 {
		sc.Refund = def.Refund
	}
	if len(sc.RefundFast) == 0 {
		sc.RefundFast = def.RefundFast
	}
	if sc.CloseRetry == (CloseRetry{}) {
		sc.CloseRetry = def.CloseRetry
	}
	s.sched = sc
}

func delay(schedule []time.Duration, attempts int) time.Duration {
	if attempts < len(schedule) {
		return schedule[attempts]
	}
	return schedule[len(schedule)-1]
}

// NextOrderPoll is when a PAYING order is asked about next, after
// attempts polls: per the channel's schedule, never later than its expiry
// (when the poller closes it). poll: never leaves only the expiry.
func (s *Service) NextOrderPoll(ch *Channel, attempts int, now, expiresAt time.Time) time.Time {
	if ch.Poll == "never" {
		return expiresAt
	}
	schedule := s.sched.Backstop
	if ch.PollsFast() {
		schedule = s.sched.Fast
	}
	next := now.Add(delay(schedule, attempts))
	if next.After(expiresAt) {
		return expiresAt
	}
	return next
}

// NextCloseRetry is how long the poller waits before trying again to close
// an order expired for expiredFor whose close failed; false: give up.
func (s *Service) NextCloseRetry(expiredFor time.Duration) (time.Duration, bool) {
	r := s.sched.CloseRetry
	if expiredFor >= r.GiveUp {
		return 0, false
	}
	return min(max(expiredFor/2, r.Min), r.Max), true
}

// NextRefundPoll is when a PROCESSING refund of channel ch is asked about
// next: sooner when the provider sends no refund notification.
func (s *Service) NextRefundPoll(ch *Channel, attempts int, now time.Time) time.Time {
	if ch != nil && !ch.Caps.RefundNotify {
		return now.Add(delay(s.sched.RefundFast, attempts))
	}
	return now.Add(delay(s.sched.Refund, attempts))
}
