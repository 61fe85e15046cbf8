package orders

import "fmt"

// Codes of the use cases' refusals: the API's error codes (docs/API.md),
// which httpapi answers with their HTTP status.
const (
	CodeInvalid             = "INVALID_ARGUMENT"
	CodeNotFound            = "NOT_FOUND"
	CodeConflict            = "IDEMPOTENCY_CONFLICT"   // same number, other body
	CodeInProgress          = "IN_PROGRESS"            // the same work is under way right now; repeat shortly
	CodeTooLarge            = "PAYLOAD_TOO_LARGE"      // an upload over its limit
	CodeUnsupported         = "UNSUPPORTED"            // the channel cannot do it
	CodeCurrencyUnsupported = "CURRENCY_NOT_SUPPORTED" // not a currency of the channel
	CodeOrderState          = "ORDER_STATE"            // not possible in the order's state
	CodeRefundExceeds       = "REFUND_EXCEEDS_REFUNDABLE"
	CodeProviderRejected    = "PROVIDER_REJECTED"    // the provider refused for good
	CodeProviderUnavailable = "PROVIDER_UNAVAILABLE" // outcome unknown: try again with the same body
)

// Error is a use case's refusal in the gateway's words: what was refused
// (Code), the request field it concerns, what to tell the merchant, and
// the provider's own word when a provider refused. It knows nothing of
// HTTP: httpapi maps each code to a status.
type Error struct {
	Code         string
	Field        string
	Message      string
	ProviderCode string
	// Err is the cause, for errors.Is/As (e.g. providers.ErrBreakerOpen);
	// never shown to the client.
	Err error
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s (%s): %s", e.Code, e.Field, e.Message)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Refused builds an Error.
func Refused(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Invalid refuses a request field.
func Invalid(field, format string, args ...any) *Error {
	return Refused(CodeInvalid, field, format, args...)
}

// NotFound says there is no such order, refund or run for the merchant.
func NotFound(format string, args ...any) *Error {
	return Refused(CodeNotFound, "", format, args...)
}
