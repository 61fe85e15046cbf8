package recon

import (
	"context"
	"errors"
	"time"

	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// RunView is a run as the API and the reconciliation.completed webhook
// show it.
type RunView struct {
	ID        string         `json:"id"`
	Channel   string         `json:"channel"`
	Provider  string         `json:"provider"`
	Date      string         `json:"date"`
	Source    string         `json:"source"`
	Status    string         `json:"status"`
	Error     *string        `json:"error"`
	Statement *StatementView `json:"statement"`
	Counts    CountsView     `json:"counts"`
	// NextAttemptAt: when a WAITING (or unreachable) run asks again.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	Attempts      int        `json:"attempts"`
	CreatedAt     time.Time  `json:"created_at"`
	FinishedAt    *time.Time `json:"finished_at"`
}

// StatementView is the statement a run read. Currency, payments, refunds
// and fees describe it when it has one currency (the usual case); with
// several they are null and by_currency lists each.
type StatementView struct {
	Rows       int64            `json:"rows"`
	Currency   *string          `json:"currency"`
	Payments   *Totals          `json:"payments"`
	Refunds    *Totals          `json:"refunds"`
	Fees       *string          `json:"fees"`
	ByCurrency []CurrencyTotals `json:"by_currency"`
	// Summary is the statement's own totals line (null when its format has
	// none); the rows were checked to add up to it.
	Summary *SummaryLine `json:"summary"`
}

// CountsView counts a run's outcome.
type CountsView struct {
	Matched           int64 `json:"matched"`
	MissingAtGateway  int64 `json:"missing_at_gateway"`
	MissingAtProvider int64 `json:"missing_at_provider"`
	AmountMismatch    int64 `json:"amount_mismatch"`
	StatusMismatch    int64 `json:"status_mismatch"`
	Healed            int64 `json:"healed"`
}

// View renders a run.
func View(r *store.ReconRun) RunView {
	v := RunView{
		ID: r.ID, Channel: r.ChannelID, Provider: r.Provider, Date: r.Date, Source: r.Source, Status: r.Status,
		Counts: CountsView{
			Matched: r.Matched, MissingAtGateway: r.MissingAtGateway, MissingAtProvider: r.MissingAtProvider,
			AmountMismatch: r.AmountMismatch, StatusMismatch: r.StatusMismatch, Healed: r.Healed,
		},
		Attempts:  r.Attempts,
		CreatedAt: r.CreatedAt.UTC().Truncate(time.Second),
	}
	if r.Error != "" {
		msg := r.Error
		v.Error = &msg
	}
	if r.FinishedAt != nil {
		t := r.FinishedAt.UTC().Truncate(time.Second)
		v.FinishedAt = &t
	}
	if r.NextTryAt != nil && (r.Status == store.ReconWaiting || r.Status == store.ReconFailed) {
		t := r.NextTryAt.UTC().Truncate(time.Second)
		v.NextAttemptAt = &t
	}
	if info := decodeInfo(r.Statement); info != nil {
		sv := &StatementView{Rows: info.Rows, ByCurrency: info.ByCurrency, Summary: info.Summary}
		if len(info.ByCurrency) == 1 {
			c := info.ByCurrency[0]
			sv.Currency, sv.Payments, sv.Refunds, sv.Fees = &c.Currency, &c.Payments, &c.Refunds, &c.Fees
		}
		v.Statement = sv
	}
	return v
}

// DifferenceView is one difference as the API shows it.
type DifferenceView struct {
	Kind            string        `json:"kind"`
	OutTradeNo      string        `json:"out_trade_no"`
	ProviderTradeNo string        `json:"provider_trade_no"`
	TransactionID   string        `json:"transaction_id"`
	OutRefundNo     string        `json:"out_refund_no"`
	Gateway         *GatewaySide  `json:"gateway"`
	Provider        *ProviderSide `json:"provider"`
	Healed          bool          `json:"healed"`
	Note            string        `json:"note"`
}

// GatewaySide is what the gateway holds.
type GatewaySide struct {
	Status   string `json:"status"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

// ProviderSide is what the statement says.
type ProviderSide struct {
	Status   string    `json:"status"`
	Amount   string    `json:"amount"`
	Currency string    `json:"currency"`
	Time     time.Time `json:"time"`
}

// ViewDifference renders a difference.
func ViewDifference(d *store.ReconDifference) DifferenceView {
	v := DifferenceView{
		Kind: d.Kind, OutTradeNo: d.OutTradeNo, ProviderTradeNo: d.ProviderTradeNo, TransactionID: d.TransactionID,
		OutRefundNo: d.OutRefundNo, Healed: d.Healed, Note: d.Note,
	}
	if d.GatewayStatus != "" {
		v.Gateway = &GatewaySide{Status: d.GatewayStatus, Amount: providers.FormatMinor(d.GatewayAmountMinor, d.GatewayCurrency), Currency: d.GatewayCurrency}
	}
	if d.ProviderAt != nil {
		v.Provider = &ProviderSide{Status: d.ProviderStatus, Amount: providers.FormatMinor(d.ProviderAmountMinor, d.ProviderCurrency),
			Currency: d.ProviderCurrency, Time: d.ProviderAt.UTC()}
	}
	return v
}

// Runs is a page of a merchant's reconciliations (f names the merchant),
// newest first, after the key after.
func (e *Engine) Runs(ctx context.Context, f store.ReconRunFilter, after *store.RunKey, limit int) ([]store.ReconRun, error) {
	return e.st.ListReconRuns(ctx, f, after, limit)
}

// RunOf returns one of the merchant's reconciliations; another merchant's
// is not found.
func (e *Engine) RunOf(ctx context.Context, merchantID, id string) (*store.ReconRun, error) {
	run, err := e.st.ReconRunByID(ctx, merchantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, orders.NotFound("no reconciliation %s", id)
	}
	return run, err
}

// Differences is a page of a run's differences of one kind ("" every
// kind), after the sequence number after.
func (e *Engine) Differences(ctx context.Context, runID, kind string, after int64, limit int) ([]store.ReconDifference, error) {
	return e.st.ReconDifferences(ctx, runID, kind, after, limit)
}
