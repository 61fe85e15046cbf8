package providers

import (
	"errors"
	"fmt"
	"regexp"
)

// ErrorCode is a provider failure in the gateway's words.
type ErrorCode string

const (
	// ErrCodeUnavailable: the provider could not be reached or answered
	// 5xx/SYSTEMERROR, or the channel's breaker is open. Retry later with
	// the same parameters.
	ErrCodeUnavailable ErrorCode = "PROVIDER_UNAVAILABLE"
	// ErrCodeRejected: the provider refused the request for good.
	ErrCodeRejected ErrorCode = "PROVIDER_REJECTED"
	// ErrCodeNotFound: the provider does not know the order or refund.
	ErrCodeNotFound ErrorCode = "PROVIDER_NOT_FOUND"
	// ErrCodeOrderPaid: the order is already paid (cannot close).
	ErrCodeOrderPaid ErrorCode = "ORDER_PAID"
	// ErrCodeOrderClosed: the order is already closed at the provider.
	ErrCodeOrderClosed ErrorCode = "ORDER_CLOSED"
	// ErrCodeDuplicate: the merchant number was used with other content.
	ErrCodeDuplicate ErrorCode = "OUT_TRADE_NO_USED"
	// ErrCodeUnsupported: the provider has no such operation.
	ErrCodeUnsupported ErrorCode = "UNSUPPORTED"
	// ErrCodeBadResponse: the provider's answer failed verification or
	// could not be parsed.
	ErrCodeBadResponse ErrorCode = "PROVIDER_BAD_RESPONSE"
	// ErrCodeInProgress: the provider says the same request (or a
	// duplicate of it) is already being processed. Never a refusal: the
	// earlier request may yet succeed; ask again later.
	ErrCodeInProgress ErrorCode = "PROVIDER_IN_PROGRESS"
)

// Error is a provider failure with the provider's own code kept for people.
type Error struct {
	Code         ErrorCode
	ProviderCode string // e.g. "ORDERPAID", "SYSTEMERROR", "PARAM_ERROR"
	Message      string
	Err          error
}

func (e *Error) Error() string {
	s := string(e.Code)
	if e.ProviderCode != "" {
		s += " (" + e.ProviderCode + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds a provider Error.
func Errorf(code ErrorCode, providerCode, format string, args ...any) *Error {
	return &Error{Code: code, ProviderCode: providerCode, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps a transport failure.
func Unavailable(err error) *Error {
	return &Error{Code: ErrCodeUnavailable, Err: err}
}

// CodeOf returns the ErrorCode of err, or ErrCodeUnavailable for any other
// error (an unknown failure must be treated as "maybe happened"), and ""
// for nil.
func CodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ErrCodeUnavailable
}

// IsCode reports whether err is a provider Error with code.
func IsCode(err error, code ErrorCode) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.Code == code
}

// ErrVerification marks a notification or response whose signature,
// timestamp or decryption failed.
var ErrVerification = errors.New("verification failed")

// ErrChannelMismatch marks a notification for another account than the
// channel's (appid/mch_id differ), even when its signature verifies.
var ErrChannelMismatch = errors.New("notification does not belong to this channel")

// ErrMalformed marks a notification that cannot be parsed.
var ErrMalformed = errors.New("malformed notification")

// ErrBreakerOpen marks a call not made because the channel's circuit
// breaker is open. The poller postpones instead of spending an attempt.
var ErrBreakerOpen = errors.New("circuit breaker open")

// inProgressMessage matches a provider's free-text refusal that means the
// request is a repeat of one it already has: in progress, a duplicate, or
// already done. Providers without a code table (Yaband, Supay, 2paynow,
// VR Payment) answer such texts; the wording is UNCONFIRMED and this is
// the one place to correct it.
var inProgressMessage = regexp.MustCompile(`(?i)in\s*progress|processing|duplicat|already|repeat|same\s+(request|refund)|重复|处理中|正在|已退款|已存在`)

// conflictMessage marks a "duplicate" that is not ours: the number is
// taken by a request with other content.
var conflictMessage = regexp.MustCompile(`(?i)another|different|other\s|mismatch|不一致|不同`)

// InProgressMessage reports whether a provider's refusal text says the
// request is already there (in progress, duplicate, done): such an answer
// is ErrCodeInProgress, never a final refusal. A number taken by a request
// with other content ("already exists with another amount") is not.
func InProgressMessage(msg string) bool {
	return inProgressMessage.MatchString(msg) && !conflictMessage.MatchString(msg)
}
