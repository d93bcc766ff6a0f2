package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/imagex/imagextest"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/services/devstack/stack"
)

func (e *env) export(token string) resp {
	e.t.Helper()
	return e.do(http.MethodGet, "/api/v2/account/export", token, "")
}

// exported decodes a 200 export.
func exported(t *testing.T, r resp) contract.AccountExport {
	t.Helper()
	expect(t, r, 200)
	var x contract.AccountExport
	if err := json.Unmarshal([]byte(r.raw), &x); err != nil {
		t.Fatalf("not an export: %v\n%s", err, r.raw)
	}
	return x
}

// sentTo waits until the notifier has recorded a message of template for
// the account, asking its export command as the user, as the gateway does
// (the HTTP export may run once an hour, so the test cannot poll it).
func (e *env) sentTo(userID int64, uuid, template string) {
	e.t.Helper()
	ctx := natsx.WithCaller(context.Background(), natsx.Caller{Principal: contract.Principal{UserID: userID, UUID: uuid}})
	eventually(e.t, "the notifier's record of "+template, func() bool {
		part, err := natsx.Call[contract.ExportRequest, contract.NotifierExportPart](ctx, e.nc, contract.NotifierExport, contract.ExportRequest{})
		if err != nil {
			return false
		}
		for _, n := range part.Notifications {
			if n.Template == template {
				return true
			}
		}
		return false
	})
}

// standalone finds s in raw as a whole token: not inside a longer run of
// letters and digits (a signature's hex, a timestamp's fraction), so that
// a 4-digit secret is not found by chance where it never was.
func standalone(raw, s string) bool {
	return regexp.MustCompile(`(^|[^0-9A-Za-z])` + regexp.QuoteMeta(s) + `([^0-9A-Za-z]|$)`).MatchString(raw)
}

// secretKeys are names no exported field may have.
var secretKeys = regexp.MustCompile(`(?i)hash|secret|(^|_)mac$|seed|salt|(^|_)pin($|_)|^code$|verification_code|otp|device_token|signing|private`)

// secretValues are values that look like a stored secret: an argon2 or
// bcrypt hash, or a string that is all hex or base64 of 32+ characters
// (a link's signature sits inside a URL, which is not all hex).
var secretValues = regexp.MustCompile(`^(\$argon2|\$2[aby]\$|[0-9a-fA-F]{32,}$|[A-Za-z0-9+/_-]{43,}={0,2}$)`)

// walkJSON calls fn with every key and string value of v and its path.
func walkJSON(path string, v any, fn func(path, key string, value string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			fn(path, k, "")
			walkJSON(path+"."+k, c, fn)
		}
	case []any:
		for i, c := range v {
			walkJSON(path+"["+strconv.Itoa(i)+"]", c, fn)
		}
	case string:
		fn(path, "", v)
	}
}

// The whole export over HTTP: a user who registered, uploaded a photo and
// a document, logged in twice, was reviewed and credited by an operator
// gets every part with the right values and no secret; the second export
// within the hour is refused; another user's export holds nothing of the
// first; and no bearer gets nothing.
func TestAccountExport(t *testing.T) {
	e, _ := startDocuments(t, nil)
	const pin, phone, email = "4829", "+18681230501", "export-a@example.com"
	const phoneB, emailB = "+18681230502", "export-b@example.com"
	uuid, token := e.register(email, phone, pin)
	expect(t, e.upload(token, "photo.jpg", imagextest.JPEG(16, 16, 0)), 200)
	doc := decodeDoc(t, e.addDocument(token, "1", "id.jpg", imagextest.JPEG(40, 20, 6)))
	for range 2 {
		expect(t, e.loginPIN(phone, pin), 200)
	}
	uidText := literal(e.account(token).raw, "user_id")
	uid, _ := strconv.ParseInt(uidText, 10, 64)
	expect(t, e.admin(fmt.Sprintf("/admin/v1/documents/%d/approve", doc.ID), struct{}{}), 200)
	expect(t, e.admin("/admin/v1/users/"+uidText+"/wallet", contract.WalletPosted{ID: "x-1", Balance: "cashback", Entry: "credit", Amount: 12345}), 200)
	expect(t, e.admin("/admin/v1/users/"+uidText+"/orders", contract.OrderPosted{ID: "x-2", OrderID: "ord-77", Status: "completed", Amount: 5000}), 200)
	uuidB, tokenB := e.register(emailB, phoneB, "5830")
	e.heard(email, "was reviewed")
	e.sentTo(uid, uuid, "document_reviewed")
	eventually(t, "the credit in the account", func() bool { return literal(e.account(token).raw, "cashback") == "123.45" })
	eventually(t, "the operator's calls in the audit", func() bool {
		// auth keeps them from the stream; its part alone, as the user
		// (asking for a part spends no hour: only a finished export does)
		ctx := natsx.WithCaller(context.Background(), natsx.Caller{Principal: contract.Principal{UserID: uid, UUID: uuid}})
		p, err := natsx.Call[contract.ExportRequest, contract.AuthExportPart](ctx, e.nc, contract.AuthExport, contract.ExportRequest{})
		return err == nil && len(p.Audit) == 2
	})

	r := e.export(token)
	x := exported(t, r)
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}

	t.Run("account and profiles", func(t *testing.T) {
		a := x.Account
		if a.ID != uid || a.UUID != uuid || a.Email != email || a.Phone != phone || a.EmailVerifiedAt == nil || a.PhoneVerifiedAt == nil {
			t.Errorf("account %+v", a)
		}
		p := x.Profile
		if p.ID != uid || p.UUID != uuid || p.Email != email || p.Phone != phone || p.Image == nil || p.IDProofFront == nil {
			t.Errorf("profile %+v", p)
		}
		if x.AccountProfile.UserID != uid || x.AccountProfile.Cashback != 12345 || x.AccountProfile.OrderCount != 1 || x.AccountProfile.ReferalCode == "" {
			t.Errorf("account profile %+v", x.AccountProfile)
		}
		if body, _, st := fetch(t, *p.Image); st != 200 || len(body) == 0 {
			t.Errorf("the photo link answers %d", st)
		}
	})
	t.Run("documents with fresh links", func(t *testing.T) {
		if len(x.Documents) != 1 {
			t.Fatalf("documents %+v", x.Documents)
		}
		d := x.Documents[0]
		if d.ID != doc.ID || d.TypeID != 1 || d.Status != "approved" || d.ReviewedBy != "alice" {
			t.Errorf("document %+v", d)
		}
		u, err := url.Parse(d.File)
		if err != nil {
			t.Fatal(err)
		}
		if ttl, err := strconv.Atoi(u.Query().Get("X-Amz-Expires")); err != nil || ttl < 1 || ttl > 900 {
			t.Errorf("not a short-lived link: %s", d.File)
		}
		if body, _, st := fetch(t, d.File); st != 200 || len(body) == 0 {
			t.Errorf("the document link answers %d", st)
		}
	})
	t.Run("sessions", func(t *testing.T) {
		if len(x.Sessions) != 3 { // the registration and two logins
			t.Fatalf("sessions %+v", x.Sessions)
		}
		for _, s := range x.Sessions {
			if s.ID == "" || s.IP == "" || s.Device == "" || s.CreatedAt.IsZero() || s.LastSeenAt.IsZero() {
				t.Errorf("session %+v", s)
			}
		}
	})
	t.Run("postings and audit", func(t *testing.T) {
		if len(x.Wallet) != 1 || x.Wallet[0].Amount != 12345 || x.Wallet[0].Balance != "cashback" {
			t.Errorf("wallet %+v", x.Wallet)
		}
		if len(x.Orders) != 1 || x.Orders[0].OrderID != "ord-77" || x.Orders[0].Status != "completed" {
			t.Errorf("orders %+v", x.Orders)
		}
		paths := map[string]bool{}
		for _, a := range x.Audit {
			if a.Admin != "alice" || a.Method != http.MethodPost || a.At.IsZero() {
				t.Errorf("audit row %+v", a)
			}
			paths[a.Path] = true
		}
		if !paths["/admin/v1/users/"+uidText+"/wallet"] || !paths["/admin/v1/users/"+uidText+"/orders"] {
			t.Errorf("audit %+v", x.Audit)
		}
	})
	t.Run("notifications without codes", func(t *testing.T) {
		templates := map[string]bool{}
		for _, n := range x.Notifications {
			templates[n.Template] = true
			if n.Subject == "" || n.Body == "" || n.SentAt.IsZero() {
				t.Errorf("notification %+v", n)
			}
			if n.Channel == contract.ChannelPush && n.To != "" {
				t.Errorf("a push names its device: %+v", n)
			}
		}
		// The registration SMS is sent before the phone is any account's
		// (its attempt is named by the email): not attributed (docs/export.md).
		for _, want := range []string{contract.PurposeRegisterEmail, "document_reviewed"} {
			if !templates[want] {
				t.Errorf("no %s notification in %+v", want, x.Notifications)
			}
		}
		if !strings.Contains(r.raw, contract.ExportRedacted) {
			t.Error("no code was redacted: the codes' messages are missing")
		}
	})
	t.Run("no secret", func(t *testing.T) {
		secrets := map[string]string{"the PIN": pin}
		for _, to := range []string{email, phone} {
			for i, m := range e.outbox(to) {
				if m.Code != "" {
					secrets[fmt.Sprintf("code %d sent to %s", i, to)] = m.Code
				}
			}
		}
		if len(secrets) < 3 {
			t.Fatalf("the outbox holds too few codes to test: %v", secrets)
		}
		for what, s := range secrets {
			if standalone(r.raw, s) {
				t.Errorf("%s (%s) is in the export", what, s)
			}
		}
		for _, s := range []string{"fcm-1", "$argon2", "pin_hash"} {
			if strings.Contains(r.raw, s) {
				t.Errorf("%q is in the export", s)
			}
		}
		var v any
		_ = json.Unmarshal([]byte(r.raw), &v)
		walkJSON("", v, func(path, key, value string) {
			if key != "" && secretKeys.MatchString(key) {
				t.Errorf("a secret-looking field %s.%s", path, key)
			}
			if value != "" && secretValues.MatchString(value) {
				t.Errorf("a hash-looking value at %s: %q", path, value)
			}
		})
	})
	t.Run("once an hour", func(t *testing.T) {
		r := e.export(token)
		expect(t, r, 429)
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs < 3000 || secs > 3600 {
			t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
		}
		if r.str("message") == "" {
			t.Errorf("not the app's error shape: %s", r.raw)
		}
		// Per account: the first user's hour does not touch the second's.
		xb := exported(t, e.export(tokenB))
		if xb.Account.UUID != uuidB {
			t.Fatalf("export B is of %s", xb.Account.UUID)
		}
	})
	t.Run("another user's export holds nothing of the first", func(t *testing.T) {
		// B's own export was taken in the subtest above; ask its parts as
		// the gateway would, which the hour does not limit.
		raw := e.partsAs(t, uidOf(t, e, tokenB), uuidB)
		for _, s := range []string{email, phone, uuid, strconv.FormatInt(doc.ID, 10) + `,"typeId"`, "ord-77", `"user_id":` + uidText + ","} {
			if strings.Contains(raw, s) {
				t.Errorf("user B's export holds user A's %q", s)
			}
		}
		if !strings.Contains(raw, emailB) {
			t.Error("user B's export does not hold B's email: the check above proves nothing")
		}
	})
	t.Run("no bearer", func(t *testing.T) {
		expect(t, e.export(""), 401)
		expect(t, e.export("not-a-token"), 401)
	})
}

func uidOf(t *testing.T, e *env, token string) int64 {
	t.Helper()
	uid, err := strconv.ParseInt(literal(e.account(token).raw, "user_id"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

// partsAs is every service's export part for the user, as one JSON text.
func (e *env) partsAs(t *testing.T, uid int64, uuid string) string {
	t.Helper()
	ctx := natsx.WithCaller(context.Background(), natsx.Caller{Principal: contract.Principal{UserID: uid, UUID: uuid}})
	var out []string
	for _, subject := range []string{contract.ProfileExport, contract.DocumentsExport, contract.NotifierExport} {
		raw, err := natsx.CallRaw(ctx, e.nc, subject, []byte("{}"))
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		out = append(out, string(raw))
	}
	return strings.Join(out, "\n")
}

// A part that cannot answer makes the export a 503 with Retry-After, never
// a partial answer, and does not spend the account's hour.
func TestAccountExportAllOrNothing(t *testing.T) {
	e := start(t, nil)
	_, token := e.register("export-c@example.com", "+18681230503", "4829")
	whole := t // the restarted services run to the end of the test
	for _, name := range []string{contract.ServiceNotifier, contract.ServiceDocuments, contract.ServiceProfile} {
		t.Run(name+" down", func(t *testing.T) {
			if err := e.proc(name).Stop(); err != nil {
				t.Fatal(err)
			}
			r := e.export(token)
			expect(t, r, 503)
			if r.header.Get("Retry-After") == "" || r.str("message") == "" {
				t.Errorf("no Retry-After or message: %v %s", r.header, r.raw)
			}
			if strings.Contains(r.raw, "account") {
				t.Errorf("a partial export: %s", r.raw)
			}
			p, err := stack.Start(e.nc, name, e.getenv, e.logs)
			if err != nil {
				t.Fatal(err)
			}
			whole.Cleanup(func() { _ = p.Stop() })
		})
	}
	exported(t, e.export(token))
	expect(t, e.export(token), 429)
}

// A process on the bus that is not the gateway cannot ask for anyone's
// export part, whatever it signs: its bus user may not publish there.
func TestExportPartsOnlyForTheGateway(t *testing.T) {
	e := start(t, nil)
	for _, user := range []string{contract.ServiceNotifier, contract.ServiceDocuments, contract.ServiceProfile, contract.ServiceAuth} {
		nc := e.busAs(user)
		for _, subject := range []string{contract.AuthExport, contract.AuthExportDone, contract.ProfileExport, contract.DocumentsExport, contract.NotifierExport} {
			t.Run(user+" "+subject, func(t *testing.T) {
				if reply, err := nc.Request(subject, []byte("{}"), 300*time.Millisecond); err == nil {
					t.Fatalf("answered: %s", reply.Data)
				}
			})
		}
	}
	// The gateway's user is answered (refused for want of a caller): the
	// refusals above are the permissions', not missing services.
	gw := e.busAs(contract.BusGateway)
	reply, err := gw.Request(contract.NotifierExport, []byte("{}"), 5*time.Second)
	if err != nil || !refused(reply) {
		t.Fatalf("the gateway's user: %v %v", err, reply)
	}
}
