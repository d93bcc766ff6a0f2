package gateway

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/logx"
)

// status is the one place a contract code becomes an HTTP status.
func status(code contract.Code) int {
	switch code {
	case contract.Invalid:
		return http.StatusUnprocessableEntity
	case contract.Unauthenticated:
		return http.StatusUnauthorized
	case contract.Forbidden:
		return http.StatusForbidden
	case contract.NotFound:
		return http.StatusNotFound
	case contract.Conflict:
		return http.StatusConflict
	case contract.RateLimited:
		return http.StatusTooManyRequests
	case contract.TooLarge:
		return http.StatusRequestEntityTooLarge
	case contract.UnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case contract.Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// errorBody is the Laravel shape the app parses, with the stable code of
// the condition beside it (contract.Reason; additive, the app may ignore it).
type errorBody struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors,omitempty"`
	Code    contract.Reason     `json:"code"`
}

// statusReason is the code of an error the gateway's HTTP layer raised
// itself (no service decided it), from its status alone.
func statusReason(st int) contract.Reason {
	switch st {
	case http.StatusBadRequest:
		return contract.ReasonBadJSON
	case http.StatusUnauthorized:
		return contract.ReasonUnauthenticated
	case http.StatusForbidden:
		return contract.ReasonForbidden
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return contract.ReasonNotFound
	case http.StatusRequestEntityTooLarge:
		return contract.ReasonPayloadTooLarge
	case http.StatusRequestURITooLong:
		return contract.ReasonRequestURITooLong
	case http.StatusUnsupportedMediaType:
		return contract.ReasonUnsupportedMediaType
	case http.StatusTooManyRequests:
		return contract.ReasonRateLimited
	case http.StatusServiceUnavailable:
		return contract.ReasonServiceUnavailable
	}
	if st < 500 {
		return contract.ReasonValidationFailed
	}
	return contract.ReasonInternal
}

// badRequest is a request the gateway cannot even read (malformed JSON):
// 400, which has no place in the services' closed set.
type badRequest struct{ msg string }

func (b badRequest) Error() string { return b.msg }

// renderError writes every error the same way; internal detail only goes
// to the log.
func renderError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var (
		st   int
		body errorBody
		br   badRequest
		he   *echo.HTTPError
	)
	switch {
	case errors.As(err, &br):
		st, body = http.StatusBadRequest, errorBody{Message: br.msg, Code: contract.ReasonBadJSON}
	case errors.As(err, &he):
		st = he.Code
		body.Message = http.StatusText(st)
		if m, ok := he.Message.(string); ok && st < 500 {
			body.Message = m
		}
		if st == http.StatusRequestEntityTooLarge {
			body.Message = "The request body is too large."
		}
		if st == http.StatusNotFound {
			body.Message = "Not found."
		}
		body.Code = statusReason(st)
	default:
		e := contract.AsError(err)
		st = status(e.Code)
		body = errorBody{Message: e.Message, Errors: e.Fields, Code: e.PublicReason()}
		if e.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		if st >= 500 {
			logx.From(c.Request().Context()).Error("request failed", zap.String("path", c.Path()), zap.Error(err))
			if st == http.StatusInternalServerError {
				body = errorBody{Message: "Something went wrong. Please try again.", Code: contract.ReasonInternal}
			}
		}
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(st)
		return
	}
	_ = c.JSON(st, body)
}
