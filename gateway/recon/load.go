package recon

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// loader streams a statement's rows into the store, Batch rows per
// INSERT, and keeps the statement's totals per currency (a few numbers,
// however long the statement).
type loader struct {
	ctx    context.Context
	st     *store.Store
	runID  string
	batch  int
	buf    []store.ReconRow
	seq    int64
	totals map[string]*currencyTotals
}

type currencyTotals struct {
	Currency                              string
	PayCount, PayAmount, PaySettled       int64
	RefundCount, RefundAmount, RefundPaid int64
	Fees                                  decimal.Decimal
}

func newLoader(ctx context.Context, st *store.Store, runID string, batch int) *loader {
	return &loader{ctx: ctx, st: st, runID: runID, batch: batch, buf: make([]store.ReconRow, 0, batch), totals: map[string]*currencyTotals{}}
}

// column widths of store.ReconRow's numbers.
var numberWidths = []struct {
	name string
	max  int
	get  func(*providers.StatementRow) string
}{
	{"out_trade_no", 64, func(r *providers.StatementRow) string { return r.OutTradeNo }},
	{"provider_trade_no", 128, func(r *providers.StatementRow) string { return r.ProviderTradeNo }},
	{"transaction_id", 64, func(r *providers.StatementRow) string { return r.TransactionID }},
	{"out_refund_no", 64, func(r *providers.StatementRow) string { return r.OutRefundNo }},
	{"provider_refund_no", 128, func(r *providers.StatementRow) string { return r.ProviderRefundNo }},
}

func (l *loader) add(r providers.StatementRow) error {
	for _, n := range numberWidths {
		if v := n.get(&r); len(v) > n.max || strings.ContainsAny(v, "\x00") {
			return providers.BadStatement("row %d: %s %q is longer than %d characters", l.seq+1, n.name, clipNote(v, 40), n.max)
		}
	}
	if r.Amount.Currency == "" || (r.Settled.Currency != "" && r.Settled.Currency != r.Amount.Currency) {
		return providers.BadStatement("row %d: no currency", l.seq+1)
	}
	if r.Kind != providers.StatementPayment && r.Kind != providers.StatementRefund {
		return providers.BadStatement("row %d: neither a payment nor a refund", l.seq+1)
	}
	l.seq++
	t := l.totals[r.Amount.Currency]
	if t == nil {
		t = &currencyTotals{Currency: r.Amount.Currency}
		l.totals[r.Amount.Currency] = t
	}
	if r.Kind == providers.StatementPayment {
		t.PayCount++
		t.PayAmount += r.Amount.Minor
		t.PaySettled += r.Settled.Minor
	} else {
		t.RefundCount++
		t.RefundAmount += r.Amount.Minor
		t.RefundPaid += r.Settled.Minor
	}
	t.Fees = t.Fees.Add(r.Fee)
	at := r.Time.UTC()
	l.buf = append(l.buf, store.ReconRow{
		RunID: l.runID, Seq: l.seq, Kind: string(r.Kind), At: at,
		OutTradeNo: r.OutTradeNo, ProviderTradeNo: r.ProviderTradeNo, TransactionID: r.TransactionID,
		OutRefundNo: r.OutRefundNo, ProviderRefundNo: r.ProviderRefundNo,
		Status: r.Status, ProviderStatus: clipNote(r.ProviderStatus, 64),
		AmountMinor: r.Amount.Minor, SettledMinor: r.Settled.Minor, Currency: r.Amount.Currency, Fee: r.Fee.String(),
	})
	if len(l.buf) >= l.batch {
		return l.flush()
	}
	return nil
}

func (l *loader) flush() error {
	if len(l.buf) == 0 {
		return nil
	}
	if err := l.st.InsertReconRows(l.ctx, l.buf); err != nil {
		return fmt.Errorf("store statement rows: %w", err)
	}
	l.buf = l.buf[:0]
	return nil
}

// StatementInfo is what a run keeps of its statement (JSON in the run row).
type StatementInfo struct {
	Rows       int64            `json:"rows"`
	ByCurrency []CurrencyTotals `json:"by_currency"`
	Summary    *SummaryLine     `json:"summary"`
}

// CurrencyTotals are one currency's rows of a statement.
type CurrencyTotals struct {
	Currency string `json:"currency"`
	Payments Totals `json:"payments"`
	Refunds  Totals `json:"refunds"`
	Fees     string `json:"fees"`
}

// Totals count and sum rows: amount (compared with the gateway) and
// settled (what the provider settles, without non-settlement coupons).
type Totals struct {
	Count   int64  `json:"count"`
	Amount  string `json:"amount"`
	Settled string `json:"settled"`
}

// SummaryLine is the statement's own totals line, as printed.
type SummaryLine struct {
	Rows     int64  `json:"rows"`
	Payments string `json:"payments"`
	Refunds  string `json:"refunds"`
	Fees     string `json:"fees"`
}

func (l *loader) info(sum providers.StatementSummary) StatementInfo {
	info := StatementInfo{Rows: l.seq, ByCurrency: []CurrencyTotals{}}
	for _, t := range l.totals {
		info.ByCurrency = append(info.ByCurrency, CurrencyTotals{
			Currency: t.Currency,
			Payments: Totals{Count: t.PayCount, Amount: providers.FormatMinor(t.PayAmount, t.Currency), Settled: providers.FormatMinor(t.PaySettled, t.Currency)},
			Refunds:  Totals{Count: t.RefundCount, Amount: providers.FormatMinor(t.RefundAmount, t.Currency), Settled: providers.FormatMinor(t.RefundPaid, t.Currency)},
			Fees:     t.Fees.String(),
		})
	}
	sort.Slice(info.ByCurrency, func(i, j int) bool { return info.ByCurrency[i].Currency < info.ByCurrency[j].Currency })
	if sum.Present {
		cur := sum.Currency
		if cur == "" && len(l.totals) == 1 {
			cur = info.ByCurrency[0].Currency
		}
		info.Summary = &SummaryLine{Rows: sum.Rows, Payments: fixed(sum.Payments, cur), Refunds: fixed(sum.Refunds, cur), Fees: sum.Fees.String()}
	}
	return info
}

// fixed writes an amount with the currency's decimals when it has them.
func fixed(d decimal.Decimal, currency string) string {
	if exp, err := providers.CurrencyExponent(currency); err == nil && d.Exponent() >= -exp {
		return d.StringFixed(exp)
	}
	return d.String()
}

// checkSummary compares the rows with the statement's own summary line:
// a download cut short, or a file edited by hand, does not add up.
func (l *loader) checkSummary(sum providers.StatementSummary) error {
	if !sum.Present {
		return nil
	}
	var bad []string
	if sum.Rows != l.seq {
		bad = append(bad, fmt.Sprintf("%d rows, the summary says %d", l.seq, sum.Rows))
	}
	cur := sum.Currency
	if cur == "" && len(l.totals) == 1 {
		for c := range l.totals {
			cur = c
		}
	}
	t := l.totals[cur]
	if t == nil {
		t = &currencyTotals{Currency: cur}
	}
	if cur != "" && providers.KnownCurrency(cur) {
		if got := (providers.Money{Minor: t.PaySettled, Currency: cur}).Decimal(); !got.Equal(sum.Payments) {
			bad = append(bad, fmt.Sprintf("payments settle %s, the summary says %s", got.StringFixed(2), sum.Payments))
		}
		if got := (providers.Money{Minor: t.RefundPaid, Currency: cur}).Decimal(); !got.Equal(sum.Refunds) {
			bad = append(bad, fmt.Sprintf("refunds settle %s, the summary says %s", got.StringFixed(2), sum.Refunds))
		}
		if !t.Fees.Equal(sum.Fees) {
			bad = append(bad, fmt.Sprintf("fees %s, the summary says %s", t.Fees, sum.Fees))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("the statement's rows do not add up to its summary line: %s", strings.Join(bad, "; "))
	}
	return nil
}

func encodeInfo(info StatementInfo) string {
	b, _ := json.Marshal(info)
	return string(b)
}

func decodeInfo(s string) *StatementInfo {
	if s == "" {
		return nil
	}
	var info StatementInfo
	if json.Unmarshal([]byte(s), &info) != nil {
		return nil
	}
	return &info
}

func clipNote(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
