package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/imagex/imagextest"
)

// remainingScans are the request-path filters on something other than
// _id that the store still sees, each a scan of its collection on
// FerretDB v1 and so a cost that grows with the data. The list may only
// shrink, and is empty: a new scan on any request path fails the test
// below. (The last one, the review queue's numeric _id, which FerretDB v1
// does not answer from its index, is now a string key.)
var remainingScans = map[string]string{}

// backgroundPasses are the filters of the services' own loops, which run
// on their clocks and may land inside any step; "*" stands for any
// collection, "*_outbox" for any collection's outbox. Their cost is the
// idle-CPU row's business, not this test's.
var backgroundPasses = map[string]string{
	// The relay's recovery pass and the version sweep read small
	// collections of their own (<collection>_outbox, _superseded), which
	// hold only the work to do, whatever the size of the data.
	// Named by their suffix, so that an empty filter on the data itself
	// is still caught.
	"find *_outbox {}":     "the relay's outbox (mongox.Relay.Pass)",
	"find *_superseded {}": "the sweep's queue (mongox.SweepSuperseded)",
	// Once per collection, at the first start with an outbox: the records
	// and superseded versions written before it.
	"find * {published}":    "the relay's legacy pass (mongox.Relay.legacyPass), once",
	"find * {key, version}": "the same pass queueing superseded versions, once",
	// auth's retry of revocations not yet broadcast reads their markers,
	// and its deletion loop the deletions in flight: both hold only the
	// work to do.
	"find auth_session_revocations_pending {}": "revocations whose first broadcast failed (auth, every 2 s)",
	"find auth_deletions_due {}":               "deletions in flight (auth, every 5 s)",
}

func isBackground(f embedded.Filter) bool {
	for _, c := range []string{f.Collection, "*", "*_outbox", "*_superseded"} {
		if c != f.Collection && c != "*" && !strings.HasSuffix(f.Collection, c[1:]) {
			continue
		}
		g := embedded.Filter{Command: f.Command, Collection: c, Fields: f.Fields}
		if backgroundPasses[g.String()] != "" {
			return true
		}
	}
	return false
}

// Every request path of the app's flows is answered from the stores by
// {_id: <string>} lookups alone (FerretDB v1's one indexed shape): the
// watch in front of the store sees every filter any service sends,
// whatever code path.
func TestRequestPathsFilterOnlyByID(t *testing.T) {
	e, w := startWatched(t)
	var scans []string
	step := func(name string, do func()) {
		t.Helper()
		w.Reset()
		do()
		for _, f := range w.Filters() {
			if !f.Lookup() && remainingScans[f.String()] == "" && !isBackground(f) {
				scans = append(scans, fmt.Sprintf("%s: %s", name, f))
			}
		}
	}
	const phone, pin = "+18681230071", "4829"
	var token string
	step("register", func() { _, token = e.register("filters@example.com", phone, pin) })
	step("new-login", func() {
		r := e.loginPIN(phone, pin)
		expect(t, r, 200)
	})
	step("profile", func() { expect(t, e.do(http.MethodGet, "/api/v2/profile", token, ""), 200) })
	step("update_name", func() {
		expect(t, e.do(http.MethodPost, "/api/v2/update_name", token, `{"first_name":"Ada","last_name":"Lovelace"}`), 200)
	})
	step("update_email", func() {
		expect(t, e.do(http.MethodPost, "/api/v2/update_email", token, `{"last_email":"filters@example.com","new_email":"ada.filters@example.com"}`), 200)
	})
	step("profile after changes", func() { expect(t, e.do(http.MethodGet, "/api/v2/profile", token, ""), 200) })
	step("document_types", func() { expect(t, e.do(http.MethodGet, "/api/v2/document_types", token, ""), 200) })
	var docID string
	step("add document", func() {
		r := e.addDocument(token, "1", "id.jpg", imagextest.JPEG(40, 20, 6))
		expect(t, r, 201)
		docID = fmt.Sprint(r.body["id"])
	})
	step("list documents", func() { e.listDocuments(token, "") })
	step("get document", func() { expect(t, e.do(http.MethodGet, "/api/v2/my/documents/"+docID, token, ""), 200) })
	step("account", func() { expect(t, e.account(token), 200) })
	step("sessions", func() { expect(t, e.do(http.MethodGet, "/api/v2/sessions", token, ""), 200) })
	step("identity pass", func() { e.verifyPass(e.issuePass(token, map[string]any{})) })
	step("verifications", func() { expect(t, e.do(http.MethodGet, "/api/v2/identity/verifications", token, ""), 200) })
	step("delete document", func() { expect(t, e.do(http.MethodDelete, "/api/v2/my/documents/"+docID, token, ""), 204) })
	step("a wrong PIN", func() {
		if r := e.loginPIN(phone, "1111"); r.status < 400 || r.status >= 500 {
			t.Fatalf("a wrong PIN: %d %s", r.status, r.raw)
		}
	})
	step("logout", func() { expect(t, e.do(http.MethodPost, "/api/v2/logout", token, ""), 204) })

	if len(scans) > 0 {
		sort.Strings(scans)
		t.Fatalf("request paths filtered on something other than _id (a full scan on FerretDB v1):\n%s", strings.Join(scans, "\n"))
	}
}
