package vrpayment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/providers"
)

// Statements (overseas.md §6): VR Payment (wallee) has no daily statement
// file on its API, but its transaction and refund searches answer what
// was completed in a time range; the adapter reads one statement day
// (Europe/Berlin unless the channel's statement.timezone says otherwise)
// page by page. UNCONFIRMED: that completedOn and createdOn take range
// operators with ISO-8601 values in an AND filter (the EntityQuery shape
// is the SDK's; the field names are the Transaction and Refund models').

var _ providers.StatementSource = (*Adapter)(nil)

// searchPage is how many entities one search asks for (wallee's maximum).
const searchPage = 100

// berlin is VR Payment's home zone.
var berlin = func() *time.Location {
	if loc, err := time.LoadLocation("Europe/Berlin"); err == nil {
		return loc
	}
	return time.FixedZone("CET", 3600)
}()

// StatementLocation implements providers.StatementFormat.
func (p *Adapter) StatementLocation() *time.Location { return berlin }

// ParseStatement implements providers.StatementFormat: VR Payment has no
// statement file of its own; an export is read with statement.columns.
func (p *Adapter) ParseStatement(io.Reader, func(providers.StatementRow) error) (providers.StatementSummary, error) {
	return providers.StatementSummary{}, providers.BadStatement("VR Payment has no statement file format: map its CSV export in the channel's statement.columns")
}

type rangeFilter struct {
	Type      string        `json:"type"`
	FieldName string        `json:"fieldName,omitempty"`
	Operator  string        `json:"operator,omitempty"`
	Value     string        `json:"value,omitempty"`
	Children  []rangeFilter `json:"children,omitempty"`
}

type rangeQuery struct {
	Filter           rangeFilter     `json:"filter"`
	NumberOfEntities int             `json:"numberOfEntities"`
	StartingEntity   int             `json:"startingEntity"`
	OrderBys         []entityOrderBy `json:"orderBys"`
}

func dayQuery(field string, from, to time.Time, start int) rangeQuery {
	stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
	return rangeQuery{
		Filter: rangeFilter{Type: "AND", Children: []rangeFilter{
			{Type: "LEAF", FieldName: field, Operator: "GREATER_THAN_OR_EQUAL", Value: stamp(from)},
			{Type: "LEAF", FieldName: field, Operator: "LESS_THAN", Value: stamp(to)},
		}},
		NumberOfEntities: searchPage, StartingEntity: start,
		OrderBys: []entityOrderBy{{FieldName: "id", Sorting: "ASC"}},
	}
}

type statementRefund struct {
	ID          json.Number `json:"id"`
	State       string      `json:"state"`
	ExternalID  string      `json:"externalId"`
	Amount      json.Number `json:"amount"`
	CreatedOn   string      `json:"createdOn"`
	Transaction struct {
		ID                json.Number `json:"id"`
		MerchantReference string      `json:"merchantReference"`
		Currency          string      `json:"currency"`
	} `json:"transaction"`
}

type statementTx struct {
	transaction
	TotalAppliedFees json.Number `json:"totalAppliedFees"`
}

// DownloadStatement implements providers.StatementSource: the day's
// completed transactions (completedOn) and its refunds (createdOn); a day
// without either is no statement. The searches are live: a day still
// running gives what was completed so far (the daily schedule reads
// yesterday).
func (p *Adapter) DownloadStatement(ctx context.Context, day providers.Day, loc *time.Location, fn func(providers.StatementRow) error) (providers.StatementSummary, error) {
	var none providers.StatementSummary
	if loc == nil {
		loc = berlin
	}
	from, to := day.Start(loc), day.End(loc)
	rows := 0
	for start := 0; ; start += searchPage {
		raw, err := p.do(ctx, http.MethodPost, pathTransactionSearch, p.query(""), dayQuery("completedOn", from, to, start))
		if err != nil {
			return none, err
		}
		var page []statementTx
		if err := json.Unmarshal(raw, &page); err != nil {
			return none, providers.BadResponse("transaction/search answer is not a list")
		}
		for _, tx := range page {
			row, ok, err := p.paymentRow(tx)
			if err != nil {
				return none, &providers.Error{Code: providers.ErrCodeBadResponse, Message: "transaction/search", Err: err}
			}
			if ok {
				rows++
				if err := fn(row); err != nil {
					return none, err
				}
			}
		}
		if len(page) < searchPage {
			break
		}
	}
	for start := 0; ; start += searchPage {
		raw, err := p.do(ctx, http.MethodPost, pathRefundSearch, p.query(""), dayQuery("createdOn", from, to, start))
		if err != nil {
			return none, err
		}
		var page []statementRefund
		if err := json.Unmarshal(raw, &page); err != nil {
			return none, providers.BadResponse("refund/search answer is not a list")
		}
		for _, r := range page {
			row, err := p.refundRow(r)
			if err != nil {
				return none, &providers.Error{Code: providers.ErrCodeBadResponse, Message: "refund/search", Err: err}
			}
			rows++
			if err := fn(row); err != nil {
				return none, err
			}
		}
		if len(page) < searchPage {
			break
		}
	}
	if rows == 0 {
		return none, fmt.Errorf("%w: no completed transaction or refund on %s", providers.ErrNoStatement, day)
	}
	return none, nil
}

func parseStamp(s string) (time.Time, error) {
	for _, l := range []string{"2006-01-02T15:04:05.000Z07:00", time.RFC3339Nano} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q", s)
}

func (p *Adapter) paymentRow(tx statementTx) (providers.StatementRow, bool, error) {
	status := mapTransactionState(tx.State)
	if status != providers.OrderPaid {
		return providers.StatementRow{}, false, nil
	}
	cur := providers.FirstNonEmpty(tx.Currency, p.currency)
	amount, err := providers.ParseStatementAmount(tx.CompletedAmount.String(), cur)
	if err != nil {
		return providers.StatementRow{}, false, providers.BadStatement("transaction %s: completedAmount: %v", tx.ID, err)
	}
	at, err := parseStamp(tx.CompletedOn)
	if err != nil {
		return providers.StatementRow{}, false, providers.BadStatement("transaction %s: completedOn: %v", tx.ID, err)
	}
	row := providers.StatementRow{Kind: providers.StatementPayment, Time: at, OutTradeNo: tx.MerchantReference, ProviderTradeNo: tx.ID.String(),
		Status: string(providers.OrderPaid), ProviderStatus: tx.State, Amount: amount, Settled: amount}
	if f := tx.TotalAppliedFees.String(); f != "" {
		if row.Fee, err = decimal.NewFromString(f); err != nil {
			return row, false, providers.BadStatement("transaction %s: totalAppliedFees %q", tx.ID, f)
		}
	}
	return row, true, nil
}

func (p *Adapter) refundRow(r statementRefund) (providers.StatementRow, error) {
	cur := providers.FirstNonEmpty(r.Transaction.Currency, p.currency)
	amount, err := providers.ParseStatementAmount(r.Amount.String(), cur)
	if err != nil {
		return providers.StatementRow{}, providers.BadStatement("refund %s: amount: %v", r.ID, err)
	}
	at, err := parseStamp(r.CreatedOn)
	if err != nil {
		return providers.StatementRow{}, providers.BadStatement("refund %s: createdOn: %v", r.ID, err)
	}
	status := ""
	if st := mapRefundState(r.State); st != providers.RefundUnknown {
		status = string(st)
	}
	if r.ExternalID == "" && r.ID.String() == "" {
		return providers.StatementRow{}, errors.New("refund without an id")
	}
	return providers.StatementRow{Kind: providers.StatementRefund, Time: at, OutTradeNo: r.Transaction.MerchantReference,
		ProviderTradeNo: r.Transaction.ID.String(), OutRefundNo: r.ExternalID, ProviderRefundNo: r.ID.String(),
		Status: status, ProviderStatus: r.State, Amount: amount, Settled: amount}, nil
}
