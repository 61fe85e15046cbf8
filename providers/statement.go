package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/shopspring/decimal"
)

// Statements: what a provider says it settled on one day, for
// reconciliation. An adapter whose provider serves daily statements
// implements StatementSource; one whose statement files the gateway can
// read (uploaded by finance staff) implements StatementFormat. Both are
// optional: the gateway checks with a type assertion.

// StatementSource is a provider with a statement download API.
type StatementSource interface {
	StatementFormat
	// DownloadStatement fetches the statement of day and calls fn with each
	// row, in file order, without holding the statement in memory. loc is
	// the statement day's zone as configured (StatementLocation unless the
	// channel says otherwise): providers whose statement is a file per day
	// (WeChat) ignore it, search-based ones use it for the day's range. It
	// returns the statement's own summary line. A statement not generated yet is ErrStatementNotReady;
	// none for that day is ErrNoStatement; an unreachable provider is a
	// *Error with ErrCodeUnavailable.
	DownloadStatement(ctx context.Context, day Day, loc *time.Location, fn func(StatementRow) error) (StatementSummary, error)
}

// StatementFormat reads a provider's own statement file.
type StatementFormat interface {
	// StatementLocation is the zone of the provider's statement day
	// (WeChat: Asia/Shanghai).
	StatementLocation() *time.Location
	// ParseStatement reads a statement file (as downloaded from the
	// provider's portal or API) and calls fn with each row.
	ParseStatement(r io.Reader, fn func(StatementRow) error) (StatementSummary, error)
}

var (
	// ErrStatementNotReady: the provider is still generating the statement
	// (WeChat "Bill Creating", STATEMENT_CREATING); ask again later.
	ErrStatementNotReady = errors.New("statement not ready yet")
	// ErrNoStatement: the provider has no statement for that day (WeChat
	// "No Bill Exist": no transactions that day).
	ErrNoStatement = errors.New("no statement for that day")
	// ErrBadStatement: the statement cannot be read (a column is missing,
	// an amount is not a plain decimal of the currency, ...).
	ErrBadStatement = errors.New("unreadable statement")
)

// BadStatement wraps ErrBadStatement with where and why.
func BadStatement(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadStatement, fmt.Sprintf(format, args...))
}

// StatementRowKind says whether a statement row is a payment or a refund.
type StatementRowKind string

const (
	StatementPayment StatementRowKind = "payment"
	StatementRefund  StatementRowKind = "refund"
)

// StatementRow is one line of a provider statement in the gateway's terms.
// A payment and its refund are two rows.
type StatementRow struct {
	Kind StatementRowKind
	// Time is when the provider booked the row (payment time; for WeChat
	// refund rows, when the refund was accepted).
	Time time.Time
	// The order's numbers: the merchant's, the acquirer's and WeChat's.
	OutTradeNo, ProviderTradeNo, TransactionID string
	// The refund's numbers (refund rows).
	OutRefundNo, ProviderRefundNo string
	// Status is the row's state in the gateway's words: PAID (or CLOSED for
	// a revoked payment) on payment rows; SUCCEEDED, PROCESSING or FAILED on
	// refund rows; "" when the provider's word is not known.
	Status string
	// ProviderStatus is the provider's own word, kept for people.
	ProviderStatus string
	// Amount is what compares with the gateway's order or refund amount:
	// the order amount before coupons, the refund amount asked.
	Amount Money
	// Settled is what the provider settles (WeChat 应结订单金额 / 退款金额:
	// without non-settlement coupons); equal to Amount without coupons.
	Settled Money
	// Fee is the provider's fee on the row, in major units of the
	// currency, exact (WeChat writes 5 decimals; refund rows may be
	// negative: the fee given back).
	Fee decimal.Decimal
}

// StatementSummary is a statement's own totals line, when it has one:
// the gateway checks the rows add up to it (a truncated download does not).
type StatementSummary struct {
	Present bool
	// Rows counts every detail row (payments and refunds).
	Rows int64
	// Payments and Refunds sum the rows' Settled amounts, in major units.
	Payments decimal.Decimal
	Refunds  decimal.Decimal
	Fees     decimal.Decimal
	// Currency of the sums; "" when the statement does not say (the
	// rows' currency is then assumed).
	Currency string
}

// Day is a calendar date, the unit of a statement.
type Day struct {
	Year  int
	Month time.Month
	Day   int
}

var dayPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// ParseDay reads "2006-01-02".
func ParseDay(s string) (Day, error) {
	if !dayPattern.MatchString(s) {
		return Day{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Day{}, fmt.Errorf("date %q: %v", s, err)
	}
	return DayOf(t), nil
}

// DayOf is the date of t in t's location.
func DayOf(t time.Time) Day {
	y, m, d := t.Date()
	return Day{y, m, d}
}

// String is "2006-01-02".
func (d Day) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Compact is "20060102" (WeChat's bill_date).
func (d Day) Compact() string { return fmt.Sprintf("%04d%02d%02d", d.Year, d.Month, d.Day) }

// Start is the day's first instant in loc.
func (d Day) Start(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// End is the next day's first instant in loc (exclusive end).
func (d Day) End(loc *time.Location) time.Time { return d.AddDays(1).Start(loc) }

// AddDays moves by n calendar days.
func (d Day) AddDays(n int) Day {
	return DayOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

// IsZero reports an unset day.
func (d Day) IsZero() bool { return d == Day{} }

// MaxStatementBytes bounds a downloaded statement (spooled to a temporary
// file, never held in memory): a day of a busy merchant is a few hundred MB.
const MaxStatementBytes = 2 << 30

// SpoolStatement copies r into a temporary file (at most MaxStatementBytes)
// and returns it rewound; the caller closes it, which removes it.
func SpoolStatement(r io.Reader) (*SpooledFile, error) {
	f, err := os.CreateTemp("", "paygate-statement-*")
	if err != nil {
		return nil, fmt.Errorf("statement spool: %w", err)
	}
	sf := &SpooledFile{File: f}
	n, err := io.Copy(f, io.LimitReader(r, MaxStatementBytes+1))
	if err == nil && n > MaxStatementBytes {
		err = fmt.Errorf("statement larger than %d bytes", int64(MaxStatementBytes))
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		_ = sf.Close()
		return nil, err
	}
	sf.Size = n
	return sf, nil
}

// SpooledFile is a statement on disk; Close removes it.
type SpooledFile struct {
	*os.File
	Size int64
}

// Close closes and removes the file.
func (f *SpooledFile) Close() error {
	err := f.File.Close()
	if rmErr := os.Remove(f.Name()); err == nil {
		err = rmErr
	}
	return err
}

var statementAmount = regexp.MustCompile(`^(0|[1-9][0-9]{0,14})(\.[0-9]{1,8})?$`)

// ParseStatementAmount reads a statement amount in major units strictly:
// digits and at most one point, no sign, exponent or spaces, exactly
// representable in the currency's minor units.
func ParseStatementAmount(s, currency string) (Money, error) {
	if !statementAmount.MatchString(s) {
		return Money{}, fmt.Errorf("%w: %s is not a plain decimal", ErrBadAmount, clipText(s))
	}
	return FromDecimal(decimal.RequireFromString(s), currency)
}
