package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// step is one request of a story and the error it must get: its status,
// its stable code, and whether it carries Retry-After. The answers are
// also checked against openapi.yaml (env.send), whose responses say which
// codes each status may carry.
type step struct {
	name   string
	do     func() resp
	status int
	code   string
	retry  bool
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := s.do()
			if r.status != s.status || r.str("code") != s.code {
				t.Fatalf("%d %q, want %d %q: %s", r.status, r.str("code"), s.status, s.code, r.raw)
			}
			if r.str("message") == "" {
				t.Errorf("no message: %s", r.raw)
			}
			if got := r.header.Get("Retry-After") != ""; got != s.retry {
				t.Errorf("Retry-After %q, want one: %v", r.header.Get("Retry-After"), s.retry)
			}
		})
	}
}

// otherCode is a code of the same length that is not code.
func otherCode(code string) string {
	if code == "0000" {
		return "1111"
	}
	return "0000"
}

// TestErrorCodes walks each condition the app may handle on its own and
// checks it gets its own code, beside the unchanged Laravel fields. The
// order matters: each step builds on the state the ones before left.
func TestErrorCodes(t *testing.T) {
	e := start(t, map[string]string{
		"DOSS_TRUSTED_PROXIES":             "127.0.0.0/8",
		"DOSS_OTP_CLIENT_FAILURES_PER_DAY": "3",
		"DOSS_SMS_PER_REGISTRATION":        "1",
	})
	_, token := e.register("codes@example.com", "+18681237001", "4829")
	sendEmail := func(ip, email string) func() resp {
		return func() resp { return e.postFrom(ip, "/api/v2/email_send_otp", js(map[string]string{"email": email})) }
	}
	r := sendEmail("10.0.0.1", "guessed@example.com")()
	expect(t, r, 200)
	wrong := otherCode(r.str("response", "user", "verification_code"))
	verify := func(ip string) func() resp {
		return func() resp {
			return e.postFrom(ip, "/api/v2/email_verify_otp", js(map[string]string{"email": "guessed@example.com", "verification_code": wrong}))
		}
	}
	login := func(pin string) func() resp {
		return func() resp {
			return e.post("/api/v2/new-login", js(map[string]string{"phone": "+18681237001", "password": pin}))
		}
	}
	get := func(path, token string) func() resp {
		return func() resp { return e.do(http.MethodGet, path, token, "") }
	}

	// A registration that verified its email, for the SMS budget.
	r = e.post("/api/v2/email_send_otp", js(map[string]string{"email": "texts@example.com"}))
	expect(t, r, 200)
	expect(t, e.post("/api/v2/email_verify_otp", js(map[string]string{"email": "texts@example.com", "verification_code": r.str("response", "user", "verification_code")})), 200)
	expect(t, e.post("/api/v2/phone_send_otp", js(map[string]string{"email": "texts@example.com", "phone": "+18681237002"})), 200)

	steps := []step{
		{"validation", func() resp { return e.post("/api/v2/email_send_otp", `{"email":"not-an-email"}`) }, 422, "validation_failed", false},
		{"malformed JSON", func() resp { return e.post("/api/v2/email_send_otp", `{"email":`) }, 400, "bad_json", false},
		{"no such route", get("/nowhere", ""), 404, "not_found", false},
		{"body too large", func() resp {
			return e.post("/api/v2/email_send_otp", `{"email":"`+strings.Repeat("a", 70<<10)+`"}`)
		}, 413, "payload_too_large", false},
		{"code sent too soon", sendEmail("10.0.0.1", "guessed@example.com"), 429, "otp_send_too_soon", true},
		{"too many texts for a registration", func() resp {
			return e.post("/api/v2/phone_send_otp", js(map[string]string{"email": "texts@example.com", "phone": "+18681237003"}))
		}, 429, "over_sms_send_rate_limit", true},
		// One code, five checks: three from one client, two from another.
		{"wrong code", verify("10.0.0.1"), 422, "otp_invalid", false},
		{"wrong code 2", verify("10.0.0.1"), 422, "otp_invalid", false},
		{"wrong code 3", verify("10.0.0.1"), 422, "otp_invalid", false},
		{"wrong code 4", verify("10.0.0.2"), 422, "otp_invalid", false},
		{"wrong code 5", verify("10.0.0.2"), 422, "otp_invalid", false},
		{"code checked too often", verify("10.0.0.2"), 422, "otp_attempts_exceeded", false},
		{"too many failures from one client", verify("10.0.0.1"), 429, "too_many_failures", true},
		{"no token", get("/api/v2/profile", ""), 401, "unauthenticated", false},
		// A forged token is no session of ours: the generic code, not session_expired.
		{"forged token", get("/api/v2/profile", "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJ1aWQiOjEsInNpZCI6InMiLCJzdWIiOiJ1IiwiZXhwIjoxfQ.c2ln"), 401, "unauthenticated", false},
		{"logged out", func() resp {
			expect(t, e.do(http.MethodPost, "/api/v2/logout", token, ""), 204)
			return get("/api/v2/profile", token)()
		}, 401, "session_expired", false},
		{"wrong PIN", login("1357"), 401, "invalid_credentials", false},
	}
	// 9 wrong PINs a day from devices the account does not trust lock them
	// out (the owner's trusted device is not; TestPINLockoutKeepsTheOwnerIn).
	for i := 2; i <= 9; i++ {
		steps = append(steps, step{fmt.Sprintf("wrong PIN %d", i), login("1357"), 401, "invalid_credentials", false})
	}
	steps = append(steps,
		step{"PIN locked", login("4829"), 429, "pin_locked", true},
		step{"service down", func() resp {
			if err := e.all.Procs[0].Stop(); err != nil { // auth
				t.Fatal(err)
			}
			return e.post("/api/v2/email_send_otp", js(map[string]string{"email": "down@example.com"}))
		}, 503, "service_unavailable", true},
	)
	runSteps(t, steps)
}

// TestErrorCodeExpired: with codes that expire at once, the right code is
// told it expired, and a stranger's guess against the same address meets
// otp_invalid as it always did (so otp_expired tells nobody a code exists).
func TestErrorCodeExpired(t *testing.T) {
	e := start(t, map[string]string{"DOSS_OTP_TTL": "1ns"})
	r := e.post("/api/v2/email_send_otp", js(map[string]string{"email": "late@example.com"}))
	expect(t, r, 200)
	code := r.str("response", "user", "verification_code")
	wrong := otherCode(code)
	verify := func(c string) func() resp {
		return func() resp {
			return e.post("/api/v2/email_verify_otp", js(map[string]string{"email": "late@example.com", "verification_code": c}))
		}
	}
	runSteps(t, []step{
		{"a stranger's guess", verify(wrong), 422, "otp_invalid", false},
		{"the right code, too late", verify(code), 422, "otp_expired", false},
		{"an address no code was sent to", func() resp {
			return e.post("/api/v2/email_verify_otp", js(map[string]string{"email": "never@example.com", "verification_code": code}))
		}, 422, "otp_invalid", false},
	})
}
