// Package csvstatement reads a statement exported from an acquirer's
// portal as CSV, with its columns named in the channel's config: for
// acquirers without a statement API (2paynow, Supay) or whose files the
// adapter does not know. Columns are found by header name (case and
// surrounding spaces ignored); amounts are strict plain decimals of the
// currency, never floats.
package csvstatement

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/providers"
)

// Mapping names the export's columns. Amount, Time and one of the order
// numbers are required.
type Mapping struct {
	OutTradeNo, ProviderTradeNo, TransactionID string
	OutRefundNo, ProviderRefundNo              string
	// Type is the column saying payment or refund; without it a negative
	// amount is a refund.
	Type     string
	Amount   string
	Currency string // without it, the channel's currency
	Status   string // without it, every row is settled
	Time     string
	Fee      string
	// RefundTypes are the Type values that mean a refund (compared without
	// case); default "refund".
	RefundTypes []string
	// SuccessStatuses are the Status values that mean settled (compared
	// without case); default SUCCESS, SUCCEEDED, PAID, SETTLED, COMPLETED,
	// COMPLETE, REFUNDED, APPROVED.
	SuccessStatuses []string
	// TimeFormat is a Go time layout; default "2006-01-02 15:04:05",
	// RFC 3339 and "2006-01-02T15:04:05" are tried.
	TimeFormat string
	// Delimiter between fields; default ','.
	Delimiter rune
}

// Check reports what is missing from a mapping.
func (m Mapping) Check() error {
	var missing []string
	if m.Amount == "" {
		missing = append(missing, "amount")
	}
	if m.Time == "" {
		missing = append(missing, "time")
	}
	if m.OutTradeNo == "" && m.ProviderTradeNo == "" && m.TransactionID == "" {
		missing = append(missing, "out_trade_no (or provider_trade_no or transaction_id)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("columns: %s required", strings.Join(missing, ", "))
	}
	switch m.Delimiter {
	case 0, ',', ';', '\t', '|':
	default:
		return fmt.Errorf("delimiter must be one of , ; | or a tab")
	}
	return nil
}

// Format reads CSV statements with a Mapping.
type Format struct {
	Mapping  Mapping
	Location *time.Location
	// Currency of rows whose currency column is absent.
	Currency string
}

var _ providers.StatementFormat = (*Format)(nil)

// StatementLocation implements providers.StatementFormat.
func (f *Format) StatementLocation() *time.Location { return f.Location }

var (
	signedAmount = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,8})?$`)
	defaultOK    = []string{"SUCCESS", "SUCCEEDED", "PAID", "SETTLED", "COMPLETED", "COMPLETE", "REFUNDED", "APPROVED"}
	timeLayouts  = []string{time.DateTime, time.RFC3339, "2006-01-02T15:04:05"}
)

// ParseStatement implements providers.StatementFormat.
func (f *Format) ParseStatement(r io.Reader, fn func(providers.StatementRow) error) (providers.StatementSummary, error) {
	var none providers.StatementSummary
	m := f.Mapping
	if err := m.Check(); err != nil {
		return none, err
	}
	cr := csv.NewReader(r)
	if m.Delimiter != 0 {
		cr.Comma = m.Delimiter
	}
	cr.ReuseRecord = true
	cr.FieldsPerRecord = 0 // every row as wide as the header
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return none, providers.BadStatement("the file is empty")
	}
	if err != nil {
		return none, fmt.Errorf("%w: header: %w", providers.ErrBadStatement, err)
	}
	pos := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")))
		if _, dup := pos[name]; dup && name != "" {
			return none, providers.BadStatement("column %q appears twice", h)
		}
		pos[name] = i
	}
	col := func(name string) (int, error) {
		if name == "" {
			return -1, nil
		}
		i, ok := pos[strings.ToLower(strings.TrimSpace(name))]
		if !ok {
			return -1, providers.BadStatement("no column %q in the header (configured in statement.columns)", name)
		}
		return i, nil
	}
	idx := map[string]int{}
	for key, name := range map[string]string{
		"out_trade_no": m.OutTradeNo, "provider_trade_no": m.ProviderTradeNo, "transaction_id": m.TransactionID,
		"out_refund_no": m.OutRefundNo, "provider_refund_no": m.ProviderRefundNo, "type": m.Type, "amount": m.Amount,
		"currency": m.Currency, "status": m.Status, "time": m.Time, "fee": m.Fee,
	} {
		if idx[key], err = col(name); err != nil {
			return none, err
		}
	}
	refundTypes := m.RefundTypes
	if len(refundTypes) == 0 {
		refundTypes = []string{"refund"}
	}
	okStatuses := m.SuccessStatuses
	if len(okStatuses) == 0 {
		okStatuses = defaultOK
	}
	layouts := timeLayouts
	if m.TimeFormat != "" {
		layouts = []string{m.TimeFormat}
	}
	loc := f.Location
	if loc == nil {
		loc = time.UTC
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return none, nil
		}
		if err != nil {
			return none, fmt.Errorf("%w: line %d: %w", providers.ErrBadStatement, line, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		get := func(key string) string {
			if i := idx[key]; i >= 0 {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		row, err := f.row(get, refundTypes, okStatuses, layouts, loc)
		if err != nil {
			return none, providers.BadStatement("line %d: %v", line, err)
		}
		if err := fn(row); err != nil {
			return none, err
		}
	}
}

func hasFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, v) })
}

func (f *Format) row(get func(string) string, refundTypes, okStatuses, layouts []string, loc *time.Location) (providers.StatementRow, error) {
	var row providers.StatementRow
	cur := providers.FirstNonEmpty(strings.ToUpper(get("currency")), f.Currency)
	if !providers.KnownCurrency(cur) {
		return row, fmt.Errorf("currency %q is not an ISO-4217 code", cur)
	}
	raw := get("amount")
	if !signedAmount.MatchString(raw) {
		return row, fmt.Errorf("amount %q is not a plain decimal", raw)
	}
	d := decimal.RequireFromString(raw)
	refund := hasFold(refundTypes, get("type"))
	if f.Mapping.Type == "" {
		refund = d.IsNegative()
	}
	amount, err := providers.FromDecimal(d.Abs(), cur)
	if err != nil {
		return row, err
	}
	var at time.Time
	for _, l := range layouts {
		if at, err = time.ParseInLocation(l, get("time"), loc); err == nil {
			break
		}
	}
	if err != nil {
		return row, fmt.Errorf("time %q does not read as %s", get("time"), strings.Join(layouts, " or "))
	}
	if fee := get("fee"); fee != "" {
		if !signedAmount.MatchString(fee) {
			return row, fmt.Errorf("fee %q is not a plain decimal", fee)
		}
		row.Fee = decimal.RequireFromString(fee)
	}
	row.Time, row.Amount, row.Settled = at, amount, amount
	row.OutTradeNo, row.ProviderTradeNo, row.TransactionID = get("out_trade_no"), get("provider_trade_no"), get("transaction_id")
	if row.OutTradeNo == "" && row.ProviderTradeNo == "" && row.TransactionID == "" {
		return row, errors.New("no order number")
	}
	row.ProviderStatus = get("status")
	settled := f.Mapping.Status == "" || hasFold(okStatuses, row.ProviderStatus)
	if refund {
		row.Kind = providers.StatementRefund
		row.OutRefundNo, row.ProviderRefundNo = get("out_refund_no"), get("provider_refund_no")
		if row.OutRefundNo == "" && row.ProviderRefundNo == "" {
			return row, errors.New("a refund row without a refund number (map out_refund_no or provider_refund_no)")
		}
		row.Status = string(providers.RefundProcessing)
		if settled {
			row.Status = string(providers.RefundSucceeded)
		}
		return row, nil
	}
	row.Kind = providers.StatementPayment
	if settled {
		row.Status = string(providers.OrderPaid)
	}
	return row, nil
}
