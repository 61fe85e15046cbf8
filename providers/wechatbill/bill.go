// Package wechatbill reads WeChat Pay trade bills (交易账单), the statement
// format shared by API v2 downloadbill, v3 tradebill and cloud pay: a header
// line, one backtick-prefixed line per payment or refund, a summary header
// and a summary line. Columns are found by name, so the current 27-column
// layout, the legacy 24-column one and the SUCCESS/REFUND variants all
// read; amounts are strict (plain decimals of the currency, never floats).
// Format facts: shared/providers/wechatpay.md §10.1 and
// https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html
package wechatbill

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/providers"
)

// Location is the bill's zone: China Standard Time.
var Location = providers.ChinaTime

// Column names, current and legacy (by meaning).
var columns = map[string][]string{
	"time":          {"交易时间"},
	"transaction":   {"微信订单号"},
	"out_trade_no":  {"商户订单号"},
	"status":        {"交易状态"},
	"currency":      {"货币种类"},
	"settled":       {"应结订单金额", "总金额"},
	"order_amount":  {"订单金额"},
	"refund_id":     {"微信退款单号"},
	"out_refund_no": {"商户退款单号"},
	"refund":        {"退款金额"},
	"refund_asked":  {"申请退款金额"},
	"refund_status": {"退款状态"},
	"fee":           {"手续费"},
}

// Summary column names, current and legacy.
var summaryColumns = map[string][]string{
	"rows":     {"总交易单数"},
	"payments": {"应结订单总金额", "总交易额"},
	"refunds":  {"退款总金额", "总退款金额"},
	"fees":     {"手续费总金额"},
}

// MaxLine bounds one line of a bill.
const MaxLine = 64 << 10

// Parse reads a plain-text bill and calls fn with each row in order; it
// returns the bill's summary line. Detail lines are split on ",`" (every
// field starts with a backtick, so a comma inside a product name does not
// split it); a bill without backticks is split on commas.
func Parse(r io.Reader, fn func(providers.StatementRow) error) (providers.StatementSummary, error) {
	var sum providers.StatementSummary
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	var (
		header        map[string]int
		width         int
		summaryHeader []string
		lineNo        int
	)
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		switch {
		case header == nil:
			names := splitHeader(line)
			h, err := headerIndex(names, columns)
			if err != nil {
				return sum, providers.BadStatement("line %d: %v", lineNo, err)
			}
			for _, need := range []string{"time", "status", "settled"} {
				if _, ok := h[need]; !ok {
					return sum, providers.BadStatement("line %d: no %s column (header %q)", lineNo, columns[need][0], clip(line))
				}
			}
			if _, ok1 := h["out_trade_no"]; !ok1 {
				if _, ok2 := h["transaction"]; !ok2 {
					return sum, providers.BadStatement("line %d: neither 商户订单号 nor 微信订单号 column", lineNo)
				}
			}
			header, width = h, len(names)
		case summaryHeader != nil:
			if sum.Present {
				return sum, providers.BadStatement("line %d: text after the summary line", lineNo)
			}
			if err := readSummary(summaryHeader, splitFields(line), &sum); err != nil {
				return sum, providers.BadStatement("line %d (summary): %v", lineNo, err)
			}
		case strings.HasPrefix(strings.TrimPrefix(line, "`"), "总交易单数"):
			summaryHeader = splitHeader(line)
		default:
			f := splitFields(line)
			if len(f) != width {
				return sum, providers.BadStatement("line %d: %d fields, the header has %d", lineNo, len(f), width)
			}
			row, err := readRow(header, f)
			if err != nil {
				return sum, providers.BadStatement("line %d: %v", lineNo, err)
			}
			if err := fn(row); err != nil {
				return sum, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return sum, providers.BadStatement("line %d is longer than %d bytes", lineNo+1, MaxLine)
		}
		// A corrupt gzip stream is an unreadable statement; the cause stays
		// reachable (an upload over its size limit, a broken connection).
		return sum, fmt.Errorf("%w: after line %d: %w", providers.ErrBadStatement, lineNo, err)
	}
	if header == nil {
		return sum, providers.BadStatement("no header line")
	}
	if summaryHeader != nil && !sum.Present {
		return sum, providers.BadStatement("summary header without its values line (truncated?)")
	}
	return sum, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func splitHeader(line string) []string {
	names := strings.Split(line, ",")
	for i, n := range names {
		names[i] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(n), "`"))
	}
	return names
}

// splitFields splits a detail or summary line and drops the backticks.
func splitFields(line string) []string {
	if strings.HasPrefix(line, "`") {
		return strings.Split(line[1:], ",`")
	}
	f := strings.Split(line, ",")
	for i := range f {
		f[i] = strings.TrimPrefix(f[i], "`")
	}
	return f
}

// headerIndex maps the meanings in names to column positions; a name
// given twice is refused (which one would count?).
func headerIndex(names []string, known map[string][]string) (map[string]int, error) {
	pos := map[string]int{}
	seen := map[string]bool{}
	for i, n := range names {
		if seen[n] && n != "" {
			return nil, fmt.Errorf("column %q appears twice", n)
		}
		seen[n] = true
		for meaning, aliases := range known {
			for _, a := range aliases {
				if n == a {
					if _, dup := pos[meaning]; dup {
						return nil, fmt.Errorf("columns %q and another both mean %s", n, meaning)
					}
					pos[meaning] = i
				}
			}
		}
	}
	return pos, nil
}

func field(h map[string]int, f []string, meaning string) string {
	i, ok := h[meaning]
	if !ok {
		return ""
	}
	return f[i]
}

// number reads a WeChat id field: "0" means none on this row.
func number(h map[string]int, f []string, meaning string) string {
	v := field(h, f, meaning)
	if v == "0" {
		return ""
	}
	return v
}

var (
	plainAmount = regexp.MustCompile(`^(0|[1-9][0-9]{0,14})(\.[0-9]{1,8})?$`)
	signedFee   = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,8})?$`)
)

// Amount reads a bill amount in yuan strictly: digits and one point, no
// sign, no exponent, exactly representable in the currency's minor units.
func Amount(s, currency string) (providers.Money, error) {
	if !plainAmount.MatchString(s) {
		return providers.Money{}, fmt.Errorf("amount %q is not a plain decimal", s)
	}
	return providers.FromDecimal(decimal.RequireFromString(s), currency)
}

// Fee reads a fee: a plain decimal, negative on refund rows (given back).
func Fee(s string) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Zero, nil
	}
	if !signedFee.MatchString(s) {
		return decimal.Decimal{}, fmt.Errorf("fee %q is not a plain decimal", s)
	}
	return decimal.RequireFromString(s), nil
}

// ParseTime reads "2006-01-02 15:04:05" in Beijing time; the official
// example writes full-width colons (16：33：45), which are accepted.
func ParseTime(s string) (time.Time, error) {
	s = strings.ReplaceAll(s, "：", ":")
	t, err := time.ParseInLocation(time.DateTime, s, Location)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want yyyy-MM-dd HH:mm:ss", s)
	}
	return t, nil
}

// PaymentStatus maps 交易状态 on a payment row.
func PaymentStatus(word string) string {
	switch word {
	case "SUCCESS":
		return string(providers.OrderPaid)
	case "REVOKED": // a cancelled micropay: the money went back
		return string(providers.OrderClosed)
	}
	return ""
}

// RefundStatus maps 退款状态 on a refund row (frozen when the bill was made).
func RefundStatus(word string) string {
	switch word {
	case "SUCCESS":
		return string(providers.RefundSucceeded)
	case "PROCESSING":
		return string(providers.RefundProcessing)
	case "CHANGE", "REFUNDCLOSE", "ABNORMAL", "FAIL", "FAILED", "CLOSED":
		return string(providers.RefundFailed)
	}
	return ""
}

func readRow(h map[string]int, f []string) (providers.StatementRow, error) {
	var row providers.StatementRow
	t, err := ParseTime(field(h, f, "time"))
	if err != nil {
		return row, err
	}
	cur := providers.FirstNonEmpty(field(h, f, "currency"), "CNY")
	if !providers.KnownCurrency(cur) {
		return row, fmt.Errorf("货币种类 %q is not an ISO-4217 code", cur)
	}
	row.Time = t
	row.OutTradeNo = field(h, f, "out_trade_no")
	row.TransactionID = field(h, f, "transaction")
	if row.OutTradeNo == "" && row.TransactionID == "" {
		return row, fmt.Errorf("neither 商户订单号 nor 微信订单号")
	}
	row.ProviderStatus = field(h, f, "status")
	if row.Fee, err = Fee(field(h, f, "fee")); err != nil {
		return row, err
	}
	if row.ProviderStatus == "REFUND" {
		row.Kind = providers.StatementRefund
		row.OutRefundNo = number(h, f, "out_refund_no")
		row.ProviderRefundNo = number(h, f, "refund_id")
		if row.OutRefundNo == "" && row.ProviderRefundNo == "" {
			return row, fmt.Errorf("refund row without 商户退款单号 or 微信退款单号")
		}
		word := field(h, f, "refund_status")
		row.Status = RefundStatus(word)
		row.ProviderStatus += "/" + word
		if row.Settled, err = Amount(field(h, f, "refund"), cur); err != nil {
			return row, fmt.Errorf("退款金额: %v", err)
		}
		row.Amount = row.Settled
		if _, ok := h["refund_asked"]; ok {
			if row.Amount, err = Amount(field(h, f, "refund_asked"), cur); err != nil {
				return row, fmt.Errorf("申请退款金额: %v", err)
			}
		}
		return row, nil
	}
	row.Kind = providers.StatementPayment
	row.Status = PaymentStatus(row.ProviderStatus)
	if row.Settled, err = Amount(field(h, f, "settled"), cur); err != nil {
		return row, fmt.Errorf("应结订单金额: %v", err)
	}
	row.Amount = row.Settled
	if _, ok := h["order_amount"]; ok {
		if row.Amount, err = Amount(field(h, f, "order_amount"), cur); err != nil {
			return row, fmt.Errorf("订单金额: %v", err)
		}
	}
	return row, nil
}

func readSummary(names, values []string, sum *providers.StatementSummary) error {
	if len(values) != len(names) {
		return fmt.Errorf("%d values for %d names", len(values), len(names))
	}
	h, err := headerIndex(names, summaryColumns)
	if err != nil {
		return err
	}
	for _, need := range []string{"rows", "payments", "refunds", "fees"} {
		if _, ok := h[need]; !ok {
			return fmt.Errorf("no %s in the summary", summaryColumns[need][0])
		}
	}
	n, err := strconv.ParseInt(field(h, values, "rows"), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("总交易单数 %q is not a count", field(h, values, "rows"))
	}
	sum.Rows = n
	for _, m := range []struct {
		meaning string
		into    *decimal.Decimal
	}{{"payments", &sum.Payments}, {"refunds", &sum.Refunds}} {
		v := field(h, values, m.meaning)
		if !plainAmount.MatchString(v) {
			return fmt.Errorf("%s %q is not a plain decimal", m.meaning, v)
		}
		*m.into = decimal.RequireFromString(v)
	}
	if sum.Fees, err = Fee(field(h, values, "fees")); err != nil {
		return err
	}
	sum.Present = true
	return nil
}

// Decompress returns r itself, or a gzip reader when r starts with the
// gzip magic (tar_type=GZIP), whatever the caller asked for.
func Decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(2)
	if bytes.Equal(head, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, providers.BadStatement("gzip: %v", err)
		}
		return zr, nil
	}
	return br, nil
}

// Format is the trade bill as a providers.StatementFormat: a bill file as
// downloaded from the merchant platform (plain or gzip), its days in
// Beijing time. The WeChat adapters embed it.
type Format struct{}

// StatementLocation implements providers.StatementFormat.
func (Format) StatementLocation() *time.Location { return Location }

// ParseStatement implements providers.StatementFormat.
func (Format) ParseStatement(r io.Reader, fn func(providers.StatementRow) error) (providers.StatementSummary, error) {
	zr, err := Decompress(r)
	if err != nil {
		return providers.StatementSummary{}, err
	}
	return Parse(zr, fn)
}
