package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/services/devstack/stack"
)

func TestProfileGetAndUpdateName(t *testing.T) {
	e := start(t, nil)
	uuid, token := e.register("profile@example.com", "+18681230020", "4829")

	r := e.do(http.MethodGet, "/api/v2/profile", token, "")
	expect(t, r, 200)
	for _, f := range []string{"id", "first_name", "last_name", "email", "phone", "image", "uuid",
		"id_proof_front", "id_proof_back", "passport_img_front", "passport_img_back",
		"driving_license_front", "driving_license_back", "email_verify_at", "phone_verify_at", "identity_status"} {
		if _, ok := r.body[f]; !ok {
			t.Errorf("profile has no %q: %s", f, r.raw)
		}
	}
	if id, _ := r.body["id"].(float64); id < 1 {
		t.Errorf("id = %v, want a positive number", r.body["id"])
	}
	if r.str("uuid") != uuid || r.str("email") != "profile@example.com" || r.str("phone") != "+18681230020" {
		t.Errorf("wrong identity: %s", r.raw)
	}
	for _, f := range []string{"image", "id_proof_front", "id_proof_back", "passport_img_front", "passport_img_back", "driving_license_front", "driving_license_back"} {
		if r.body[f] != nil {
			t.Errorf("%s = %v, want null", f, r.body[f])
		}
	}
	if r.str("email_verify_at") == "" || r.str("phone_verify_at") == "" || r.str("identity_status") != "unverified" {
		t.Errorf("verification fields: %s", r.raw)
	}

	r = e.do(http.MethodPost, "/api/v2/update_name", token, js(map[string]string{"first_name": "  Jane ", "last_name": "Doe"}))
	expect(t, r, 200)
	if r.str("first_name") != "Jane" || r.str("last_name") != "Doe" || r.str("uuid") != uuid {
		t.Fatalf("update_name reply: %s", r.raw)
	}
	r = e.do(http.MethodGet, "/api/v2/profile", token, "")
	expect(t, r, 200)
	if r.str("first_name") != "Jane" || r.str("last_name") != "Doe" {
		t.Fatalf("name not stored: %s", r.raw)
	}

	bad := []struct {
		name, body, field string
	}{
		{"empty first", `{"first_name":"","last_name":"Doe"}`, "first_name"},
		{"missing last", `{"first_name":"Jane"}`, "last_name"},
		{"blank last", `{"first_name":"Jane","last_name":"   "}`, "last_name"},
		{"too long", js(map[string]string{"first_name": strings.Repeat("a", 51), "last_name": "Doe"}), "first_name"},
		{"markup", `{"first_name":"<script>x</script>","last_name":"Doe"}`, "first_name"},
		{"control char", `{"first_name":"Jane","last_name":"Do\u0007e"}`, "last_name"},
		{"wrong type", `{"first_name":42,"last_name":"Doe"}`, "first_name"},
		{"object", `{"first_name":"Jane","last_name":{"a":1}}`, "last_name"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(http.MethodPost, "/api/v2/update_name", token, c.body)
			expect(t, r, 422)
			errs, _ := r.body["errors"].(map[string]any)
			if _, ok := errs[c.field]; !ok || r.str("message") == "" {
				t.Fatalf("no errors.%s: %s", c.field, r.raw)
			}
		})
	}
	// A refused update changes nothing.
	r = e.do(http.MethodGet, "/api/v2/profile", token, "")
	if r.str("first_name") != "Jane" {
		t.Fatalf("refused update changed the name: %s", r.raw)
	}
}

func TestProfileNeedsToken(t *testing.T) {
	e := start(t, nil)
	expect(t, e.do(http.MethodGet, "/api/v2/profile", "", ""), 401)
	expect(t, e.do(http.MethodPost, "/api/v2/update_name", "", `{"first_name":"A","last_name":"B"}`), 401)
	expect(t, e.do(http.MethodGet, "/api/v2/profile", "not-a-token", ""), 401)
}

func TestProfileUpdatedEventIsPublished(t *testing.T) {
	e := start(t, nil)
	uuid, token := e.register("event@example.com", "+18681230021", "4829")
	sub, err := e.nc.SubscribeSync(contract.EventSubject(contract.EventProfileUpdated))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, e.do(http.MethodPost, "/api/v2/update_name", token, `{"first_name":"Ann","last_name":"Lee"}`), 200)
	msg, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no %s event: %v", contract.EventProfileUpdated, err)
	}
	if !strings.Contains(string(msg.Data), uuid) || msg.Header.Get("Nats-Msg-Id") == "" {
		t.Fatalf("event: %s %v", msg.Data, msg.Header)
	}
}

func TestProfileServiceDownGives503(t *testing.T) {
	e := start(t, nil)
	_, token := e.register("pdown@example.com", "+18681230022", "4829")
	for _, p := range e.all.Procs {
		if p.Name == contract.ServiceProfile {
			if err := p.Stop(); err != nil {
				t.Fatal(err)
			}
		}
	}
	began := time.Now()
	r := e.do(http.MethodGet, "/api/v2/profile", token, "")
	expect(t, r, 503)
	if r.header.Get("Retry-After") == "" || time.Since(began) > 2*time.Second {
		t.Fatalf("503 without Retry-After or slow: %v %v", r.header, time.Since(began))
	}
	expect(t, e.do(http.MethodPost, "/api/v2/update_name", token, `{"first_name":"A","last_name":"B"}`), 503)
}

// The profile is created from the account_registered event, so it is
// served even when auth cannot be asked.
func TestProfileCreatedFromRegistrationEvent(t *testing.T) {
	e := start(t, nil)
	uuid, token := e.register("early@example.com", "+18681230023", "4829")
	var authProc *stack.Proc
	for _, p := range e.all.Procs {
		if p.Name == contract.ServiceAuth {
			authProc = p
		}
	}
	// Wait until the profile consumer has acknowledged the event.
	js, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the account_registered event handled", func() bool {
		info, err := js.Consumer(context.Background(), contract.StreamEvents, contract.ConsumerName(contract.DurableProfileAccounts, contract.EventAccountRegistered))
		if err != nil {
			return false
		}
		ci, err := info.Info(context.Background())
		return err == nil && ci.AckFloor.Consumer >= 1 && ci.NumAckPending == 0 && ci.NumPending == 0
	})
	// An authenticated request that does not reach profile makes the
	// gateway fetch auth's token keys while auth is still up.
	expect(t, e.do(http.MethodGet, "/api/v2/nope", token, ""), 404)
	if err := authProc.Stop(); err != nil {
		t.Fatal(err)
	}
	r := e.do(http.MethodGet, "/api/v2/profile", token, "")
	expect(t, r, 200)
	if r.str("uuid") != uuid {
		t.Fatalf("profile: %s", r.raw)
	}
}

func TestProfileUpdateEmailAndPhone(t *testing.T) {
	// No gap between codes: the old address registers again at the end.
	e := start(t, map[string]string{"DOSS_OTP_SEND_GAP": "0s"})
	_, token := e.register("first@example.com", "+18681230030", "4829")
	e.register("other@example.com", "+18681230031", "4829")
	// "Taken" answers cost the asking account one of its 3 changes an
	// hour: a third account asks, so the first keeps its budget for the
	// changes below.
	_, asker := e.register("third@example.com", "+18681230033", "4829")

	bad := []struct {
		name, path, body, field string
	}{
		{"email: last missing", "/api/v2/update_email", `{"new_email":"n@example.com"}`, "last_email"},
		{"email: last wrong", "/api/v2/update_email", `{"last_email":"x@example.com","new_email":"n@example.com"}`, "last_email"},
		{"email: new invalid", "/api/v2/update_email", `{"last_email":"first@example.com","new_email":"not-an-email"}`, "new_email"},
		{"email: new missing", "/api/v2/update_email", `{"last_email":"first@example.com"}`, "new_email"},
		{"email: new taken", "/api/v2/update_email", `{"last_email":"third@example.com","new_email":"Other@example.com"}`, "new_email"},
		{"email: wrong type", "/api/v2/update_email", `{"last_email":"first@example.com","new_email":7}`, "new_email"},
		{"phone: old missing", "/api/v2/update_phone", `{"new_phone":"+18681230039"}`, "old_phone"},
		{"phone: old wrong", "/api/v2/update_phone", `{"old_phone":"+18681239999","new_phone":"+18681230039"}`, "old_phone"},
		{"phone: new invalid", "/api/v2/update_phone", `{"old_phone":"+18681230030","new_phone":"12ab"}`, "new_phone"},
		{"phone: new taken", "/api/v2/update_phone", `{"old_phone":"+18681230033","new_phone":"+18681230031"}`, "new_phone"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			tok := token
			if strings.HasSuffix(c.name, "taken") {
				tok = asker
			}
			r := e.do(http.MethodPost, c.path, tok, c.body)
			expect(t, r, 422)
			errs, _ := r.body["errors"].(map[string]any)
			if _, ok := errs[c.field]; !ok {
				t.Fatalf("no errors.%s: %s", c.field, r.raw)
			}
		})
	}
	expect(t, e.do(http.MethodPost, "/api/v2/update_email", "", `{}`), 401)
	expect(t, e.do(http.MethodPost, "/api/v2/update_phone", "", `{}`), 401)

	r := e.do(http.MethodPost, "/api/v2/update_email", token, `{"last_email":"First@example.com","new_email":"second@example.com"}`)
	expect(t, r, 200)
	if r.str("email") != "second@example.com" || r.body["email_verify_at"] != nil {
		t.Fatalf("update_email reply: %s", r.raw)
	}
	expect(t, e.verifyContact(token, "email", e.changeCode("second@example.com")), 200)
	r = e.do(http.MethodPost, "/api/v2/update_phone", token, `{"old_phone":"+18681230030","new_phone":"+18681230032"}`)
	expect(t, r, 200)
	if r.str("phone") != "+18681230032" || r.str("email") != "second@example.com" {
		t.Fatalf("update_phone reply: %s", r.raw)
	}
	expect(t, e.verifyContact(token, "phone", e.changeCode("+18681230032")), 200)
	r = e.do(http.MethodGet, "/api/v2/profile", token, "")
	if r.str("phone") != "+18681230032" || r.str("email") != "second@example.com" || r.body["email_verify_at"] == nil || r.body["phone_verify_at"] == nil {
		t.Fatalf("profile after changes: %s", r.raw)
	}
	// The new contacts are the account's: login by the new phone works,
	// the new email is taken, and the old one is free again.
	expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": "+18681230032", "password": "4829"})), 200)
	expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": "+18681230030", "password": "4829"})), 401)
	// The old addresses are told of the change.
	eventually(t, "notices to the old email and phone", func() bool {
		return strings.Contains(e.do(http.MethodGet, "/dev/outbox?to=first@example.com", "", "").raw, "changed from first@example.com to second@example.com") &&
			strings.Contains(e.do(http.MethodGet, "/dev/outbox?to=%2B18681230030", "", "").raw, "phone number")
	})
	// A registered email is not revealed (the same 200 as a new one, and a
	// notice to it); the old one can start a registration again.
	expect(t, e.post("/api/v2/email_send_otp", js(map[string]string{"email": "second@example.com"})), 200)
	e.heard("second@example.com", "already have a DOSS account")
	expect(t, e.post("/api/v2/email_send_otp", js(map[string]string{"email": "first@example.com"})), 200)
}

// A change made in auth alone reaches the profile through auth's event.
func TestProfileFollowsAuthContactEvents(t *testing.T) {
	e := start(t, nil)
	_, token := e.register("follow@example.com", "+18681230040", "4829")
	r := e.do(http.MethodGet, "/api/v2/profile", token, "")
	expect(t, r, 200)
	id := int64(r.body["id"].(float64))
	ctx := natsx.WithCaller(context.Background(), natsx.Caller{Principal: contract.Principal{UserID: id}})
	if _, err := natsx.Call[contract.ChangeEmailRequest, contract.Account](ctx, e.nc, contract.AuthChangeEmail,
		contract.ChangeEmailRequest{UserID: id, NewEmail: "followed@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := asCaller[contract.ContactVerifyRequest, contract.Account](e, token, contract.AuthVerifyContact,
		contract.ContactVerifyRequest{UserID: id, Channel: "email", VerificationCode: e.changeCode("followed@example.com")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the profile to follow the email change", func() bool {
		return e.do(http.MethodGet, "/api/v2/profile", token, "").str("email") == "followed@example.com"
	})
	// Auth refuses a change for someone other than the caller.
	other := natsx.WithCaller(context.Background(), natsx.Caller{Principal: contract.Principal{UserID: id + 1}})
	_, err := natsx.Call[contract.ChangeEmailRequest, contract.Account](other, e.nc, contract.AuthChangeEmail,
		contract.ChangeEmailRequest{UserID: id, NewEmail: "stolen@example.com"})
	if contract.ErrorCode(err) != contract.Forbidden {
		t.Fatalf("change for another user: %v", err)
	}
}
