package yaband

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/providers"
)

// Statements (overseas.md §6): v3.GetTradebill. Yaband clears the previous
// day at 04:00 Netherlands time and advises reading after 07:00; only the
// merchant's super-admin account may call it. The adapter asks for the
// transactions of one statement day by period (command getTradebillinfo,
// start_time/end_time in Unix seconds) and signs with params.report_user /
// params.report_secret_key when set (else the channel's own account).
//
// UNCONFIRMED (the public page shows the request, not the answer of
// getTradebillinfo): the key of the list in data and its fields. The
// adapter reads a list under data.tradebillinfo (or data.transactions,
// data.list, or data itself), each item with trade_id, order_id,
// transaction_id, amount, currency, state/type (a refund when it says
// refund or carries refund_id), refund_id, m_refund_id, merchant_cost and
// a time in Unix seconds (time, paid_time, refund_time or created_at).
// Correct statementItem and readItem when Yaband confirms the shape.

// MethodGetTradebill is the clearing-report method.
const MethodGetTradebill = "v3.GetTradebill"

// commandKey is the name of the sub-command field: "command" in the
// English page, "commond" in the Chinese one (UNCONFIRMED which the server
// reads).
const commandKey = "command"

// clearingReady is when the previous day's transactions can be read.
const clearingReady = 7 * time.Hour

var amsterdam = func() *time.Location {
	if loc, err := time.LoadLocation("Europe/Amsterdam"); err == nil {
		return loc
	}
	return time.FixedZone("CET", 3600)
}()

var _ providers.StatementSource = (*Adapter)(nil)

// StatementLocation implements providers.StatementFormat.
func (p *Adapter) StatementLocation() *time.Location { return amsterdam }

// ParseStatement implements providers.StatementFormat: Yaband's portal
// exports are read with the channel's statement.columns instead.
func (p *Adapter) ParseStatement(io.Reader, func(providers.StatementRow) error) (providers.StatementSummary, error) {
	return providers.StatementSummary{}, providers.BadStatement("Yaband's report files have no built-in format: map their columns in the channel's statement.columns")
}

// DownloadStatement implements providers.StatementSource.
func (p *Adapter) DownloadStatement(ctx context.Context, day providers.Day, loc *time.Location, fn func(providers.StatementRow) error) (providers.StatementSummary, error) {
	var none providers.StatementSummary
	if loc == nil {
		loc = amsterdam
	}
	from, to := day.Start(loc), day.End(loc)
	user, secret := p.user, p.secret
	if p.reportUser != "" {
		user, secret = p.reportUser, p.reportSecret
	}
	data := map[string]string{
		commandKey: "getTradebillinfo", "start_time": strconv.FormatInt(from.Unix(), 10),
		"end_time": strconv.FormatInt(to.Unix()-1, 10), "nonce_string": nonceString(),
	}
	raw, err := p.callAs(ctx, user, secret, MethodGetTradebill, data)
	if err != nil {
		return none, err
	}
	items, err := statementItems(raw)
	if err != nil {
		return none, &providers.Error{Code: providers.ErrCodeBadResponse, Message: "yaband " + MethodGetTradebill, Err: err}
	}
	if len(items) == 0 {
		if p.now().Before(day.AddDays(1).Start(amsterdam).Add(clearingReady)) {
			return none, fmt.Errorf("%w: Yaband clears %s at 04:00 Netherlands time; read after 07:00", providers.ErrStatementNotReady, day)
		}
		return none, fmt.Errorf("%w: no settled transaction on %s", providers.ErrNoStatement, day)
	}
	for i, it := range items {
		row, err := p.readItem(it)
		if err != nil {
			return none, &providers.Error{Code: providers.ErrCodeBadResponse, Message: "yaband " + MethodGetTradebill,
				Err: providers.BadStatement("item %d: %v", i+1, err)}
		}
		if err := fn(row); err != nil {
			return none, err
		}
	}
	return none, nil
}

func statementItems(raw json.RawMessage) ([]map[string]any, error) {
	var list []map[string]any
	if err := decodeInto(raw, &list); err == nil {
		return list, nil
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	for _, key := range []string{"tradebillinfo", "tradebillInfo", "transactions", "list"} {
		v, ok := obj[key]
		if !ok {
			continue
		}
		b, _ := json.Marshal(v)
		if err := decodeInto(b, &list); err != nil {
			return nil, fmt.Errorf("data.%s is not a list", key)
		}
		return list, nil
	}
	return nil, errors.New("no transaction list in data")
}

func decodeInto(raw []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	return dec.Decode(v)
}

func (p *Adapter) readItem(m map[string]any) (providers.StatementRow, error) {
	var row providers.StatementRow
	cur := providers.FirstNonEmpty(strings.ToUpper(str(m, "currency")), p.ch.Currency)
	amount, err := providers.ParseStatementAmount(strings.TrimPrefix(str(m, "amount"), "-"), cur)
	if err != nil {
		return row, fmt.Errorf("amount: %v", err)
	}
	var at time.Time
	for _, k := range []string{"time", "paid_time", "refund_time", "created_at"} {
		if t := parseUnix(str(m, k)); !t.IsZero() {
			at = t
			break
		}
	}
	if at.IsZero() {
		return row, errors.New("no time")
	}
	row.Time, row.Amount, row.Settled = at, amount, amount
	row.OutTradeNo, row.ProviderTradeNo, row.TransactionID = str(m, "order_id"), str(m, "trade_id"), str(m, "transaction_id")
	if row.OutTradeNo == "" && row.ProviderTradeNo == "" {
		return row, errors.New("neither order_id nor trade_id")
	}
	if f := str(m, "merchant_cost"); f != "" {
		if row.Fee, err = decimal.NewFromString(f); err != nil {
			return row, fmt.Errorf("merchant_cost %q", f)
		}
	}
	state := str(m, "state")
	kind := strings.ToLower(firstOf(str(m, "type"), str(m, "transaction_type")))
	row.ProviderStatus = firstOf(state, kind)
	if strings.Contains(kind, "refund") || str(m, "refund_id") != "" {
		row.Kind = providers.StatementRefund
		row.OutRefundNo, row.ProviderRefundNo = str(m, "m_refund_id"), str(m, "refund_id")
		if row.OutRefundNo == "" && row.ProviderRefundNo == "" {
			return row, errors.New("a refund without refund_id")
		}
		row.Status = string(providers.RefundSucceeded) // the report lists settled transactions only
		if st := RefundStatus(state); st != providers.RefundUnknown {
			row.Status = string(st)
		}
		return row, nil
	}
	row.Kind = providers.StatementPayment
	row.Status = string(providers.OrderPaid)
	if st := PaymentStatus(state); st != providers.OrderUnknown {
		row.Status = string(st)
	}
	return row, nil
}

func firstOf(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// nonceString is the request's nonce_string: 24 random lower-case
// alphanumerics (at most 32 allowed).
func nonceString() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
