package e2e

import (
	"net/http"
	"testing"
	"time"
)

// resetCode waits for the newest PIN reset code sent to addr.
func (e *env) resetCode(addr string) string {
	e.t.Helper()
	var code string
	eventually(e.t, "a PIN reset code for "+addr, func() bool {
		for _, m := range e.outbox(addr) { // newest first
			if m.Code != "" && m.Subject == "Reset your DOSS PIN" {
				code = m.Code
				return true
			}
		}
		return false
	})
	return code
}

// resetEnv lets the tests ask for reset codes as another client than the
// registration that just sent the phone a code (the send gap is per client).
var resetEnv = map[string]string{"DOSS_TRUSTED_PROXIES": "127.0.0.0/8"}

const resetClient = "198.51.100.7"

// forgotPIN asks for both reset codes and returns them (SMS, email).
func (e *env) forgotPIN(phone, email string) (string, string) {
	e.t.Helper()
	expect(e.t, e.postFrom(resetClient, "/api/v2/forgot_pin", js(map[string]string{"phone": phone})), 200)
	return e.resetCode(phone), e.resetCode(email)
}

func (e *env) resetPIN(phone, sms, mail, pin string) resp {
	return e.post("/api/v2/reset_pin", js(map[string]string{"phone": phone, "sms_code": sms, "email_code": mail, "pin": pin}))
}

func (e *env) loginPIN(phone, pin string) resp {
	return e.post("/api/v2/new-login", js(map[string]string{"phone": phone, "password": pin}))
}

// refusedWithin waits until gw refuses token, failing after a second.
func refusedWithin(t *testing.T, gw *env, token string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for gw.do(http.MethodGet, "/api/v2/sessions", token, "").status != 401 {
		if time.Now().After(deadline) {
			t.Fatal("a revoked token is still accepted after 1s")
		}
	}
}

// The whole flow: a stranger ran the phone's unknown-device cap up and the
// owner forgot the PIN; both codes reset it, the lockout is gone, the old
// PIN and every other session stop working on every gateway, and both
// addresses are told.
func TestForgotPINResetsAndEndsEverySession(t *testing.T) {
	e := start(t, resetEnv)
	other := e.secondGateway()
	const phone, email = "+18681230401", "forgot@example.com"
	_, tokA := e.register(email, phone, "4829")
	r := e.loginPIN(phone, "4829")
	expect(t, r, 200)
	tokB := r.str("response", "token")
	for range 9 { // the shared cap of unknown devices
		expect(t, e.loginPIN(phone, "5831"), 401)
	}
	expect(t, e.loginPIN(phone, "4829"), 429)

	sms, mail := e.forgotPIN(phone, email)
	expect(t, e.resetPIN(phone, sms, mail, "1234"), 422) // weak-PIN rules; nothing checked yet
	r = e.resetPIN(phone, sms, mail, "7392")
	expect(t, r, 200)
	tokC := r.str("response", "token")
	if tokC == "" || r.str("response", "token_type") != "Bearer" {
		t.Fatalf("reset_pin does not answer as new-login: %s", r.raw)
	}
	refusedWithin(t, other, tokA)
	refusedWithin(t, other, tokB)
	expect(t, other.do(http.MethodGet, "/api/v2/sessions", tokC, ""), 200)

	expect(t, e.loginPIN(phone, "4829"), 401) // the old PIN; the lockout is cleared
	expect(t, e.loginPIN(phone, "7392"), 200)
	expect(t, e.resetPIN(phone, sms, mail, "6395"), 422) // codes are single use
	e.heard(phone, "PIN was reset")
	e.heard(email, "PIN was reset")
}

// One stolen factor is not enough, nor are codes swapped or another
// account's; none of these changes the PIN.
func TestResetPINNeedsBothCodesOfTheAccount(t *testing.T) {
	e := start(t, resetEnv)
	const phoneA, emailA, phoneB, emailB = "+18681230402", "reset-a@example.com", "+18681230403", "reset-b@example.com"
	e.register(emailA, phoneA, "4829")
	e.register(emailB, phoneB, "5830")
	smsA, mailA := e.forgotPIN(phoneA, emailA)
	smsB, mailB := e.forgotPIN(phoneB, emailB)

	for _, c := range []struct {
		name, phone, sms, mail, field string
	}{
		{"sms code wrong", phoneA, wrongCode(smsA), mailA, "sms_code"},
		{"codes swapped", phoneA, mailA, smsA, "sms_code"},
		{"codes of another account", phoneA, smsB, mailB, "sms_code"},
		{"this phone with the other account's codes", phoneB, smsA, mailA, "sms_code"},
		{"email code of another account", phoneA, smsA, mailB, "email_code"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.sms == smsA && c.phone == phoneA && c.mail == mailA || c.sms == smsB && c.phone == phoneB && c.mail == mailB {
				t.Skip("the random codes happen to coincide")
			}
			r := e.resetPIN(c.phone, c.sms, c.mail, "7392")
			expect(t, r, 422)
			if _, ok := r.body["errors"].(map[string]any)[c.field]; !ok {
				t.Fatalf("want an error on %s: %s", c.field, r.raw)
			}
		})
	}
	// The right SMS code was spent by the last case: the right pair no
	// longer works, and neither PIN changed.
	expect(t, e.resetPIN(phoneA, smsA, mailA, "7392"), 422)
	expect(t, e.loginPIN(phoneA, "4829"), 200)
	expect(t, e.loginPIN(phoneB, "5830"), 200)
	// B's untouched codes still reset B's PIN.
	expect(t, e.resetPIN(phoneB, smsB, mailB, "7392"), 200)
}

// forgot_pin for a phone without an account answers exactly as for one
// with an account, and sends nothing.
func TestForgotPINUnknownPhoneIsIndistinguishable(t *testing.T) {
	e := start(t, resetEnv)
	const known, unknown = "+18681230404", "+18681230405"
	e.register("known-pin@example.com", known, "4829")
	var took [2]time.Duration
	var got [2]resp
	for i, phone := range []string{known, unknown} {
		begin := time.Now()
		got[i] = e.postFrom(resetClient, "/api/v2/forgot_pin", js(map[string]string{"phone": phone}))
		took[i] = time.Since(begin)
	}
	if got[0].status != 200 || got[0].status != got[1].status || got[0].raw != got[1].raw {
		t.Fatalf("known %d %s, unknown %d %s", got[0].status, got[0].raw, got[1].status, got[1].raw)
	}
	t.Logf("forgot_pin took %v for a registered phone, %v for an unknown one", took[0], took[1])
	e.resetCode(known)
	if msgs := e.outbox(unknown); len(msgs) != 0 {
		t.Fatalf("an unknown phone was sent %d messages", len(msgs))
	}
	// The sending limits answer alike too: the second ask within the gap.
	a := e.postFrom(resetClient, "/api/v2/forgot_pin", js(map[string]string{"phone": known}))
	b := e.postFrom(resetClient, "/api/v2/forgot_pin", js(map[string]string{"phone": unknown}))
	if a.status != 429 || b.status != 429 || a.body["message"] != b.body["message"] {
		t.Fatalf("second ask: known %d %s, unknown %d %s", a.status, a.raw, b.status, b.raw)
	}
}
