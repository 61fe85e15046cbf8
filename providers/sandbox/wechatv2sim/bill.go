package wechatv2sim

import (
	"fmt"
	"io"
	"net/http"
	"regexp"

	"github.com/paygate/paygate/providers/sandbox"
	"github.com/paygate/paygate/providers/sandbox/sandboxbill"
)

// PathDownloadBill serves trade bills from the simulator's order book.
const PathDownloadBill = "/pay/downloadbill"

var billDate = regexp.MustCompile(`^\d{8}$`)

// downloadBill answers POST /pay/downloadbill: the day's bill (payments by
// time_end, refunds by when they were accepted, Beijing time), gzipped when
// tar_type=GZIP, or an unsigned XML failure. Unlike WeChat, today's bill is
// served at once (the sandbox has no 09:00 batch); SetStatementReady(false)
// makes it answer Bill Creating instead.
func (s *Simulator) downloadBill(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		billFail(w, "请使用post方法", "")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		billFail(w, "读取请求失败", "")
		return
	}
	req, err := readDoc(body)
	if err != nil {
		billFail(w, "data format error", "20001")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byAccount[req["mch_id"]+"|"+req["sub_mch_id"]]
	switch {
	case a == nil:
		billFail(w, "mch_id或sub_mch_id不存在", "")
		return
	case !checkSignature(req, a.apiKey):
		billFail(w, "SIGN ERROR", "")
		return
	case req["appid"] != a.appID:
		billFail(w, "appid和mch_id不匹配", "")
		return
	case req["nonce_str"] == "" || req["bill_date"] == "":
		billFail(w, "missing parameter", "")
		return
	case !billDate.MatchString(req["bill_date"]):
		billFail(w, "invalid bill_date", "20001")
		return
	}
	day := req["bill_date"]
	if _, err := sandboxbill.ParseDay("20060102", day); err != nil || day > sandboxbill.Today(s.env.Now()) {
		billFail(w, "invalid bill_date", "20001")
		return
	}
	billType := req["bill_type"]
	switch billType {
	case "":
		billType = "ALL"
	case "ALL", "SUCCESS", "REFUND":
	default:
		billFail(w, "invalid bill_type", "20001")
		return
	}
	if tt := req["tar_type"]; tt != "" && tt != "GZIP" {
		billFail(w, "invalid tar_type", "20001")
		return
	}
	if s.billHeld[a.id] {
		billFail(w, "Bill Creating", "20003")
		return
	}
	lines := a.billLines(day, billType)
	if len(lines) == 0 {
		billFail(w, "No Bill Exist", "20002")
		return
	}
	bill := sandboxbill.Write(lines)
	if req["tar_type"] == "GZIP" {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(sandboxbill.Gzip(bill))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(bill)
}

// billFail writes downloadbill's XML failure (unsigned).
func billFail(w http.ResponseWriter, msg, code string) {
	doc := map[string]string{"return_code": "FAIL", "return_msg": msg}
	if code != "" {
		doc["error_code"] = code
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(writeDoc("xml", doc, false))
}

func (a *account) billLines(day, billType string) []sandboxbill.Line {
	var out []sandboxbill.Line
	for _, o := range a.orders {
		base := sandboxbill.Line{
			AppID: o.AppID, MchID: a.mchID, SubMchID: a.subMchID, TransactionID: o.TransactionID,
			OutTradeNo: o.OutTradeNo, OpenID: o.OpenID + o.SubOpenID, Body: o.Body, Currency: o.FeeType,
		}
		if o.TransactionID != "" && billType != "REFUND" && sandboxbill.OnDay(o.TimeEnd, day) {
			l := base
			l.Time, l.AmountFen = o.TimeEnd, o.TotalFee
			out = append(out, l)
		}
		if billType == "SUCCESS" {
			continue
		}
		for _, rf := range o.Refunds {
			if sandboxbill.OnDay(rf.AcceptedAt, day) {
				l := base
				l.Refund, l.Time, l.AmountFen = true, rf.AcceptedAt, rf.RefundFee
				l.RefundID, l.OutRefundNo, l.RefundStatus = rf.RefundID, rf.OutRefundNo, rf.Status
				out = append(out, l)
			}
		}
	}
	return out
}

// AlterOrder implements sandbox.BookEditor.
func (s *Simulator) AlterOrder(channelID, outTradeNo string, change sandbox.BookChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byID[channelID]
	if a == nil || a.orders[outTradeNo] == nil {
		return fmt.Errorf("%w: %s/%s", sandbox.ErrNotFound, channelID, outTradeNo)
	}
	o := a.orders[outTradeNo]
	if change.Forget {
		delete(a.orders, outTradeNo)
		delete(a.byTxn, o.TransactionID)
		for _, rf := range o.Refunds {
			delete(a.refunds, rf.OutRefundNo)
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
	if s.billHeld == nil {
		s.billHeld = map[string]bool{}
	}
	s.billHeld[channelID] = !ready
	return nil
}
