// Package apierr is the API's error shape, the HTTP edge's:
// {"error":{"code":"INVALID_ARGUMENT","message":"...","field":"amount"}}.
package apierr

import (
	"fmt"
	"net/http"
)

// Codes the HTTP edge answers with itself; the use cases' refusals carry
// theirs (orders.Code*), which httpapi maps to a status.
const (
	InvalidArgument     = "INVALID_ARGUMENT"     // 400
	Unauthenticated     = "UNAUTHENTICATED"      // 401
	PermissionDenied    = "PERMISSION_DENIED"    // 403
	PayloadTooLarge     = "PAYLOAD_TOO_LARGE"    // 413
	ProviderRejected    = "PROVIDER_REJECTED"    // 422: the provider refused for good
	ProviderUnavailable = "PROVIDER_UNAVAILABLE" // 502: try again with the same body
	Unavailable         = "UNAVAILABLE"          // 503
	Internal            = "INTERNAL"             // 500
)

// Error is an API error with its HTTP status.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// ProviderCode is the provider's own error word, when a provider refused.
	ProviderCode string `json:"provider_code,omitempty"`
	// Err is the cause, for errors.Is/As (e.g. providers.ErrBreakerOpen);
	// never shown to the client.
	Err error `json:"-"`
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s (%s): %s", e.Code, e.Field, e.Message)
	}
	return e.Code + ": " + e.Message
}

// Body is the JSON document sent for an error.
func (e *Error) Body() map[string]*Error { return map[string]*Error{"error": e} }

// New builds an Error.
func New(status int, code, field, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Invalid is a 400 naming the bad field.
func Invalid(field, format string, args ...any) *Error {
	return New(http.StatusBadRequest, InvalidArgument, field, format, args...)
}

// Unprocessable is a 422: well-formed but not possible.
func Unprocessable(code, field, format string, args ...any) *Error {
	return New(http.StatusUnprocessableEntity, code, field, format, args...)
}
