package wechatv3

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox/wechatv3sim"
)

// fakeWeChat records the adapter's requests, checks their signature with
// the simulator's verifier, and answers what the test scripts, signed
// with WeChat's demo key unless told otherwise.
type fakeWeChat struct {
	t      *testing.T
	w      wechatSide
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	answer func(r recorded) (status int, body string, sign bool)
}

type recorded struct {
	Method, URI, Path, Query string
	Header                   http.Header
	Body                     []byte
	JSON                     map[string]any
	AuthErr                  error
}

func newFakeWeChat(t *testing.T) *fakeWeChat {
	f := &fakeWeChat{t: t, w: loadWechatSide(t)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := recorded{Method: r.Method, URI: r.RequestURI, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
		_ = json.Unmarshal(body, &rec.JSON)
		a, err := wechatv3sim.ParseAuthorization(r.Header.Get("Authorization"))
		if err == nil {
			err = wechatv3sim.VerifyMessage(f.w.merchantPub, wechatv3sim.RequestSigningString(r.Method, r.RequestURI, a.Timestamp, a.Nonce, body), a.Signature)
		}
		if err == nil && (a.MchID == "" || a.SerialNo != tCertSerial || a.Timestamp != "1704081600") {
			err = errors.New("unexpected Authorization fields: " + r.Header.Get("Authorization"))
		}
		rec.AuthErr = err
		f.mu.Lock()
		f.reqs = append(f.reqs, rec)
		f.mu.Unlock()
		status, out, sign := 200, `{}`, true
		if f.answer != nil {
			status, out, sign = f.answer(rec)
		}
		if sign {
			for k, v := range f.w.sign(t, tPubKeyID, tNow, "answer-nonce", []byte(out)) {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, out)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWeChat) last() recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		f.t.Fatal("no request reached the fake WeChat")
	}
	r := f.reqs[len(f.reqs)-1]
	if r.AuthErr != nil {
		f.t.Fatalf("request %s %s: Authorization does not verify: %v", r.Method, r.URI, r.AuthErr)
	}
	return r
}

func orderReq() providers.CreateOrderRequest {
	return providers.CreateOrderRequest{
		OutTradeNo: tOutTradeNo, Amount: providers.Money{Minor: 100, Currency: "CNY"}, Description: "Image形象店-深圳腾大-QQ公仔",
		PayerOpenID: tOpenID, ClientIP: "203.0.113.7", ExpiresAt: time.Date(2024, 1, 1, 4, 30, 0, 0, time.UTC),
		NotifyURL: "https://gw.example/notify/t",
	}
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCreateOrderWire(t *testing.T) {
	for _, tt := range []struct {
		name       string
		params     providers.Params
		payerAppID string
		wantPath   string
		wantBody   map[string]any
		wantAppID  string
	}{
		{"direct", directParams(), "", "/v3/pay/transactions/jsapi", map[string]any{
			"appid": tAppID, "mchid": tMchID, "description": "Image形象店-深圳腾大-QQ公仔", "out_trade_no": tOutTradeNo,
			"time_expire": "2024-01-01T12:30:00+08:00", "notify_url": "https://gw.example/notify/t",
			"amount": map[string]any{"total": 100.0, "currency": "CNY"}, "payer": map[string]any{"openid": tOpenID},
			"scene_info": map[string]any{"payer_client_ip": "203.0.113.7"},
		}, tAppID},
		{"partner, payer of sub_appid (default)", partnerParams(), "", "/v3/pay/partner/transactions/jsapi", map[string]any{
			"sp_appid": tSpAppID, "sp_mchid": tSpMchID, "sub_appid": tSubAppID, "sub_mchid": tSubMchID,
			"description": "Image形象店-深圳腾大-QQ公仔", "out_trade_no": tOutTradeNo,
			"time_expire": "2024-01-01T12:30:00+08:00", "notify_url": "https://gw.example/notify/t",
			"amount": map[string]any{"total": 100.0, "currency": "CNY"}, "payer": map[string]any{"sub_openid": tOpenID},
			"scene_info": map[string]any{"payer_client_ip": "203.0.113.7"},
		}, tSubAppID},
		{"partner, payer of sub_appid (named)", partnerParams(), tSubAppID, "/v3/pay/partner/transactions/jsapi", nil, tSubAppID},
		{"partner, payer of sp_appid", partnerParams(), tSpAppID, "/v3/pay/partner/transactions/jsapi", map[string]any{
			"sp_appid": tSpAppID, "sp_mchid": tSpMchID, "sub_mchid": tSubMchID,
			"description": "Image形象店-深圳腾大-QQ公仔", "out_trade_no": tOutTradeNo,
			"time_expire": "2024-01-01T12:30:00+08:00", "notify_url": "https://gw.example/notify/t",
			"amount": map[string]any{"total": 100.0, "currency": "CNY"}, "payer": map[string]any{"sp_openid": tOpenID},
			"scene_info": map[string]any{"payer_client_ip": "203.0.113.7"},
		}, tSpAppID},
		{"partner without sub_appid", with(partnerParams(), "sub_appid", nil), "", "/v3/pay/partner/transactions/jsapi", nil, tSpAppID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeWeChat(t)
			f.answer = func(recorded) (int, string, bool) {
				return 200, `{"prepay_id":"wx201410272009395522657a690389285100"}`, true
			}
			p := newTestProvider(t, tt.params, f.srv.URL)
			req := orderReq()
			req.PayerAppID = tt.payerAppID
			res, err := p.CreateOrder(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			r := f.last()
			if r.Method != "POST" || r.URI != tt.wantPath {
				t.Fatalf("sent %s %s, want POST %s", r.Method, r.URI, tt.wantPath)
			}
			if r.Header.Get("Accept") != "application/json" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get(HeaderSerial) != tPubKeyID {
				t.Fatalf("headers = %v", r.Header)
			}
			if tt.wantBody != nil && jsonOf(t, r.JSON) != jsonOf(t, tt.wantBody) {
				t.Fatalf("body = %s\nwant %s", r.Body, jsonOf(t, tt.wantBody))
			}
			if res.PayParams["appId"] != tt.wantAppID || res.PayParams["package"] != "prepay_id=wx201410272009395522657a690389285100" ||
				res.PayParams["signType"] != "RSA" || res.PayParams["timeStamp"] != "1704081600" || len(res.PayParams["nonceStr"]) != 32 {
				t.Fatalf("pay params = %v", res.PayParams)
			}
			msg := res.PayParams["appId"] + "\n" + res.PayParams["timeStamp"] + "\n" + res.PayParams["nonceStr"] + "\n" + res.PayParams["package"] + "\n"
			if err := wechatv3sim.VerifyMessage(f.w.merchantPub, msg, res.PayParams["paySign"]); err != nil {
				t.Fatalf("paySign does not verify with the merchant key: %v", err)
			}
			if res.ProviderTradeNo != "" || res.Status != "" {
				t.Fatalf("result = %+v", res)
			}
		})
	}
}

func TestCreateOrderRefusedBeforeCalling(t *testing.T) {
	f := newFakeWeChat(t)
	for _, tt := range []struct {
		name   string
		params providers.Params
		mut    func(*providers.CreateOrderRequest)
		code   providers.ErrorCode
	}{
		{"foreign payer appid (direct)", directParams(), func(r *providers.CreateOrderRequest) { r.PayerAppID = "wx0000000000000000" }, providers.ErrCodeRejected},
		{"foreign payer appid (partner)", partnerParams(), func(r *providers.CreateOrderRequest) { r.PayerAppID = "wx0000000000000000" }, providers.ErrCodeRejected},
		{"no openid", directParams(), func(r *providers.CreateOrderRequest) { r.PayerOpenID = "" }, providers.ErrCodeRejected},
		{"EUR", directParams(), func(r *providers.CreateOrderRequest) { r.Amount.Currency = "EUR" }, providers.ErrCodeRejected},
		{"other pay method", directParams(), func(r *providers.CreateOrderRequest) { r.PayMethod = "alipay" }, providers.ErrCodeUnsupported},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProvider(t, tt.params, f.srv.URL)
			req := orderReq()
			tt.mut(&req)
			_, err := p.CreateOrder(context.Background(), req)
			if !providers.IsCode(err, tt.code) {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
	if len(f.reqs) != 0 {
		t.Fatalf("%d request(s) reached WeChat", len(f.reqs))
	}
}

func TestOperationsWire(t *testing.T) {
	paid := jsonOf(t, directTransaction())
	partnerPaid := jsonOf(t, partnerTransaction())
	refundAnswer := `{"refund_id":"50000000382019052709732678859","out_refund_no":"R20240101000001","transaction_id":"` + tTransactionID +
		`","out_trade_no":"` + tOutTradeNo + `","channel":"ORIGINAL","status":"PROCESSING","amount":{"total":100,"refund":30,"payer_total":100,"payer_refund":30,"currency":"CNY"}}`
	refundReq := providers.RefundRequest{Order: providers.OrderRef{OutTradeNo: tOutTradeNo, TransactionID: tTransactionID, Amount: providers.Money{Minor: 100, Currency: "CNY"}},
		OutRefundNo: "R20240101000001", Amount: providers.Money{Minor: 30, Currency: "CNY"}, Reason: "商品已售完"}
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		params   providers.Params
		answer   string
		status   int
		call     func(p *Adapter) (any, error)
		wantURI  string
		wantBody string
		check    func(t *testing.T, got any)
	}{
		{"query by out_trade_no (direct)", directParams(), paid, 200,
			func(p *Adapter) (any, error) { return p.QueryOrder(ctx, providers.OrderRef{OutTradeNo: tOutTradeNo}) },
			"/v3/pay/transactions/out-trade-no/" + tOutTradeNo + "?mchid=" + tMchID, "",
			func(t *testing.T, got any) {
				st := got.(providers.OrderState)
				if st.Status != providers.OrderPaid || st.TransactionID != tTransactionID || st.Amount != (providers.Money{Minor: 100, Currency: "CNY"}) {
					t.Fatalf("%+v", st)
				}
			}},
		{"query by transaction_id (direct)", directParams(), paid, 200,
			func(p *Adapter) (any, error) {
				return p.QueryOrder(ctx, providers.OrderRef{OutTradeNo: tOutTradeNo, TransactionID: tTransactionID})
			},
			"/v3/pay/transactions/id/" + tTransactionID + "?mchid=" + tMchID, "", nil},
		{"query by out_trade_no (partner)", partnerParams(), partnerPaid, 200,
			func(p *Adapter) (any, error) { return p.QueryOrder(ctx, providers.OrderRef{OutTradeNo: tOutTradeNo}) },
			"/v3/pay/partner/transactions/out-trade-no/" + tOutTradeNo + "?sp_mchid=" + tSpMchID + "&sub_mchid=" + tSubMchID, "", nil},
		{"query by transaction_id (partner)", partnerParams(), partnerPaid, 200,
			func(p *Adapter) (any, error) {
				return p.QueryOrder(ctx, providers.OrderRef{TransactionID: tTransactionID})
			},
			"/v3/pay/partner/transactions/id/" + tTransactionID + "?sp_mchid=" + tSpMchID + "&sub_mchid=" + tSubMchID, "", nil},
		{"close (direct) 204", directParams(), "", 204,
			func(p *Adapter) (any, error) {
				return nil, p.CloseOrder(ctx, providers.OrderRef{OutTradeNo: tOutTradeNo})
			},
			"/v3/pay/transactions/out-trade-no/" + tOutTradeNo + "/close", `{"mchid":"` + tMchID + `"}`, nil},
		{"close (partner) 204", partnerParams(), "", 204,
			func(p *Adapter) (any, error) {
				return nil, p.CloseOrder(ctx, providers.OrderRef{OutTradeNo: tOutTradeNo})
			},
			"/v3/pay/partner/transactions/out-trade-no/" + tOutTradeNo + "/close", `{"sp_mchid":"` + tSpMchID + `","sub_mchid":"` + tSubMchID + `"}`, nil},
		{"refund (direct)", directParams(), refundAnswer, 200,
			func(p *Adapter) (any, error) { return p.Refund(ctx, refundReq) },
			"/v3/refund/domestic/refunds",
			`{"transaction_id":"` + tTransactionID + `","out_refund_no":"R20240101000001","reason":"商品已售完","notify_url":"https://gw.example/notify/t","amount":{"refund":30,"total":100,"currency":"CNY"}}`,
			func(t *testing.T, got any) {
				st := got.(providers.RefundState)
				if st.Status != providers.RefundProcessing || st.ProviderRefundNo != "50000000382019052709732678859" || st.Amount.Minor != 30 {
					t.Fatalf("%+v", st)
				}
			}},
		{"refund (partner) by out_trade_no", partnerParams(), refundAnswer, 200,
			func(p *Adapter) (any, error) {
				r := refundReq
				r.Order.TransactionID = ""
				return p.Refund(ctx, r)
			},
			"/v3/refund/domestic/refunds",
			`{"sub_mchid":"` + tSubMchID + `","out_trade_no":"` + tOutTradeNo + `","out_refund_no":"R20240101000001","reason":"商品已售完","notify_url":"https://gw.example/notify/t","amount":{"refund":30,"total":100,"currency":"CNY"}}`, nil},
		{"refund query (direct)", directParams(), strings.Replace(refundAnswer, "PROCESSING", "SUCCESS", 1), 200,
			func(p *Adapter) (any, error) {
				return p.QueryRefund(ctx, providers.RefundRef{OutRefundNo: "R20240101000001"})
			},
			"/v3/refund/domestic/refunds/R20240101000001", "",
			func(t *testing.T, got any) {
				if st := got.(providers.RefundState); st.Status != providers.RefundSucceeded {
					t.Fatalf("%+v", st)
				}
			}},
		{"refund query (partner)", partnerParams(), refundAnswer, 200,
			func(p *Adapter) (any, error) {
				return p.QueryRefund(ctx, providers.RefundRef{OutRefundNo: "R20240101000001"})
			},
			"/v3/refund/domestic/refunds/R20240101000001?sub_mchid=" + tSubMchID, "", nil},
		{"path segment escaped", directParams(), strings.Replace(refundAnswer, "R20240101000001", "R2024|01*@x", 1), 200,
			func(p *Adapter) (any, error) {
				return p.QueryRefund(ctx, providers.RefundRef{OutRefundNo: "R2024|01*@x"})
			},
			"/v3/refund/domestic/refunds/R2024%7C01%2A@x", "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeWeChat(t)
			f.answer = func(recorded) (int, string, bool) { return tt.status, tt.answer, true }
			p := newTestProvider(t, tt.params, f.srv.URL)
			got, err := tt.call(p)
			if err != nil {
				t.Fatal(err)
			}
			r := f.last()
			if r.URI != tt.wantURI {
				t.Fatalf("URI = %s\nwant  %s", r.URI, tt.wantURI)
			}
			if string(r.Body) != tt.wantBody {
				t.Fatalf("body = %s\nwant   %s", r.Body, tt.wantBody)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestAnswerVerificationAndErrors(t *testing.T) {
	ctx := context.Background()
	query := func(p *Adapter) error {
		_, err := p.QueryOrder(ctx, providers.OrderRef{OutTradeNo: tOutTradeNo})
		return err
	}
	closeOrder := func(p *Adapter) error { return p.CloseOrder(ctx, providers.OrderRef{OutTradeNo: tOutTradeNo}) }
	prepay := func(p *Adapter) error { _, err := p.CreateOrder(ctx, orderReq()); return err }
	otherMch := directTransaction()
	otherMch["mchid"] = "1900000999"
	otherOrder := directTransaction()
	otherOrder["out_trade_no"] = "T20240101000999"
	for _, tt := range []struct {
		name     string
		call     func(*Adapter) error
		answer   func(w wechatSide, r recorded) (int, string, http.Header)
		code     providers.ErrorCode
		provCode string
		verif    bool
	}{
		{"unsigned 200", query, func(w wechatSide, r recorded) (int, string, http.Header) {
			return 200, jsonOf(t, directTransaction()), http.Header{}
		},
			providers.ErrCodeBadResponse, "", true},
		{"unsigned 204 close", closeOrder, func(w wechatSide, r recorded) (int, string, http.Header) { return 204, "", http.Header{} },
			providers.ErrCodeBadResponse, "", true},
		{"204 signed over another body", closeOrder, func(w wechatSide, r recorded) (int, string, http.Header) {
			return 204, "", w.sign(t, tPubKeyID, tNow, "x", []byte("{}"))
		}, providers.ErrCodeBadResponse, "", true},
		{"stale answer", query, func(w wechatSide, r recorded) (int, string, http.Header) {
			b := jsonOf(t, directTransaction())
			return 200, b, w.sign(t, tPubKeyID, tNow.Add(-6*time.Minute), "x", []byte(b))
		}, providers.ErrCodeBadResponse, "", true},
		{"answer signed by an unknown serial", query, func(w wechatSide, r recorded) (int, string, http.Header) {
			b := jsonOf(t, directTransaction())
			h := w.sign(t, tPubKeyID, tNow, "x", []byte(b))
			h.Set(HeaderSerial, "PUB_KEY_ID_0000000000000099000000000000000009")
			return 200, b, h
		}, providers.ErrCodeBadResponse, "", true},
		{"answer for another mchid", query, func(w wechatSide, r recorded) (int, string, http.Header) {
			b := jsonOf(t, otherMch)
			return 200, b, w.sign(t, tPubKeyID, tNow, "x", []byte(b))
		}, providers.ErrCodeBadResponse, "", false},
		{"answer for another order", query, func(w wechatSide, r recorded) (int, string, http.Header) {
			b := jsonOf(t, otherOrder)
			return 200, b, w.sign(t, tPubKeyID, tNow, "x", []byte(b))
		}, providers.ErrCodeBadResponse, "", false},
		{"404 ORDER_NOT_EXIST", query, errAnswer(404, "ORDER_NOT_EXIST"), providers.ErrCodeNotFound, "ORDER_NOT_EXIST", false},
		{"404 ORDERNOTEXIST", query, errAnswer(404, "ORDERNOTEXIST"), providers.ErrCodeNotFound, "ORDERNOTEXIST", false},
		{"404 RESOURCE_NOT_EXISTS", query, errAnswer(404, "RESOURCE_NOT_EXISTS"), providers.ErrCodeNotFound, "RESOURCE_NOT_EXISTS", false},
		{"401 SIGN_ERROR", query, errAnswer(401, "SIGN_ERROR"), providers.ErrCodeRejected, "SIGN_ERROR", false},
		{"400 PARAM_ERROR", prepay, errAnswer(400, "PARAM_ERROR"), providers.ErrCodeRejected, "PARAM_ERROR", false},
		{"403 OUT_TRADE_NO_USED", prepay, errAnswer(403, "OUT_TRADE_NO_USED"), providers.ErrCodeDuplicate, "OUT_TRADE_NO_USED", false},
		{"403 TRADE_ERROR", prepay, errAnswer(403, "TRADE_ERROR"), providers.ErrCodeRejected, "TRADE_ERROR", false},
		{"400 ORDER_CLOSED", prepay, errAnswer(400, "ORDER_CLOSED"), providers.ErrCodeOrderClosed, "ORDER_CLOSED", false},
		{"400 ORDERPAID on close", closeOrder, errAnswer(400, "ORDERPAID"), providers.ErrCodeOrderPaid, "ORDERPAID", false},
		{"403 FREQUENCY_LIMITED", query, errAnswer(403, "FREQUENCY_LIMITED"), providers.ErrCodeUnavailable, "FREQUENCY_LIMITED", false},
		{"429 without body", query, func(wechatSide, recorded) (int, string, http.Header) { return 429, "", http.Header{} }, providers.ErrCodeUnavailable, "", false},
		{"500 SYSTEM_ERROR", query, errAnswer(500, "SYSTEM_ERROR"), providers.ErrCodeUnavailable, "SYSTEM_ERROR", false},
		{"502 HTML", query, func(wechatSide, recorded) (int, string, http.Header) {
			return 502, "<html>bad gateway</html>", http.Header{}
		}, providers.ErrCodeUnavailable, "", false},
		{"200 not JSON (signed)", query, func(w wechatSide, r recorded) (int, string, http.Header) {
			return 200, "<xml/>", w.sign(t, tPubKeyID, tNow, "x", []byte("<xml/>"))
		}, providers.ErrCodeBadResponse, "", false},
		{"fractional amount", query, func(w wechatSide, r recorded) (int, string, http.Header) {
			b := strings.Replace(jsonOf(t, directTransaction()), `"total":100`, `"total":100.5`, 1)
			return 200, b, w.sign(t, tPubKeyID, tNow, "x", []byte(b))
		}, providers.ErrCodeBadResponse, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := loadWechatSide(t)
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				status, body, h := tt.answer(w, recorded{})
				for k, v := range h {
					rw.Header()[k] = v
				}
				rw.WriteHeader(status)
				_, _ = io.WriteString(rw, body)
			}))
			defer srv.Close()
			p := newTestProvider(t, directParams(), srv.URL)
			err := tt.call(p)
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Code != tt.code || pe.ProviderCode != tt.provCode {
				t.Fatalf("err = %v, want %s (%s)", err, tt.code, tt.provCode)
			}
			if errors.Is(err, providers.ErrVerification) != tt.verif {
				t.Fatalf("errors.Is(err, ErrVerification) = %v, want %v (%v)", !tt.verif, tt.verif, err)
			}
		})
	}
}

func errAnswer(status int, code string) func(wechatSide, recorded) (int, string, http.Header) {
	return func(wechatSide, recorded) (int, string, http.Header) {
		return status, `{"code":"` + code + `","message":"msg of ` + code + `"}`, http.Header{"Content-Type": {"application/json"}}
	}
}

func TestPrepayOnPaidOrderSaysPaid(t *testing.T) {
	f := newFakeWeChat(t)
	f.answer = func(recorded) (int, string, bool) {
		return 400, `{"code":"ORDERPAID","message":"该订单已支付"}`, true
	}
	res, err := newTestProvider(t, directParams(), f.srv.URL).CreateOrder(context.Background(), orderReq())
	if err != nil || res.Status != providers.OrderPaid || res.PayParams != nil {
		t.Fatalf("res = %+v, err = %v", res, err)
	}
}

func TestStateMapping(t *testing.T) {
	for in, want := range map[string]providers.OrderStatus{
		"SUCCESS": providers.OrderPaid, "REFUND": providers.OrderPaid, "NOTPAY": providers.OrderPaying, "USERPAYING": providers.OrderPaying,
		"CLOSED": providers.OrderClosed, "REVOKED": providers.OrderClosed, "PAYERROR": providers.OrderFailed,
	} {
		if got := MapTradeState(in); got != want {
			t.Errorf("MapTradeState(%s) = %s; want %s", in, got, want)
		}
	}
	for _, bad := range []string{"", "ACCEPT", "success"} {
		if got := MapTradeState(bad); got != providers.OrderUnknown {
			t.Errorf("MapTradeState(%q) = %s, want UNKNOWN", bad, got)
		}
	}
	for in, want := range map[string]providers.RefundStatus{
		"SUCCESS": providers.RefundSucceeded, "PROCESSING": providers.RefundProcessing, "ABNORMAL": providers.RefundProcessing, "CLOSED": providers.RefundFailed,
	} {
		if got := MapRefundStatus(in); got != want {
			t.Errorf("MapRefundStatus(%s) = %s; want %s", in, got, want)
		}
	}
	for _, bad := range []string{"", "REFUNDCLOSE", "CHANGE"} {
		if got := MapRefundStatus(bad); got != providers.RefundUnknown {
			t.Errorf("MapRefundStatus(%q) = %s, want UNKNOWN", bad, got)
		}
	}
}

// A verified answer with a trade_state word the adapter does not know is
// no error and no guess: UNKNOWN with the word kept (providers.MapStatus).
func TestQueryUnknownTradeState(t *testing.T) {
	w := loadWechatSide(t)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		tx := directTransaction()
		tx["trade_state"] = "ACCEPT"
		b := jsonOf(t, tx)
		for k, v := range w.sign(t, tPubKeyID, tNow, "x", []byte(b)) {
			rw.Header()[k] = v
		}
		_, _ = io.WriteString(rw, b)
	}))
	defer srv.Close()
	st, err := newTestProvider(t, directParams(), srv.URL).QueryOrder(context.Background(), providers.OrderRef{OutTradeNo: directTransaction()["out_trade_no"].(string)})
	if err != nil || st.Status != providers.OrderUnknown || st.ProviderStatus != "ACCEPT" {
		t.Fatalf("QueryOrder = %+v, %v; want UNKNOWN with the word ACCEPT", st, err)
	}
}
