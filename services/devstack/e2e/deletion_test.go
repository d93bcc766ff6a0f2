package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/imagex/imagextest"
	"github.com/dossapp/backend/services/devstack/stack"
)

func (e *env) deleteAccount(token, pin string) resp {
	return e.do(http.MethodPost, "/api/v2/account/delete", token, js(map[string]string{"pin": pin}))
}

func (e *env) userID(token string) int64 {
	e.t.Helper()
	r := e.profile(token)
	id, _ := r.body["id"].(float64)
	if id == 0 {
		e.t.Fatalf("no id: %s", r.raw)
	}
	return int64(id)
}

// deletions is GET /admin/v1/deletions?status=.
func (e *env) deletions(status string) []contract.AdminDeletion {
	e.t.Helper()
	path := "/admin/v1/deletions"
	if status != "" {
		path += "?status=" + status
	}
	r := e.do(http.MethodGet, path, adminToken, "")
	expect(e.t, r, 200)
	var out []contract.AdminDeletion
	if err := json.Unmarshal([]byte(r.raw), &out); err != nil {
		e.t.Fatalf("not a list: %s", r.raw)
	}
	return out
}

func (e *env) deletionOf(userID int64) (contract.AdminDeletion, bool) {
	for _, d := range e.deletions("") {
		if d.UserID == userID {
			return d, true
		}
	}
	return contract.AdminDeletion{}, false
}

// steps collects the audit entries of the deletion saga from the stream.
func (e *env) steps() func() []string {
	e.t.Helper()
	ch := make(chan *nats.Msg, 64)
	sub, err := e.nc.ChanSubscribe(contract.EventSubject(contract.EventAccountDeletionChanged), ch)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = sub.Unsubscribe() })
	var seen []string
	return func() []string {
		for {
			select {
			case m := <-ch:
				var ev contract.Event
				var d contract.AccountDeletionChanged
				if json.Unmarshal(m.Data, &ev) == nil && ev.Decode(&d) == nil {
					seen = append(seen, d.Step)
				}
			default:
				return seen
			}
		}
	}
}

// A wrong PIN is refused and counted: five lock the session's device, so
// even the right PIN (and a login from that device) then gets 429, and
// nothing was deleted.
func TestAccountDeletionWrongPINIsRefusedAndCounted(t *testing.T) {
	e := start(t, map[string]string{"DOSS_ADMIN_TOKENS": "alice:" + adminToken})
	const phone = "+18681231601"
	_, token := e.register("del-pin@example.com", phone, "4829")
	for i := range 5 {
		r := e.deleteAccount(token, "5831")
		expect(t, r, 422)
		if !strings.Contains(r.raw, `"pin"`) {
			t.Fatalf("attempt %d: %s", i, r.raw)
		}
	}
	r := e.deleteAccount(token, "4829")
	expect(t, r, 429)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	login := e.post("/api/v2/new-login", js(map[string]string{"phone": phone, "password": "4829", "fcm_last_login_device_token": "fcm-1"}))
	expect(t, login, 429) // the same counter as the device's logins
	expect(t, e.do(http.MethodGet, "/api/v2/sessions", token, ""), 200)
	if got := e.deletions(""); len(got) != 0 {
		t.Fatalf("a deletion after wrong PINs: %+v", got)
	}
}

// The request: every token refused on a second gateway within 1 s, the
// pass revoked once profile has its event, login (right PIN) refused with a clear message, no
// forgotten-PIN codes, a notice to the email, and the purge waiting for
// the grace. Support cancels it: login works again, old tokens do not.
func TestAccountDeletionGraceAndCancel(t *testing.T) {
	e := start(t, map[string]string{"DOSS_ADMIN_TOKENS": "alice:" + adminToken, "DOSS_TRUSTED_PROXIES": "127.0.0.0/8",
		"DOSS_PASS_VERIFY_PER_MIN": "100000"}) // the test polls the verify
	other := e.secondGateway()
	steps := e.steps()
	const phone, email = "+18681231602", "del-grace@example.com"
	_, tokA := e.register(email, phone, "4829")
	id := e.userID(tokA)
	r := e.loginPIN(phone, "4829")
	expect(t, r, 200)
	tokB := r.str("response", "token")
	r = e.do(http.MethodPost, "/api/v2/identity/pass", tokA, `{}`)
	expect(t, r, 200)
	pass := r.str("token")

	r = e.deleteAccount(tokA, "4829")
	expect(t, r, 202)
	if r.str("deletion", "status") != "pending" || r.str("message") == "" {
		t.Fatalf("%s", r.raw)
	}
	asked, _ := time.Parse(time.RFC3339Nano, r.str("deletion", "requested_at"))
	purge, _ := time.Parse(time.RFC3339Nano, r.str("deletion", "purge_at"))
	if got := purge.Sub(asked); got != 168*time.Hour {
		t.Fatalf("purge %v after the request, want the default grace 168h", got)
	}
	refusedWithin(t, other, tokA)
	refusedWithin(t, other, tokB)
	expect(t, e.do(http.MethodGet, "/api/v2/sessions", tokA, ""), 401)

	// Profile revokes the pass on the request's event (auth asks it
	// nothing): within the event's delivery.
	eventually(t, "the pass of an account being deleted revoked", func() bool {
		v := other.post("/api/v2/identity/verify", js(map[string]string{"token": pass}))
		return v.body["valid"] == false && v.str("reason") == "revoked"
	})
	r = e.loginPIN(phone, "4829")
	expect(t, r, 403)
	if !strings.Contains(r.str("message"), "being deleted") {
		t.Fatalf("login in grace: %s", r.raw)
	}
	expect(t, e.loginPIN(phone, "5831"), 401) // a wrong PIN learns nothing
	e.heard(email, "will be deleted")

	// forgot_pin answers as ever and sends nothing; after the cancel, the
	// same ask from another client sends the codes, and they are the only
	// reset codes the phone ever got.
	expect(t, e.postFrom("198.51.100.21", "/api/v2/forgot_pin", js(map[string]string{"phone": phone})), 200)

	eventually(t, "the deletion listed as pending", func() bool {
		d, ok := e.deletionOf(id)
		return ok && d.Status == contract.DeletionPending
	})
	expect(t, e.do(http.MethodPost, "/admin/v1/users/"+strconv.FormatInt(id+1000, 10)+"/deletion/cancel", adminToken, ""), 404)
	r = e.do(http.MethodPost, "/admin/v1/users/"+strconv.FormatInt(id, 10)+"/deletion/cancel", adminToken, "")
	expect(t, r, 200)
	if r.str("status") != "cancelled" || r.str("cancelled_by") != "alice" {
		t.Fatalf("%s", r.raw)
	}
	if got := e.deletions("cancelled"); len(got) != 1 || got[0].UserID != id {
		t.Fatalf("cancelled: %+v", got)
	}
	if got := e.deletions("pending"); len(got) != 0 {
		t.Fatalf("pending after cancel: %+v", got)
	}
	expect(t, e.loginPIN(phone, "4829"), 200)
	expect(t, other.do(http.MethodGet, "/api/v2/sessions", tokA, ""), 401) // sessions stay revoked

	expect(t, e.postFrom("198.51.100.22", "/api/v2/forgot_pin", js(map[string]string{"phone": phone})), 200)
	e.resetCode(phone)
	n := 0
	for _, m := range e.outbox(phone) {
		if m.Subject == "Reset your DOSS PIN" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d reset codes to the phone; the one asked in the grace period was sent", n)
	}
	eventually(t, "the audit entries", func() bool {
		s := steps()
		return slices.Contains(s, "requested") && slices.Contains(s, "cancelled")
	})
}

// The purge (grace 0) with the documents service down: the other parts go,
// the document objects wait; documents comes back and they go too. Then
// the email and phone register again as a new account.
func TestAccountPurgeErasesEveryPartAndSurvivesADeadService(t *testing.T) {
	e, bucket := startDocuments(t, map[string]string{"DOSS_ACCOUNT_DELETION_GRACE": "0"})
	store := e.s3(bucket)
	steps := e.steps()
	const phone, email = "+18681231603", "del-purge@example.com"
	oldUUID, token := e.register(email, phone, "4829")
	id := e.userID(token)
	expect(t, e.upload(token, "photo.jpg", imagextest.JPEG(16, 16, 0)), 200)
	expect(t, e.addDocument(token, "1", "id.jpg", imagextest.JPEG(40, 20, 6)), 201)
	r := e.do(http.MethodPost, "/api/v2/identity/pass", token, `{}`)
	expect(t, r, 200)
	pass := r.str("token")
	// Another user's objects must survive the purge.
	_, bystander := e.register("del-bystander@example.com", "+18681231604", "4829")
	expect(t, e.upload(bystander, "photo.jpg", imagextest.JPEG(16, 16, 0)), 200)

	list := func(prefix string) []string {
		keys, err := store.List(context.Background(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	mine := func() []string {
		p := strconv.FormatInt(id, 10) + "/"
		return append(list("profiles/"+p), list("documents/"+p)...)
	}
	if got := list("documents/" + strconv.FormatInt(id, 10) + "/"); len(got) != 1 {
		t.Fatalf("documents before the purge: %v", got)
	}
	if got := list("profiles/" + strconv.FormatInt(id, 10) + "/"); len(got) != 1 {
		t.Fatalf("photos before the purge: %v", got)
	}

	var documents *stack.Proc
	for _, p := range e.all.Procs {
		if p.Name == contract.ServiceDocuments {
			documents = p
		}
	}
	if err := documents.Stop(); err != nil {
		t.Fatal(err)
	}
	r = e.deleteAccount(token, "4829")
	expect(t, r, 202)

	eventually(t, "every part but documents erased", func() bool {
		d, ok := e.deletionOf(id)
		return ok && d.Status == contract.DeletionPurging && slices.Equal(d.Pending, []string{contract.ServiceDocuments})
	})
	if got := list("profiles/" + strconv.FormatInt(id, 10) + "/"); len(got) != 0 {
		t.Fatalf("the photo outlived profile's part: %v", got)
	}
	if got := list("documents/" + strconv.FormatInt(id, 10) + "/"); len(got) != 1 {
		t.Fatalf("the document went without the documents service: %v", got)
	}
	// The addresses are free already (auth's part is done).
	expect(t, e.loginPIN(phone, "4829"), 401)

	restarted, err := stack.Start(e.nc, contract.ServiceDocuments, e.getenv, e.logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = restarted.Stop() })
	eventually(t, "the purge to finish", func() bool {
		d, ok := e.deletionOf(id)
		return ok && d.Status == contract.DeletionPurged && len(d.Pending) == 0 && len(d.Parts) == 4 && d.PurgedAt != nil
	})
	if got := mine(); len(got) != 0 {
		t.Fatalf("objects left after the purge: %v", got)
	}
	if got := list("profiles/"); len(got) != 1 {
		t.Fatalf("the bystander's photo: %v", got)
	}
	if got := e.deletions("purged"); len(got) != 1 || got[0].UserID != id {
		t.Fatalf("purged: %+v", got)
	}
	v := e.post("/api/v2/identity/verify", js(map[string]string{"token": pass}))
	if v.body["valid"] != false || v.str("reason") != "revoked" {
		t.Fatalf("a pass of a purged account: %s", v.raw)
	}
	expect(t, e.do(http.MethodGet, "/api/v2/profile", token, ""), 401)

	newUUID, newToken := e.register(email, phone, "7392")
	if newUUID == oldUUID || e.userID(newToken) == id {
		t.Fatalf("the new account got the old ids: uuid %s, id %d", newUUID, id)
	}
	p := e.profile(newToken)
	if p.body["image"] != nil || p.str("first_name") != "" {
		t.Fatalf("the new account sees the old profile: %s", p.raw)
	}
	if docs, _ := e.listDocuments(newToken, ""); len(docs) != 0 {
		t.Fatalf("the new account sees the old documents: %v", docs)
	}
	eventually(t, "an audit entry per step", func() bool {
		s := steps()
		for _, step := range []string{"requested", "purge_started", "part_erased:" + contract.ServiceProfile, "part_erased:" + contract.ServiceNotifier, "purged"} {
			if !slices.Contains(s, step) {
				return false
			}
		}
		return true
	})
}

// The request names no account: a signed-in user deletes their own, with
// their own PIN, whatever the body says about another.
func TestAccountDeletionIsTheBearersOwn(t *testing.T) {
	e := start(t, map[string]string{"DOSS_ADMIN_TOKENS": "alice:" + adminToken})
	uuidA, tokA := e.register("del-a@example.com", "+18681231605", "4829")
	uuidB, tokB := e.register("del-b@example.com", "+18681231606", "7392")
	idA, idB := e.userID(tokA), e.userID(tokB)
	body := js(map[string]any{"pin": "7392", "user_id": idB, "uuid": uuidB, "id": idB})
	expect(t, e.do(http.MethodPost, "/api/v2/account/delete", tokA, body), 422) // B's PIN is not A's

	body = js(map[string]any{"pin": "4829", "user_id": idB, "uuid": uuidB, "id": idB})
	expect(t, e.do(http.MethodPost, "/api/v2/account/delete", tokA, body), 202)
	eventually(t, "A's deletion listed", func() bool { _, ok := e.deletionOf(idA); return ok })
	got := e.deletions("")
	if len(got) != 1 || got[0].UserID != idA || got[0].UUID != uuidA {
		t.Fatalf("deletions: %+v", got)
	}
	expect(t, e.do(http.MethodGet, "/api/v2/sessions", tokB, ""), 200)
	expect(t, e.loginPIN("+18681231606", "7392"), 200)
	expect(t, e.do(http.MethodPost, "/api/v2/account/delete", "", js(map[string]string{"pin": "7392"})), 401)
}

// Only auth may start an erasure or report a part: every other bus user's
// publish of the saga's events is refused by the server, so the victim's
// account is untouched while a real purge (which the same consumers serve
// in stream order) completes.
func TestOnlyAuthCanStartAnErasure(t *testing.T) {
	e := start(t, map[string]string{"DOSS_ADMIN_TOKENS": "alice:" + adminToken, "DOSS_ACCOUNT_DELETION_GRACE": "0"})
	victimUUID, victim := e.register("del-victim@example.com", "+18681231607", "4829")
	victimID := e.userID(victim)
	due, err := events.New(context.Background(), contract.EventAccountDeletionDue, contract.AccountDeletionDue{UserID: victimID, UUID: victimUUID})
	if err != nil {
		t.Fatal(err)
	}
	forged := map[string]contract.Event{contract.EventAccountDeletionDue: due}
	for _, svc := range []string{contract.ServiceProfile, contract.ServiceDocuments, contract.ServiceNotifier} {
		ev, _ := events.New(context.Background(), contract.ErasedEvent(svc), contract.AccountPartErased{UserID: victimID, UUID: victimUUID, Service: svc})
		forged[ev.Type] = ev
	}
	for _, user := range []string{contract.BusGateway, contract.ServiceProfile, contract.ServiceDocuments, contract.ServiceNotifier} {
		nc := e.busAs(user)
		jsc, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		for typ, ev := range forged {
			if user == typ[:strings.Index(typ, ".")] {
				continue // a service's own report, which it may publish
			}
			t.Run(user+" publishes "+typ, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				defer cancel()
				raw, _ := json.Marshal(ev)
				if _, err := jsc.Publish(ctx, contract.EventSubject(typ), raw); err == nil {
					t.Fatal("the stream stored it")
				}
			})
		}
	}
	// Each may publish its own report, with any type in its body: one
	// typed as auth's erase order is dead-lettered unread (once, the
	// notifier's credentials alone erased any account this way).
	reporters := []string{contract.ServiceProfile, contract.ServiceDocuments, contract.ServiceNotifier}
	for _, user := range reporters {
		jsc, err := jetstream.New(e.busAs(user))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		raw, _ := json.Marshal(due)
		_, err = jsc.Publish(ctx, contract.EventSubject(contract.ErasedEvent(user)), raw)
		cancel()
		if err != nil {
			t.Fatalf("%s publishing on its own report's subject: %v", user, err)
		}
	}
	// A real deletion after the forgeries: once it is purged, the
	// consumers have seen everything before it.
	_, tok := e.register("del-real@example.com", "+18681231608", "4829")
	realID := e.userID(tok)
	expect(t, e.deleteAccount(tok, "4829"), 202)
	eventually(t, "the real purge", func() bool {
		d, ok := e.deletionOf(realID)
		return ok && d.Status == contract.DeletionPurged
	})
	if _, ok := e.deletionOf(victimID); ok {
		t.Fatal("the victim has a deletion")
	}
	expect(t, e.do(http.MethodGet, "/api/v2/profile", victim, ""), 200)
	expect(t, e.loginPIN("+18681231607", "4829"), 200)
	jsc, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := jsc.Stream(context.Background(), contract.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(contract.EventSubject(contract.EventAccountDeletionDue)))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[contract.EventSubject(contract.EventAccountDeletionDue)]; n != 1 {
		t.Fatalf("%d erase events in the stream, want the real one", n)
	}
	dl, err := jsc.Stream(context.Background(), contract.StreamDeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range reporters {
		m, err := dl.GetLastMsgForSubject(context.Background(), contract.DeadLetterPrefix+contract.DurableAuthDeletions+"."+contract.EventSubject(contract.ErasedEvent(user)))
		if err != nil {
			t.Fatalf("%s's forged erase order is not in the dead letters: %v", user, err)
		}
		if why := m.Header.Get("Doss-Dead-Letter-Reason"); !strings.Contains(why, events.ErrTypeNotSubject.Error()) {
			t.Fatalf("%s's forgery dead-lettered because %q", user, why)
		}
	}
}
