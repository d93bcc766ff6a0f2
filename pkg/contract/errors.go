package contract

import (
	"errors"
	"fmt"
	"time"
)

// Code is the closed set of error kinds that cross service boundaries.
// Only the gateway maps a Code to an HTTP status; anything that is not an
// *Error becomes Internal and its detail stays in the log.
type Code string

const (
	Invalid          Code = "invalid"
	Unauthenticated  Code = "unauthenticated"
	Forbidden        Code = "forbidden"
	NotFound         Code = "not_found"
	Conflict         Code = "conflict"
	RateLimited      Code = "rate_limited"
	TooLarge         Code = "too_large"
	UnsupportedMedia Code = "unsupported_media"
	Unavailable      Code = "unavailable"
	Internal         Code = "internal"
)

// Error is the one error type that survives the wire. Message and Fields
// are safe to show to the app; Op and Err are for logs only. Code (the kind)
// decides the HTTP status; Reason, when set, says which condition of that
// kind it is, and is what the app reads as "code" (see Reason).
type Error struct {
	Code       Code                `json:"code"`
	Message    string              `json:"message"`
	Fields     map[string][]string `json:"errors,omitempty"`
	RetryAfter int                 `json:"retry_after,omitempty"` // seconds, for RateLimited and Unavailable
	Reason     Reason              `json:"reason,omitempty"`

	Op  string `json:"-"`
	Err error  `json:"-"`
}

func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.Message
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Because sets the specific reason of e and returns e.
func (e *Error) Because(r Reason) *Error {
	e.Reason = r
	return e
}

// Errorf builds an *Error with a formatted, user-facing message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError is the 422 shape the app parses: one field, one message.
func FieldError(field, message string) *Error {
	return &Error{Code: Invalid, Message: message, Fields: map[string][]string{field: {message}}}
}

// Validation collects per-field messages and turns into an *Error when any.
type Validation struct {
	fields map[string][]string
	first  string
}

func (v *Validation) Add(field, message string) {
	if v.fields == nil {
		v.fields = map[string][]string{}
	}
	if v.first == "" {
		v.first = message
	}
	v.fields[field] = append(v.fields[field], message)
}

// Has reports whether field already has a message.
func (v *Validation) Has(field string) bool { return len(v.fields[field]) > 0 }

// Err returns nil when nothing was added.
func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	msg := v.first
	if n := countMessages(v.fields); n > 1 {
		msg = fmt.Sprintf("%s (and %d more error%s)", v.first, n-1, plural(n-1))
	}
	return &Error{Code: Invalid, Message: msg, Fields: v.fields}
}

func countMessages(f map[string][]string) int {
	n := 0
	for _, m := range f {
		n += len(m)
	}
	return n
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// RateLimitedFor is a 429 with a Retry-After in seconds (at least 1).
func RateLimitedFor(seconds int, message string) *Error {
	if seconds < 1 {
		seconds = 1
	}
	return &Error{Code: RateLimited, Message: message, RetryAfter: seconds}
}

// RateLimitedWait is RateLimitedFor a wait, rounded up to whole seconds.
func RateLimitedWait(wait time.Duration, message string) *Error {
	return RateLimitedFor(int((wait+time.Second-1)/time.Second), message)
}

// StoreUnavailable is a store failure the caller may retry shortly: a 503
// with Retry-After, op and err kept for the logs.
func StoreUnavailable(op string, err error) *Error {
	return &Error{Code: Unavailable, Message: "The service is temporarily unavailable. Please try again shortly.", RetryAfter: 2, Op: op, Err: err}
}

// ErrorCode returns the code of err, Internal for anything unknown.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// AsError returns err as an *Error; unknown errors become Internal with a
// generic message, keeping the cause for the log.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: "Something went wrong. Please try again.", Err: err}
}

// Reason is the stable, machine-readable code of an error, the "code" the
// gateway writes beside the Laravel fields: {"message", "errors", "code"}.
// The set is closed: every value is listed in reasons with the one kind it
// belongs to, and documented in the gateway's openapi.yaml (the Error
// schema's enum; a test holds the two equal) and docs/errors.md. Codes are
// Supabase Auth's where one fits. A code is never renamed or reused for
// another condition; a new condition gets a new code.
type Reason string

// The generic code of each kind, used when the service that decided set
// no specific one.
const (
	ReasonValidationFailed     Reason = "validation_failed"
	ReasonUnauthenticated      Reason = "unauthenticated"
	ReasonForbidden            Reason = "forbidden"
	ReasonNotFound             Reason = "not_found"
	ReasonConflict             Reason = "conflict"
	ReasonRateLimited          Reason = "rate_limited"
	ReasonPayloadTooLarge      Reason = "payload_too_large"
	ReasonUnsupportedMediaType Reason = "unsupported_media_type"
	ReasonServiceUnavailable   Reason = "service_unavailable"
	ReasonInternal             Reason = "internal"
)

// The specific codes: each names one condition the app may handle on its
// own (a countdown, a "request a new code" button, a log-in screen).
const (
	// Invalid (422): the code typed was wrong, is past its lifetime (said
	// only to a caller who typed that very code), or was checked too often.
	ReasonOTPInvalid          Reason = "otp_invalid"
	ReasonOTPExpired          Reason = "otp_expired"
	ReasonOTPAttemptsExceeded Reason = "otp_attempts_exceeded"

	// Unauthenticated (401): a wrong phone or PIN (the same for both), and
	// a token that was good once but whose session has ended.
	ReasonInvalidCredentials Reason = "invalid_credentials"
	ReasonSessionExpired     Reason = "session_expired"

	// RateLimited (429, with Retry-After).
	ReasonPINLocked              Reason = "pin_locked"
	ReasonOTPSendTooSoon         Reason = "otp_send_too_soon"
	ReasonOverEmailSendRateLimit Reason = "over_email_send_rate_limit"
	ReasonOverSMSSendRateLimit   Reason = "over_sms_send_rate_limit"
	ReasonTooManyFailures        Reason = "too_many_failures"

	// Codes only the gateway gives, for requests it cannot read at all
	// (no kind of the closed set above fits them).
	ReasonBadJSON           Reason = "bad_json"             // 400
	ReasonRequestURITooLong Reason = "request_uri_too_long" // 414
)

// reasons is the closed set, in the order the docs list it (by HTTP
// status), each with the kind it belongs to ("" for the gateway's own).
var reasons = []struct {
	reason Reason
	kind   Code
}{
	{ReasonBadJSON, ""},
	{ReasonUnauthenticated, Unauthenticated},
	{ReasonInvalidCredentials, Unauthenticated},
	{ReasonSessionExpired, Unauthenticated},
	{ReasonForbidden, Forbidden},
	{ReasonNotFound, NotFound},
	{ReasonConflict, Conflict},
	{ReasonPayloadTooLarge, TooLarge},
	{ReasonRequestURITooLong, ""},
	{ReasonUnsupportedMediaType, UnsupportedMedia},
	{ReasonValidationFailed, Invalid},
	{ReasonOTPInvalid, Invalid},
	{ReasonOTPExpired, Invalid},
	{ReasonOTPAttemptsExceeded, Invalid},
	{ReasonRateLimited, RateLimited},
	{ReasonPINLocked, RateLimited},
	{ReasonOTPSendTooSoon, RateLimited},
	{ReasonOverEmailSendRateLimit, RateLimited},
	{ReasonOverSMSSendRateLimit, RateLimited},
	{ReasonTooManyFailures, RateLimited},
	{ReasonInternal, Internal},
	{ReasonServiceUnavailable, Unavailable},
}

// Reasons lists every code an error body may carry.
func Reasons() []Reason {
	out := make([]Reason, len(reasons))
	for i, r := range reasons {
		out[i] = r.reason
	}
	return out
}

// DefaultReason is the generic code of a kind; Internal for an unknown one.
func DefaultReason(kind Code) Reason {
	switch kind {
	case Invalid:
		return ReasonValidationFailed
	case Unauthenticated:
		return ReasonUnauthenticated
	case Forbidden:
		return ReasonForbidden
	case NotFound:
		return ReasonNotFound
	case Conflict:
		return ReasonConflict
	case RateLimited:
		return ReasonRateLimited
	case TooLarge:
		return ReasonPayloadTooLarge
	case UnsupportedMedia:
		return ReasonUnsupportedMediaType
	case Unavailable:
		return ReasonServiceUnavailable
	default:
		return ReasonInternal
	}
}

// PublicReason is the code the app is shown for e: its Reason when that is
// in the set and belongs to e's kind (so a code can never contradict the
// status), otherwise the kind's generic one.
func (e *Error) PublicReason() Reason {
	for _, r := range reasons {
		if r.reason == e.Reason && r.kind == e.Code && r.kind != "" {
			return e.Reason
		}
	}
	return DefaultReason(e.Code)
}

// ErrNotFound and ErrExists are a store's two answers that a service's
// code branches on (nothing under a key; a create of what is held), in the
// store's interface and not in any driver's words, so an app can tell them
// from a failure without importing its adapter. They are not codes: each
// app decides what they mean to its caller.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)
