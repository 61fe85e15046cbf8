package config

import (
	"strings"
	"testing"
	"time"
)

func withStatement(s string) string {
	return strings.Replace(minimal, "base_url: sandbox", "base_url: sandbox\n        statement: "+s, 1)
}

func TestStatementSettings(t *testing.T) {
	vars := env(map[string]string{"API_KEY": "key-0123456789abcdef", "WX_KEY": "k"})
	cfg, err := Parse([]byte(withStatement(`{timezone: Europe/Amsterdam, daily_at: "10:30", columns: {out_trade_no: "Order No", amount: Amount, time: Date}, delimiter: ";", refund_types: [R]}`)), vars)
	if err != nil {
		t.Fatal(err)
	}
	st := cfg.Merchants[0].Channels[0].Statement
	loc, err := st.Location()
	if err != nil || loc.String() != "Europe/Amsterdam" {
		t.Fatalf("location %v %v", loc, err)
	}
	if d := st.DailyOffset(); d == nil || *d != 10*time.Hour+30*time.Minute {
		t.Fatalf("daily_at %v", d)
	}
	if m := st.Mapping(); m == nil || m.OutTradeNo != "Order No" || m.Delimiter != ';' || m.RefundTypes[0] != "R" {
		t.Fatalf("mapping %+v", m)
	}
	if cfg.Reconciliation.Interval != 30*time.Second || cfg.Reconciliation.Retry != 30*time.Minute {
		t.Fatalf("reconciliation defaults %+v", cfg.Reconciliation)
	}

	for _, tt := range []struct{ doc, field string }{
		{`{timezone: Mars/Olympus}`, "statement.timezone"},
		{`{daily_at: "25:00"}`, "statement.daily_at"},
		{`{daily_at: "9:30"}`, "statement.daily_at"},
		{`{columns: {amount: A}}`, "statement.columns"},
		{`{columns: {amount: A, time: T, out_trade_no: O}, delimiter: "#"}`, "statement.delimiter"},
		{`{columns: {amount: A, time: T, out_trade_no: O}, time_format: "hh:mm"}`, "statement.time_format"},
		{`{refund_types: [R]}`, "statement.columns"},
		{`{columns: {amount: A, time: T, order: O}}`, "order"},
		{`{dayly_at: "10:00"}`, "dayly_at"},
	} {
		_, err := Parse([]byte(withStatement(tt.doc)), vars)
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: %v, want it to name %s", tt.doc, err, tt.field)
		}
	}
	if _, err := Parse([]byte(minimal+"reconciliation: {interval: 1ns}\n"), vars); err == nil || !strings.Contains(err.Error(), "reconciliation.interval") {
		t.Errorf("interval: %v", err)
	}
}
