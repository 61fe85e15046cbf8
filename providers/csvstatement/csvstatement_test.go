package csvstatement

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
)

var ams = time.FixedZone("CET", 3600)

func read(t *testing.T, m Mapping, file string) ([]providers.StatementRow, error) {
	t.Helper()
	f := &Format{Mapping: m, Location: ams, Currency: "EUR"}
	var rows []providers.StatementRow
	_, err := f.ParseStatement(strings.NewReader(file), func(r providers.StatementRow) error { rows = append(rows, r); return nil })
	return rows, err
}

func TestMappedColumns(t *testing.T) {
	m := Mapping{OutTradeNo: "Order No", ProviderTradeNo: "Trade No", Type: "Type", Amount: "Amount", Currency: "Currency",
		Status: "Status", Time: "Time", OutRefundNo: "Refund No", Fee: "Fee", RefundTypes: []string{"Refund"}}
	file := "\uFEFFtime,ORDER NO, Trade No ,Type,Amount,Currency,Status,Refund No,Fee\n" +
		"2026-12-03 10:04:05,O1,T1,Payment,10.00,EUR,Settled,,0.12\n" +
		"2026-12-03 11:00:00,O1,T1,refund,-2.50,eur,Settled,O1R1,-0.03\n" +
		"2026-12-03 12:00:00,O2,T2,Payment,5,EUR,Pending,,\n" +
		"\"2026-12-03T13:00:00+01:00\",\"O3, quoted\",T3,Payment,1.5,EUR,SETTLED,,\n"
	rows, err := read(t, m, file)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows", len(rows))
	}
	if r := rows[0]; r.Kind != providers.StatementPayment || r.OutTradeNo != "O1" || r.ProviderTradeNo != "T1" || r.Amount.Minor != 1000 ||
		r.Status != "PAID" || r.Fee.String() != "0.12" || !r.Time.Equal(time.Date(2026, 12, 3, 9, 4, 5, 0, time.UTC)) {
		t.Fatalf("payment %+v", r)
	}
	if r := rows[1]; r.Kind != providers.StatementRefund || r.OutRefundNo != "O1R1" || r.Amount.Minor != 250 || r.Status != "SUCCEEDED" {
		t.Fatalf("refund %+v", r)
	}
	if rows[2].Status != "" || rows[2].Amount.Minor != 500 {
		t.Fatalf("pending payment %+v", rows[2])
	}
	if rows[3].OutTradeNo != "O3, quoted" || rows[3].Amount.Minor != 150 {
		t.Fatalf("quoted %+v", rows[3])
	}
}

// Without a type column a negative amount is a refund; ';' separates
// fields in some exports; a custom time layout.
func TestNegativeRefundsAndDelimiter(t *testing.T) {
	m := Mapping{OutTradeNo: "ref", ProviderRefundNo: "refund id", Amount: "amount", Time: "date", Delimiter: ';', TimeFormat: "02/01/2006 15:04"}
	rows, err := read(t, m, "ref;refund id;amount;date\nA1;;3.00;03/12/2026 10:00\nA1;R9;-1.00;03/12/2026 11:00\n")
	if err != nil || len(rows) != 2 || rows[1].Kind != providers.StatementRefund || rows[1].ProviderRefundNo != "R9" || rows[0].Status != "PAID" {
		t.Fatalf("rows %+v err %v", rows, err)
	}
}

func TestRefusesBadFiles(t *testing.T) {
	m := Mapping{OutTradeNo: "order", Amount: "amount", Time: "time"}
	for name, file := range map[string]string{
		"exponent":        "order,amount,time\nO1,1e3,2026-12-03 10:00:00\n",
		"three decimals":  "order,amount,time\nO1,1.001,2026-12-03 10:00:00\n",
		"comma decimal":   "order,amount,time\nO1,\"1,00\",2026-12-03 10:00:00\n",
		"missing column":  "order,total,time\nO1,1.00,2026-12-03 10:00:00\n",
		"bad time":        "order,amount,time\nO1,1.00,yesterday\n",
		"no order number": "order,amount,time\n,1.00,2026-12-03 10:00:00\n",
		"ragged":          "order,amount,time\nO1,1.00\n",
		"empty":           "",
		"refund number":   "order,amount,time\nO1,-1.00,2026-12-03 10:00:00\n",
		"twice":           "order,amount,order,time\nO1,1.00,O1,2026-12-03 10:00:00\n",
	} {
		if _, err := read(t, m, file); !errors.Is(err, providers.ErrBadStatement) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := (Mapping{Amount: "a"}).Check(); err == nil || !strings.Contains(err.Error(), "time") {
		t.Errorf("check: %v", err)
	}
}
