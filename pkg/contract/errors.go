package contract

import (
	"errors"
	"fmt"
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
// are safe to show to the app; Op and Err are for logs only.
type Error struct {
	Code       Code                `json:"code"`
	Message    string              `json:"message"`
	Fields     map[string][]string `json:"errors,omitempty"`
	RetryAfter int                 `json:"retry_after,omitempty"` // seconds, for RateLimited and Unavailable

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
