package yaband

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
)

// v3.GetTradebill on the wire: getTradebillinfo for the statement day in
// Netherlands time, signed by the report account when one is configured;
// the answer's items become payment and refund rows.
func TestDownloadStatementWire(t *testing.T) {
	answer := `{"status":true,"code":200,"message":"","data":{"tradebillinfo":[
		{"type":"payment","trade_id":"8a8aa7c7-66d7-e2cc-e2a6-fff7c77aaefd","order_id":"YB0001","transaction_id":"4200002425202409032894611438","amount":"24.90","currency":"EUR","state":"paid","time":"1732540000","merchant_cost":"0.10"},
		{"type":"refund","trade_id":"8a8aa7c7-66d7-e2cc-e2a6-fff7c77aaefd","order_id":"YB0001","refund_id":"20241125154342497308","m_refund_id":"YB0001R1","amount":"4.90","currency":"EUR","state":"refunded","time":"1732545000"}]}}`
	p, f := newFake(t, func(string, map[string]any) (int, string) { return 200, answer },
		map[string]any{"report_user": "036870", "report_secret_key": "report-secret"})
	day := providers.Day{Year: 2024, Month: 11, Day: 25}
	var rows []providers.StatementRow
	if _, err := p.DownloadStatement(context.Background(), day, nil, func(r providers.StatementRow) error { rows = append(rows, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Kind != providers.StatementPayment || rows[0].OutTradeNo != "YB0001" || rows[0].Amount.Minor != 2490 ||
		rows[0].Fee.String() != "0.1" || rows[1].Kind != providers.StatementRefund || rows[1].OutRefundNo != "YB0001R1" || rows[1].Status != "SUCCEEDED" {
		t.Fatalf("rows %+v", rows)
	}
	req := f.calls()[0]
	data := req["data"].(map[string]any)
	start := time.Date(2024, 11, 25, 0, 0, 0, 0, amsterdam).Unix()
	if req["method"] != MethodGetTradebill || req["user"] != "036870" || data["command"] != "getTradebillinfo" ||
		data["start_time"] != strconv.FormatInt(start, 10) || data["end_time"] != strconv.FormatInt(start+86399, 10) || len(data["nonce_string"].(string)) != 24 {
		t.Fatalf("request %v", req)
	}
	signed := map[string]string{"user": "036870", "method": MethodGetTradebill, "time": req["time"].(interface{ String() string }).String()}
	for k, v := range data {
		signed[k] = v.(string)
	}
	if req["sign"] != Sign("report-secret", signed) {
		t.Fatal("not signed with the report account's key")
	}
}

// Nothing yet before 07:00 the next day is "not ready"; nothing later is
// "no statement"; an amount that is not a plain decimal is refused.
func TestDownloadStatementOutcomes(t *testing.T) {
	empty := `{"status":true,"code":200,"data":{"tradebillinfo":[]}}`
	p, _ := newFake(t, func(string, map[string]any) (int, string) { return 200, empty }, nil)
	// The fake's clock is 2024-11-27 02:55 in Amsterdam.
	noop := func(providers.StatementRow) error { return nil }
	if _, err := p.DownloadStatement(context.Background(), providers.Day{Year: 2024, Month: 11, Day: 26}, nil, noop); !errors.Is(err, providers.ErrStatementNotReady) {
		t.Errorf("before clearing: %v", err)
	}
	if _, err := p.DownloadStatement(context.Background(), providers.Day{Year: 2024, Month: 11, Day: 20}, nil, noop); !errors.Is(err, providers.ErrNoStatement) {
		t.Errorf("empty past day: %v", err)
	}
	bad := `{"status":true,"code":200,"data":{"tradebillinfo":[{"type":"payment","order_id":"X","amount":"1e2","currency":"EUR","time":"1732540000"}]}}`
	p, _ = newFake(t, func(string, map[string]any) (int, string) { return 200, bad }, nil)
	if _, err := p.DownloadStatement(context.Background(), providers.Day{Year: 2024, Month: 11, Day: 25}, nil, noop); providers.CodeOf(err) != providers.ErrCodeBadResponse {
		t.Errorf("exponent amount: %v", err)
	}
}
