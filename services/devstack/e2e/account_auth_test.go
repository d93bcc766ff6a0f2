package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// Two logins in a row each send a 2FA code; the one-minute gap between
// codes to one number has a test of its own.
var noSendGap = map[string]string{"DOSS_OTP_SEND_GAP": "0s", "DOSS_OTP_SENDS_PER_HOUR": "1000", "DOSS_OTP_ADDRESS_SENDS_PER_HOUR": "1000"}

// principal is what the gateway would vouch for with token: the caller
// principal the profile service passes on when it calls auth.
func principal(t *testing.T, token string) contract.Principal {
	t.Helper()
	var c struct {
		UID int64  `json:"uid"`
		SID string `json:"sid"`
		jwt.RegisteredClaims
	}
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		t.Fatal(err)
	}
	return contract.Principal{UserID: c.UID, UUID: c.Subject, SessionID: c.SID}
}

// asCaller calls an auth command as the holder of token, the way the
// profile service does for /api/user/profile/2fa and /verify-otp.
func asCaller[Req, Resp any](e *env, token, subject string, req Req) (Resp, error) {
	ctx := natsx.WithCaller(context.Background(), natsx.Caller{Principal: principal(e.t, token)})
	return natsx.Call[Req, Resp](ctx, e.nc, subject, req)
}

// smsCodes counts the codes the notifier delivered to phone.
func (e *env) smsCodes(phone string) (int, string) {
	r := e.do(http.MethodGet, "/dev/outbox?to="+url.QueryEscape(phone), "", "")
	var msgs []contract.OutboxMessage
	_ = json.Unmarshal([]byte(r.raw), &msgs)
	n, newest := 0, ""
	for _, m := range msgs { // newest first
		if m.Code != "" {
			if n == 0 {
				newest = m.Code
			}
			n++
		}
	}
	return n, newest
}

// nextCode waits for a code to phone beyond the before-th and returns it.
func (e *env) nextCode(phone string, before int) string {
	e.t.Helper()
	var code string
	eventually(e.t, "a code sent to "+phone, func() bool {
		n, c := e.smsCodes(phone)
		code = c
		return n > before
	})
	return code
}

func (e *env) login(phone, secret string) resp {
	return e.post("/api/v2/new-login", js(map[string]string{"phone": phone, "password": secret}))
}

func fieldErr(t *testing.T, r resp, status int, field string) {
	t.Helper()
	expect(t, r, status)
	if errs, _ := r.body["errors"].(map[string]any); errs[field] == nil {
		t.Fatalf("want errors.%s: %s", field, r.raw)
	}
}

func TestTwoFactorLogin(t *testing.T) {
	e := start(t, noSendGap)
	const phone = "+18681230100"
	_, token := e.register("twofa@example.com", phone, "4829")
	on := true
	st, err := asCaller[contract.TwoFAStartRequest, contract.TwoFAStartReply](e, token, contract.AuthTwoFAStart,
		contract.TwoFAStartRequest{UserID: principal(t, token).UserID, IsTwoFA: &on})
	if err != nil || !st.OTPSent || st.Telephone != phone || len(st.VerificationCode) != 6 {
		t.Fatalf("twofa-start: %+v %v", st, err)
	}
	v, err := asCaller[contract.TwoFAVerifyRequest, contract.TwoFAVerifyReply](e, token, contract.AuthTwoFAVerify,
		contract.TwoFAVerifyRequest{UserID: principal(t, token).UserID, Telephone: phone, OTP: st.VerificationCode})
	if err != nil || !v.Account.TwoFA || v.Session != nil || v.Account.ValidTokenCount != 1 {
		t.Fatalf("twofa-verify: %+v %v", v, err)
	}

	// The right PIN no longer hands out a token; a code goes by SMS.
	sent, _ := e.smsCodes(phone)
	r := e.login(phone, "4829")
	expect(t, r, 202)
	challenge := r.str("challenge")
	if r.body["otp_required"] != true || challenge == "" || r.body["response"] != nil {
		t.Fatalf("2FA login body: %s", r.raw)
	}
	code := e.nextCode(phone, sent)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	verify := func(ch, otp string) resp {
		return e.post("/api/v2/login/verify-otp", js(map[string]string{"challenge": ch, "otp": otp}))
	}
	// Five wrong codes kill the challenge: the right one is refused after.
	for range 5 {
		fieldErr(t, verify(challenge, wrong), 422, "otp")
	}
	fieldErr(t, verify(challenge, code), 422, "otp")

	// A wrong PIN still counts toward the lockout and sends nothing.
	sent, _ = e.smsCodes(phone)
	expect(t, e.login(phone, "1357"), 401)

	// A new login, a new code; the right one opens a session with the
	// body of a login without 2FA, once.
	r = e.login(phone, "4829")
	expect(t, r, 202)
	challenge = r.str("challenge")
	code = e.nextCode(phone, sent)
	fieldErr(t, verify(challenge, "12"), 422, "otp")
	fieldErr(t, verify("no-such-challenge", code), 422, "challenge")
	r = verify(challenge, code)
	expect(t, r, 200)
	tok := r.str("response", "token")
	if tok == "" || r.str("response", "token_type") != "Bearer" || r.str("response", "user", "phone") != phone {
		t.Fatalf("verify-otp body: %s", r.raw)
	}
	expect(t, verify(challenge, code), 422)
	expect(t, e.do(http.MethodGet, "/api/v2/sessions", tok, ""), 200)

	// Turning 2FA off takes a code too; then a login is direct again.
	off := false
	st, err = asCaller[contract.TwoFAStartRequest, contract.TwoFAStartReply](e, tok, contract.AuthTwoFAStart, contract.TwoFAStartRequest{IsTwoFA: &off})
	if err != nil || !st.OTPSent {
		t.Fatalf("twofa-start off: %+v %v", st, err)
	}
	_, err = asCaller[contract.TwoFAVerifyRequest, contract.TwoFAVerifyReply](e, tok, contract.AuthTwoFAVerify,
		contract.TwoFAVerifyRequest{Telephone: phone, OTP: wrong})
	if ce := contract.AsError(err); ce.Code != contract.Invalid || ce.Fields["otp"] == nil {
		t.Fatalf("wrong code: %v", err)
	}
	if _, err = asCaller[contract.TwoFAVerifyRequest, contract.TwoFAVerifyReply](e, tok, contract.AuthTwoFAVerify,
		contract.TwoFAVerifyRequest{Telephone: phone, OTP: st.VerificationCode}); err != nil {
		t.Fatal(err)
	}
	// A code is single use.
	if _, err = asCaller[contract.TwoFAVerifyRequest, contract.TwoFAVerifyReply](e, tok, contract.AuthTwoFAVerify,
		contract.TwoFAVerifyRequest{Telephone: phone, OTP: st.VerificationCode}); contract.ErrorCode(err) != contract.Invalid {
		t.Fatalf("code reused: %v", err)
	}
	expect(t, e.login(phone, "4829"), 200)
	// Nothing to change sends nothing.
	st, err = asCaller[contract.TwoFAStartRequest, contract.TwoFAStartReply](e, tok, contract.AuthTwoFAStart, contract.TwoFAStartRequest{Telephone: phone, IsTwoFA: &off})
	if err != nil || st.OTPSent {
		t.Fatalf("no-op start: %+v %v", st, err)
	}
}

func TestChangePassword(t *testing.T) {
	e := start(t, nil)
	other := e.secondGateway()
	const phone = "+18681230101"
	_, tokA := e.register("pw@example.com", phone, "4829")
	r := e.login(phone, "4829")
	expect(t, r, 200)
	tokB := r.str("response", "token")
	r = e.login(phone, "4829")
	expect(t, r, 200)
	tokC := r.str("response", "token")
	change := func(tok, old, pw string) resp {
		return e.do(http.MethodPost, "/api/user/change-password", tok, js(map[string]string{"old_password": old, "password": pw}))
	}
	expect(t, change("", "4829", "5820"), 401)
	fieldErr(t, change(tokA, "4829", "1234"), 422, "password")  // a weak PIN
	fieldErr(t, change(tokA, "4829", "short"), 422, "password") // neither PIN nor password
	fieldErr(t, change(tokA, "", "5820"), 422, "old_password")  // required
	fieldErr(t, change(tokA, "4829", "4829"), 422, "password")  // unchanged
	fieldErr(t, change(tokA, "0000", "long enough"), 422, "old_password")

	// The password change keeps A and ends B and C on every replica.
	r = change(tokA, "4829", "correct horse battery")
	expect(t, r, 200)
	if r.raw != `{"msg":"Password Updated"}`+"\n" {
		t.Fatalf("body %q", r.raw)
	}
	deadline := time.Now().Add(time.Second)
	for _, tok := range []string{tokB, tokC} {
		for _, gw := range []*env{e, other} {
			for gw.do(http.MethodGet, "/api/v2/sessions", tok, "").status != 401 {
				if time.Now().After(deadline) {
					t.Fatal("a revoked session still works after 1s")
				}
			}
		}
	}
	expect(t, other.do(http.MethodGet, "/api/v2/sessions", tokA, ""), 200)
	expect(t, e.do(http.MethodGet, "/api/v2/sessions", tokA, ""), 200)

	// new-login takes the password and no longer the old PIN.
	expect(t, e.login(phone, "4829"), 401)
	r = e.login(phone, "correct horse battery")
	expect(t, r, 200)
	acc, err := asCaller[contract.AccountGetRequest, contract.Account](e, tokA, contract.AuthAccountGet, contract.AccountGetRequest{UserID: principal(t, tokA).UserID})
	if err != nil || !acc.HasPassword || acc.ValidTokenCount != 2 {
		t.Fatalf("account after change: %+v %v", acc, err)
	}

	// Wrong old passwords count toward the login lockout of the session's
	// device (A's, trusted since it registered): five in a row lock it,
	// so this route is no way to guess a PIN.
	for range 5 {
		fieldErr(t, change(tokA, "9999", "5820"), 422, "old_password")
	}
	r = change(tokA, "correct horse battery", "5820")
	expect(t, r, 429)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("lockout without Retry-After")
	}
	expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": phone, "password": "correct horse battery", "fcm_last_login_device_token": "fcm-1"})), 429)
}

func TestSessionsListAndRevoke(t *testing.T) {
	e := start(t, nil)
	other := e.secondGateway()
	_, tokA := e.register("sess@example.com", "+18681230102", "4829")
	req, err := http.NewRequest(http.MethodPost, e.base+"/api/v2/new-login", strings.NewReader(js(map[string]string{"phone": "+18681230102", "password": "4829"})))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "DOSS/2.1 (iPhone; iOS 18)")
	r := e.send(req, "")
	expect(t, r, 200)
	tokB := r.str("response", "token")
	_, tokX := e.register("sess2@example.com", "+18681230103", "5820")

	list := func(tok string) []contract.SessionInfo {
		t.Helper()
		r := e.do(http.MethodGet, "/api/v2/sessions", tok, "")
		expect(t, r, 200)
		var out []contract.SessionInfo
		if err := json.Unmarshal([]byte(r.raw), &out); err != nil {
			t.Fatalf("%v: %s", err, r.raw)
		}
		return out
	}
	got := list(tokA)
	if len(got) != 2 {
		t.Fatalf("%d sessions, want 2: %+v", len(got), got)
	}
	sidA, sidB := principal(t, tokA).SessionID, principal(t, tokB).SessionID
	for _, s := range got {
		if s.Current != (s.ID == sidA) || s.CreatedAt.IsZero() || s.LastSeenAt.Before(s.CreatedAt) || s.IP == "" {
			t.Fatalf("session %+v", s)
		}
		if s.ID == sidB && s.Device != "DOSS/2.1 (iPhone; iOS 18)" {
			t.Fatalf("device %q", s.Device)
		}
	}

	// Someone else's session, an unknown one: the same 404, nothing ended.
	x := e.do(http.MethodDelete, "/api/v2/sessions/"+sidB, tokX, "")
	u := e.do(http.MethodDelete, "/api/v2/sessions/no-such-session", tokX, "")
	if x.status != 404 || x.raw != u.raw {
		t.Fatalf("other's %d %s vs unknown %d %s", x.status, x.raw, u.status, u.raw)
	}
	expect(t, e.do(http.MethodGet, "/api/v2/sessions", tokB, ""), 200)

	// A revokes B: refused on both replicas within a second.
	expect(t, e.do(http.MethodDelete, "/api/v2/sessions/"+sidB, tokA, ""), 204)
	deadline := time.Now().Add(time.Second)
	for other.do(http.MethodGet, "/api/v2/sessions", tokB, "").status != 401 {
		if time.Now().After(deadline) {
			t.Fatal("revoked session still works on gateway 2 after 1s")
		}
	}
	expect(t, e.do(http.MethodGet, "/api/v2/sessions", tokB, ""), 401)
	expect(t, e.do(http.MethodDelete, "/api/v2/sessions/"+sidB, tokA, ""), 404) // already ended
	if got := list(tokA); len(got) != 1 || got[0].ID != sidA || !got[0].Current {
		t.Fatalf("after revoke: %+v", got)
	}
	acc, err := asCaller[contract.AccountGetRequest, contract.Account](e, tokA, contract.AuthAccountGet, contract.AccountGetRequest{UserID: principal(t, tokA).UserID})
	if err != nil || acc.ValidTokenCount != 1 || acc.HasPassword || acc.TwoFA {
		t.Fatalf("account: %+v %v", acc, err)
	}
}

func TestPhoneChangeThroughTwoFAVerify(t *testing.T) {
	e := start(t, noSendGap)
	const oldPhone, newPhone, takenPhone = "+18681230104", "+18681230105", "+18681230106"
	_, token := e.register("move@example.com", oldPhone, "4829")
	e.register("taken@example.com", takenPhone, "5820")
	uid := principal(t, token).UserID

	_, err := asCaller[contract.TwoFAStartRequest, contract.TwoFAStartReply](e, token, contract.AuthTwoFAStart, contract.TwoFAStartRequest{UserID: uid, Telephone: takenPhone})
	if ce := contract.AsError(err); ce.Code != contract.Invalid || ce.Fields["telephone"] == nil {
		t.Fatalf("taken phone: %v", err)
	}
	_, err = asCaller[contract.TwoFAStartRequest, contract.TwoFAStartReply](e, token, contract.AuthTwoFAStart, contract.TwoFAStartRequest{UserID: uid, Telephone: "12ab"})
	if ce := contract.AsError(err); ce.Code != contract.Invalid || ce.Fields["telephone"] == nil {
		t.Fatalf("bad phone: %v", err)
	}
	_, err = asCaller[contract.TwoFAStartRequest, contract.TwoFAStartReply](e, token, contract.AuthTwoFAStart, contract.TwoFAStartRequest{UserID: uid + 1, Telephone: newPhone})
	if contract.ErrorCode(err) != contract.Forbidden {
		t.Fatalf("someone else's account: %v", err)
	}

	st, err := asCaller[contract.TwoFAStartRequest, contract.TwoFAStartReply](e, token, contract.AuthTwoFAStart, contract.TwoFAStartRequest{UserID: uid, Telephone: "+1 868 123 0105"})
	if err != nil || !st.OTPSent || st.Telephone != newPhone {
		t.Fatalf("start: %+v %v", st, err)
	}
	if got := e.nextCode(newPhone, 0); got != st.VerificationCode {
		t.Fatalf("the new number got %q, want %q", got, st.VerificationCode)
	}
	_, err = asCaller[contract.TwoFAVerifyRequest, contract.TwoFAVerifyReply](e, token, contract.AuthTwoFAVerify, contract.TwoFAVerifyRequest{UserID: uid, Telephone: oldPhone, OTP: st.VerificationCode})
	if ce := contract.AsError(err); ce.Fields["telephone"] == nil {
		t.Fatalf("verify for another number: %v", err)
	}
	v, err := asCaller[contract.TwoFAVerifyRequest, contract.TwoFAVerifyReply](e, token, contract.AuthTwoFAVerify, contract.TwoFAVerifyRequest{UserID: uid, Telephone: newPhone, OTP: st.VerificationCode})
	if err != nil || v.Session == nil || v.Account.Phone != newPhone || v.Account.PhoneVerifiedAt == nil || v.Account.ValidTokenCount != 2 {
		t.Fatalf("verify: %+v %v", v, err)
	}
	expect(t, e.do(http.MethodGet, "/api/v2/sessions", v.Session.Token, ""), 200)
	expect(t, e.do(http.MethodGet, "/api/v2/sessions", token, ""), 200)
	expect(t, e.login(newPhone, "4829"), 200)
	expect(t, e.login(oldPhone, "4829"), 401)
	// The old number heard of the change.
	eventually(t, "a notice to the old number", func() bool {
		r := e.do(http.MethodGet, "/dev/outbox?to="+url.QueryEscape(oldPhone), "", "")
		var msgs []contract.OutboxMessage
		_ = json.Unmarshal([]byte(r.raw), &msgs)
		return len(msgs) > 0 && msgs[0].Code == ""
	})
}
