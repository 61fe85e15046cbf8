package vrpayment

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/paygate/paygate/providers"
	"github.com/shopspring/decimal"
)

// serverError: 5xx, including wallee's 542 ServerError, is
// PROVIDER_UNAVAILABLE (retry later).
func serverError(resp *resty.Response) error {
	e := parseAPIError(resp.Body())
	return &providers.Error{Code: providers.ErrCodeUnavailable, ProviderCode: fmt.Sprintf("HTTP %d", resp.StatusCode()), Message: e.Message}
}

// clientError maps a non-2xx, non-5xx answer:
//   - 442 ClientError: PROVIDER_NOT_FOUND when the message says the entity
//     does not exist (isNotFound), else PROVIDER_REJECTED; ProviderCode is
//     the error type (e.g. DEVELOPER_ERROR);
//   - 404: PROVIDER_NOT_FOUND;
//   - 409 (optimistic-locking conflict in the SDK): PROVIDER_UNAVAILABLE,
//     the same call may be retried;
//   - anything else (401/403 authentication, 400...): PROVIDER_REJECTED.
func clientError(status int, body []byte) error {
	e := parseAPIError(body)
	code := fmt.Sprintf("HTTP %d", status)
	if status == 442 && e.Type != "" {
		code = e.Type
	}
	switch {
	case status == http.StatusNotFound || (status == 442 && isNotFound(e.Message)):
		return &providers.Error{Code: providers.ErrCodeNotFound, ProviderCode: code, Message: e.Message}
	case status == http.StatusConflict:
		return &providers.Error{Code: providers.ErrCodeUnavailable, ProviderCode: code, Message: e.Message}
	case providers.InProgressMessage(e.Message):
		// e.g. a refund with this externalId is already being processed.
		return &providers.Error{Code: providers.ErrCodeInProgress, ProviderCode: code, Message: e.Message}
	default:
		return &providers.Error{Code: providers.ErrCodeRejected, ProviderCode: code, Message: e.Message}
	}
}

// isNotFound reads a ClientError message. UNCONFIRMED wording: wallee's
// message for an unknown id is not public; these are the usual forms.
func isNotFound(msg string) bool {
	s := strings.ToLower(msg)
	for _, w := range []string{"not found", "does not exist", "could not be found", "no entity", "unknown id"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// transaction is the part of wallee's Transaction we read.
type transaction struct {
	ID                  json.Number `json:"id"`
	State               string      `json:"state"`
	MerchantReference   string      `json:"merchantReference"`
	Currency            string      `json:"currency"`
	AuthorizationAmount json.Number `json:"authorizationAmount"`
	CompletedAmount     json.Number `json:"completedAmount"`
	AuthorizedOn        string      `json:"authorizedOn"`
	CompletedOn         string      `json:"completedOn"`
	CreatedOn           string      `json:"createdOn"`
}

func (p *Adapter) orderState(tx transaction, ref providers.OrderRef) (providers.OrderState, error) {
	status := mapTransactionState(tx.State)
	if ref.OutTradeNo != "" && tx.MerchantReference != "" && tx.MerchantReference != ref.OutTradeNo {
		return providers.OrderState{}, providers.BadResponse("transaction %s belongs to merchantReference %q, not %q", tx.ID, tx.MerchantReference, ref.OutTradeNo)
	}
	st := providers.OrderState{
		Status:          status,
		ProviderStatus:  tx.State,
		OutTradeNo:      tx.MerchantReference,
		ProviderTradeNo: tx.ID.String(),
	}
	if st.OutTradeNo == "" {
		st.OutTradeNo = ref.OutTradeNo
	}
	cur := providers.FirstNonEmpty(tx.Currency, p.currency)
	amount := tx.AuthorizationAmount
	if status == providers.OrderPaid && isPositive(tx.CompletedAmount) {
		amount = tx.CompletedAmount
	}
	if isPositive(amount) {
		m, err := providers.ParseProviderAmount(amount.String(), cur)
		if err != nil {
			return providers.OrderState{}, providers.BadResponse("transaction amount: %v", err)
		}
		st.Amount = m
	}
	if status == providers.OrderPaid {
		st.PaidAt = parseTime(tx.CompletedOn)
		if st.PaidAt.IsZero() {
			st.PaidAt = parseTime(tx.AuthorizedOn)
		}
	}
	return st, nil
}

// isPositive reports whether a JSON number is present and above zero
// (an absent or zero amount is "not said", not a zero amount).
func isPositive(n json.Number) bool {
	d, err := decimal.NewFromString(strings.TrimSpace(n.String()))
	return err == nil && d.IsPositive()
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// mapTransactionState maps wallee's TransactionState. FULFILL and
// COMPLETED are paid (README assumption: with autoConfirmation and the
// space's default completion, a paid transaction reaches FULFILL).
// AUTHORIZED is not paid yet: the amount is only reserved and may still be
// voided or fail completion, so it stays PAYING.
// Any other word is providers.OrderUnknown.
func mapTransactionState(state string) providers.OrderStatus {
	return transactionStates.Of(state)
}

var transactionStates = providers.NewStatuses(nil, map[providers.OrderStatus][]string{
	providers.OrderPaid:   {"FULFILL", "COMPLETED"},
	providers.OrderPaying: {"CREATE", "PENDING", "CONFIRMED", "PROCESSING", "AUTHORIZED"},
	providers.OrderFailed: {"FAILED", "DECLINE"},
	providers.OrderClosed: {"VOIDED"},
})

// refund is the part of wallee's Refund we read.
type refund struct {
	ID          json.Number `json:"id"`
	State       string      `json:"state"`
	ExternalID  string      `json:"externalId"`
	Amount      json.Number `json:"amount"`
	SucceededOn string      `json:"succeededOn"`
}

func (p *Adapter) refundState(raw []byte, outRefundNo, currency string) (providers.RefundState, error) {
	var r refund
	if err := json.Unmarshal(raw, &r); err != nil || !idPattern.MatchString(r.ID.String()) {
		return providers.RefundState{}, providers.BadResponse("answer is not a refund")
	}
	if r.ExternalID != "" && outRefundNo != "" && r.ExternalID != outRefundNo {
		return providers.RefundState{}, providers.BadResponse("refund %s has externalId %q, not %q", r.ID, r.ExternalID, outRefundNo)
	}
	status := mapRefundState(r.State)
	st := providers.RefundState{
		Status:           status,
		ProviderStatus:   r.State,
		OutRefundNo:      outRefundNo,
		ProviderRefundNo: r.ID.String(),
	}
	if st.OutRefundNo == "" {
		st.OutRefundNo = r.ExternalID
	}
	if isPositive(r.Amount) {
		m, err := providers.ParseProviderAmount(r.Amount.String(), currency)
		if err != nil {
			return providers.RefundState{}, providers.BadResponse("refund amount: %v", err)
		}
		st.Amount = m
	}
	if status == providers.RefundSucceeded {
		st.SucceededAt = parseTime(r.SucceededOn)
	}
	return st, nil
}

// refundStates are wallee's RefundState words.
var refundStates = providers.NewStatuses(nil, map[providers.RefundStatus][]string{
	providers.RefundSucceeded:  {"SUCCESSFUL"},
	providers.RefundFailed:     {"FAILED"},
	providers.RefundProcessing: {"CREATE", "SCHEDULED", "PENDING", "MANUAL_CHECK"},
})

// mapRefundState maps a RefundState word; any other is providers.RefundUnknown.
func mapRefundState(state string) providers.RefundStatus {
	return refundStates.Of(state)
}
