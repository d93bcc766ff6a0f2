package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
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
