package main

import (
	"strings"
	"testing"
)

func TestDescribeWarnsOfStaleAndMissingEvents(t *testing.T) {
	seen := newSequences()
	tests := []struct {
		body      string
		want, not string
	}{
		{`{"type":"order.paid","sequence":1,"order_status":"PAID","data":{"out_trade_no":"A1"}}`, "order A1  #1  order_status PAID", "WARNING"},
		{`{"type":"refund.succeeded","sequence":3,"order_status":"REFUNDED","data":{"out_trade_no":"A1"}}`, "#2..#2 of order A1 not seen", "WARNING"},
		{`{"type":"refund.succeeded","sequence":2,"order_status":"PAID","data":{"out_trade_no":"A1"}}`, "WARNING stale: #3 of order A1", ""},
		{`{"type":"order.paid","sequence":1,"order_status":"PAID","data":{"out_trade_no":"B2"}}`, "order B2  #1", "WARNING"},
		{`{"type":"reconciliation.completed","data":{"id":"rec_1"}}`, "not about an order", ""},
	}
	for i, tt := range tests {
		got := describe(seen, []byte(tt.body))
		if !strings.Contains(got, tt.want) || (tt.not != "" && strings.Contains(got, tt.not)) {
			t.Errorf("%d: %q, want %q (and not %q)", i, got, tt.want, tt.not)
		}
	}
}
