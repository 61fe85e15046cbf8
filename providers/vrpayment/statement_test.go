package vrpayment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/paygate/paygate/providers"
)

// The day is read from transaction/search (completedOn in the day, AND of
// two LEAF range filters, id order, pages of 100) and refund/search
// (createdOn); only paid transactions become payment rows.
func TestDownloadStatementWire(t *testing.T) {
	var page []string
	for i := 0; i < searchPage; i++ {
		state := "FULFILL"
		if i == 7 {
			state = "VOIDED"
		}
		page = append(page, fmt.Sprintf(`{"id":%d,"state":"%s","merchantReference":"VR%05d","currency":"EUR","completedAmount":12.5,"completedOn":"2024-11-25T10:00:00.000Z"}`, 1000+i, state, i))
	}
	f := (&fakeVR{}).
		answer(200, "["+strings.Join(page, ",")+"]").
		answer(200, `[{"id":2000,"state":"COMPLETED","merchantReference":"VRLAST","currency":"EUR","completedAmount":1,"completedOn":"2024-11-25T22:59:59.000Z","totalAppliedFees":0.03}]`).
		answer(200, `[{"id":3000,"state":"SUCCESSFUL","externalId":"VR00001R1","amount":2.5,"createdOn":"2024-11-25T12:00:00.000Z","transaction":{"id":1001,"merchantReference":"VR00001","currency":"EUR"}}]`)
	p := newTestProvider(t, f.serve(t).URL, "EUR")
	var rows []providers.StatementRow
	if _, err := p.DownloadStatement(context.Background(), providers.Day{Year: 2024, Month: 11, Day: 25}, nil, func(r providers.StatementRow) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(rows) != searchPage+1 { // 99 paid of the first page, VRLAST, the refund
		t.Fatalf("%d rows", len(rows))
	}
	last, refund := rows[len(rows)-2], rows[len(rows)-1]
	if last.OutTradeNo != "VRLAST" || last.ProviderTradeNo != "2000" || last.Amount.Minor != 100 || last.Fee.String() != "0.03" {
		t.Fatalf("last payment %+v", last)
	}
	if refund.Kind != providers.StatementRefund || refund.OutRefundNo != "VR00001R1" || refund.ProviderRefundNo != "3000" ||
		refund.OutTradeNo != "VR00001" || refund.Amount.Minor != 250 || refund.Status != "SUCCEEDED" {
		t.Fatalf("refund %+v", refund)
	}
	if len(f.calls) != 3 || f.calls[0].uri != "/api/transaction/search?spaceId=405" || f.calls[2].uri != "/api/refund/search?spaceId=405" {
		t.Fatalf("calls %+v", f.calls)
	}
	var q struct {
		Filter struct {
			Type     string `json:"type"`
			Children []struct{ Type, FieldName, Operator, Value string }
		} `json:"filter"`
		NumberOfEntities, StartingEntity int
	}
	_ = json.Unmarshal([]byte(f.calls[1].body), &q)
	c := q.Filter.Children
	// Berlin's day: 2024-11-24T23:00Z to 2024-11-25T23:00Z.
	if q.Filter.Type != "AND" || len(c) != 2 || c[0].FieldName != "completedOn" || c[0].Operator != "GREATER_THAN_OR_EQUAL" ||
		c[0].Value != "2024-11-24T23:00:00.000Z" || c[1].Operator != "LESS_THAN" || c[1].Value != "2024-11-25T23:00:00.000Z" ||
		q.NumberOfEntities != 100 || q.StartingEntity != 100 {
		t.Fatalf("second page query %s", f.calls[1].body)
	}
}

func TestDownloadStatementEmptyAndStrict(t *testing.T) {
	f := (&fakeVR{}).answer(200, `[]`)
	p := newTestProvider(t, f.serve(t).URL, "EUR")
	noop := func(providers.StatementRow) error { return nil }
	if _, err := p.DownloadStatement(context.Background(), providers.Day{Year: 2024, Month: 11, Day: 25}, nil, noop); !errors.Is(err, providers.ErrNoStatement) {
		t.Fatalf("empty: %v", err)
	}
	f = (&fakeVR{}).answer(200, `[{"id":1,"state":"FULFILL","merchantReference":"X","currency":"EUR","completedAmount":1.001,"completedOn":"2024-11-25T10:00:00.000Z"}]`)
	p = newTestProvider(t, f.serve(t).URL, "EUR")
	if _, err := p.DownloadStatement(context.Background(), providers.Day{Year: 2024, Month: 11, Day: 25}, nil, noop); providers.CodeOf(err) != providers.ErrCodeBadResponse {
		t.Fatalf("three decimals in EUR: %v", err)
	}
}
