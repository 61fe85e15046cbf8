package wechatv3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
)

func notifyRequest(h http.Header, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/notify/t", bytes.NewReader(body))
	r.Header = h.Clone()
	return r
}

func TestParseNotifyGood(t *testing.T) {
	w := loadWechatSide(t)
	paidAt := time.Date(2024, 1, 1, 12, 0, 5, 0, beijing)
	for _, tt := range []struct {
		name   string
		params providers.Params
		event  string
		otype  string
		res    any
		serial string
		check  func(t *testing.T, n providers.Notification)
	}{
		{"direct payment, public key", directParams(), EventTransactionSuccess, "transaction", directTransaction(), tPubKeyID,
			func(t *testing.T, n providers.Notification) {
				want := providers.OrderState{Status: providers.OrderPaid, ProviderStatus: "SUCCESS", OutTradeNo: tOutTradeNo,
					ProviderTradeNo: tTransactionID, TransactionID: tTransactionID, Amount: providers.Money{Minor: 100, Currency: "CNY"},
					PaidAt: paidAt, PayerID: tOpenID}
				if n.Kind != providers.NotifyPayment || n.ID != "EV-2018-0001" || n.Hint || !n.Order.PaidAt.Equal(want.PaidAt) {
					t.Fatalf("notification = %+v", n)
				}
				n.Order.PaidAt = want.PaidAt
				if n.Order != want {
					t.Fatalf("order = %+v\nwant %+v", n.Order, want)
				}
			}},
		{"direct payment, platform certificate (lower-case serial)", directParams(), EventTransactionSuccess, "transaction", directTransaction(), strings.ToLower(tPlatformSer),
			func(t *testing.T, n providers.Notification) {
				if n.Order.Status != providers.OrderPaid {
					t.Fatalf("%+v", n)
				}
			}},
		{"partner payment", partnerParams(), EventTransactionSuccess, "transaction", partnerTransaction(), tPubKeyID,
			func(t *testing.T, n providers.Notification) {
				if n.Order.Status != providers.OrderPaid || n.Order.Amount.Minor != 100 || n.Order.PayerID != tOpenID {
					t.Fatalf("%+v", n)
				}
			}},
		{"direct refund success", directParams(), EventRefundSuccess, "refund", refundResource(map[string]string{"mchid": tMchID}, "SUCCESS"), tPubKeyID,
			func(t *testing.T, n providers.Notification) {
				want := providers.RefundState{Status: providers.RefundSucceeded, ProviderStatus: "SUCCESS", OutRefundNo: "R20240101000001",
					ProviderRefundNo: "50000000382019052709732678859", Amount: providers.Money{Minor: 30, Currency: "CNY"},
					SucceededAt: time.Date(2024, 1, 2, 10, 0, 0, 0, beijing)}
				if n.Kind != providers.NotifyRefund || n.Order.OutTradeNo != tOutTradeNo || n.Order.TransactionID != tTransactionID || !n.Refund.SucceededAt.Equal(want.SucceededAt) {
					t.Fatalf("%+v", n)
				}
				n.Refund.SucceededAt = want.SucceededAt
				if n.Refund != want {
					t.Fatalf("refund = %+v\nwant %+v", n.Refund, want)
				}
			}},
		{"partner refund abnormal stays processing", partnerParams(), EventRefundAbnormal, "refund", refundResource(map[string]string{"sp_mchid": tSpMchID, "sub_mchid": tSubMchID}, "ABNORMAL"), tPubKeyID,
			func(t *testing.T, n providers.Notification) {
				if n.Refund.Status != providers.RefundProcessing || n.Refund.ProviderStatus != "ABNORMAL" {
					t.Fatalf("%+v", n)
				}
			}},
		{"refund closed is failed", directParams(), EventRefundClosed, "refund", refundResource(map[string]string{"mchid": tMchID}, "CLOSED"), tPubKeyID,
			func(t *testing.T, n providers.Notification) {
				if n.Refund.Status != providers.RefundFailed {
					t.Fatalf("%+v", n)
				}
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProvider(t, tt.params, "")
			body := notification(t, tAPIv3Key, tt.event, tt.otype, tt.res)
			n, err := p.ParseNotify(context.Background(), notifyRequest(w.sign(t, tt.serial, tNow, "n0nce", body), body), body)
			if err != nil {
				t.Fatalf("ParseNotify: %v", err)
			}
			tt.check(t, n)
		})
	}
}

func TestParseNotifyRefused(t *testing.T) {
	w := loadWechatSide(t)
	good := notification(t, tAPIv3Key, EventTransactionSuccess, "transaction", directTransaction())
	otherMch := directTransaction()
	otherMch["mchid"] = "1900000999"
	otherApp := directTransaction()
	otherApp["appid"] = "wx0000000000000000"
	partnerOtherSub := partnerTransaction()
	partnerOtherSub["sub_mchid"] = "1900000222"
	var env map[string]any
	_ = json.Unmarshal(good, &env)
	res := env["resource"].(map[string]any)
	ct := res["ciphertext"].(string)
	res["ciphertext"] = "A" + ct[1:]
	if ct[0] == 'A' {
		res["ciphertext"] = "B" + ct[1:]
	}
	tampered, _ := json.Marshal(env)

	type tc struct {
		name      string
		params    providers.Params
		body      []byte
		headers   http.Header
		want      error
		wantHint  bool
		wantNoNum bool
	}
	signed := func(b []byte) http.Header { return w.sign(t, tPubKeyID, tNow, "n0nce", b) }
	badSig := signed(good)
	badSig.Set(HeaderSignature, signed([]byte("other body")).Get(HeaderSignature))
	probe := signed(good)
	probe.Set(HeaderSignature, SignTestPrefix+probe.Get(HeaderSignature))
	unknown := w.sign(t, tPubKeyID, tNow, "n0nce", good)
	unknown.Set(HeaderSerial, "PUB_KEY_ID_0000000000000099000000000000000002")
	for _, tt := range []tc{
		{"bad signature", directParams(), good, badSig, providers.ErrVerification, true, false},
		{"SIGNTEST probe", directParams(), good, probe, providers.ErrVerification, true, false},
		{"stale timestamp: 300 s old", directParams(), good, w.sign(t, tPubKeyID, tNow.Add(-300*time.Second), "n0nce", good), providers.ErrVerification, true, false},
		{"stale timestamp: 10 min ahead", directParams(), good, w.sign(t, tPubKeyID, tNow.Add(10*time.Minute), "n0nce", good), providers.ErrVerification, true, false},
		{"unknown serial", directParams(), good, unknown, providers.ErrVerification, true, false},
		{"public key id but platform-cert signature", directParams(), good, func() http.Header {
			h := w.sign(t, tPlatformSer, tNow, "n0nce", good)
			h.Set(HeaderSerial, tPubKeyID)
			return h
		}(), providers.ErrVerification, true, false},
		{"tampered ciphertext (re-signed)", directParams(), tampered, signed(tampered), providers.ErrVerification, false, true},
		{"wrong APIv3 key", directParams(), notification(t, "ANOTHER0APIV3KEY0000000000000000", EventTransactionSuccess, "transaction", directTransaction()), nil, providers.ErrVerification, false, true},
		{"wrong mchid", directParams(), notification(t, tAPIv3Key, EventTransactionSuccess, "transaction", otherMch), nil, providers.ErrChannelMismatch, false, true},
		{"wrong appid", directParams(), notification(t, tAPIv3Key, EventTransactionSuccess, "transaction", otherApp), nil, providers.ErrChannelMismatch, false, true},
		{"partner: other sub_mchid", partnerParams(), notification(t, tAPIv3Key, EventTransactionSuccess, "transaction", partnerOtherSub), nil, providers.ErrChannelMismatch, false, true},
		{"direct channel, partner notification", directParams(), notification(t, tAPIv3Key, EventTransactionSuccess, "transaction", partnerTransaction()), nil, providers.ErrChannelMismatch, false, true},
		{"refund of another mchid", directParams(), notification(t, tAPIv3Key, EventRefundSuccess, "refund", refundResource(map[string]string{"mchid": "1900000999"}, "SUCCESS")), nil, providers.ErrChannelMismatch, false, true},
		{"refund event/status disagree", directParams(), notification(t, tAPIv3Key, EventRefundSuccess, "refund", refundResource(map[string]string{"mchid": tMchID}, "CLOSED")), nil, providers.ErrMalformed, false, true},
		{"not JSON (signed)", directParams(), []byte("<xml>hello</xml>"), nil, providers.ErrMalformed, false, true},
		{"not JSON, unsigned", directParams(), []byte("<xml>hello</xml>"), http.Header{}, providers.ErrVerification, false, true},
		{"no resource (signed)", directParams(), []byte(`{"id":"x","event_type":"TRANSACTION.SUCCESS"}`), nil, providers.ErrMalformed, false, true},
		{"unsupported event (signed)", directParams(), notification(t, tAPIv3Key, "PAYSCORE.USER_OPEN_SERVICE", "payscore", map[string]string{"mchid": tMchID}), nil, providers.ErrMalformed, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProvider(t, tt.params, "")
			h := tt.headers
			if h == nil {
				h = signed(tt.body)
			}
			n, err := p.ParseNotify(context.Background(), notifyRequest(h, tt.body), tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.wantHint {
				if !n.Hint || n.Order.OutTradeNo != tOutTradeNo || n.Order.TransactionID != tTransactionID || n.ID != "EV-2018-0001" {
					t.Fatalf("hint = %+v", n)
				}
				if n.Order.Status != "" || !n.Order.Amount.IsZero() || !n.Order.PaidAt.IsZero() || n.Order.PayerID != "" {
					t.Fatalf("hint carries untrusted state: %+v", n.Order)
				}
			}
			if tt.wantNoNum && (n.Order.OutTradeNo != "" || n.Order.Status != "") {
				t.Fatalf("refused notification still carries %+v", n)
			}
		})
	}
}

func TestParseNotifyRefundHint(t *testing.T) {
	w := loadWechatSide(t)
	p := newTestProvider(t, directParams(), "")
	body := notification(t, tAPIv3Key, EventRefundSuccess, "refund", refundResource(map[string]string{"mchid": tMchID}, "SUCCESS"))
	h := w.sign(t, tPubKeyID, tNow.Add(-time.Hour), "n0nce", body)
	n, err := p.ParseNotify(context.Background(), notifyRequest(h, body), body)
	if !errors.Is(err, providers.ErrVerification) {
		t.Fatalf("err = %v", err)
	}
	if !n.Hint || n.Kind != providers.NotifyRefund || n.Refund.OutRefundNo != "R20240101000001" || n.Order.OutTradeNo != tOutTradeNo {
		t.Fatalf("hint = %+v", n)
	}
	if n.Refund.Status != "" || !n.Refund.Amount.IsZero() {
		t.Fatalf("hint carries untrusted refund state: %+v", n.Refund)
	}
	// A stale notice of another merchant names nothing.
	other := notification(t, tAPIv3Key, EventRefundSuccess, "refund", refundResource(map[string]string{"mchid": "1900000999"}, "SUCCESS"))
	n, err = p.ParseNotify(context.Background(), notifyRequest(w.sign(t, tPubKeyID, tNow.Add(-time.Hour), "n0nce", other), other), other)
	if !errors.Is(err, providers.ErrVerification) || n.Hint || n.Order.OutTradeNo != "" {
		t.Fatalf("foreign stale notice: %+v, %v", n, err)
	}
}

func TestNotifyAck(t *testing.T) {
	p := &Adapter{}
	ok := p.NotifyAck(true, "")
	if ok.Status != http.StatusNoContent || len(ok.Body) != 0 {
		t.Fatalf("success ack = %+v", ok)
	}
	fail := p.NotifyAck(false, "order unknown")
	var b map[string]string
	if fail.Status != http.StatusInternalServerError || fail.ContentType != "application/json" || json.Unmarshal(fail.Body, &b) != nil ||
		b["code"] != "FAIL" || b["message"] != "order unknown" {
		t.Fatalf("failure ack = %+v (%s)", fail, fail.Body)
	}
	long := p.NotifyAck(false, strings.Repeat("失", 500))
	if json.Unmarshal(long.Body, &b) != nil || len([]rune(b["message"])) != 200 {
		t.Fatalf("long reason not cut: %s", long.Body)
	}
}
