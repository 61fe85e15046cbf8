package providers

import (
	"strings"
	"testing"
	"time"
)

// Finding 6: provider amounts were parsed by decimal.NewFromString after a
// TrimSpace, so "1e3", "+1" and " 1.00" passed and "1e9999999" took
// seconds and made a 10 MB error string. Only digits and one point, of
// bounded length, are money now, and every error is short.
func TestProviderAmountIsStrict(t *testing.T) {
	for _, bad := range []string{"1e3", "1E3", "+1", "-0", " 1.00", "1.00 ", "1,00", ".5", "5.", "1.2.3", "0x10", "١٢", "NaN", "Infinity", "",
		"1e9999999", strings.Repeat("9", 25), "1" + strings.Repeat("0", 1<<20)} {
		start := time.Now()
		m, err := ParseProviderAmount(bad, "EUR")
		if err == nil {
			t.Errorf("ParseProviderAmount(%.30q) = %+v, want an error", bad, m)
			continue
		}
		if len(err.Error()) > 200 {
			t.Errorf("ParseProviderAmount(%.30q): error of %d bytes", bad, len(err.Error()))
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("ParseProviderAmount(%.30q) took %s", bad, d)
		}
	}
	for in, want := range map[string]int64{"24.9": 2490, "25": 2500, "024.90": 2490, "0": 0, "999999999.99": 99999999999} {
		if m, err := ParseProviderAmount(in, "EUR"); err != nil || m.Minor != want || m.Currency != "EUR" {
			t.Errorf("ParseProviderAmount(%q) = %+v, %v; want %d EUR", in, m, err, want)
		}
	}
}

// The API parser refuses the same shapes, and its error (which the API
// answers and logs) stays short whatever the merchant sent.
func TestAPIAmountErrorsAreBounded(t *testing.T) {
	for _, bad := range []string{"1e3", "+1", " 1", strings.Repeat("1", 64<<10), "1." + strings.Repeat("0", 64<<10)} {
		_, err := ParseAmount(bad, "CNY")
		if err == nil || len(err.Error()) > 200 {
			t.Errorf("ParseAmount(%.30q) = %v (%d bytes), want a short error", bad, err, len(errString(err)))
		}
	}
	if _, err := ParseAmount("12.34", strings.Repeat("X", 1<<16)); err == nil || len(err.Error()) > 200 {
		t.Errorf("unknown currency error is %d bytes", len(errString(err)))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// One policy for a status word an adapter does not know.
func TestMapStatusUnknownWord(t *testing.T) {
	orders := map[string]OrderStatus{"PAID": OrderPaid}
	if got := MapStatus(orders, "PAID"); got != OrderPaid {
		t.Errorf("known word: %s", got)
	}
	if got := MapStatus(orders, "CHARGEBACK"); got != OrderUnknown || !(OrderState{Status: got}).Unknown() {
		t.Errorf("unknown order word: %s", got)
	}
	refunds := map[string]RefundStatus{"DONE": RefundSucceeded}
	if got := MapStatus(refunds, "REFUND_IN_PROGRESS"); got != RefundUnknown || !(RefundState{Status: got}).Unknown() {
		t.Errorf("unknown refund word: %s", got)
	}
}

// A provider's "already there" text is never a final refusal; a number
// taken by other content is.
func TestInProgressMessage(t *testing.T) {
	for msg, want := range map[string]bool{
		"refund is in progress": true, "Duplicate request": true, "refund already submitted": true, "退款处理中": true, "请求重复": true,
		"m_refund_id already exists with another amount": false, "refund amount exceeds the refundable amount": false,
		"sign error": false, "": false,
	} {
		if got := InProgressMessage(msg); got != want {
			t.Errorf("InProgressMessage(%q) = %v, want %v", msg, got, want)
		}
	}
}
