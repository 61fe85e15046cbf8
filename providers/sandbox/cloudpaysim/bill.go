package cloudpaysim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/paygate/paygate/providers/sandbox"
	"github.com/paygate/paygate/providers/sandbox/sandboxbill"
)

var billDate = regexp.MustCompile(`^\d{8}$`)

// downloadBill answers POST /_/pay/downloadbill {bill_date, bill_type,
// sub_mch_id} (wechatpay.md §10.3): the whole envelope, with respdata the
// bill text (a JSON string) or, when there is none, the v2 failure object.
func (s *Simulator) downloadBill(in map[string]json.RawMessage) map[string]any {
	envelope := func(respdata any) map[string]any {
		return map[string]any{"errcode": 0, "errmsg": "ok", "respdata": respdata}
	}
	fail := func(msg, code string) map[string]any {
		v := map[string]any{"return_code": "FAIL", "return_msg": msg}
		if code != "" {
			v["error_code"] = code
		}
		return envelope(v)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.bySubM[str(in, "sub_mch_id")]
	switch {
	case str(in, "sub_mch_id") == "":
		return fail("受理机构必须传入sub_mch_id", "")
	case !ok:
		return fail("受理关系不存在", "")
	}
	day := str(in, "bill_date")
	if _, err := time.ParseInLocation("20060102", day, beijing); err != nil || !billDate.MatchString(day) || day > sandboxbill.Today(s.env.Now()) {
		return fail("invalid bill_date", "20001")
	}
	billType := str(in, "bill_type")
	switch billType {
	case "":
		billType = "ALL"
	case "ALL", "SUCCESS", "REFUND":
	default:
		return fail("invalid bill_type", "20001")
	}
	if s.held[c.id] {
		return fail("Bill Creating", "20003")
	}
	var lines []sandboxbill.Line
	for _, o := range c.orders {
		base := sandboxbill.Line{AppID: c.subAppID, MchID: cloudMchID, SubMchID: c.subMchID, TransactionID: o.TransactionID,
			OutTradeNo: o.OutTradeNo, OpenID: o.OpenID, Body: o.Body, Currency: "CNY"}
		if t, err := time.ParseInLocation("20060102150405", o.TimeEnd, beijing); err == nil && billType != "REFUND" && sandboxbill.OnDay(t, day) {
			l := base
			l.Time, l.AmountFen = t, o.TotalFee
			lines = append(lines, l)
		}
	}
	if billType != "SUCCESS" {
		for _, rf := range c.refunds {
			if sandboxbill.OnDay(rf.AcceptedAt, day) {
				o := rf.Order
				lines = append(lines, sandboxbill.Line{AppID: c.subAppID, MchID: cloudMchID, SubMchID: c.subMchID, TransactionID: o.TransactionID,
					OutTradeNo: o.OutTradeNo, OpenID: o.OpenID, Body: o.Body, Currency: "CNY", Refund: true, Time: rf.AcceptedAt,
					AmountFen: rf.Fee, RefundID: rf.RefundID, OutRefundNo: rf.OutRefundNo, RefundStatus: rf.Status})
			}
		}
	}
	if len(lines) == 0 {
		return fail("No Bill Exist", "20002")
	}
	return envelope(string(sandboxbill.Write(lines)))
}

// AlterOrder implements sandbox.BookEditor.
func (s *Simulator) AlterOrder(channelID, outTradeNo string, change sandbox.BookChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byID[channelID]
	if c == nil || c.orders[outTradeNo] == nil {
		return fmt.Errorf("%w: %s/%s", sandbox.ErrNotFound, channelID, outTradeNo)
	}
	o := c.orders[outTradeNo]
	if change.Forget {
		delete(c.orders, outTradeNo)
		delete(c.byTxID, o.TransactionID)
		for no, rf := range c.refunds {
			if rf.Order == o {
				delete(c.refunds, no)
			}
		}
		return nil
	}
	if change.AmountMinor > 0 {
		o.TotalFee = change.AmountMinor
	}
	return nil
}

// SetStatementReady implements sandbox.StatementControl.
func (s *Simulator) SetStatementReady(channelID string, ready bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID[channelID] == nil {
		return fmt.Errorf("%w: channel %q", sandbox.ErrNotFound, channelID)
	}
	if s.held == nil {
		s.held = map[string]bool{}
	}
	s.held[channelID] = !ready
	return nil
}
