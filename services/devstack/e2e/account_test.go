package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/natsx"
)

// accountFields are every field of GET /api/user/profile, spelled as the
// app parses them.
var accountFields = []string{"user_id", "firstname", "lastname", "email", "telephone", "gender", "birthdate",
	"cashback", "tss_money", "tss_points", "next_Tss_Money_To_Expire", "tss_money_expiry", "next_Tss_Point_To_Expire",
	"tss_point_expiry", "order_count", "total_spending", "successful_orders", "disable_birthdate", "has_password",
	"is_two_fa", "referal_code"}

func (e *env) account(token string) resp {
	e.t.Helper()
	r := e.do(http.MethodGet, "/api/user/profile?platform=mobile", token, "")
	expect(e.t, r, 200)
	for _, f := range accountFields {
		if _, ok := r.body[f]; !ok {
			e.t.Fatalf("account profile has no %q: %s", f, r.raw)
		}
	}
	return r
}

func (e *env) admin(path string, body any) resp {
	e.t.Helper()
	return e.do(http.MethodPost, path, adminToken, js(body))
}

// want checks fields of an answer; numbers are compared as the JSON
// literal the app receives (150.50, not 150.5).
func want(t *testing.T, r resp, fields map[string]string) {
	t.Helper()
	for f, w := range fields {
		if got := literal(r.raw, f); got != w {
			t.Errorf("%s = %s, want %s\n%s", f, got, w, r.raw)
		}
	}
}

// literal is the raw JSON text of a top-level field.
func literal(raw, field string) string {
	i := strings.Index(raw, `"`+field+`":`)
	if i < 0 {
		return "<missing>"
	}
	rest := raw[i+len(field)+3:]
	end := len(rest)
	depth, inStr := 0, false
	for j, c := range rest {
		switch {
		case c == '"' && (j == 0 || rest[j-1] != '\\'):
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				end = j
			}
			depth--
		case c == ',' && depth == 0:
			end = j
		}
		if end != len(rest) {
			break
		}
	}
	return rest[:end]
}

func TestAccountProfileFieldsFromEvents(t *testing.T) {
	e := startWithAdmin(t)
	_, token := e.register("wallet@example.com", "+18681231001", "4829")
	r := e.account(token)
	uid := literal(r.raw, "user_id")
	if dossID := literal(e.do(http.MethodGet, "/api/v2/profile", token, "").raw, "id"); uid != dossID || uid == "0" {
		t.Fatalf("user_id %s, DOSS id %s", uid, dossID)
	}
	code := r.str("referal_code")
	if len(code) < 6 {
		t.Fatalf("referal_code %q", code)
	}
	want(t, r, map[string]string{
		"email": `"wallet@example.com"`, "telephone": `"+18681231001"`, "gender": "null", "birthdate": "null",
		"cashback": "0.00", "tss_money": "0.00", "tss_points": "0.00",
		"next_Tss_Money_To_Expire": "0.00", "tss_money_expiry": "null", "next_Tss_Point_To_Expire": "0.00", "tss_point_expiry": "null",
		"order_count": "0", "total_spending": "0.00", "successful_orders": "0",
		"disable_birthdate": "false", "is_two_fa": "0",
	})
	// has_password is auth's to say (a PIN may not count as a password).
	acc, err := natsx.Call[contract.AccountGetRequest, contract.Account](
		natsx.WithCaller(context.Background(), natsx.Caller{Principal: contract.Principal{UserID: mustInt(t, uid)}}),
		e.nc, contract.AuthAccountGet, contract.AccountGetRequest{UserID: mustInt(t, uid)})
	if err != nil {
		t.Fatal(err)
	}
	want(t, r, map[string]string{"has_password": fmt.Sprint(contract.Flag(acc.HasPassword))})
	// Another account gets another code; the code never changes.
	_, other := e.register("wallet2@example.com", "+18681231002", "4829")
	if c2 := e.account(other).str("referal_code"); c2 == code || c2 == "" {
		t.Fatalf("codes %q and %q", code, c2)
	}
	if again := e.account(token).str("referal_code"); again != code {
		t.Fatalf("referal_code changed: %q → %q", code, again)
	}

	now := time.Now().UTC()
	soon, later := now.Add(30*24*time.Hour), now.Add(60*24*time.Hour)
	path := "/admin/v1/users/" + uid
	// Through the admin API.
	for _, p := range []contract.WalletPosted{
		{ID: "m-1", Balance: "tss_money", Entry: "credit", Amount: 10000, ExpiresAt: &soon},
		{ID: "m-2", Balance: "tss_money", Entry: "credit", Amount: 40000, ExpiresAt: &later},
		{ID: "m-3", Balance: "tss_money", Entry: "credit", Amount: 9999, ExpiresAt: ptr(now.Add(-time.Hour))}, // already expired
		{ID: "c-1", Balance: "cashback", Entry: "credit", Amount: 20050},
	} {
		r := e.admin(path+"/wallet", p)
		expect(t, r, 200)
		want(t, r, map[string]string{"duplicate": "false", "flagged": "false"})
	}
	// The same posting again counts once; the same id for something else is refused.
	r = e.admin(path+"/wallet", contract.WalletPosted{ID: "m-1", Balance: "tss_money", Entry: "credit", Amount: 10000, ExpiresAt: &soon})
	expect(t, r, 200)
	want(t, r, map[string]string{"duplicate": "true", "tss_money": "500.00"})
	expect(t, e.admin(path+"/wallet", contract.WalletPosted{ID: "m-1", Balance: "tss_money", Entry: "credit", Amount: 1}), 422)
	// A debit beyond the balance stops at zero and is flagged.
	r = e.admin(path+"/wallet", contract.WalletPosted{ID: "c-2", Balance: "cashback", Entry: "debit", Amount: 5000})
	expect(t, r, 200)
	want(t, r, map[string]string{"flagged": "false", "cashback": "150.50"})

	// Straight onto the stream, as the shop and loyalty systems do, with
	// duplicated envelopes and ids.
	stream, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	pub := events.NewPublisher(stream)
	send := func(envelope, typ string, data any) {
		t.Helper()
		ev, err := events.New(context.Background(), typ, data)
		if err != nil {
			t.Fatal(err)
		}
		ev.ID = envelope
		if err := pub.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	id := mustInt(t, uid)
	points := contract.WalletPosted{ID: "p-1", UserID: id, Balance: "tss_points", Entry: "credit", Amount: 100000}
	pointsSoon := contract.WalletPosted{ID: "p-2", UserID: id, Balance: "tss_points", Entry: "credit", Amount: 25000, ExpiresAt: &soon}
	send("ev-1", contract.EventWalletPosted, points)
	send("ev-1", contract.EventWalletPosted, points) // same envelope
	send("ev-2", contract.EventWalletPosted, points) // same posting, new envelope
	send("ev-3", contract.EventWalletPosted, pointsSoon)
	send("ev-4", contract.EventWalletPosted, contract.WalletPosted{ID: "c-3", UserID: id, Balance: "cashback", Entry: "debit", Amount: 99999})
	for i, o := range []contract.OrderPosted{
		{ID: "o-1", OrderID: "A", Status: "placed", Amount: 30000},
		{ID: "o-2", OrderID: "A", Status: "completed", Amount: 30000},
		{ID: "o-3", OrderID: "B", Status: "placed", Amount: 15000},
		{ID: "o-4", OrderID: "B", Status: "completed", Amount: 15000},
		{ID: "o-5", OrderID: "C", Status: "placed", Amount: 999},
		{ID: "o-6", OrderID: "C", Status: "cancelled"},
	} {
		o.UserID = id
		send(fmt.Sprintf("ord-%d", i), contract.EventOrderPosted, o)
		send(fmt.Sprintf("ord-%d-again", i), contract.EventOrderPosted, o)
	}
	// And one order through the admin API.
	r = e.admin(path+"/orders", contract.OrderPosted{ID: "o-7", OrderID: "D", Status: "completed", Amount: 45050})
	expect(t, r, 200)
	e.drained(t, "the postings consumed", contract.Consumers(contract.DurableProfilePostings)...)
	// A debit through the admin API beyond what is left is flagged.
	r = e.admin(path+"/wallet", contract.WalletPosted{ID: "c-4", Balance: "cashback", Entry: "debit", Amount: 100})
	expect(t, r, 200)
	want(t, r, map[string]string{"flagged": "true", "shortfall": "1.00", "cashback": "0.00"})

	r = e.account(token)
	want(t, r, map[string]string{
		"cashback":                 "0.00", // 200.50 - 50.00 - 999.99, stopped at zero
		"tss_money":                "500.00",
		"next_Tss_Money_To_Expire": "100.00", "tss_money_expiry": `"` + soon.Format(time.DateOnly) + `"`,
		"tss_points":               "1250.00",
		"next_Tss_Point_To_Expire": "250.00", "tss_point_expiry": `"` + soon.Format(time.DateOnly) + `"`,
		"order_count": "4", "successful_orders": "3", "total_spending": "900.50",
	})
}

func ptr[T any](v T) *T { return &v }

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// drained waits until each of the named consumers of the events stream
// has nothing pending and nothing unacked: its service has handled every
// event it reads.
func (e *env) drained(t *testing.T, what string, consumers ...string) {
	t.Helper()
	stream, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, what, func() bool {
		for _, name := range consumers {
			c, err := stream.Consumer(context.Background(), contract.StreamEvents, name)
			if err != nil {
				return false
			}
			if ci, err := c.Info(context.Background()); err != nil || ci.NumPending != 0 || ci.NumAckPending != 0 {
				return false
			}
		}
		return true
	})
}

func TestAccountAdminPostingsRefuseBadInput(t *testing.T) {
	e := startWithAdmin(t)
	_, token := e.register("adminbad@example.com", "+18681231010", "4829")
	uid := literal(e.account(token).raw, "user_id")
	good := contract.WalletPosted{ID: "x-1", Balance: "cashback", Entry: "credit", Amount: 100}
	expect(t, e.do(http.MethodPost, "/admin/v1/users/"+uid+"/wallet", "", js(good)), 401)
	expect(t, e.do(http.MethodPost, "/admin/v1/users/"+uid+"/wallet", token, js(good)), 401)
	expect(t, e.admin("/admin/v1/users/abc/wallet", good), 422)
	expect(t, e.admin("/admin/v1/users/-4/orders", good), 422)
	expect(t, e.admin("/admin/v1/users/999999/wallet", good), 404)
	for name, c := range map[string]struct {
		path, body, field string
	}{
		"unknown balance":   {"wallet", `{"id":"b-1","balance":"gold","entry":"credit","amount":100}`, "balance"},
		"negative amount":   {"wallet", `{"id":"b-2","balance":"cashback","entry":"credit","amount":-100}`, "amount"},
		"decimal amount":    {"wallet", `{"id":"b-3","balance":"cashback","entry":"credit","amount":1.5}`, "amount"},
		"no id":             {"wallet", `{"balance":"cashback","entry":"credit","amount":100}`, "id"},
		"expiring debit":    {"wallet", `{"id":"b-4","balance":"cashback","entry":"debit","amount":100,"expires_at":"2030-01-01T00:00:00Z"}`, "expires_at"},
		"bad expiry format": {"wallet", `{"id":"b-5","balance":"cashback","entry":"credit","amount":100,"expires_at":"soon"}`, ""},
		"unknown status":    {"orders", `{"id":"b-6","order_id":"A","status":"shipped","amount":100}`, "status"},
		"no order id":       {"orders", `{"id":"b-7","status":"placed","amount":100}`, "order_id"},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do(http.MethodPost, "/admin/v1/users/"+uid+"/"+c.path, adminToken, c.body)
			if r.status != 422 && r.status != 400 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if errs, _ := r.body["errors"].(map[string]any); c.field != "" && errs[c.field] == nil {
				t.Fatalf("no errors.%s: %s", c.field, r.raw)
			}
		})
	}
	// Nothing was counted.
	want(t, e.account(token), map[string]string{"cashback": "0.00", "order_count": "0"})
}

func TestAccountProfileUpdate(t *testing.T) {
	e := start(t, nil)
	_, token := e.register("upd@example.com", "+18681231020", "4829")
	e.register("taken@example.com", "+18681231021", "4829")
	expect(t, e.do(http.MethodGet, "/api/user/profile?platform=desktop", token, ""), 422)
	expect(t, e.do(http.MethodGet, "/api/user/profile", "", ""), 401)
	expect(t, e.do(http.MethodPost, "/api/user/profile", "", "{}"), 401)
	// The DOSS profile is cached by the gateway; an account update must drop it.
	expect(t, e.do(http.MethodGet, "/api/v2/profile", token, ""), 200)

	body := map[string]string{"firstname": "  John ", "lastname": "Doe", "gender": "male", "birthdate": "0000-00-00", "telephone": "+18681231020"}
	r := e.do(http.MethodPost, "/api/user/profile", token, js(body))
	expect(t, r, 200)
	want(t, r, map[string]string{"firstname": `"John"`, "lastname": `"Doe"`, "gender": `"male"`, "birthdate": "null", "disable_birthdate": "false", "telephone": `"+18681231020"`})
	if p := e.do(http.MethodGet, "/api/v2/profile", token, ""); p.str("first_name") != "John" || p.str("last_name") != "Doe" {
		t.Fatalf("the DOSS profile did not follow: %s", p.raw)
	}

	// The birthdate is set once, then locked.
	body["birthdate"] = "1990-05-15"
	r = e.do(http.MethodPost, "/api/user/profile", token, js(body))
	expect(t, r, 200)
	want(t, r, map[string]string{"birthdate": `"1990-05-15"`, "disable_birthdate": "true"})
	body["birthdate"] = "1991-06-16"
	r = e.do(http.MethodPost, "/api/user/profile", token, js(body))
	expect(t, r, 422)
	if errs, _ := r.body["errors"].(map[string]any); errs["birthdate"] == nil {
		t.Fatalf("no errors.birthdate: %s", r.raw)
	}
	body["birthdate"] = "0000-00-00"
	expect(t, e.do(http.MethodPost, "/api/user/profile", token, js(body)), 200)
	want(t, e.account(token), map[string]string{"birthdate": `"1990-05-15"`, "disable_birthdate": "true"})

	bad := []struct{ name, field, key, value string }{
		{"gender outside the set", "gender", "gender", "robot"},
		{"future birthdate", "birthdate", "birthdate", "2999-01-01"},
		{"unreal birthdate", "birthdate", "birthdate", "1990-02-30"},
		{"markup in a name", "firstname", "firstname", "<b>x</b>"},
		{"empty lastname", "lastname", "lastname", " "},
		{"telephone of another account", "telephone", "telephone", "+18681231021"},
		{"not a telephone", "telephone", "telephone", "+1 call me"},
		{"another email while one exists", "email", "email", "new@example.com"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			b := map[string]string{}
			for k, v := range body {
				b[k] = v
			}
			b[c.key] = c.value
			r := e.do(http.MethodPost, "/api/user/profile", token, js(b))
			expect(t, r, 422)
			if errs, _ := r.body["errors"].(map[string]any); errs[c.field] == nil || r.str("message") == "" {
				t.Fatalf("no errors.%s: %s", c.field, r.raw)
			}
		})
	}
	want(t, e.account(token), map[string]string{"firstname": `"John"`, "telephone": `"+18681231020"`, "gender": `"male"`})

	// With 2FA off too the telephone waits for the code sent to it; then
	// the new one logs in.
	body["telephone"] = "+18681231029"
	r = e.do(http.MethodPost, "/api/user/profile", token, js(body))
	expect(t, r, 200)
	want(t, r, map[string]string{"telephone": `"+18681231029"`, "is_otp_sent": "true"})
	expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": "+18681231029", "password": "4829"})), 401)
	r = e.do(http.MethodPost, "/api/user/profile/verify-otp", token, js(map[string]string{"telephone": "+18681231029", "otp": e.otp(r, "+18681231029")}))
	expect(t, r, 200)
	want(t, r, map[string]string{"telephone": `"+18681231029"`})
	if p := e.do(http.MethodGet, "/api/v2/profile", token, ""); p.str("phone") != "+18681231029" {
		t.Fatalf("the DOSS profile did not follow: %s", p.raw)
	}
	expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": "+18681231029", "password": "4829"})), 200)
}

// twoFAReady skips a test that needs auth's twofa commands until the auth
// side of the account API is merged.
func twoFAReady(t *testing.T, e *env) {
	t.Helper()
	_, err := e.nc.Request(contract.AuthTwoFAStart, []byte("{}"), 2*time.Second)
	if errors.Is(err, nats.ErrNoResponders) {
		t.Skipf("%s has no responder: the auth side of the account API (branch acct-auth) is not merged yet", contract.AuthTwoFAStart)
	}
}

// otp is the code of an answer (dev mode) or, failing that, the newest in
// the dev outbox for to.
func (e *env) otp(r resp, to string) string {
	e.t.Helper()
	if c := r.str("verification_code"); c != "" {
		return c
	}
	var code string
	eventually(e.t, "a code for "+to, func() bool {
		out := e.do(http.MethodGet, "/dev/outbox?to="+strings.ReplaceAll(to, "+", "%2B"), "", "")
		if i := strings.Index(out.raw, `"code":"`); i >= 0 {
			code = out.raw[i+8 : i+8+strings.Index(out.raw[i+8:], `"`)]
		}
		return code != ""
	})
	return code
}

func TestAccountTwoFAAndPhoneChangeByCode(t *testing.T) {
	// Registration has just sent a code to the same number.
	e := start(t, map[string]string{"DOSS_OTP_SEND_GAP": "0s", "DOSS_OTP_SENDS_PER_HOUR": "1000", "DOSS_OTP_ADDRESS_SENDS_PER_HOUR": "1000"})
	twoFAReady(t, e)
	_, token := e.register("twofa@example.com", "+18681231030", "4829")
	body := map[string]any{"firstname": "Ann", "lastname": "Lee", "gender": "female", "birthdate": "0000-00-00", "telephone": "+18681231030", "is_two_fa": true}

	// Turning 2FA on sends a code to the current number; the rest is saved.
	r := e.do(http.MethodPost, "/api/user/profile/2fa", token, js(body))
	expect(t, r, 200)
	want(t, r, map[string]string{"telephone": `"+18681231030"`, "is_otp_sent": "true", "message": `"OTP Sent successfully!"`, "disable_birthdate": "false"})
	code := e.otp(r, "+18681231030")
	want(t, e.account(token), map[string]string{"firstname": `"Ann"`, "is_two_fa": "0"})
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	r = e.do(http.MethodPost, "/api/user/profile/verify-otp", token, js(map[string]string{"telephone": "+18681231030", "otp": wrong}))
	expect(t, r, 422)
	r = e.do(http.MethodPost, "/api/user/profile/verify-otp", token, js(map[string]string{"telephone": "+18681231030", "otp": code}))
	expect(t, r, 200)
	want(t, r, map[string]string{"is_two_fa": "1", "telephone": `"+18681231030"`})
	if _, ok := r.body["valid_token_count"]; !ok {
		t.Fatalf("no valid_token_count: %s", r.raw)
	}
	// The code is single use.
	expect(t, e.do(http.MethodPost, "/api/user/profile/verify-otp", token, js(map[string]string{"telephone": "+18681231030", "otp": code})), 422)

	// Nothing to confirm: the profile is simply updated.
	r = e.do(http.MethodPost, "/api/user/profile/2fa", token, js(body))
	expect(t, r, 200)
	want(t, r, map[string]string{"is_profile_updated": "true", "is_two_fa": "1"})

	// With 2FA on, a telephone change through /api/user/profile waits for
	// a code sent to the new number.
	upd := map[string]string{"firstname": "Ann", "lastname": "Lee", "gender": "female", "birthdate": "0000-00-00", "telephone": "+18681231039"}
	r = e.do(http.MethodPost, "/api/user/profile", token, js(upd))
	expect(t, r, 200)
	want(t, r, map[string]string{"telephone": `"+18681231039"`, "is_otp_sent": "true"})
	code = e.otp(r, "+18681231039")
	want(t, e.account(token), map[string]string{"telephone": `"+18681231030"`})
	r = e.do(http.MethodPost, "/api/user/profile/verify-otp", token, js(map[string]string{"telephone": "+18681231039", "otp": code}))
	expect(t, r, 200)
	want(t, r, map[string]string{"telephone": `"+18681231039"`, "is_two_fa": "1"})
	fresh := r.str("access_token")
	if fresh == "" {
		t.Fatalf("no access_token after a telephone change: %s", r.raw)
	}
	want(t, e.account(fresh), map[string]string{"telephone": `"+18681231039"`})
	if p := e.do(http.MethodGet, "/api/v2/profile", fresh, ""); p.str("phone") != "+18681231039" {
		t.Fatalf("the DOSS profile did not follow: %s", p.raw)
	}
	// 2FA is on: the new number's login asks for a code.
	expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": "+18681231039", "password": "4829"})), 202)
}

// Expiry is evaluated when the profile is read: a credit stops counting at
// its instant with nothing run in between.
func TestAccountCreditExpiresAtReadTime(t *testing.T) {
	e := startWithAdmin(t)
	_, token := e.register("expiry@example.com", "+18681231040", "4829")
	uid := literal(e.account(token).raw, "user_id")
	brief := time.Now().UTC().Add(1500 * time.Millisecond)
	kept := time.Now().UTC().Add(10 * 24 * time.Hour)
	expect(t, e.admin("/admin/v1/users/"+uid+"/wallet", contract.WalletPosted{ID: "x-1", Balance: "tss_points", Entry: "credit", Amount: 700, ExpiresAt: &brief}), 200)
	expect(t, e.admin("/admin/v1/users/"+uid+"/wallet", contract.WalletPosted{ID: "x-2", Balance: "tss_points", Entry: "credit", Amount: 300, ExpiresAt: &kept}), 200)
	r := e.account(token)
	if time.Now().Before(brief) {
		want(t, r, map[string]string{"tss_points": "10.00", "next_Tss_Point_To_Expire": "7.00", "tss_point_expiry": `"` + brief.Format(time.DateOnly) + `"`})
	}
	eventually(t, "the brief credit to expire", func() bool { return literal(e.account(token).raw, "tss_points") == "3.00" })
	want(t, e.account(token), map[string]string{"next_Tss_Point_To_Expire": "3.00", "tss_point_expiry": `"` + kept.Format(time.DateOnly) + `"`})
}
