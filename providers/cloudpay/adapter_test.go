package cloudpay

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
)

var tNow = time.Date(2024, 1, 1, 12, 0, 0, 0, beijing)

func params() providers.Params {
	return providers.Params{"sub_mch_id": "1712734762", "sub_appid": "wxd2565e6a04246fd1", "env_id": "prod-66733tes755tabc"}
}

type fake struct {
	srv    *httptest.Server
	path   string
	body   map[string]any
	status int
	answer string
}

func newFake(t *testing.T) *fake {
	f := &fake{status: 200}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.path = r.URL.Path
		f.body = nil
		_ = json.Unmarshal(b, &f.body)
		if r.Header.Get("Content-Type") != "application/json" || r.Method != "POST" || r.Header.Get("Authorization") != "" {
			t.Errorf("request %s %s Content-Type %q Authorization %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"))
		}
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, f.answer)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func testChannel() providers.Channel {
	return providers.Channel{ID: "c", Kind: Kind, Currency: "CNY", NotifyURL: "https://gw.example/notify/c", ServerIP: "198.51.100.1", Params: params()}
}

func testDeps() providers.Deps { return providers.Deps{Now: func() time.Time { return tNow }} }

func newP(t *testing.T, p providers.Params, baseURL string) *Adapter {
	t.Helper()
	ch := testChannel()
	ch.BaseURL, ch.Params = baseURL, p
	pr, err := newAdapter(ch, testDeps())
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

func resp(respdata string) string { return `{"errcode":0,"errmsg":"ok","respdata":` + respdata + `}` }

// unifiedOrderAnswer is the answer of the Cloud Run unified order page.
const unifiedOrderAnswer = `{"return_code":"SUCCESS","return_msg":"OK","appid":"wxd2565e6a04246fd1","mch_id":"1800780001",` +
	`"sub_appid":"wxd2565e6a04246fd1","sub_mch_id":"1712734762","nonce_str":"BfM1ojiTfFCbpmkL","sign":"00F0CB2E2491AD98CF0A5817002B8962",` +
	`"result_code":"SUCCESS","trade_type":"JSAPI","prepay_id":"wx29415831e6a111ccb805125015a7282000",` +
	`"payment":{"appId":"wxd2565e6a04246fd1","timeStamp":"1647841885","nonceStr":"BfM1ojiTfFCbpmkL",` +
	`"package":"prepay_id=wx2825019415cb82821e6a15a7c113510000","signType":"MD5","paySign":"038EE415FD025B0D37717E8A1D6C34B6"}}`

func TestUnifiedOrderWire(t *testing.T) {
	for _, tt := range []struct {
		name     string
		params   providers.Params
		callback map[string]any
	}{
		{"Cloud Run callback (default service, notify path)", params(), map[string]any{"callback_type": 2.0, "container": map[string]any{"service": "paygate", "path": "/notify/c"}}},
		{"Cloud Run callback (named service and path)", with(params(), "container_service", "pay", "container_path", "/"), map[string]any{"callback_type": 2.0, "container": map[string]any{"service": "pay", "path": "/"}}},
		{"cloud function callback", with(params(), "function_name", "paycallback"), map[string]any{"callback_type": 1.0, "function_name": "paycallback"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.answer = resp(unifiedOrderAnswer)
			p := newP(t, tt.params, f.srv.URL)
			res, err := p.CreateOrder(context.Background(), providers.CreateOrderRequest{
				OutTradeNo: "2021WERUN1647840687637", Amount: providers.Money{Minor: 1, Currency: "CNY"}, Description: "测试微信支付",
				PayerOpenID: "oZp5njTTsWaCeEoXi14oeOVCKlik", ClientIP: "59.37.125.120", ExpiresAt: time.Date(2024, 1, 1, 4, 30, 0, 0, time.UTC)})
			if err != nil {
				t.Fatal(err)
			}
			if f.path != "/_/pay/unifiedOrder" {
				t.Fatalf("path = %s", f.path)
			}
			want := map[string]any{"body": "测试微信支付", "out_trade_no": "2021WERUN1647840687637", "spbill_create_ip": "59.37.125.120",
				"sub_mch_id": "1712734762", "sub_appid": "wxd2565e6a04246fd1", "total_fee": 1.0, "trade_type": "JSAPI",
				"openid": "oZp5njTTsWaCeEoXi14oeOVCKlik", "time_expire": "20240101123000", "env_id": "prod-66733tes755tabc",
				"nonce_str": f.body["nonce_str"]}
			for k, v := range tt.callback {
				want[k] = v
			}
			if n, _ := f.body["nonce_str"].(string); len(n) != 32 {
				t.Fatalf("nonce_str = %q", n)
			}
			if got, exp := mustJSON(t, f.body), mustJSON(t, want); got != exp {
				t.Fatalf("body = %s\nwant   %s", got, exp)
			}
			wantPay := map[string]string{"appId": "wxd2565e6a04246fd1", "timeStamp": "1647841885", "nonceStr": "BfM1ojiTfFCbpmkL",
				"package": "prepay_id=wx2825019415cb82821e6a15a7c113510000", "signType": "MD5", "paySign": "038EE415FD025B0D37717E8A1D6C34B6"}
			if mustJSON(t, res.PayParams) != mustJSON(t, wantPay) {
				t.Fatalf("pay params = %v", res.PayParams)
			}
		})
	}
}

func TestPaymentPassThroughNumbers(t *testing.T) {
	got, err := payParams(map[string]json.RawMessage{"appId": []byte(`"wx1"`), "timeStamp": []byte(`1647841885`), "nonceStr": []byte(`"n"`),
		"package": []byte(`"prepay_id=x"`), "signType": []byte(`"MD5"`), "paySign": []byte(`"S"`)})
	if err != nil || got["timeStamp"] != "1647841885" {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := payParams(map[string]json.RawMessage{"appId": []byte(`"wx1"`)}); err == nil {
		t.Fatal("payment without paySign accepted")
	}
}

func TestOtherOperationsWire(t *testing.T) {
	ctx := context.Background()
	paid := `{"return_code":"SUCCESS","result_code":"SUCCESS","sub_mch_id":"1712734762","trade_state":"SUCCESS","out_trade_no":"T1","transaction_id":"4200004561202203217657282768","total_fee":"100","fee_type":"CNY","time_end":"20220321132007","sub_openid":"o1"}`
	for _, tt := range []struct {
		name   string
		answer string
		call   func(p *Adapter) (any, error)
		path   string
		body   map[string]any
		check  func(t *testing.T, v any)
	}{
		{"query by out_trade_no", paid, func(p *Adapter) (any, error) { return p.QueryOrder(ctx, providers.OrderRef{OutTradeNo: "T1"}) },
			"/_/pay/queryorder", map[string]any{"sub_mch_id": "1712734762", "out_trade_no": "T1"},
			func(t *testing.T, v any) {
				st := v.(providers.OrderState)
				if st.Status != providers.OrderPaid || st.Amount != (providers.Money{Minor: 100, Currency: "CNY"}) || st.TransactionID != "4200004561202203217657282768" ||
					!st.PaidAt.Equal(time.Date(2022, 3, 21, 13, 20, 7, 0, beijing)) || st.PayerID != "o1" {
					t.Fatalf("%+v", st)
				}
			}},
		{"query by transaction_id", paid, func(p *Adapter) (any, error) {
			return p.QueryOrder(ctx, providers.OrderRef{TransactionID: "4200004561202203217657282768"})
		}, "/_/pay/queryorder", map[string]any{"sub_mch_id": "1712734762", "transaction_id": "4200004561202203217657282768"}, nil},
		{"close", `{"return_code":"SUCCESS","result_code":"SUCCESS"}`, func(p *Adapter) (any, error) { return nil, p.CloseOrder(ctx, providers.OrderRef{OutTradeNo: "T1"}) },
			"/_/pay/closeorder", map[string]any{"sub_mch_id": "1712734762", "out_trade_no": "T1"}, nil},
		{"refund", `{"return_code":"SUCCESS","result_code":"SUCCESS","out_refund_no":"R1","refund_id":"50000404922017112502468056157","refund_fee":30}`,
			func(p *Adapter) (any, error) {
				return p.Refund(ctx, providers.RefundRequest{Order: providers.OrderRef{OutTradeNo: "T1", TransactionID: "4200004561202203217657282768", Amount: providers.Money{Minor: 100, Currency: "CNY"}},
					OutRefundNo: "R1", Amount: providers.Money{Minor: 30, Currency: "CNY"}, Reason: "退货"})
			}, "/_/pay/refund", map[string]any{"sub_mch_id": "1712734762", "transaction_id": "4200004561202203217657282768", "out_refund_no": "R1",
				"total_fee": 100.0, "refund_fee": 30.0, "refund_desc": "退货", "env_id": "prod-66733tes755tabc", "callback_type": 2.0,
				"container": map[string]any{"service": "paygate", "path": "/notify/c"}},
			func(t *testing.T, v any) {
				st := v.(providers.RefundState)
				if st.Status != providers.RefundProcessing || st.ProviderRefundNo != "50000404922017112502468056157" || st.Amount.Minor != 30 {
					t.Fatalf("%+v", st)
				}
			}},
		{"refund query", `{"return_code":"SUCCESS","result_code":"SUCCESS","refund_count":2,"out_refund_no_0":"R0","refund_status_0":"PROCESSING",` +
			`"out_refund_no_1":"R1","refund_id_1":"5001","refund_fee_1":30,"refund_status_1":"SUCCESS","refund_success_time_1":"2017-11-25 15:36:17"}`,
			func(p *Adapter) (any, error) { return p.QueryRefund(ctx, providers.RefundRef{OutRefundNo: "R1"}) },
			"/_/pay/queryrefund", map[string]any{"sub_mch_id": "1712734762", "out_refund_no": "R1"},
			func(t *testing.T, v any) {
				st := v.(providers.RefundState)
				if st.Status != providers.RefundSucceeded || st.ProviderRefundNo != "5001" || st.Amount.Minor != 30 ||
					!st.SucceededAt.Equal(time.Date(2017, 11, 25, 15, 36, 17, 0, beijing)) {
					t.Fatalf("%+v", st)
				}
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.answer = resp(tt.answer)
			v, err := tt.call(newP(t, params(), f.srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			if f.path != tt.path {
				t.Fatalf("path = %s, want %s", f.path, tt.path)
			}
			delete(f.body, "nonce_str")
			if mustJSON(t, f.body) != mustJSON(t, tt.body) {
				t.Fatalf("body = %s\nwant   %s", mustJSON(t, f.body), mustJSON(t, tt.body))
			}
			if tt.check != nil {
				tt.check(t, v)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	query := func(p *Adapter) error {
		_, err := p.QueryOrder(context.Background(), providers.OrderRef{OutTradeNo: "T1"})
		return err
	}
	for _, tt := range []struct {
		name     string
		status   int
		answer   string
		code     providers.ErrorCode
		provCode string
	}{
		{"errcode -1", 200, `{"errcode":-1,"errmsg":"system error"}`, providers.ErrCodeUnavailable, "-1"},
		{"errcode 40097", 200, `{"errcode":40097,"errmsg":"invalid args"}`, providers.ErrCodeRejected, "40097"},
		{"return_code FAIL", 200, resp(`{"return_code":"FAIL","return_msg":"受理关系不存在"}`), providers.ErrCodeRejected, ""},
		{"ORDERNOTEXIST", 200, resp(`{"return_code":"SUCCESS","result_code":"FAIL","err_code":"ORDERNOTEXIST"}`), providers.ErrCodeNotFound, "ORDERNOTEXIST"},
		{"SYSTEMERROR", 200, resp(`{"return_code":"SUCCESS","result_code":"FAIL","err_code":"SYSTEMERROR"}`), providers.ErrCodeUnavailable, "SYSTEMERROR"},
		{"ORDERCLOSED", 200, resp(`{"return_code":"SUCCESS","result_code":"FAIL","err_code":"ORDERCLOSED"}`), providers.ErrCodeOrderClosed, "ORDERCLOSED"},
		{"NOAUTH", 200, resp(`{"return_code":"SUCCESS","result_code":"FAIL","err_code":"NOAUTH"}`), providers.ErrCodeRejected, "NOAUTH"},
		{"other sub_mch_id", 200, resp(`{"return_code":"SUCCESS","result_code":"SUCCESS","sub_mch_id":"1","trade_state":"SUCCESS","out_trade_no":"T1"}`), providers.ErrCodeBadResponse, ""},
		{"other order", 200, resp(`{"return_code":"SUCCESS","result_code":"SUCCESS","trade_state":"SUCCESS","out_trade_no":"T2"}`), providers.ErrCodeBadResponse, ""},
		{"fractional total_fee", 200, resp(`{"return_code":"SUCCESS","result_code":"SUCCESS","trade_state":"SUCCESS","out_trade_no":"T1","total_fee":1.5}`), providers.ErrCodeBadResponse, ""},
		{"not JSON", 200, `<html/>`, providers.ErrCodeBadResponse, ""},
		{"HTTP 400", 400, ``, providers.ErrCodeRejected, ""},
		{"HTTP 502", 502, ``, providers.ErrCodeUnavailable, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.status, f.answer = tt.status, tt.answer
			err := query(newP(t, params(), f.srv.URL))
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Code != tt.code || pe.ProviderCode != tt.provCode {
				t.Fatalf("err = %v, want %s (%s)", err, tt.code, tt.provCode)
			}
		})
	}
	f := newFake(t)
	f.answer = resp(`{"return_code":"SUCCESS","result_code":"SUCCESS","trade_state":"WAT","out_trade_no":"T1"}`)
	if st, err := query2(newP(t, params(), f.srv.URL)); err != nil || st.Status != providers.OrderUnknown || st.ProviderStatus != "WAT" {
		t.Fatalf("unknown trade_state: %+v, %v; want UNKNOWN with the word", st, err)
	}
	f = newFake(t)
	f.answer = resp(`{"return_code":"SUCCESS","result_code":"FAIL","err_code":"ORDERPAID"}`)
	res, err := newP(t, params(), f.srv.URL).CreateOrder(context.Background(), providers.CreateOrderRequest{
		OutTradeNo: "T1", Amount: providers.Money{Minor: 1, Currency: "CNY"}, PayerOpenID: "o"})
	if err != nil || res.Status != providers.OrderPaid {
		t.Fatalf("ORDERPAID on create: %+v, %v", res, err)
	}
	if err := newP(t, params(), f.srv.URL).CloseOrder(context.Background(), providers.OrderRef{OutTradeNo: "T1"}); !providers.IsCode(err, providers.ErrCodeOrderPaid) {
		t.Fatalf("ORDERPAID on close: %v", err)
	}
}

func TestParseNotify(t *testing.T) {
	p := newP(t, params(), "")
	// The Cloud Run callback page's example.
	good := `{"returnCode":"SUCCESS","appid":"wxd2565e6a04246fd1","mchId":"1800780001","subAppid":"wxd2565e6a04246fd1","subMchId":"1712734762",` +
		`"nonceStr":"f6444fd22de27b16","resultCode":"SUCCESS","openid":"oPoo341Im-roYxAd3WD3D_6J-4bA","isSubscribe":"N",` +
		`"subOpenid":"oZWaC4xeOVCUkip5njeEeXi1TEsk","subIsSubscribe":"N","tradeType":"JSAPI","bankType":"OTHERS","totalFee":1,` +
		`"feeType":"CNY","cashFee":1,"transactionId":"4200004561202203217657282768","outTradeNo":"2021WERUN1647839289398","timeEnd":"20220321132007"}`
	n, err := p.ParseNotify(context.Background(), httptest.NewRequest("POST", "/notify/c", strings.NewReader(good)), []byte(good))
	if err != nil || !n.Hint || n.Kind != providers.NotifyPayment || n.Order.OutTradeNo != "2021WERUN1647839289398" ||
		n.Order.TransactionID != "4200004561202203217657282768" || n.Order.Status != "" || !n.Order.Amount.IsZero() {
		t.Fatalf("%+v, %v", n, err)
	}
	refund := `{"returnCode":"SUCCESS","subMchId":"1712734762","outTradeNo":"T1","outRefundNo":"R1","refundId":"5001","refundStatus":"SUCCESS","refundFee":1}`
	n, err = p.ParseNotify(context.Background(), nil, []byte(refund))
	if err != nil || !n.Hint || n.Kind != providers.NotifyRefund || n.Refund.OutRefundNo != "R1" || n.Refund.Status != "" || n.Order.OutTradeNo != "T1" {
		t.Fatalf("refund: %+v, %v", n, err)
	}
	for _, tt := range []struct {
		name, body string
		want       error
	}{
		{"other sub-merchant", strings.Replace(good, `"subMchId":"1712734762"`, `"subMchId":"1900000109"`, 1), providers.ErrChannelMismatch},
		{"no sub-merchant", strings.Replace(good, `"subMchId":"1712734762",`, ``, 1), providers.ErrChannelMismatch},
		{"other sub_appid", strings.Replace(good, `"subAppid":"wxd2565e6a04246fd1"`, `"subAppid":"wx0000000000000000"`, 1), providers.ErrChannelMismatch},
		{"no outTradeNo", strings.Replace(good, `"outTradeNo":"2021WERUN1647839289398",`, ``, 1), providers.ErrMalformed},
		{"XML", `<xml><return_code>SUCCESS</return_code></xml>`, providers.ErrMalformed},
	} {
		if _, err := p.ParseNotify(context.Background(), nil, []byte(tt.body)); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestNotifyAck(t *testing.T) {
	p := &Adapter{}
	if a := p.NotifyAck(true, ""); a.Status != 200 || string(a.Body) != `{"errcode":0,"errmsg":"OK"}` || a.ContentType != "application/json" {
		t.Fatalf("ok ack = %+v %s", a, a.Body)
	}
	if a := p.NotifyAck(false, "order unknown"); a.Status != 200 || string(a.Body) != `{"errcode":-1,"errmsg":"order unknown"}` {
		t.Fatalf("fail ack = %+v %s", a, a.Body)
	}
}

func TestFactory(t *testing.T) {
	for _, tt := range []struct {
		name   string
		p      providers.Params
		cur    string
		errSub string
	}{
		{"ok", params(), "CNY", ""},
		{"no sub_appid", with(params(), "sub_appid", nil), "", ""},
		{"missing", providers.Params{}, "CNY", "params.env_id: is required; params.sub_mch_id: is required"},
		{"both callbacks", with(params(), "function_name", "f", "container_service", "s"), "CNY", "exclude each other"},
		{"EUR", params(), "EUR", "CNY only"},
	} {
		_, err := providers.New(providers.Channel{ID: "c", Kind: Kind, Currency: tt.cur, Params: tt.p}, providers.Deps{})
		if (tt.errSub == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.errSub)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.errSub)
		}
	}
	c := newP(t, params(), "").Capabilities()
	if c.Notify || c.RefundNotify || !c.Query || !c.Close || !c.Refund || !c.RefundQuery || !c.RequiresOpenID || c.Currencies[0] != "CNY" {
		t.Fatalf("capabilities = %+v", c)
	}
}

func TestStateMaps(t *testing.T) {
	for in, want := range map[string]providers.OrderStatus{"SUCCESS": "PAID", "REFUND": "PAID", "NOTPAY": "PAYING", "USERPAYING": "PAYING",
		"ACCEPT": "PAYING", "CLOSED": "CLOSED", "REVOKED": "CLOSED", "PAYERROR": "FAILED"} {
		if got := MapTradeState(in); got != want {
			t.Errorf("MapTradeState(%s) = %s", in, got)
		}
	}
	for in, want := range map[string]providers.RefundStatus{"SUCCESS": "SUCCEEDED", "PROCESSING": "PROCESSING", "CHANGE": "PROCESSING", "REFUNDCLOSE": "FAILED"} {
		if got := MapRefundStatus(in); got != want {
			t.Errorf("MapRefundStatus(%s) = %s", in, got)
		}
	}
	if got := MapRefundStatus("CLOSED"); got != providers.RefundUnknown {
		t.Errorf("v3 word CLOSED mapped to %s as a v2 refund status, want UNKNOWN", got)
	}
}

func with(p providers.Params, kv ...any) providers.Params {
	out := providers.Params{}
	for k, v := range p {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func query2(p *Adapter) (providers.OrderState, error) {
	return p.QueryOrder(context.Background(), providers.OrderRef{OutTradeNo: "T1"})
}

// newAdapter builds a channel's adapter through the Factory.
func newAdapter(ch providers.Channel, deps providers.Deps) (*Adapter, error) {
	p, err := New(ch, deps)
	if err != nil {
		return nil, err
	}
	return p.(*Adapter), nil
}
