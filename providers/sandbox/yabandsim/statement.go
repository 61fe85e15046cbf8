package yabandsim

import (
	"fmt"
	"strconv"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// tradebill answers v3.GetTradebill with command getTradebillinfo and a
// period (start_time, end_time in Unix seconds, inclusive): the account's
// settled payments (by paid time) and refunds (by creation), as
// {"tradebillinfo": [...]}. The item shape is the simulator's reading of
// an undocumented answer (docs/providers/yaband.md, UNCONFIRMED); the
// "commond" spelling of the Chinese page is accepted too.
func (s *Sim) tradebill(acct *account, data map[string]string) (any, *failure) {
	cmd := data["command"]
	if cmd == "" {
		cmd = data["commond"]
	}
	switch {
	case cmd == "getTradebill":
		return nil, fail("400", "sandbox: clearing reports (getTradebill) are not simulated; use getTradebillinfo with start_time/end_time")
	case cmd != "getTradebillinfo" && cmd != "getTradebillInfo":
		return nil, fail("400", "command must be getTradebill or getTradebillinfo")
	case data["nonce_string"] == "" || len(data["nonce_string"]) > 32:
		return nil, fail("400", "nonce_string is required (at most 32 characters)")
	case data["clearing_id"] != "":
		return nil, fail("400", "sandbox: clearing_id is not simulated; use start_time/end_time")
	}
	from, err1 := strconv.ParseInt(data["start_time"], 10, 64)
	to, err2 := strconv.ParseInt(data["end_time"], 10, 64)
	if err1 != nil || err2 != nil || to < from || to-from > 366*24*3600 {
		return nil, fail("400", "start_time and end_time are Unix seconds, at most one year apart")
	}
	in := func(t time.Time) bool { return !t.IsZero() && t.Unix() >= from && t.Unix() <= to }
	s.mu.Lock()
	defer s.mu.Unlock()
	items := []map[string]string{}
	for _, t := range s.trades {
		if t.acct != acct || !in(t.paidAt) || (t.state != "paid" && t.state != "refunded") {
			continue
		}
		items = append(items, map[string]string{
			"type": "payment", "trade_id": t.tradeID, "order_id": t.orderID, "transaction_id": t.transactionID,
			"amount": providers.FormatMinor(t.amount.Minor, t.amount.Currency), "currency": t.amount.Currency,
			"state": "paid", "time": strconv.FormatInt(t.paidAt.Unix(), 10), "merchant_cost": "0.10",
		})
		for _, rf := range t.refunds {
			if !in(rf.createdAt) {
				continue
			}
			items = append(items, map[string]string{
				"type": "refund", "trade_id": t.tradeID, "order_id": t.orderID, "refund_id": rf.refundID, "m_refund_id": rf.mRefundID,
				"amount": providers.FormatMinor(rf.amount.Minor, rf.amount.Currency), "currency": rf.amount.Currency,
				"state": rf.state, "time": strconv.FormatInt(rf.createdAt.Unix(), 10),
			})
		}
	}
	return map[string]any{"tradebillinfo": items}, nil
}

// AlterOrder implements sandbox.BookEditor.
func (s *Sim) AlterOrder(channelID, outTradeNo string, change sandbox.BookChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.byChannel[channelID]
	if acct == nil || s.orders[acct.user+"\x00"+outTradeNo] == nil {
		return fmt.Errorf("%w: %s/%s", sandbox.ErrNotFound, channelID, outTradeNo)
	}
	t := s.orders[acct.user+"\x00"+outTradeNo]
	if change.Forget {
		delete(s.orders, acct.user+"\x00"+outTradeNo)
		delete(s.trades, t.tradeID)
		for _, rf := range t.refunds {
			delete(s.refunds, rf.refundID)
		}
		return nil
	}
	if change.AmountMinor > 0 {
		t.amount.Minor = change.AmountMinor
	}
	return nil
}
