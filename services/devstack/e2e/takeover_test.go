package e2e

import (
	"strings"
	"testing"
)

// The registration takeovers of issue 15, mounted over HTTP as a stranger
// would, knowing only the victim's email. Victim and stranger are two
// client addresses behind a trusted proxy.

func takeoverEnv(t *testing.T, extra map[string]string) *env {
	vars := map[string]string{"DOSS_OTP_SEND_GAP": "0s", "DOSS_TRUSTED_PROXIES": "127.0.0.0/8"}
	for k, v := range extra {
		vars[k] = v
	}
	return start(t, vars)
}

const (
	victimIP   = "198.51.100.20"
	strangerIP = "203.0.113.66"
)

// (a) The victim verified their email and paused; the stranger sends
// phone_send_otp with the victim's email and their own phone.
func TestTakeoverThroughPhoneSendOTP(t *testing.T) {
	e := takeoverEnv(t, nil)
	const email, strangerPhone = "victim.a@example.com", "+18685551001"
	r := e.postFrom(victimIP, "/api/v2/email_send_otp", js(map[string]string{"email": email}))
	expect(t, r, 200)
	victimUUID := r.str("response", "user", "uuid")
	expect(t, e.postFrom(victimIP, "/api/v2/email_verify_otp", js(map[string]string{"email": email, "verification_code": r.str("response", "user", "verification_code")})), 200)

	r = e.postFrom(strangerIP, "/api/v2/phone_send_otp", js(map[string]string{"email": email, "phone": strangerPhone}))
	expect(t, r, 200)
	if strings.Contains(r.raw, victimUUID) || r.str("response", "user", "uuid") != "" {
		t.Fatalf("phone_send_otp answered a uuid: %s", r.raw)
	}
	strangerCode := r.str("response", "user", "verification_code")
	// The stranger's own attempt for the email has no verified email.
	r = e.postFrom(strangerIP, "/api/v2/email_send_otp", js(map[string]string{"email": email}))
	expect(t, r, 200)
	strangerUUID := r.str("response", "user", "uuid")
	if strangerUUID == victimUUID {
		t.Fatal("email_send_otp answered the victim's uuid")
	}
	expect(t, e.postFrom(strangerIP, "/api/v2/phone_verify_otp", js(map[string]string{"uuid": strangerUUID, "verification_code": strangerCode})), 422)
	expect(t, e.postFrom(strangerIP, "/api/v2/set_pin", js(map[string]string{"uuid": strangerUUID, "pin": "4829"})), 422)
	expect(t, e.postFrom(strangerIP, "/api/v2/confirm_pin", js(map[string]string{"uuid": strangerUUID, "confirm_pin": "4829"})), 422)

	// The victim carries on and gets the account, not "email taken".
	r = e.postFrom(victimIP, "/api/v2/phone_send_otp", js(map[string]string{"email": email, "phone": "+18685551002"}))
	expect(t, r, 200)
	expect(t, e.postFrom(victimIP, "/api/v2/phone_verify_otp", js(map[string]string{"uuid": victimUUID, "verification_code": r.str("response", "user", "verification_code")})), 200)
	expect(t, e.postFrom(victimIP, "/api/v2/set_pin", js(map[string]string{"uuid": victimUUID, "pin": "5830"})), 200)
	r = e.postFrom(victimIP, "/api/v2/confirm_pin", js(map[string]string{"uuid": victimUUID, "confirm_pin": "5830"}))
	expect(t, r, 200)
	if r.str("success", "user", "phone") != "+18685551002" {
		t.Fatalf("the victim's account: %s", r.raw)
	}
	expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": strangerPhone, "password": "4829"})), 401)
}

// (b) The victim reached set_pin and paused; the stranger sends
// email_send_otp with the victim's email and tries set_pin + confirm_pin.
func TestTakeoverThroughEmailSendOTP(t *testing.T) {
	e := takeoverEnv(t, nil)
	const email, phone = "victim.b@example.com", "+18685551003"
	r := e.postFrom(victimIP, "/api/v2/email_send_otp", js(map[string]string{"email": email}))
	expect(t, r, 200)
	victimUUID := r.str("response", "user", "uuid")
	expect(t, e.postFrom(victimIP, "/api/v2/email_verify_otp", js(map[string]string{"email": email, "verification_code": r.str("response", "user", "verification_code")})), 200)
	r = e.postFrom(victimIP, "/api/v2/phone_send_otp", js(map[string]string{"email": email, "phone": phone}))
	expect(t, r, 200)
	expect(t, e.postFrom(victimIP, "/api/v2/phone_verify_otp", js(map[string]string{"uuid": victimUUID, "verification_code": r.str("response", "user", "verification_code")})), 200)
	expect(t, e.postFrom(victimIP, "/api/v2/set_pin", js(map[string]string{"uuid": victimUUID, "pin": "5830"})), 200)

	r = e.postFrom(strangerIP, "/api/v2/email_send_otp", js(map[string]string{"email": email}))
	expect(t, r, 200)
	strangerUUID := r.str("response", "user", "uuid")
	if strangerUUID == victimUUID {
		t.Fatal("email_send_otp answered the victim's uuid")
	}
	expect(t, e.postFrom(strangerIP, "/api/v2/set_pin", js(map[string]string{"uuid": strangerUUID, "pin": "4829"})), 422)
	expect(t, e.postFrom(strangerIP, "/api/v2/confirm_pin", js(map[string]string{"uuid": strangerUUID, "confirm_pin": "4829"})), 422)

	expect(t, e.postFrom(victimIP, "/api/v2/confirm_pin", js(map[string]string{"uuid": victimUUID, "confirm_pin": "5830"})), 200)
	expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": phone, "password": "5830"})), 200)
	expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": phone, "password": "4829"})), 401)
}

// A registered email or phone gets the answer a new one gets; only its
// owner hears that it has an account. DOSS_REVEAL_REGISTERED brings the
// explicit 422 back.
func TestRegisteredContactsAreNotRevealed(t *testing.T) {
	e := takeoverEnv(t, nil)
	const email, phone = "owner.known@example.com", "+18685551004"
	e.register(email, phone, "5830")

	fresh := e.postFrom(strangerIP, "/api/v2/email_send_otp", js(map[string]string{"email": "nobody.yet@example.com"}))
	known := e.postFrom(strangerIP, "/api/v2/email_send_otp", js(map[string]string{"email": email}))
	expect(t, fresh, 200)
	expect(t, known, 200)
	if shape(fresh) != shape(known) || known.str("response", "user", "uuid") == "" {
		t.Fatalf("answers differ:\n%s\n%s", fresh.raw, known.raw)
	}
	expect(t, e.postFrom(strangerIP, "/api/v2/email_verify_otp", js(map[string]string{"email": email, "verification_code": known.str("response", "user", "verification_code")})), 422)
	e.heard(email, "already have a DOSS account")

	// The phone, asked for by a registration of the stranger's own email.
	expect(t, e.postFrom(strangerIP, "/api/v2/email_verify_otp", js(map[string]string{"email": "nobody.yet@example.com", "verification_code": fresh.str("response", "user", "verification_code")})), 200)
	newPhone := e.postFrom(strangerIP, "/api/v2/phone_send_otp", js(map[string]string{"email": "nobody.yet@example.com", "phone": "+18685551005"}))
	knownPhone := e.postFrom(strangerIP, "/api/v2/phone_send_otp", js(map[string]string{"email": "nobody.yet@example.com", "phone": phone}))
	expect(t, newPhone, 200)
	expect(t, knownPhone, 200)
	if shape(newPhone) != shape(knownPhone) {
		t.Fatalf("answers differ:\n%s\n%s", newPhone.raw, knownPhone.raw)
	}
	expect(t, e.postFrom(strangerIP, "/api/v2/phone_verify_otp", js(map[string]string{"uuid": fresh.str("response", "user", "uuid"), "verification_code": knownPhone.str("response", "user", "verification_code")})), 422)
	e.heard(phone, "already has an account")

	explicit := takeoverEnv(t, map[string]string{"DOSS_REVEAL_REGISTERED": "true"})
	explicit.register(email, phone, "5830")
	r := explicit.postFrom(strangerIP, "/api/v2/email_send_otp", js(map[string]string{"email": email}))
	expect(t, r, 422)
	if r.body["errors"].(map[string]any)["email"] == nil {
		t.Fatalf("want errors.email: %s", r.raw)
	}
}

// shape is a response's keys and value lengths: what a stranger can compare.
func shape(r resp) string {
	user, _ := r.body["response"].(map[string]any)["user"].(map[string]any)
	var b strings.Builder
	b.WriteString(r.str("message"))
	for _, k := range []string{"email", "phone", "uuid", "verification_code"} {
		v, ok := user[k].(string)
		if !ok {
			continue
		}
		if k == "email" || k == "phone" {
			v = "x"
		}
		b.WriteString("|" + k + ":" + strings.Repeat("x", len(v)))
	}
	return b.String()
}
