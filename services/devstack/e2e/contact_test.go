package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dossapp/backend/pkg/contract"
)

// changeCode waits for the newest contact-change code sent to addr (not a
// registration's or a login's) and returns it.
func (e *env) changeCode(addr string) string {
	e.t.Helper()
	var code string
	eventually(e.t, "a change code for "+addr, func() bool {
		for _, m := range e.outbox(addr) { // newest first
			if m.Code != "" && strings.HasPrefix(m.Subject, "Confirm your new DOSS") {
				code = m.Code
				return true
			}
		}
		return false
	})
	return code
}

func (e *env) outbox(to string) []contract.OutboxMessage {
	var msgs []contract.OutboxMessage
	_ = json.Unmarshal([]byte(e.do(http.MethodGet, "/dev/outbox?to="+url.QueryEscape(to), "", "").raw), &msgs)
	return msgs
}

// heard waits for a message to to whose subject or body holds text.
func (e *env) heard(to, text string) {
	e.t.Helper()
	eventually(e.t, "a message to "+to+" about "+text, func() bool {
		for _, m := range e.outbox(to) {
			if strings.Contains(m.Subject+" "+m.Body, text) {
				return true
			}
		}
		return false
	})
}

func (e *env) verifyContact(token, channel, code string) resp {
	return e.do(http.MethodPost, "/api/v2/verify_contact", token, js(map[string]string{"channel": channel, "verification_code": code}))
}

func wrongCode(code string) string {
	if code == "0000" {
		return "1111"
	}
	return "0000"
}

// A signed-in user asks for a stranger's email: the stranger can still
// register it and wins; the squatter's change is dropped with a notice,
// even with the right code.
func TestEmailSquattingFails(t *testing.T) {
	e := start(t, noSendGap)
	_, squatter := e.register("squatter@example.com", "+18681232001", "4829")
	r := e.do(http.MethodPost, "/api/v2/update_email", squatter, `{"last_email":"squatter@example.com","new_email":"victim@example.com"}`)
	expect(t, r, 200)
	if r.str("email") != "victim@example.com" || r.body["email_verify_at"] != nil {
		t.Fatalf("update_email answer: %s", r.raw)
	}
	if p := e.do(http.MethodGet, "/api/v2/profile", squatter, ""); p.str("email") != "victim@example.com" || p.body["email_verify_at"] != nil {
		t.Fatalf("the pending email is not shown as unverified: %s", p.raw)
	}
	e.heard("squatter@example.com", "asked to change the email address of your DOSS account to victim@example.com")
	code := e.changeCode("victim@example.com")

	// The victim registers the address: nothing of the squatter's is in the way.
	e.register("victim@example.com", "+18681232002", "5820")

	fieldErr(t, e.verifyContact(squatter, "email", code), 422, "email")
	p := e.do(http.MethodGet, "/api/v2/profile", squatter, "")
	if p.str("email") != "squatter@example.com" || p.body["email_verify_at"] == nil {
		t.Fatalf("the dropped change is still shown: %s", p.raw)
	}
	e.heard("squatter@example.com", "dropped")
	// The victim's account keeps its address.
	expect(t, e.login("+18681232002", "5820"), 200)
	// The squatter keeps their own address: a registration of it is told
	// (in the owner's inbox, not the answer) that it has an account.
	expect(t, e.post("/api/v2/email_send_otp", js(map[string]string{"email": "squatter@example.com"})), 200)
	e.heard("squatter@example.com", "already have a DOSS account")
}

// An unproven phone is no login identifier; the old one keeps working; a
// wrong code is refused and counts; another account cannot use the code;
// the right code moves the number and tells both.
func TestPhoneChangeProvesControl(t *testing.T) {
	e := start(t, noSendGap)
	const oldPhone, newPhone = "+18681232011", "+18681232019"
	_, token := e.register("mover@example.com", oldPhone, "4829")
	_, other := e.register("bystander@example.com", "+18681232012", "5820")

	r := e.do(http.MethodPost, "/api/v2/update_phone", token, js(map[string]string{"old_phone": oldPhone, "new_phone": newPhone}))
	expect(t, r, 200)
	if r.str("phone") != newPhone || r.body["phone_verify_at"] != nil {
		t.Fatalf("update_phone answer: %s", r.raw)
	}
	expect(t, e.login(newPhone, "4829"), 401)
	expect(t, e.login(oldPhone, "4829"), 200)
	e.heard(oldPhone, "asked to change your phone number")
	code := e.changeCode(newPhone)

	// Another account cannot answer this account's change.
	fieldErr(t, e.verifyContact(other, "phone", code), 422, "verification_code")
	fieldErr(t, e.verifyContact(token, "email", code), 422, "verification_code")
	fieldErr(t, e.verifyContact(token, "fax", code), 422, "channel")

	fieldErr(t, e.verifyContact(token, "phone", wrongCode(code)), 422, "verification_code")
	expect(t, e.login(newPhone, "4829"), 401)

	r = e.verifyContact(token, "phone", code)
	expect(t, r, 200)
	if r.str("phone") != newPhone || r.body["phone_verify_at"] == nil {
		t.Fatalf("verify answer: %s", r.raw)
	}
	expect(t, e.login(newPhone, "4829"), 200)
	expect(t, e.login(oldPhone, "4829"), 401)
	e.heard(oldPhone, "Your DOSS phone number was changed")
	e.heard(newPhone, "contact of your account")
	fieldErr(t, e.verifyContact(token, "phone", code), 422, "verification_code")
	// The old number is free: someone else may take it.
	expect(t, e.post("/api/v2/email_send_otp", js(map[string]string{"email": "next@example.com"})), 200)
}

// Wrong codes count: after the per-account cap even the right code is
// refused (429), and the change stays pending.
func TestContactVerifyChecksAreCapped(t *testing.T) {
	e := start(t, noSendGap)
	_, token := e.register("guess@example.com", "+18681232021", "4829")
	expect(t, e.do(http.MethodPost, "/api/v2/update_email", token, `{"last_email":"guess@example.com","new_email":"target@example.com"}`), 200)
	code := e.changeCode("target@example.com")
	for range 4 {
		fieldErr(t, e.verifyContact(token, "email", wrongCode(code)), 422, "verification_code")
	}
	r := e.verifyContact(token, "email", code)
	expect(t, r, 429)
	if r.header.Get("Retry-After") == "" {
		t.Fatalf("no Retry-After: %v", r.header)
	}
	// The real owner of the address is not blocked by these guesses.
	e.register("target@example.com", "+18681232022", "5820")
}

// With 2FA on, no route changes the phone without the code sent to the
// new number: update_phone, /api/user/profile and /api/user/profile/2fa.
func TestTwoFAPhoneChangeWaitsForTheCodeOnEveryRoute(t *testing.T) {
	e := start(t, noSendGap)
	const phone = "+18681232031"
	_, token := e.register("guarded@example.com", phone, "4829")
	body := map[string]any{"firstname": "Ann", "lastname": "Lee", "gender": "female", "birthdate": "0000-00-00", "telephone": phone, "is_two_fa": true}
	r := e.do(http.MethodPost, "/api/user/profile/2fa", token, js(body))
	expect(t, r, 200)
	expect(t, e.do(http.MethodPost, "/api/user/profile/verify-otp", token, js(map[string]string{"telephone": phone, "otp": e.otp(r, phone)})), 200)
	want(t, e.account(token), map[string]string{"is_two_fa": "1"})

	unchanged := func(t *testing.T, wanted string) {
		t.Helper()
		want(t, e.account(token), map[string]string{"telephone": `"` + phone + `"`})
		expect(t, e.login(wanted, "4829"), 401)
		expect(t, e.login(phone, "4829"), 202)
	}
	t.Run("update_phone", func(t *testing.T) {
		expect(t, e.do(http.MethodPost, "/api/v2/update_phone", token, js(map[string]string{"old_phone": phone, "new_phone": "+18681232032"})), 200)
		unchanged(t, "+18681232032")
	})
	t.Run("/api/user/profile", func(t *testing.T) {
		b := map[string]any{"firstname": "Ann", "lastname": "Lee", "gender": "female", "birthdate": "0000-00-00", "telephone": "+18681232033"}
		r := e.do(http.MethodPost, "/api/user/profile", token, js(b))
		expect(t, r, 200)
		want(t, r, map[string]string{"is_otp_sent": "true"})
		unchanged(t, "+18681232033")
	})
	t.Run("/api/user/profile/2fa", func(t *testing.T) {
		b := map[string]any{"firstname": "Ann", "lastname": "Lee", "gender": "female", "birthdate": "0000-00-00", "telephone": "+18681232034", "is_two_fa": true}
		r := e.do(http.MethodPost, "/api/user/profile/2fa", token, js(b))
		expect(t, r, 200)
		want(t, r, map[string]string{"is_otp_sent": "true"})
		unchanged(t, "+18681232034")
	})
}
