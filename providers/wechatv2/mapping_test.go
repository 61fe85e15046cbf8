package wechatv2

import (
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
)

func fixedNow(unix int64) func() time.Time {
	return func() time.Time { return time.Unix(unix, 0) }
}

func TestTradeStateMapping(t *testing.T) {
	for word, want := range map[string]providers.OrderStatus{
		"SUCCESS":    providers.OrderPaid,
		"REFUND":     providers.OrderPaid, // paid, then a refund started
		"NOTPAY":     providers.OrderPaying,
		"USERPAYING": providers.OrderPaying,
		"ACCEPT":     providers.OrderPaying,
		"CLOSED":     providers.OrderClosed,
		"REVOKED":    providers.OrderClosed,
		"PAYERROR":   providers.OrderFailed,
	} {
		if got := MapTradeState(word); got != want {
			t.Errorf("%s -> %s; want %s", word, got, want)
		}
	}
	for _, word := range []string{"", "success", "PAID", "FINISHED"} {
		if got := MapTradeState(word); got != providers.OrderUnknown {
			t.Errorf("unknown %q mapped to %s, want %s", word, got, providers.OrderUnknown)
		}
	}
}

func TestRefundStateMapping(t *testing.T) {
	for word, want := range map[string]providers.RefundStatus{
		"SUCCESS":     providers.RefundSucceeded,
		"PROCESSING":  providers.RefundProcessing,
		"CHANGE":      providers.RefundProcessing, // abnormal: manual handling, not final
		"REFUNDCLOSE": providers.RefundFailed,
	} {
		if got := MapRefundState(word); got != want {
			t.Errorf("%s -> %s; want %s", word, got, want)
		}
	}
	if got := MapRefundState("CLOSED"); got != providers.RefundUnknown {
		t.Errorf("v3 word CLOSED mapped to %s as a v2 refund_status", got)
	}
}

// orderState: paid only when trade_state says so (the caller already
// required return_code and result_code SUCCESS), with its facts.
func TestOrderStateFromQuery(t *testing.T) {
	paid := map[string]string{
		"trade_state": "SUCCESS", "out_trade_no": "T1", "transaction_id": "4200000001202401010000000001",
		"total_fee": "101", "fee_type": "CNY", "time_end": "20240101080000", "openid": "o1", "sub_openid": "so1",
	}
	st, err := orderState(paid, providers.OrderRef{OutTradeNo: "T1"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != providers.OrderPaid || st.Amount != (providers.Money{Minor: 101, Currency: "CNY"}) ||
		!st.PaidAt.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) || st.PayerID != "so1" || st.TransactionID != paid["transaction_id"] {
		t.Fatalf("state %+v", st)
	}
	notPaid := map[string]string{"trade_state": "NOTPAY", "out_trade_no": "T1"}
	if st, err := orderState(notPaid, providers.OrderRef{OutTradeNo: "T1"}); err != nil || st.Status != providers.OrderPaying || !st.Amount.IsZero() {
		t.Fatalf("NOTPAY: %+v %v", st, err)
	}
	for name, m := range map[string]map[string]string{
		"other order":         {"trade_state": "SUCCESS", "out_trade_no": "T2", "transaction_id": "42", "total_fee": "1"},
		"paid without txn id": {"trade_state": "SUCCESS", "out_trade_no": "T1", "total_fee": "1"},
		"paid without amount": {"trade_state": "SUCCESS", "out_trade_no": "T1", "transaction_id": "42"},
		"float amount":        {"trade_state": "SUCCESS", "out_trade_no": "T1", "transaction_id": "42", "total_fee": "1.00"},
		"negative amount":     {"trade_state": "SUCCESS", "out_trade_no": "T1", "transaction_id": "42", "total_fee": "-1"},
		"bad time_end":        {"trade_state": "SUCCESS", "out_trade_no": "T1", "transaction_id": "42", "total_fee": "1", "time_end": "2024-01-01"},
	} {
		if _, err := orderState(m, providers.OrderRef{OutTradeNo: "T1"}); !providers.IsCode(err, providers.ErrCodeBadResponse) {
			t.Errorf("%s: err = %v, want PROVIDER_BAD_RESPONSE", name, err)
		}
	}
	// A word the adapter does not know: no guess, the word kept.
	st, err = orderState(map[string]string{"trade_state": "WHATEVER", "out_trade_no": "T1"}, providers.OrderRef{OutTradeNo: "T1"})
	if err != nil || st.Status != providers.OrderUnknown || st.ProviderStatus != "WHATEVER" {
		t.Errorf("unknown state: %+v, %v; want UNKNOWN with the word", st, err)
	}
}

func TestRefundStateFromQuery(t *testing.T) {
	m := map[string]string{
		"refund_count":    "3",
		"out_refund_no_0": "R0", "refund_status_0": "SUCCESS", "refund_fee_0": "10", "refund_id_0": "500000", "refund_success_time_0": "2017-11-25 15:36:17",
		"out_refund_no_1": "R1", "refund_status_1": "CHANGE", "refund_fee_1": "20", "refund_id_1": "500001",
		"out_refund_no_2": "R2", "refund_status_2": "REFUNDCLOSE", "refund_fee_2": "30", "refund_id_2": "500002",
	}
	st, err := refundState(m, "R0")
	if err != nil || st.Status != providers.RefundSucceeded || st.Amount.Minor != 10 || st.ProviderRefundNo != "500000" ||
		!st.SucceededAt.Equal(time.Date(2017, 11, 25, 7, 36, 17, 0, time.UTC)) {
		t.Fatalf("R0: %+v %v", st, err)
	}
	if st, err := refundState(m, "R1"); err != nil || st.Status != providers.RefundProcessing || st.ProviderStatus != "CHANGE" {
		t.Fatalf("R1: %+v %v", st, err)
	}
	if st, err := refundState(m, "R2"); err != nil || st.Status != providers.RefundFailed || st.Amount.Minor != 30 {
		t.Fatalf("R2: %+v %v", st, err)
	}
	if _, err := refundState(m, "R9"); !providers.IsCode(err, providers.ErrCodeNotFound) {
		t.Fatalf("R9: %v", err)
	}
	for _, n := range []string{"", "x", "-1", "51"} {
		bad := copyMap(m)
		bad["refund_count"] = n
		if _, err := refundState(bad, "R0"); !providers.IsCode(err, providers.ErrCodeBadResponse) {
			t.Errorf("refund_count %q: %v", n, err)
		}
	}
}

func TestErrorCodeMapping(t *testing.T) {
	for _, tc := range []struct {
		errCode string
		want    providers.ErrorCode
	}{
		{"ORDERPAID", providers.ErrCodeOrderPaid},
		{"ORDERCLOSED", providers.ErrCodeOrderClosed},
		{"OUT_TRADE_NO_USED", providers.ErrCodeDuplicate},
		{"ORDERNOTEXIST", providers.ErrCodeNotFound},
		{"REFUNDNOTEXIST", providers.ErrCodeNotFound},
		{"SYSTEMERROR", providers.ErrCodeUnavailable},
		{"BIZERR_NEED_RETRY", providers.ErrCodeUnavailable},
		{"FREQUENCY_LIMITED", providers.ErrCodeUnavailable},
		{"INVALID_REQ_TOO_MUCH", providers.ErrCodeUnavailable},
		{"NOTENOUGH", providers.ErrCodeRejected},
		{"NOAUTH", providers.ErrCodeRejected},
		{"APPID_MCHID_NOT_MATCH", providers.ErrCodeRejected},
		{"LACK_PARAMS", providers.ErrCodeRejected},
		{"SIGNERROR", providers.ErrCodeRejected},
		{"TRADE_OVERDUE", providers.ErrCodeRejected},
		{"PARAM_ERROR", providers.ErrCodeRejected},
		{"SOMETHING_NEW", providers.ErrCodeRejected},
		{"", providers.ErrCodeRejected},
	} {
		e := mapErrCode(tc.errCode, "m")
		if e.Code != tc.want || e.ProviderCode != tc.errCode {
			t.Errorf("%q -> %s (%s), want %s", tc.errCode, e.Code, e.ProviderCode, tc.want)
		}
	}
	for msg, want := range map[string]string{"签名错误": "SIGNERROR", "签名错误，请检查后再试": "SIGNERROR", "缺少参数": "LACK_PARAMS", "XML_FORMAT_ERROR": "XML_FORMAT_ERROR", "mch_id参数格式错误": "FAIL", "": "FAIL"} {
		if got := returnFailCode(msg); got != want {
			t.Errorf("returnFailCode(%q) = %s, want %s", msg, got, want)
		}
	}
}

func TestParseFen(t *testing.T) {
	for _, tc := range []struct {
		in, cur string
		want    int64
		ok      bool
	}{
		{"1", "", 1, true}, {"0", "CNY", 0, true}, {"100000000000", "CNY", 100000000000, true},
		{"100000000001", "CNY", 0, false}, {"1.5", "", 0, false}, {"+1", "", 0, false}, {" 1", "", 0, false},
		{"", "", 0, false}, {"1e3", "", 0, false}, {"1", "XXX", 0, false},
	} {
		m, err := parseFen(tc.in, tc.cur)
		if (err == nil) != tc.ok || (tc.ok && m.Minor != tc.want) {
			t.Errorf("parseFen(%q, %q) = %+v, %v", tc.in, tc.cur, m, err)
		}
	}
}

func TestTimesAreChinaStandardTime(t *testing.T) {
	at := time.Date(2024, 3, 1, 16, 30, 5, 0, time.UTC)
	if got := formatTimeExpire(at); got != "20240302003005" {
		t.Fatalf("time_expire = %s", got)
	}
	got, err := parseTimeEnd("20240302003005")
	if err != nil || !got.Equal(at) {
		t.Fatalf("time_end = %v, %v", got, err)
	}
	if _, err := parseTimeEnd("2024030200300"); err == nil {
		t.Fatal("short time_end accepted")
	}
}
