// Package cloudpaysim simulates WeChat Cloud Run's cloud pay open
// interface (POST /_/pay/unifiedOrder, queryorder, closeorder, refund,
// queryrefund; snake_case JSON in, {errcode, errmsg, respdata{v2 fields}}
// out) and its unsigned camelCase callbacks. Like the real service it
// checks no signature (Cloud Run authenticates the calling container); it
// identifies the channel by sub_mch_id and checks every field the adapter
// must send.
//
// The callback goes where the channel's notify URL points: in real Cloud
// Run it goes to the container service (env_id + container.service +
// container.path) or cloud function named in the order.
package cloudpaysim

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// Kind is the provider kind simulated.
const Kind = "wechat_cloudpay"

// ParamRefundDelayMS (sandbox only): refunds stay PROCESSING this long.
const ParamRefundDelayMS = "sandbox_refund_delay_ms"

// cloudMchID / cloudAppID stand for WeChat cloud's own service-provider
// account, which the real answers show as mch_id / appid.
const cloudMchID = "1800780001"

var beijing = time.FixedZone("CST", 8*3600)

func init() {
	sandbox.Register(Kind, func(env sandbox.Env) sandbox.Simulator { return New(env) })
}

type channel struct {
	id          string
	subMchID    string
	subAppID    string
	envID       string
	notifyURL   string
	refundDelay time.Duration
	orders      map[string]*order
	byTxID      map[string]*order
	refunds     map[string]*refund
}

type order struct {
	OutTradeNo, Body, OpenID, SpbillIP, TimeExpire string
	TotalFee                                       int64
	PrepayID, State, TransactionID, TimeEnd        string
	Refunded                                       int64
	Callback                                       bool
}

type refund struct {
	OutRefundNo, RefundID, Status, SuccessTime string
	Order                                      *order
	Fee                                        int64
	Callback                                   bool
	AcceptedAt                                 time.Time
}

// Simulator is the wechat_cloudpay sandbox.
type Simulator struct {
	env    sandbox.Env
	mu     sync.Mutex
	byID   map[string]*channel
	bySubM map[string]*channel
	held   map[string]bool // channel id -> downloadbill answers Bill Creating
	// payKey signs the `payment` object (MD5, like cloud pay's answers).
	payKey string
}

// New builds an empty simulator.
func New(env sandbox.Env) *Simulator {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Client == nil {
		env.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Simulator{env: env, byID: map[string]*channel{}, bySubM: map[string]*channel{}, payKey: randFrom(alnum, 32)}
}

// Kind implements sandbox.Simulator.
func (s *Simulator) Kind() string { return Kind }

// Handler implements sandbox.Simulator.
func (s *Simulator) Handler() http.Handler { return s }

// AddChannel registers a channel by its sub_mch_id.
func (s *Simulator) AddChannel(ch providers.Channel) error {
	c := &channel{id: ch.ID, subMchID: ch.Params.String("sub_mch_id"), subAppID: ch.Params.String("sub_appid"),
		envID: ch.Params.String("env_id"), notifyURL: ch.NotifyURL, refundDelay: 200 * time.Millisecond,
		orders: map[string]*order{}, byTxID: map[string]*order{}, refunds: map[string]*refund{}}
	if c.subMchID == "" || c.envID == "" {
		return errors.New("cloudpaysim: params.sub_mch_id and params.env_id are required")
	}
	if v := ch.Params.String(ParamRefundDelayMS); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms < 0 {
			return fmt.Errorf("cloudpaysim: params.%s must be milliseconds", ParamRefundDelayMS)
		}
		c.refundDelay = time.Duration(ms) * time.Millisecond
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.bySubM[c.subMchID]; ok {
		c = old // one sub-merchant, several gateway channels: one order book
	}
	s.bySubM[c.subMchID] = c
	s.byID[ch.ID] = c
	return nil
}

// answer helpers ------------------------------------------------------

func ok(resp map[string]any) map[string]any {
	resp["return_code"], resp["return_msg"], resp["result_code"] = "SUCCESS", "OK", "SUCCESS"
	return resp
}

func returnFail(msg string) map[string]any {
	return map[string]any{"return_code": "FAIL", "return_msg": msg}
}

func bizFail(code, des string) map[string]any {
	return map[string]any{"return_code": "SUCCESS", "return_msg": "OK", "result_code": "FAIL", "err_code": code, "err_code_des": des}
}

// ServeHTTP answers the open-interface calls.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	write := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.Method != http.MethodPost {
		write(http.StatusMethodNotAllowed, map[string]any{"errcode": 40001, "errmsg": "use POST"})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		// The Cloud Run page: without content-type application/json the
		// interface answers 302/400 or empty.
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var in map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(raw, &in)
	}
	if err != nil {
		write(200, map[string]any{"errcode": 40097, "errmsg": "invalid args: body is not JSON"})
		return
	}
	// The docs write unifiedOrder and unifiedorder: accept both.
	op := strings.ToLower(strings.TrimPrefix(r.URL.Path, "/_/pay/"))
	var resp map[string]any
	switch op {
	case "unifiedorder":
		resp = s.unifiedOrder(in)
	case "queryorder":
		resp = s.queryOrder(in)
	case "closeorder":
		resp = s.closeOrder(in)
	case "refund":
		resp = s.refund(in)
	case "queryrefund":
		resp = s.queryRefund(in)
	case "downloadbill":
		write(200, s.downloadBill(in))
		return
	default:
		write(404, map[string]any{"errcode": 40066, "errmsg": "invalid url " + r.URL.Path})
		return
	}
	write(200, map[string]any{"errcode": 0, "errmsg": "ok", "respdata": resp})
}

func str(in map[string]json.RawMessage, k string) string {
	var s string
	_ = json.Unmarshal(in[k], &s)
	return s
}

// integer reads a JSON integer field; ok is false when absent or not an
// integer number.
func integer(in map[string]json.RawMessage, k string) (int64, bool) {
	raw, present := in[k]
	if !present {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	return v, err == nil
}

var reOutTradeNo = regexp.MustCompile(`^[0-9A-Za-z_-]{1,32}$`)

// channelFor checks sub_mch_id and nonce_str. Caller holds s.mu.
func (s *Simulator) channelFor(in map[string]json.RawMessage) (*channel, map[string]any) {
	sub := str(in, "sub_mch_id")
	if sub == "" {
		return nil, returnFail("受理机构必须传入sub_mch_id")
	}
	if n := str(in, "nonce_str"); n == "" || len(n) > 32 {
		return nil, returnFail("nonce_str is required (at most 32 characters)")
	}
	for _, k := range []string{"appid", "mch_id", "sign", "sign_type"} {
		if _, present := in[k]; present {
			return nil, returnFail(k + " must not be sent to cloud pay")
		}
	}
	c, ok := s.bySubM[sub]
	if !ok {
		return nil, returnFail("受理关系不存在")
	}
	return c, nil
}

// checkCallback validates env_id / callback_type / container or
// function_name.
func checkCallback(c *channel, in map[string]json.RawMessage) (bool, map[string]any) {
	if str(in, "env_id") != c.envID {
		return false, returnFail(fmt.Sprintf("env_id %q is not the environment %s", str(in, "env_id"), c.envID))
	}
	t, okT := integer(in, "callback_type")
	switch {
	case !okT:
		return false, returnFail("callback_type is required (1 cloud function, 2 Cloud Run)")
	case t == 1:
		if str(in, "function_name") == "" {
			return false, returnFail("function_name is required with callback_type 1")
		}
	case t == 2:
		var ctr struct {
			Service string `json:"service"`
			Path    string `json:"path"`
		}
		if json.Unmarshal(in["container"], &ctr) != nil || ctr.Service == "" || !strings.HasPrefix(ctr.Path, "/") {
			return false, returnFail("container {service, path} is required with callback_type 2")
		}
	default:
		return false, returnFail("callback_type must be 1 or 2")
	}
	return true, nil
}

func (s *Simulator) unifiedOrder(in map[string]json.RawMessage) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, fail := s.channelFor(in)
	if fail != nil {
		return fail
	}
	cb, fail := checkCallback(c, in)
	if fail != nil {
		return fail
	}
	fee, okFee := integer(in, "total_fee")
	switch {
	case str(in, "body") == "" || len(str(in, "body")) > 128:
		return returnFail("body is required (at most 128 bytes)")
	case !reOutTradeNo.MatchString(str(in, "out_trade_no")):
		return returnFail("out_trade_no must be 1-32 of [0-9A-Za-z_-]")
	case !okFee || fee <= 0:
		return returnFail("total_fee must be a positive integer (fen)")
	case str(in, "spbill_create_ip") == "":
		return returnFail("spbill_create_ip is required")
	case str(in, "trade_type") != "JSAPI":
		return returnFail("trade_type must be JSAPI")
	case str(in, "openid") == "":
		return returnFail("openid is required for trade_type JSAPI")
	case str(in, "sub_appid") != "" && str(in, "sub_appid") != c.subAppID:
		return bizFail("APPID_MCHID_NOT_MATCH", "sub_appid 与 sub_mch_id 不匹配")
	}
	if te := str(in, "time_expire"); te != "" {
		t, err := time.ParseInLocation("20060102150405", te, beijing)
		if err != nil {
			return returnFail("time_expire must be yyyyMMddHHmmss")
		}
		if t.Before(s.env.Now()) {
			return bizFail("INVALID_REQUEST", "time_expire 已过期")
		}
	}
	o := &order{OutTradeNo: str(in, "out_trade_no"), Body: str(in, "body"), OpenID: str(in, "openid"),
		SpbillIP: str(in, "spbill_create_ip"), TimeExpire: str(in, "time_expire"), TotalFee: fee, Callback: cb}
	if old, exists := c.orders[o.OutTradeNo]; exists {
		switch {
		case old.State == "SUCCESS" || old.State == "REFUND":
			return bizFail("ORDERPAID", "该订单已支付")
		case old.State == "CLOSED":
			return bizFail("ORDERCLOSED", "该订单已关闭")
		case old.TotalFee != o.TotalFee || old.Body != o.Body || old.OpenID != o.OpenID:
			return bizFail("OUT_TRADE_NO_USED", "商户订单号重复")
		}
		o = old
	} else {
		o.State = "NOTPAY"
		o.PrepayID = "wx" + s.env.Now().In(beijing).Format("20060102150405") + randFrom("0123456789abcdef", 20)
		c.orders[o.OutTradeNo] = o
	}
	appID := c.subAppID
	if appID == "" {
		appID = "wxd2565e6a04246fd1"
	}
	payment := map[string]string{"appId": appID, "timeStamp": strconv.FormatInt(s.env.Now().Unix(), 10),
		"nonceStr": randFrom(alnum, 16), "package": "prepay_id=" + o.PrepayID, "signType": "MD5"}
	payment["paySign"] = s.md5Sign(payment)
	return ok(map[string]any{"appid": appID, "mch_id": cloudMchID, "sub_appid": appID, "sub_mch_id": c.subMchID,
		"nonce_str": randFrom(alnum, 16), "sign": strings.ToUpper(randFrom("0123456789abcdef", 32)),
		"trade_type": "JSAPI", "prepay_id": o.PrepayID, "payment": payment})
}

// md5Sign is the v2 MD5 paySign (sorted k=v&...&key=) with the
// simulator's own key: the mini-program side is not simulated, so the
// value only has to look right.
func (s *Simulator) md5Sign(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + m[k] + "&")
	}
	b.WriteString("key=" + s.payKey)
	sum := md5.Sum([]byte(b.String()))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// lookup finds the order named by transaction_id or out_trade_no.
func lookup(c *channel, in map[string]json.RawMessage) (*order, map[string]any) {
	var o *order
	switch {
	case str(in, "transaction_id") != "":
		o = c.byTxID[str(in, "transaction_id")]
	case str(in, "out_trade_no") != "":
		o = c.orders[str(in, "out_trade_no")]
	default:
		return nil, returnFail("transaction_id or out_trade_no is required")
	}
	if o == nil {
		return nil, bizFail("ORDERNOTEXIST", "此交易订单号不存在")
	}
	return o, nil
}

func (s *Simulator) orderView(c *channel, o *order) map[string]any {
	v := map[string]any{"appid": c.subAppID, "mch_id": cloudMchID, "sub_appid": c.subAppID, "sub_mch_id": c.subMchID,
		"nonce_str": randFrom(alnum, 16), "out_trade_no": o.OutTradeNo, "trade_type": "JSAPI", "trade_state": o.State,
		"total_fee": o.TotalFee, "fee_type": "CNY",
		"trade_state_desc": map[string]string{"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "REFUND": "转入退款", "CLOSED": "订单已关闭"}[o.State]}
	if o.TransactionID != "" {
		v["transaction_id"], v["time_end"], v["cash_fee"], v["bank_type"], v["sub_openid"] = o.TransactionID, o.TimeEnd, o.TotalFee, "OTHERS", o.OpenID
	}
	return v
}

func (s *Simulator) queryOrder(in map[string]json.RawMessage) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, fail := s.channelFor(in)
	if fail != nil {
		return fail
	}
	o, fail := lookup(c, in)
	if fail != nil {
		return fail
	}
	return ok(s.orderView(c, o))
}

func (s *Simulator) closeOrder(in map[string]json.RawMessage) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, fail := s.channelFor(in)
	if fail != nil {
		return fail
	}
	o := c.orders[str(in, "out_trade_no")]
	switch {
	case o == nil:
		return bizFail("ORDERNOTEXIST", "订单不存在")
	case o.State == "SUCCESS" || o.State == "REFUND":
		return bizFail("ORDERPAID", "订单已支付，不能发起关单")
	}
	o.State = "CLOSED"
	return ok(map[string]any{"sub_mch_id": c.subMchID, "nonce_str": randFrom(alnum, 16)})
}

func (s *Simulator) refund(in map[string]json.RawMessage) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, fail := s.channelFor(in)
	if fail != nil {
		return fail
	}
	cb, fail := checkCallback(c, in)
	if fail != nil {
		return fail
	}
	o, fail := lookup(c, in)
	if fail != nil {
		return fail
	}
	total, okT := integer(in, "total_fee")
	fee, okF := integer(in, "refund_fee")
	no := str(in, "out_refund_no")
	switch {
	case no == "" || len(no) > 64:
		return returnFail("out_refund_no is required (at most 64 characters)")
	case !okT || !okF || fee <= 0:
		return returnFail("total_fee and refund_fee must be positive integers (fen)")
	}
	if old, exists := c.refunds[no]; exists {
		if old.Order != o || old.Fee != fee {
			return bizFail("INVALID_REQUEST", "out_refund_no 已使用，参数不一致")
		}
		return ok(s.refundView(c, old))
	}
	switch {
	case o.State != "SUCCESS" && o.State != "REFUND":
		return bizFail("INVALID_REQUEST", "订单未支付")
	case total != o.TotalFee:
		return bizFail("INVALID_REQUEST", "订单金额与原订单不一致")
	case o.Refunded+fee > o.TotalFee:
		return bizFail("NOTENOUGH", "退款金额大于可退金额")
	}
	rf := &refund{OutRefundNo: no, RefundID: "50" + randFrom("0123456789", 27), Status: "PROCESSING", Order: o, Fee: fee, Callback: cb, AcceptedAt: s.env.Now()}
	c.refunds[no] = rf
	o.Refunded += fee
	o.State = "REFUND"
	time.AfterFunc(c.refundDelay, func() { s.completeRefund(c, rf) })
	return ok(s.refundView(c, rf))
}

func (s *Simulator) refundView(c *channel, rf *refund) map[string]any {
	return map[string]any{"appid": c.subAppID, "mch_id": cloudMchID, "sub_appid": c.subAppID, "sub_mch_id": c.subMchID,
		"nonce_str": randFrom(alnum, 16), "transaction_id": rf.Order.TransactionID, "out_trade_no": rf.Order.OutTradeNo,
		"out_refund_no": rf.OutRefundNo, "refund_id": rf.RefundID, "refund_fee": rf.Fee, "total_fee": rf.Order.TotalFee, "cash_fee": rf.Order.TotalFee}
}

func (s *Simulator) completeRefund(c *channel, rf *refund) {
	s.mu.Lock()
	rf.Status = "SUCCESS"
	rf.SuccessTime = s.env.Now().In(beijing).Format("2006-01-02 15:04:05")
	event := map[string]any{"returnCode": "SUCCESS", "appid": c.subAppID, "mchId": cloudMchID, "subAppid": c.subAppID,
		"subMchId": c.subMchID, "nonceStr": randFrom(alnum, 16), "transactionId": rf.Order.TransactionID, "outTradeNo": rf.Order.OutTradeNo,
		"refundId": rf.RefundID, "outRefundNo": rf.OutRefundNo, "totalFee": rf.Order.TotalFee, "refundFee": rf.Fee,
		"settlementRefundFee": rf.Fee, "refundStatus": "SUCCESS", "successTime": rf.SuccessTime, "refundRecvAccout": "支付用户零钱",
		"refundAccount": "REFUND_SOURCE_UNSETTLED_FUNDS", "refundRequestSource": "API"}
	send := rf.Callback && c.notifyURL != ""
	url := c.notifyURL
	s.mu.Unlock()
	if send {
		sandbox.Deliver(s.env, sandbox.PayOptions{}, callbackBuilder(url, event))
	}
}

func (s *Simulator) queryRefund(in map[string]json.RawMessage) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, fail := s.channelFor(in)
	if fail != nil {
		return fail
	}
	rf, exists := c.refunds[str(in, "out_refund_no")]
	if !exists {
		return bizFail("REFUNDNOTEXIST", "退款订单查询失败")
	}
	v := map[string]any{"appid": c.subAppID, "mch_id": cloudMchID, "sub_mch_id": c.subMchID, "nonce_str": randFrom(alnum, 16),
		"transaction_id": rf.Order.TransactionID, "out_trade_no": rf.Order.OutTradeNo, "total_fee": rf.Order.TotalFee,
		"cash_fee": rf.Order.TotalFee, "refund_count": 1, "out_refund_no_0": rf.OutRefundNo, "refund_id_0": rf.RefundID,
		"refund_fee_0": rf.Fee, "refund_status_0": rf.Status, "refund_channel_0": "ORIGINAL", "refund_recv_accout_0": "支付用户零钱"}
	if rf.SuccessTime != "" {
		v["refund_success_time_0"] = rf.SuccessTime
	}
	return ok(v)
}

func callbackBuilder(url string, event map[string]any) func() (*http.Request, error) {
	body, _ := json.Marshal(event)
	return func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	}
}

// Pay marks an order paid and sends the (unsigned) payment callback.
func (s *Simulator) Pay(_ context.Context, channelID, outTradeNo string, opts sandbox.PayOptions) (any, error) {
	s.mu.Lock()
	c, exists := s.byID[channelID]
	if !exists {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: channel %s", sandbox.ErrNotFound, channelID)
	}
	o, exists := c.orders[outTradeNo]
	if !exists {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", sandbox.ErrNotFound, outTradeNo)
	}
	switch o.State {
	case "CLOSED":
		s.mu.Unlock()
		return nil, errors.New("order is closed")
	case "NOTPAY":
		o.State = "SUCCESS"
		o.TransactionID = "4200" + randFrom("0123456789", 24)
		o.TimeEnd = s.env.Now().In(beijing).Format("20060102150405")
		c.byTxID[o.TransactionID] = o
	}
	event := map[string]any{"returnCode": "SUCCESS", "appid": c.subAppID, "mchId": cloudMchID, "subAppid": c.subAppID,
		"subMchId": c.subMchID, "nonceStr": randFrom(alnum, 16), "resultCode": "SUCCESS", "openid": "oPoo341Im-roYxAd3WD3D_6J-4bA",
		"isSubscribe": "N", "subOpenid": o.OpenID, "subIsSubscribe": "N", "tradeType": "JSAPI", "bankType": "OTHERS",
		"totalFee": o.TotalFee, "feeType": "CNY", "cashFee": o.TotalFee, "transactionId": o.TransactionID,
		"outTradeNo": o.OutTradeNo, "timeEnd": o.TimeEnd}
	view := s.orderView(c, o)
	send := o.Callback && c.notifyURL != ""
	url := c.notifyURL
	s.mu.Unlock()
	var results []sandbox.DeliveryResult
	if send {
		results = sandbox.Deliver(s.env, opts, callbackBuilder(url, event))
	}
	return map[string]any{"order": view, "callbacks": results}, nil
}

const alnum = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

func randFrom(alphabet string, n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err)
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

var _ sandbox.Simulator = (*Simulator)(nil)
