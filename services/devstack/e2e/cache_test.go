package e2e

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/imagex/imagextest"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/services/devstack/stack"
)

func (e *env) proc(name string) *stack.Proc {
	for _, p := range e.all.Procs {
		if p.Name == name {
			return p
		}
	}
	e.t.Fatalf("no %s running", name)
	return nil
}

func TestProfileCacheAcrossGateways(t *testing.T) {
	e := start(t, nil)
	other := e.secondGateway()
	_, token := e.register("cache@example.com", "+18681230050", "4829")
	// Both replicas cache the profile.
	expect(t, e.do(http.MethodGet, "/api/v2/profile", token, ""), 200)
	expect(t, other.do(http.MethodGet, "/api/v2/profile", token, ""), 200)

	expect(t, e.do(http.MethodPost, "/api/v2/update_name", token, `{"first_name":"Ada","last_name":"Lovelace"}`), 200)
	// Read-your-writes on the replica that took the write.
	if r := e.do(http.MethodGet, "/api/v2/profile", token, ""); r.str("first_name") != "Ada" {
		t.Fatalf("own replica after write: %s", r.raw)
	}
	// The other replica drops its copy within a second.
	deadline := time.Now().Add(time.Second)
	for other.do(http.MethodGet, "/api/v2/profile", token, "").str("first_name") != "Ada" {
		if time.Now().After(deadline) {
			t.Fatal("second gateway still serves the old profile after 1s")
		}
	}
}

func TestProfileServedFromCacheWhenServiceIsDown(t *testing.T) {
	e := start(t, nil)
	_, cachedTok := e.register("warm@example.com", "+18681230051", "4829")
	_, coldTok := e.register("cold@example.com", "+18681230052", "4829")
	warm := e.do(http.MethodGet, "/api/v2/profile", cachedTok, "")
	expect(t, warm, 200)
	if err := e.proc(contract.ServiceProfile).Stop(); err != nil {
		t.Fatal(err)
	}
	// A hit needs neither NATS for the token nor the profile service.
	hit := e.do(http.MethodGet, "/api/v2/profile", cachedTok, "")
	expect(t, hit, 200)
	if hit.raw != warm.raw {
		t.Fatalf("cached answer differs:\n%s\n%s", hit.raw, warm.raw)
	}
	miss := e.do(http.MethodGet, "/api/v2/profile", coldTok, "")
	expect(t, miss, 503)
	if miss.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

// A cached profile is its owner's alone: it is keyed by the verified
// token's user, so with the profile service down and both profiles
// cached, each token still gets its own, and a token logged out since
// gets a 401, not the copy its user left behind.
func TestCachedProfileIsServedOnlyToItsOwner(t *testing.T) {
	e := start(t, nil)
	_, ada := e.register("ada.cache@example.com", "+18681230061", "4829")
	_, bob := e.register("bob.cache@example.com", "+18681230062", "4829")
	_, gone := e.register("gone.cache@example.com", "+18681230063", "4829")
	owners := map[string]string{ada: "ada.cache@example.com", bob: "bob.cache@example.com", gone: "gone.cache@example.com"}
	for tok := range owners {
		expect(t, e.do(http.MethodGet, "/api/v2/profile", tok, ""), 200)
	}
	expect(t, e.do(http.MethodPost, "/api/v2/logout", gone, ""), 204)
	if err := e.proc(contract.ServiceProfile).Stop(); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{ada, bob, ada} {
		r := e.do(http.MethodGet, "/api/v2/profile", tok, "")
		expect(t, r, 200)
		if got := r.str("email"); got != owners[tok] {
			t.Fatalf("a cached profile of %s served to %s's token", got, owners[tok])
		}
	}
	expect(t, e.do(http.MethodGet, "/api/v2/profile", gone, ""), 401)
}

// A replica that lost its NATS connection may have missed invalidations,
// so it drops its whole cache when it reconnects. The change here is made
// behind every service's back (a new profile version and its head written
// straight to the store, announcing nothing), so only the reconnect flush can reveal it.
func TestProfileCacheDroppedOnNATSReconnect(t *testing.T) {
	e := start(t, nil)
	_, token := e.register("reconnect@example.com", "+18681230053", "4829")
	r := e.do(http.MethodGet, "/api/v2/profile", token, "")
	expect(t, r, 200)
	userID := int64(r.body["id"].(float64))

	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI(e.getenv("DOSS_MONGO_URI")))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(ctx) }()
	profiles := client.Database(e.getenv("DOSS_MONGO_DB")).Collection("profile_profiles")
	key := strconv.FormatInt(userID, 10)
	var newest bson.M
	if err := profiles.FindOne(ctx, bson.M{"key": key}, options.FindOne().SetSort(bson.D{{Key: "version", Value: -1}})).Decode(&newest); err != nil {
		t.Fatal(err)
	}
	next := newest["version"].(int64) + 1
	newest["_id"], newest["version"], newest["events"], newest["published"] = fmt.Sprintf("%s@%d", key, next), next, bson.A{}, true
	state := newest["state"].(bson.D)
	for i := range state {
		if state[i].Key == "first_name" {
			state[i].Value = "Unannounced"
		}
	}
	if _, err := profiles.InsertOne(ctx, newest); err != nil {
		t.Fatal(err)
	}
	// And its head moved on, as every writer does: a read is the head alone.
	if _, err := profiles.UpdateOne(ctx, bson.M{"_id": key + "@head"}, bson.M{"$set": bson.M{"version": next, "head_state": state}}); err != nil {
		t.Fatal(err)
	}
	if got := e.do(http.MethodGet, "/api/v2/profile", token, "").str("first_name"); got == "Unannounced" {
		t.Fatal("the gateway did not answer from its cache; this test proves nothing")
	}

	if err := e.ks.NATS.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reconnected gateway to drop its cache", func() bool {
		return e.do(http.MethodGet, "/api/v2/profile", token, "").str("first_name") == "Unannounced"
	})
}

// With two profile replicas behind two gateways, a client reads its own
// write on its very next request every time, and the other gateway within
// a second: the gateways cache, the profile replicas read the store.
func TestReadYourWritesAcrossProfileReplicas(t *testing.T) {
	e := start(t, nil)
	other := e.secondGateway()
	p, err := stack.Start(e.nc, contract.ServiceProfile, e.getenv, e.logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	_, token := e.register("replicas@example.com", "+18681230054", "4829")
	for i := range 12 {
		name := fmt.Sprintf("Name%d", i)
		// Both replicas and both gateways hold the old profile.
		for range 3 {
			expect(t, e.do(http.MethodGet, "/api/v2/profile", token, ""), 200)
			expect(t, other.do(http.MethodGet, "/api/v2/profile", token, ""), 200)
		}
		expect(t, e.do(http.MethodPost, "/api/v2/update_name", token, js(map[string]string{"first_name": name, "last_name": "R"})), 200)
		if got := e.do(http.MethodGet, "/api/v2/profile", token, "").str("first_name"); got != name {
			t.Fatalf("round %d: own gateway read %q right after writing %q", i, got, name)
		}
		deadline := time.Now().Add(time.Second)
		for other.do(http.MethodGet, "/api/v2/profile", token, "").str("first_name") != name {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the other gateway still serves the old name after 1s", i)
			}
		}
	}
}

// replyTap reads every reply the gateways' calls get (the test's
// connection may read any subject) and keeps the users they name as
// changed (contract.HeaderProfileChanged, HeaderDocumentsChanged) and the
// max-ages they give.
type replyTap struct {
	mu      sync.Mutex
	named   map[int64]bool
	docs    map[int64]bool
	maxAges []string
}

func (e *env) tapGatewayReplies() *replyTap {
	e.t.Helper()
	r := &replyTap{named: map[int64]bool{}, docs: map[int64]bool{}}
	sub, err := e.nc.Subscribe(contract.InboxPrefix(contract.BusGateway)+".>", func(m *nats.Msg) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, uid := range natsx.ChangedProfiles(m.Header) {
			r.named[uid] = true
		}
		for _, uid := range natsx.ChangedUsers(m.Header, contract.HeaderDocumentsChanged) {
			r.docs[uid] = true
		}
		if v := m.Header.Get(contract.HeaderCacheMaxAge); v != "" {
			r.maxAges = append(r.maxAges, v)
		}
	})
	if err == nil {
		err = e.nc.Flush()
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = sub.Unsubscribe() })
	return r
}

func (r *replyTap) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.named, r.docs, r.maxAges = map[int64]bool{}, map[int64]bool{}, nil
}

func (r *replyTap) namesDocuments(uid int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.docs[uid]
}

func (r *replyTap) names(uid int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.named[uid]
}

func (r *replyTap) lastMaxAge() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.maxAges) == 0 {
		return ""
	}
	return r.maxAges[len(r.maxAges)-1]
}

// Every route that changes what GET /v2/profile shows is answered by a
// service command whose reply names the user, so the gateway drops its
// copy before it answers; the profile.updated event that every replica
// hears races that reply, so the tap, not the next read, is what proves
// it. The routes are those the gateway once listed itself, failures after
// a write included; the next read shows each change.
func TestProfileChangingRepliesNameTheUser(t *testing.T) {
	e, _ := startDocuments(t, noSendGap)
	twoFAReady(t, e)
	const phone, newPhone, accountPhone = "+18681230055", "+18681230056", "+18681230057"
	_, token := e.register("changes@example.com", phone, "4829")
	uid := e.userID(token)
	tap := e.tapGatewayReplies()
	account := map[string]any{"firstname": "John", "lastname": "Doe", "gender": "male", "birthdate": "0000-00-00", "telephone": newPhone}
	var doc document
	var otp resp
	for _, s := range []struct {
		name  string
		act   func() // the route, its status checked
		shows func(p resp) bool
	}{
		{"update_name", func() {
			expect(t, e.do(http.MethodPost, "/api/v2/update_name", token, `{"first_name":"Ada","last_name":"Lovelace"}`), 200)
		}, func(p resp) bool { return p.str("first_name") == "Ada" }},
		{"update_email", func() {
			expect(t, e.do(http.MethodPost, "/api/v2/update_email", token, `{"last_email":"changes@example.com","new_email":"moved@example.com"}`), 200)
		}, func(p resp) bool { return p.str("email") == "moved@example.com" && p.body["email_verify_at"] == nil }},
		{"verify_contact (email)", func() {
			expect(t, e.verifyContact(token, "email", e.changeCode("moved@example.com")), 200)
		}, func(p resp) bool { return p.str("email") == "moved@example.com" && p.body["email_verify_at"] != nil }},
		{"update_phone", func() {
			expect(t, e.do(http.MethodPost, "/api/v2/update_phone", token, js(map[string]string{"old_phone": phone, "new_phone": newPhone})), 200)
		}, func(p resp) bool { return p.str("phone") == newPhone && p.body["phone_verify_at"] == nil }},
		{"verify_contact (phone)", func() {
			expect(t, e.verifyContact(token, "phone", e.changeCode(newPhone)), 200)
		}, func(p resp) bool { return p.str("phone") == newPhone && p.body["phone_verify_at"] != nil }},
		{"update_email to an address another account then registers", func() {
			expect(t, e.do(http.MethodPost, "/api/v2/update_email", token, `{"last_email":"moved@example.com","new_email":"taken@example.com"}`), 200)
		}, func(p resp) bool { return p.str("email") == "taken@example.com" }},
		{"verify_contact refused after the profile dropped the change", func() {
			code := e.changeCode("taken@example.com")
			e.register("taken@example.com", "+18681230058", "5820")
			fieldErr(t, e.verifyContact(token, "email", code), 422, "email")
		}, func(p resp) bool { return p.str("email") == "moved@example.com" }},
		{"update_image", func() {
			expect(t, e.upload(token, "photo.jpg", imagextest.JPEG(16, 16, 0)), 200)
		}, func(p resp) bool { return p.str("image") != "" }},
		{"POST my/documents", func() {
			r := e.addDocument(token, "1", "id.jpg", imagextest.JPEG(40, 20, 0))
			expect(t, r, http.StatusCreated)
			doc = decodeDoc(t, r)
		}, func(p resp) bool { return p.str("id_proof_front") != "" && p.str("identity_status") == "pending" }},
		{"DELETE my/documents", func() {
			expect(t, e.do(http.MethodDelete, fmt.Sprintf("/api/v2/my/documents/%d", doc.ID), token, ""), http.StatusNoContent)
		}, func(p resp) bool { return p.body["id_proof_front"] == nil && p.str("identity_status") == "unverified" }},
		{"user/profile", func() {
			account["telephone"] = newPhone
			expect(t, e.do(http.MethodPost, "/api/user/profile", token, js(account)), 200)
		}, func(p resp) bool { return p.str("first_name") == "John" }},
		{"user/profile/2fa (the names saved, 2FA waits for its code)", func() {
			account["firstname"], account["is_two_fa"] = "Ann", true
			otp = e.do(http.MethodPost, "/api/user/profile/2fa", token, js(account))
			expect(t, otp, 200)
			want(t, otp, map[string]string{"is_otp_sent": "true"})
		}, func(p resp) bool { return p.str("first_name") == "Ann" }},
		{"user/profile/verify-otp (a new telephone)", func() {
			expect(t, e.do(http.MethodPost, "/api/user/profile/verify-otp", token, js(map[string]string{"telephone": newPhone, "otp": e.otp(otp, newPhone)})), 200)
			delete(account, "is_two_fa")
			account["telephone"] = accountPhone
			r := e.do(http.MethodPost, "/api/user/profile", token, js(account))
			expect(t, r, 200)
			want(t, r, map[string]string{"is_otp_sent": "true"})
			tap.reset() // the change waits for its code: this is the route under test
			r = e.do(http.MethodPost, "/api/user/profile/verify-otp", token, js(map[string]string{"telephone": accountPhone, "otp": e.otp(r, accountPhone)}))
			expect(t, r, 200)
			if fresh := r.str("access_token"); fresh != "" {
				token = fresh
			}
		}, func(p resp) bool { return p.str("phone") == accountPhone }},
	} {
		expect(t, e.do(http.MethodGet, "/api/v2/profile", token, ""), 200) // cached before the change
		tap.reset()
		s.act()
		eventually(t, s.name+"'s reply to name the user", func() bool { return tap.names(uid) })
		if p := e.profile(token); !s.shows(p) {
			t.Fatalf("%s: the next read does not show it: %s", s.name, p.raw)
		}
	}
}

// The gateway knows no route that changes a profile: a reply that names a
// user drops that user's copy whatever route it answers, here one that
// has nothing to do with profiles (a stand-in for tomorrow's route), and
// one that names no one drops nothing.
func TestAnyReplyNamingAUserDropsTheirCachedProfile(t *testing.T) {
	e := start(t, nil)
	_, token := e.register("anyroute@example.com", "+18681230059", "4829")
	uid := e.userID(token) // and the profile is cached
	for _, name := range []string{contract.ServiceProfile, contract.ServiceDocuments} {
		if err := e.proc(name).Stop(); err != nil {
			t.Fatal(err)
		}
	}
	var mark atomic.Bool
	nc, err := nats.Connect(e.ks.NATS.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	key := e.ks.NATS.Credentials.AssertionKey() // the stand-in believes the gateway's assertions
	natsx.UseKeys(nc, natsx.Keys{Issuer: "e2e", Verify: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
	ms, err := natsx.NewService(nc, zap.NewNop(), natsx.ServiceConfig{Name: contract.ServiceDocuments, Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Stop() })
	err = natsx.Handle(ms, contract.DocumentsTypes, func(ctx context.Context, _ struct{}) ([]contract.DocumentType, error) {
		if mark.Load() {
			natsx.ProfileChanged(ctx, uid)
		}
		return contract.DocumentTypes, nil
	})
	if err == nil {
		err = natsx.AddHealth(ms, contract.ServiceDocuments, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stand-in to register", func() bool { return natsx.Registered(e.nc, contract.ServiceDocuments, 100*time.Millisecond) > 0 })

	expect(t, e.do(http.MethodGet, "/api/v2/document_types", token, ""), 200)
	// With the profile service down, only the cache answers.
	expect(t, e.do(http.MethodGet, "/api/v2/profile", token, ""), 200)
	mark.Store(true)
	expect(t, e.do(http.MethodGet, "/api/v2/document_types", token, ""), 200)
	expect(t, e.do(http.MethodGet, "/api/v2/profile", token, ""), 503)
}

// A cached profile lives as long as the profile service says: here the
// document links last 2m5s, so 5 s once the 2 min margin is taken, far
// below the gateway's own 10 min.
func TestProfileCacheLivesForTheServiceMaxAge(t *testing.T) {
	e := start(t, map[string]string{"DOSS_DOCUMENT_LINK_TTL": "2m5s"})
	_, token := e.register("maxage@example.com", "+18681230060", "4829")
	tap := e.tapGatewayReplies()
	fetched := time.Now()
	expect(t, e.do(http.MethodGet, "/api/v2/profile", token, ""), 200)
	eventually(t, "the profile's reply to say its max-age", func() bool { return tap.lastMaxAge() != "" })
	if got := tap.lastMaxAge(); got != "5" {
		t.Fatalf("max-age %q, want 5", got)
	}
	if err := e.proc(contract.ServiceProfile).Stop(); err != nil {
		t.Fatal(err)
	}
	if r := e.do(http.MethodGet, "/api/v2/profile", token, ""); r.status != 200 && time.Since(fetched) < 4*time.Second {
		t.Fatalf("not served from the cache within its max-age: %d", r.status)
	}
	eventually(t, "the cached profile to expire", func() bool { return e.do(http.MethodGet, "/api/v2/profile", token, "").status == 503 })
	if lived := time.Since(fetched); lived < 4*time.Second {
		t.Fatalf("the cached profile went after %v, before its max-age", lived)
	}
}

// The documents list's first page is kept per gateway like the profile:
// the replica that took a change drops it before it answers, a change on
// another replica reaches this one by the event, another user never gets
// it, and a page asked with limit or offset is never served from it.
func TestDocumentsListCacheAcrossGateways(t *testing.T) {
	e, _ := startDocuments(t, nil)
	other := e.secondGateway()
	_, token := e.register("doc-cache@example.com", "+18681230060", "4829")
	_, stranger := e.register("doc-cache-2@example.com", "+18681230061", "4829")
	uid := e.userID(token)
	tap := e.tapGatewayReplies()
	for _, g := range []*env{e, other} {
		if docs, _ := g.listDocuments(token, ""); len(docs) != 0 {
			t.Fatalf("a new account lists %d documents", len(docs))
		}
	}
	// Half the links' guaranteed half life: 15 min / 4.
	eventually(t, "the list's reply to say its max-age", func() bool { return tap.lastMaxAge() == "225" })
	// Each change below is said in its reply to the gateway that asked,
	// which drops the page before it answers, whatever the events do.
	changed := func(what string) {
		t.Helper()
		eventually(t, what+" to name the owner's documents in its reply", func() bool { return tap.namesDocuments(uid) })
		tap.reset()
	}
	lists := func(g *env, want string) bool {
		docs, r := g.listDocuments(token, "")
		if want == "" {
			return len(docs) == 0 && r.header.Get("X-Total-Count") == "0"
		}
		return len(docs) == 1 && docs[0].Status == want && r.header.Get("X-Total-Count") == "1"
	}

	// Read-your-writes where the upload went; the other replica learns it
	// from documents.added.
	r := e.addDocument(token, "1", "id.jpg", imagextest.JPEG(40, 20, 6))
	expect(t, r, http.StatusCreated)
	doc := decodeDoc(t, r)
	changed("the upload")
	if !lists(e, contract.DocumentPending) {
		t.Fatal("the gateway that took the upload does not list it")
	}
	eventually(t, "the second gateway to list the upload", func() bool { return lists(other, contract.DocumentPending) })
	if docs, _ := e.listDocuments(stranger, ""); len(docs) != 0 {
		t.Fatalf("another user is served %d documents", len(docs))
	}

	// An admin's review, through the first gateway.
	expect(t, e.do(http.MethodPost, fmt.Sprintf("/admin/v1/documents/%d/approve", doc.ID), adminToken, ""), http.StatusOK)
	changed("the review")
	if !lists(e, contract.DocumentApproved) {
		t.Fatal("the gateway that took the review still lists the document as pending")
	}
	eventually(t, "the second gateway to list the review", func() bool { return lists(other, contract.DocumentApproved) })

	// A deletion on the second replica.
	expect(t, other.do(http.MethodDelete, fmt.Sprintf("/api/v2/my/documents/%d", doc.ID), token, ""), http.StatusNoContent)
	changed("the deletion")
	if !lists(other, "") {
		t.Fatal("the gateway that took the deletion still lists the document")
	}
	eventually(t, "the first gateway to drop the deleted document", func() bool { return lists(e, "") })

	// With the service down the warm first page is still served, and a
	// paged read, which never comes from the cache, is a 503.
	if err := e.proc(contract.ServiceDocuments).Stop(); err != nil {
		t.Fatal(err)
	}
	if !lists(e, "") {
		t.Fatal("the warm first page was not served from the cache")
	}
	for _, q := range []string{"?limit=20", "?offset=0"} {
		_, r := e.listDocuments(token, q)
		expect(t, r, http.StatusServiceUnavailable)
	}
	// A token logged out since gets a 401, not the page its user left.
	expect(t, e.do(http.MethodPost, "/api/v2/logout", token, ""), http.StatusNoContent)
	_, r = e.listDocuments(token, "")
	expect(t, r, http.StatusUnauthorized)
}
