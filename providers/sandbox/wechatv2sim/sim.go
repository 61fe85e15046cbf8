// Package wechatv2sim simulates WeChat Pay API v2 (kind wechat_v2) for
// the sandbox: /pay/unifiedorder, /pay/orderquery, /pay/closeorder,
// /secapi/pay/refund and /pay/refundquery, XML in and out, with its own
// MD5/HMAC-SHA256 signing and AES-256-ECB req_info code. It keeps an order
// book per channel (mch_id [+ sub_mch_id]), answers WeChat's error codes,
// sends signed pay notifications and encrypted refund notifications.
package wechatv2sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// Kind is the simulated provider kind.
const Kind = "wechat_v2"

// RefundDelay is how long an accepted refund stays PROCESSING before it
// succeeds and its notification is sent.
var RefundDelay = 50 * time.Millisecond

var cst = time.FixedZone("UTC+8", 8*60*60)

func init() {
	sandbox.Register(Kind, func(env sandbox.Env) sandbox.Simulator { return New(env) })
}

// Simulator is the WeChat Pay v2 simulator.
type Simulator struct {
	env sandbox.Env

	mu        sync.Mutex
	byID      map[string]*account
	byAccount map[string]*account // mch_id "|" sub_mch_id
	seq       int
	billHeld  map[string]bool // channel id -> downloadbill answers Bill Creating
}

// account is one channel's merchant (or sub-merchant) at WeChat.
type account struct {
	id, appID, mchID, apiKey, subMchID, subAppID, notifyURL string

	orders  map[string]*order // by out_trade_no
	byTxn   map[string]*order
	refunds map[string]*refund // by out_refund_no
	inject  map[string]string  // path -> err_code for the next call
}

type order struct {
	OutTradeNo, Body, FeeType, PrepayID, TransactionID, TradeState string
	TotalFee                                                       int64
	AppID, SubAppID, OpenID, SubOpenID                             string
	NotifyURL, SpbillCreateIP, TimeExpire, SignType                string
	TimeEnd                                                        time.Time
	Refunded                                                       int64
	Refunds                                                        []*refund
}

type refund struct {
	OutRefundNo, RefundID, Status, NotifyURL, SignType string
	RefundFee                                          int64
	AcceptedAt, SuccessTime                            time.Time
	order                                              *order
	// Source is refund_request_source: API, or VENDOR_PLATFORM for a
	// refund made in the merchant platform.
	Source string
}

// New builds a simulator.
func New(env sandbox.Env) *Simulator {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Client == nil {
		env.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Simulator{env: env, byID: map[string]*account{}, byAccount: map[string]*account{}}
}

// Kind implements sandbox.Simulator.
func (s *Simulator) Kind() string { return Kind }

// AddChannel registers a channel's merchant account.
func (s *Simulator) AddChannel(ch providers.Channel) error {
	p := ch.Params
	a := &account{
		id: ch.ID, appID: p.String("appid"), mchID: p.String("mch_id"), apiKey: p.String("api_key"),
		subMchID: p.String("sub_mch_id"), subAppID: p.String("sub_appid"), notifyURL: ch.NotifyURL,
		orders: map[string]*order{}, byTxn: map[string]*order{}, refunds: map[string]*refund{}, inject: map[string]string{},
	}
	if a.appID == "" || a.mchID == "" || a.apiKey == "" {
		return errors.New("wechat_v2 sandbox needs params appid, mch_id and api_key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := a.mchID + "|" + a.subMchID
	if other, dup := s.byAccount[key]; dup && other.id != ch.ID {
		return fmt.Errorf("mch_id %s (sub_mch_id %q) is already channel %s", a.mchID, a.subMchID, other.id)
	}
	s.byID[ch.ID] = a
	s.byAccount[key] = a
	return nil
}

// InjectError makes the next call of path (e.g. "/pay/orderquery") on a
// channel answer result_code FAIL with errCode (SYSTEMERROR, ...).
func (s *Simulator) InjectError(channelID, path, errCode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byID[channelID]
	if !ok {
		return fmt.Errorf("%w: channel %q", sandbox.ErrNotFound, channelID)
	}
	a.inject[path] = errCode
	return nil
}

// Handler implements sandbox.Simulator.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/pay/unifiedorder", s.endpoint(s.unifiedOrder, "body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type"))
	mux.HandleFunc("/pay/orderquery", s.endpoint(s.orderQuery))
	mux.HandleFunc("/pay/closeorder", s.endpoint(s.closeOrder, "out_trade_no"))
	mux.HandleFunc("/secapi/pay/refund", s.endpoint(s.refund, "out_refund_no", "total_fee", "refund_fee"))
	mux.HandleFunc("/pay/refundquery", s.endpoint(s.refundQuery))
	mux.HandleFunc(PathDownloadBill, s.downloadBill)
	return mux
}

// reply is an answer: either a communication failure (returnMsg set,
// unsigned) or a signed business answer.
type reply struct {
	returnMsg string            // non-empty: return_code FAIL
	errCode   string            // non-empty: result_code FAIL
	errDes    string            //
	fields    map[string]string // business fields on success
}

func fail(code, des string) reply { return reply{errCode: code, errDes: des} }

type opFunc func(a *account, req map[string]string) reply

// endpoint wraps an operation with what every v2 call does: POST only,
// XML parse, account lookup, signature check, appid check, LACK_PARAMS.
func (s *Simulator) endpoint(op opFunc, required ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeFail(w, "请使用post方法") // REQUIRE_POST_METHOD
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeFail(w, "读取请求失败")
			return
		}
		req, err := readDoc(body)
		if err != nil {
			writeFail(w, "XML格式错误") // XML_FORMAT_ERROR
			return
		}
		s.mu.Lock()
		a := s.byAccount[req["mch_id"]+"|"+req["sub_mch_id"]]
		s.mu.Unlock()
		if a == nil {
			writeFail(w, "mch_id或sub_mch_id不存在")
			return
		}
		if !checkSignature(req, a.apiKey) {
			writeFail(w, "签名错误") // SIGNERROR
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var rep reply
		switch {
		case req["appid"] != a.appID:
			rep = fail("APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
		case a.inject[r.URL.Path] != "":
			rep = fail(a.inject[r.URL.Path], "injected by the sandbox")
			delete(a.inject, r.URL.Path)
		default:
			for _, k := range append([]string{"nonce_str"}, required...) {
				if req[k] == "" {
					rep = fail("LACK_PARAMS", "缺少参数"+k)
					break
				}
			}
			if rep.errCode == "" {
				rep = op(a, req)
			}
		}
		s.writeReply(w, a, req, rep)
	}
}

// writeFail answers a communication failure: return_code FAIL, unsigned,
// as WeChat does for a bad signature or an unreadable request.
func writeFail(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(writeDoc("xml", map[string]string{"return_code": "FAIL", "return_msg": msg}, false))
}

// writeReply signs and writes a business answer with the request's sign
// type.
func (s *Simulator) writeReply(w http.ResponseWriter, a *account, req map[string]string, rep reply) {
	if rep.returnMsg != "" {
		writeFail(w, rep.returnMsg)
		return
	}
	doc := map[string]string{
		"return_code": "SUCCESS", "return_msg": "OK",
		"appid": a.appID, "mch_id": a.mchID, "nonce_str": sandbox.RandomString(16),
	}
	if a.subMchID != "" {
		doc["sub_mch_id"] = a.subMchID
		doc["sub_appid"] = req["sub_appid"]
	}
	if rep.errCode != "" {
		doc["result_code"] = "FAIL"
		doc["err_code"] = rep.errCode
		doc["err_code_des"] = rep.errDes
	} else {
		doc["result_code"] = "SUCCESS"
		for k, v := range rep.fields {
			doc[k] = v
		}
	}
	sig, err := Signature(doc, a.apiKey, req["sign_type"])
	if err != nil {
		writeFail(w, "sign_type参数错误")
		return
	}
	doc["sign"] = sig
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(writeDoc("xml", doc, false))
}

func parsePositive(s string) (int64, bool) {
	if !isDigits(s) || len(s) > 15 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

func (s *Simulator) unifiedOrder(a *account, req map[string]string) reply {
	total, ok := parsePositive(req["total_fee"])
	if !ok {
		return fail("PARAM_ERROR", "total_fee必须为正整数(分)")
	}
	if ft := req["fee_type"]; ft != "" && ft != "CNY" {
		return fail("PARAM_ERROR", "fee_type只支持CNY")
	}
	if req["trade_type"] != "JSAPI" {
		return fail("PARAM_ERROR", "trade_type只支持JSAPI")
	}
	if strings.Contains(req["notify_url"], "?") {
		return fail("PARAM_ERROR", "notify_url不能携带参数")
	}
	if len(req["body"]) > 128 {
		return fail("PARAM_ERROR", "body参数长度有误")
	}
	if te := req["time_expire"]; te != "" {
		if _, err := time.ParseInLocation("20060102150405", te, cst); err != nil {
			return fail("PARAM_ERROR", "time_expire格式错误")
		}
	}
	// Payer: openid under appid, or (service-provider mode) sub_openid
	// under sub_appid.
	if a.subMchID == "" && (req["sub_openid"] != "" || req["sub_appid"] != "") {
		return fail("PARAM_ERROR", "普通商户不能传sub_openid/sub_appid")
	}
	if req["sub_appid"] != "" && req["sub_appid"] != a.subAppID {
		return fail("SUB_APPID_NOT_MATCH", "sub_appid和sub_mch_id不匹配")
	}
	switch {
	case req["openid"] != "" && req["sub_openid"] != "":
		return fail("PARAM_ERROR", "openid和sub_openid只能传一个")
	case req["sub_openid"] != "" && req["sub_appid"] == "":
		return fail("LACK_PARAMS", "传sub_openid时sub_appid必填")
	case req["openid"] == "" && req["sub_openid"] == "":
		return fail("LACK_PARAMS", "JSAPI支付必须传openid或sub_openid")
	}
	if o, ok := a.orders[req["out_trade_no"]]; ok {
		switch {
		case o.TradeState == "SUCCESS" || o.TradeState == "REFUND":
			return fail("ORDERPAID", "该订单已支付")
		case o.TradeState == "CLOSED":
			return fail("ORDERCLOSED", "该订单已关")
		case o.TotalFee != total || o.Body != req["body"]:
			return fail("OUT_TRADE_NO_USED", "商户订单号重复")
		}
		return reply{fields: map[string]string{"trade_type": "JSAPI", "prepay_id": o.PrepayID}}
	}
	now := s.env.Now().In(cst)
	o := &order{
		OutTradeNo: req["out_trade_no"], Body: req["body"], FeeType: "CNY", TotalFee: total,
		PrepayID:   "wx" + now.Format("20060102150405") + sandbox.RandomHex(10),
		TradeState: "NOTPAY",
		AppID:      req["appid"], SubAppID: req["sub_appid"], OpenID: req["openid"], SubOpenID: req["sub_openid"],
		NotifyURL: req["notify_url"], SpbillCreateIP: req["spbill_create_ip"], TimeExpire: req["time_expire"],
		SignType: req["sign_type"],
	}
	a.orders[o.OutTradeNo] = o
	return reply{fields: map[string]string{"trade_type": "JSAPI", "prepay_id": o.PrepayID}}
}

// find looks an order up by transaction_id, else out_trade_no.
func (a *account) find(req map[string]string) *order {
	if t := req["transaction_id"]; t != "" {
		return a.byTxn[t]
	}
	return a.orders[req["out_trade_no"]]
}

func (s *Simulator) orderQuery(a *account, req map[string]string) reply {
	if req["transaction_id"] == "" && req["out_trade_no"] == "" {
		return fail("LACK_PARAMS", "transaction_id和out_trade_no不能同时为空")
	}
	o := a.find(req)
	if o == nil {
		return fail("ORDERNOTEXIST", "此交易订单号不存在")
	}
	f := map[string]string{
		"out_trade_no": o.OutTradeNo, "trade_state": o.TradeState, "trade_state_desc": tradeStateDesc[o.TradeState],
		"trade_type": "JSAPI",
	}
	if o.TransactionID != "" {
		f["transaction_id"] = o.TransactionID
		f["total_fee"] = strconv.FormatInt(o.TotalFee, 10)
		f["cash_fee"] = f["total_fee"]
		f["fee_type"] = o.FeeType
		f["time_end"] = o.TimeEnd.In(cst).Format("20060102150405")
		f["bank_type"] = "OTHERS"
		f["openid"], f["sub_openid"] = o.OpenID, o.SubOpenID
		f["is_subscribe"] = "N"
	}
	return reply{fields: f}
}

var tradeStateDesc = map[string]string{
	"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "REFUND": "转入退款", "CLOSED": "已关闭",
}

func (s *Simulator) closeOrder(a *account, req map[string]string) reply {
	o := a.orders[req["out_trade_no"]]
	switch {
	case o == nil:
		return fail("ORDERNOTEXIST", "订单不存在")
	case o.TradeState == "SUCCESS" || o.TradeState == "REFUND":
		return fail("ORDERPAID", "订单已支付，不能发起关单")
	case o.TradeState == "CLOSED":
		return fail("ORDERCLOSED", "订单已关闭，无法重复关闭")
	}
	o.TradeState = "CLOSED"
	return reply{fields: map[string]string{}}
}

func (s *Simulator) refund(a *account, req map[string]string) reply {
	if req["transaction_id"] == "" && req["out_trade_no"] == "" {
		return fail("LACK_PARAMS", "transaction_id和out_trade_no必填其一")
	}
	o := a.find(req)
	if o == nil {
		return fail("ORDERNOTEXIST", "订单不存在")
	}
	if o.TradeState != "SUCCESS" && o.TradeState != "REFUND" {
		return fail("ERROR", "订单未支付，不能退款")
	}
	total, ok1 := parsePositive(req["total_fee"])
	fee, ok2 := parsePositive(req["refund_fee"])
	if !ok1 || !ok2 {
		return fail("PARAM_ERROR", "total_fee和refund_fee必须为正整数(分)")
	}
	if total != o.TotalFee {
		return fail("PARAM_ERROR", "订单金额total_fee与原订单不一致")
	}
	if ft := req["refund_fee_type"]; ft != "" && ft != o.FeeType {
		return fail("PARAM_ERROR", "refund_fee_type与订单币种不一致")
	}
	if r, ok := a.refunds[req["out_refund_no"]]; ok {
		// Same out_refund_no: the same refund, answered again.
		if r.order != o || r.RefundFee != fee {
			return fail("INVALID_REQUEST", "同一退款单号参数不一致")
		}
		return reply{fields: refundFields(o, r)}
	}
	if fee > o.TotalFee-o.Refunded {
		return fail("NOTENOUGH", "订单可退金额不足")
	}
	if len(o.Refunds) >= 50 {
		return fail("INVALID_REQUEST", "退款次数超过50次")
	}
	now := s.env.Now().In(cst)
	s.seq++
	r := &refund{
		OutRefundNo: req["out_refund_no"], RefundFee: fee, Status: "PROCESSING", order: o, AcceptedAt: now,
		RefundID:  fmt.Sprintf("50000%05d%s%s", s.seq%100000, now.Format("20060102"), sandbox.RandomDigits(11)),
		NotifyURL: req["notify_url"], SignType: req["sign_type"], Source: "API",
	}
	if r.NotifyURL == "" {
		r.NotifyURL = a.notifyURL // the merchant platform's setting
	}
	o.Refunded += fee
	o.Refunds = append(o.Refunds, r)
	o.TradeState = "REFUND"
	a.refunds[r.OutRefundNo] = r
	time.AfterFunc(RefundDelay, func() { s.completeRefund(a, r, 0) })
	return reply{fields: refundFields(o, r)}
}

func refundFields(o *order, r *refund) map[string]string {
	total := strconv.FormatInt(o.TotalFee, 10)
	fee := strconv.FormatInt(r.RefundFee, 10)
	return map[string]string{
		"transaction_id": o.TransactionID, "out_trade_no": o.OutTradeNo,
		"out_refund_no": r.OutRefundNo, "refund_id": r.RefundID,
		"refund_fee": fee, "settlement_refund_fee": fee, "cash_refund_fee": fee,
		"total_fee": total, "settlement_total_fee": total, "cash_fee": total, "fee_type": o.FeeType,
	}
}

// ConsoleRefund refunds part of a paid order as the merchant would in
// WeChat's merchant platform, without the gateway: the refund gets a
// number from WeChat (the platform assigns out_refund_no; its format is
// UNCONFIRMED, this simulator uses the refund_id) and is notified to the
// merchant platform's notify URL like an API refund, with
// refund_request_source VENDOR_PLATFORM.
func (s *Simulator) ConsoleRefund(_ context.Context, channelID, outTradeNo string, opts sandbox.RefundOptions) (any, error) {
	s.mu.Lock()
	a := s.byID[channelID]
	if a == nil || a.orders[outTradeNo] == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", sandbox.ErrNotFound, outTradeNo)
	}
	o := a.orders[outTradeNo]
	if o.TradeState != "SUCCESS" && o.TradeState != "REFUND" {
		s.mu.Unlock()
		return nil, fmt.Errorf("order %s is %s: only paid orders can be refunded", outTradeNo, o.TradeState)
	}
	if opts.AmountMinor > o.TotalFee-o.Refunded {
		s.mu.Unlock()
		return nil, fmt.Errorf("NOTENOUGH: %d fen left to refund", o.TotalFee-o.Refunded)
	}
	s.seq++
	now := s.env.Now().In(cst)
	id := fmt.Sprintf("50000%05d%s%s", s.seq%100000, now.Format("20060102"), sandbox.RandomDigits(11))
	r := &refund{OutRefundNo: id, RefundID: id, RefundFee: opts.AmountMinor, Status: "PROCESSING", order: o,
		NotifyURL: a.notifyURL, Source: "VENDOR_PLATFORM"}
	o.Refunded += opts.AmountMinor
	o.Refunds = append(o.Refunds, r)
	o.TradeState = "REFUND"
	a.refunds[r.OutRefundNo] = r
	view := map[string]any{"out_trade_no": o.OutTradeNo, "out_refund_no": r.OutRefundNo, "refund_id": r.RefundID, "refund_fee": r.RefundFee}
	s.mu.Unlock()
	s.completeRefund(a, r, opts.Duplicates)
	return view, nil
}

// completeRefund finishes a refund and sends its notification (and dups
// copies of it).
func (s *Simulator) completeRefund(a *account, r *refund, dups int) {
	s.mu.Lock()
	r.Status = "SUCCESS"
	r.SuccessTime = s.env.Now()
	o := r.order
	plain := writeDoc("root", map[string]string{
		"out_refund_no": r.OutRefundNo, "out_trade_no": o.OutTradeNo, "refund_id": r.RefundID,
		"transaction_id": o.TransactionID, "total_fee": strconv.FormatInt(o.TotalFee, 10),
		"settlement_total_fee": strconv.FormatInt(o.TotalFee, 10),
		"refund_fee":           strconv.FormatInt(r.RefundFee, 10), "settlement_refund_fee": strconv.FormatInt(r.RefundFee, 10),
		"refund_status": r.Status, "success_time": r.SuccessTime.In(cst).Format("2006-01-02 15:04:05"),
		"refund_recv_accout": "支付用户零钱", "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS", "refund_request_source": r.Source,
	}, true)
	notifyURL := r.NotifyURL
	outer := map[string]string{"return_code": "SUCCESS", "appid": a.appID, "mch_id": a.mchID, "nonce_str": sandbox.RandomString(16)}
	if a.subMchID != "" {
		outer["sub_mch_id"] = a.subMchID
		outer["sub_appid"] = o.SubAppID
	}
	s.mu.Unlock()
	if notifyURL == "" {
		return
	}
	reqInfo, err := EncryptReqInfo(plain, a.apiKey)
	if err != nil {
		return
	}
	outer["req_info"] = reqInfo
	body := writeDoc("xml", outer, false)
	sandbox.Deliver(s.env, sandbox.PayOptions{Duplicates: dups}, postXML(notifyURL, body))
}

func (s *Simulator) refundQuery(a *account, req map[string]string) reply {
	var list []*refund
	var o *order
	// WeChat's priority: refund_id > out_refund_no > transaction_id > out_trade_no.
	switch {
	case req["refund_id"] != "" || req["out_refund_no"] != "":
		for _, r := range a.refunds {
			if (req["refund_id"] != "" && r.RefundID == req["refund_id"]) || (req["refund_id"] == "" && r.OutRefundNo == req["out_refund_no"]) {
				list, o = []*refund{r}, r.order
			}
		}
	case req["transaction_id"] != "" || req["out_trade_no"] != "":
		if o = a.find(req); o != nil {
			list = o.Refunds
		}
	default:
		return fail("LACK_PARAMS", "refund_id、out_refund_no、transaction_id、out_trade_no必填其一")
	}
	if len(list) == 0 {
		return fail("REFUNDNOTEXIST", "退款订单查询失败")
	}
	f := map[string]string{
		"transaction_id": o.TransactionID, "out_trade_no": o.OutTradeNo,
		"total_fee": strconv.FormatInt(o.TotalFee, 10), "cash_fee": strconv.FormatInt(o.TotalFee, 10), "fee_type": o.FeeType,
		"refund_count": strconv.Itoa(len(list)),
	}
	for i, r := range list {
		n := strconv.Itoa(i)
		f["out_refund_no_"+n] = r.OutRefundNo
		f["refund_id_"+n] = r.RefundID
		f["refund_channel_"+n] = "ORIGINAL"
		f["refund_fee_"+n] = strconv.FormatInt(r.RefundFee, 10)
		f["settlement_refund_fee_"+n] = f["refund_fee_"+n]
		f["refund_status_"+n] = r.Status
		f["refund_account_"+n] = "REFUND_SOURCE_RECHARGE_FUNDS"
		f["refund_recv_accout_"+n] = "支付用户零钱"
		if r.Status == "SUCCESS" {
			f["refund_success_time_"+n] = r.SuccessTime.In(cst).Format("2006-01-02 15:04:05")
		}
	}
	return reply{fields: f}
}

// OrderView is the simulator's view of an order, as Pay returns it. The
// wire fields show what the gateway sent (openid vs sub_openid, ...).
type OrderView struct {
	OutTradeNo     string                   `json:"out_trade_no"`
	TransactionID  string                   `json:"transaction_id,omitempty"`
	TradeState     string                   `json:"trade_state"`
	TotalFee       int64                    `json:"total_fee"`
	FeeType        string                   `json:"fee_type"`
	Body           string                   `json:"body"`
	AppID          string                   `json:"appid"`
	MchID          string                   `json:"mch_id"`
	SubMchID       string                   `json:"sub_mch_id,omitempty"`
	SubAppID       string                   `json:"sub_appid,omitempty"`
	OpenID         string                   `json:"openid,omitempty"`
	SubOpenID      string                   `json:"sub_openid,omitempty"`
	PrepayID       string                   `json:"prepay_id"`
	SpbillCreateIP string                   `json:"spbill_create_ip"`
	TimeExpire     string                   `json:"time_expire,omitempty"`
	NotifyURL      string                   `json:"notify_url"`
	Refunded       int64                    `json:"refunded_fee"`
	Notifications  []sandbox.DeliveryResult `json:"notifications,omitempty"`
}

func view(a *account, o *order) OrderView {
	return OrderView{
		OutTradeNo: o.OutTradeNo, TransactionID: o.TransactionID, TradeState: o.TradeState,
		TotalFee: o.TotalFee, FeeType: o.FeeType, Body: o.Body, AppID: o.AppID, MchID: a.mchID,
		SubMchID: a.subMchID, SubAppID: o.SubAppID, OpenID: o.OpenID, SubOpenID: o.SubOpenID,
		PrepayID: o.PrepayID, SpbillCreateIP: o.SpbillCreateIP, TimeExpire: o.TimeExpire,
		NotifyURL: o.NotifyURL, Refunded: o.Refunded,
	}
}

// Order returns the simulator's view of an order of a channel.
func (s *Simulator) Order(channelID, outTradeNo string) (OrderView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byID[channelID]
	if a == nil || a.orders[outTradeNo] == nil {
		return OrderView{}, false
	}
	return view(a, a.orders[outTradeNo]), true
}

// Pay marks an unpaid order SUCCESS (a paid one is only notified again)
// and sends the signed pay notification to the order's notify_url.
func (s *Simulator) Pay(_ context.Context, channelID, outTradeNo string, opts sandbox.PayOptions) (any, error) {
	s.mu.Lock()
	a := s.byID[channelID]
	if a == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: channel %q", sandbox.ErrNotFound, channelID)
	}
	o := a.orders[outTradeNo]
	if o == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", sandbox.ErrNotFound, outTradeNo)
	}
	switch o.TradeState {
	case "NOTPAY":
		now := s.env.Now()
		s.seq++
		o.TradeState = "SUCCESS"
		o.TimeEnd = now
		o.TransactionID = fmt.Sprintf("4200000%03d%s%s", s.seq%1000, now.In(cst).Format("20060102"), sandbox.RandomDigits(10))
		a.byTxn[o.TransactionID] = o
	case "SUCCESS", "REFUND":
	default:
		s.mu.Unlock()
		return nil, fmt.Errorf("order %s is %s and cannot be paid", outTradeNo, o.TradeState)
	}
	body, err := payNotify(a, o)
	v := view(a, o)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	v.Notifications = sandbox.Deliver(s.env, opts, postXML(o.NotifyURL, body))
	return v, nil
}

// payNotify builds the signed pay notification. Like WeChat it carries no
// sign_type; it is signed with the type the order was placed with.
func payNotify(a *account, o *order) ([]byte, error) {
	total := strconv.FormatInt(o.TotalFee, 10)
	doc := map[string]string{
		"return_code": "SUCCESS", "appid": a.appID, "mch_id": a.mchID, "nonce_str": sandbox.RandomString(32),
		"result_code": "SUCCESS", "openid": o.OpenID, "is_subscribe": "N", "trade_type": "JSAPI",
		"bank_type": "OTHERS", "total_fee": total, "fee_type": o.FeeType, "cash_fee": total,
		"transaction_id": o.TransactionID, "out_trade_no": o.OutTradeNo,
		"time_end": o.TimeEnd.In(cst).Format("20060102150405"),
	}
	if a.subMchID != "" {
		doc["sub_mch_id"] = a.subMchID
		doc["sub_appid"] = o.SubAppID
		doc["sub_openid"] = o.SubOpenID
		doc["sub_is_subscribe"] = "N"
	}
	sig, err := Signature(doc, a.apiKey, o.SignType)
	if err != nil {
		return nil, err
	}
	doc["sign"] = sig
	return writeDoc("xml", doc, false), nil
}

func postXML(url string, body []byte) func() (*http.Request, error) {
	return func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "text/xml")
		req.Header.Set("User-Agent", "Mozilla/4.0") // WeChat's notifier sends a plain UA
		return req, nil
	}
}
