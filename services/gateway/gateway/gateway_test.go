package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
)

func TestStatusCoversEveryCode(t *testing.T) {
	want := map[contract.Code]int{
		contract.Invalid: 422, contract.Unauthenticated: 401, contract.Forbidden: 403, contract.NotFound: 404,
		contract.Conflict: 409, contract.RateLimited: 429, contract.TooLarge: 413, contract.UnsupportedMedia: 415,
		contract.Unavailable: 503, contract.Internal: 500, contract.Code("made-up"): 500,
	}
	for code, st := range want {
		if got := status(code); got != st {
			t.Errorf("status(%s) = %d, want %d", code, got, st)
		}
	}
}

func TestLanguage(t *testing.T) {
	for in, want := range map[string]string{
		"fr-CA,fr;q=0.9,en;q=0.8": "fr-ca", "en": "en", "": "", "*": "", "x<script>": "", "de;q=0.5": "de",
	} {
		if got := language(in); got != want {
			t.Errorf("language(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUserAgentIsBounded(t *testing.T) {
	for in, want := range map[string]string{
		"okhttp/4.12.0":                "okhttp/4.12.0",
		strings.Repeat("u", 1<<20):     strings.Repeat("u", maxUserAgent),
		strings.Repeat("é", 1000):      strings.Repeat("é", maxUserAgent/2),
		"a" + strings.Repeat("é", 300): "a" + strings.Repeat("é", (maxUserAgent-1)/2),
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("User-Agent", in)
		if got := userAgent(req); got != want {
			t.Errorf("userAgent(%d bytes) = %d bytes, want %d", len(in), len(got), len(want))
		}
	}
}

func TestRenderErrorHidesInternals(t *testing.T) {
	e := echo.New()
	for _, c := range []struct {
		err    error
		status int
		body   string
	}{
		{&contract.Error{Code: contract.Internal, Message: "db password is hunter2", Reason: contract.ReasonPINLocked}, 500, `{"message":"Something went wrong. Please try again.","code":"internal"}`},
		{contract.FieldError("email", "Bad."), 422, `{"message":"Bad.","errors":{"email":["Bad."]},"code":"validation_failed"}`},
		{contract.RateLimitedFor(7, "Slow down."), 429, `{"message":"Slow down.","code":"rate_limited"}`},
		{contract.RateLimitedFor(7, "Slow down.").Because(contract.ReasonPINLocked), 429, `{"message":"Slow down.","code":"pin_locked"}`},
		{contract.RateLimitedFor(7, "Slow down.").Because("made_up"), 429, `{"message":"Slow down.","code":"rate_limited"}`},
		{badRequest{"The request body is not valid JSON."}, 400, `{"message":"The request body is not valid JSON.","code":"bad_json"}`},
		{echo.NewHTTPError(http.StatusRequestURITooLong, "The request URL is too long."), 414, `{"message":"The request URL is too long.","code":"request_uri_too_long"}`},
		{&contract.Error{Code: contract.Unavailable, Message: "Down.", RetryAfter: 2}, 503, `{"message":"Down.","code":"service_unavailable"}`},
	} {
		rec := httptest.NewRecorder()
		ctx := e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
		renderError(c.err, ctx)
		if rec.Code != c.status || strings.TrimSpace(rec.Body.String()) != c.body {
			t.Errorf("%v: %d %s", c.err, rec.Code, rec.Body.String())
		}
		if c.status == 429 && rec.Header().Get("Retry-After") != "7" {
			t.Errorf("Retry-After = %q", rec.Header().Get("Retry-After"))
		}
	}
}

func TestBindJSONNamesAFieldItsDecoderRefuses(t *testing.T) {
	var dst struct {
		Name string    `json:"name"`
		At   time.Time `json:"at"`
	}
	for body, want := range map[string]int{
		`{"name":"a","at":"yesterday"}`:            422,
		`{"name":"a","at":"2026-01-02T03:04:05Z"}`: 0,
		`{"name":"a","at":`:                        400,
	} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		c := echo.New().NewContext(req, httptest.NewRecorder())
		err := bindJSON(c, &dst)
		switch {
		case want == 0 && err != nil, want == 400 && !errors.As(err, new(badRequest)):
			t.Errorf("%s: %v", body, err)
		case want == 422:
			if e := contract.AsError(err); e.Code != contract.Invalid || len(e.Fields["at"]) == 0 {
				t.Errorf("%s: %v, want errors.at", body, err)
			}
		}
	}
}

func TestBoundedURL(t *testing.T) {
	e := echo.New()
	for uri, admitted := range map[string]bool{"/api/v2/my/documents?limit=10": true, "/x?p=" + strings.Repeat("p", maxURLBytes): false} {
		req := httptest.NewRequest(http.MethodGet, uri, nil)
		ran := false
		err := boundedURL(func(echo.Context) error { ran = true; return nil })(e.NewContext(req, httptest.NewRecorder()))
		var he *echo.HTTPError
		if ran != admitted || (!admitted && (!errors.As(err, &he) || he.Code != http.StatusRequestURITooLong)) {
			t.Errorf("%.40s: ran %v, err %v", uri, ran, err)
		}
	}
}
