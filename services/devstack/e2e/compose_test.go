package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/imagex/imagextest"
	"github.com/dossapp/backend/pkg/natsx"
)

// The compose tests run the app's flows against a real `docker compose`
// stack (make compose-test, deploy/compose/test.sh), not an in-process one:
// they skip unless DOSS_COMPOSE_BASE names the gateway's published address.
// The stack must run with DOSS_ADMIN_TOKENS=alice:<adminToken>.
func composeEnv(t *testing.T) *env {
	base := os.Getenv("DOSS_COMPOSE_BASE")
	if base == "" {
		t.Skip("DOSS_COMPOSE_BASE unset: run by make compose-test against the docker compose stack")
	}
	return &env{t: t, base: base}
}

func uniqueSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// uniquePhone is a fresh number per run, as the stack's volumes may
// outlive one run when a test fails before `down -v`.
func uniquePhone() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("+1868%07d", (int(b[0])<<16|int(b[1])<<8|int(b[2]))%10000000)
}

// TestComposeFlows: registration, login, profile, photo, documents, review
// and the account view, through the gateway container; the presigned links
// are fetched from the host, as a phone would.
func TestComposeFlows(t *testing.T) {
	e := composeEnv(t)
	email, phone := "compose-"+uniqueSuffix()+"@example.com", uniquePhone()
	_, token := e.register(email, phone, "4829")

	r := e.login(phone, "4829")
	expect(t, r, http.StatusOK)
	if r.str("response", "token") == "" {
		t.Fatalf("login: %s", r.raw)
	}
	expect(t, e.do(http.MethodPost, "/api/v2/update_name", token, js(map[string]string{"first_name": "Ada", "last_name": "Lovelace"})), http.StatusOK)
	if p := e.profile(token); p.str("email") != email {
		t.Fatalf("profile: %s", p.raw)
	}

	r = e.upload(token, "photo.jpg", imagextest.JPEG(16, 16, 0))
	expect(t, r, http.StatusOK)
	if _, ct, status := fetch(t, r.str("image")); status != http.StatusOK || ct != "image/jpeg" {
		t.Fatalf("photo link from the host: %d %s (%s)", status, ct, r.str("image"))
	}

	r = e.addDocument(token, "1", "id.jpg", imagextest.JPEG(40, 20, 6))
	expect(t, r, http.StatusCreated)
	doc := decodeDoc(t, r)
	if _, _, status := fetch(t, doc.File); status != http.StatusOK {
		t.Fatalf("document link from the host: %d (%s)", status, doc.File)
	}
	r = e.do(http.MethodPost, fmt.Sprintf("/admin/v1/documents/%d/approve", doc.ID), adminToken, "")
	expect(t, r, http.StatusOK)
	if r.str("status") != "approved" {
		t.Fatalf("review: %s", r.raw)
	}
	if a := e.account(token); a.str("email") != email {
		t.Fatalf("account view: %s", a.raw)
	}
}

// TestComposeReplicasServe: after `--scale profile=3 --scale auth=2`,
// account views (gateway → profile → auth) reach every replica, as the
// services' own micro statistics say ($SRV.STATS, what `nats micro stats`
// shows), asked as the ops bus user: every replica answers with its
// requests per endpoint, and each must have served some of these.
func TestComposeReplicasServe(t *testing.T) {
	e := composeEnv(t)
	url, seed := os.Getenv("DOSS_COMPOSE_NATS_URL"), os.Getenv("DOSS_COMPOSE_OPS_SEED")
	if url == "" || seed == "" {
		t.Fatal("DOSS_COMPOSE_NATS_URL and DOSS_COMPOSE_OPS_SEED unset (deploy/compose/test.sh sets them)")
	}
	nc, _, err := natsx.Dial(config.Bus{URL: url, Seed: seed}, contract.BusOps, nil)
	if err != nil {
		t.Fatalf("the ops bus user: %v", err)
	}
	defer nc.Close()
	want := map[string]int{"profile": 3, "auth": 2} // deploy/compose/test.sh's --scale
	_, token := e.register("replicas-"+uniqueSuffix()+"@example.com", uniquePhone(), "4829")
	before := map[string]map[string]int{}
	for name, n := range want {
		before[name] = microStats(t, nc, name, n)
	}
	for range 60 {
		e.account(token)
	}
	for name, n := range want {
		after := microStats(t, nc, name, n)
		served := 0
		for id, count := range after {
			t.Logf("%s replica %s: %d requests (nats micro stats)", name, id, count-before[name][id])
			if count-before[name][id] > 0 {
				served++
			}
		}
		if len(after) != n || served != n {
			t.Errorf("%s: %d replicas answered $SRV.STATS, %d served requests, want %d each", name, len(after), served, n)
		}
	}
	// The ops user can read statistics and nothing else.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := natsx.CallRaw(ctx, nc, contract.AuthAccountGet, []byte(`{"user_id":1}`)); err == nil {
		t.Error("the ops bus user called auth.v1.account-get; it may only ask $SRV")
	}
}

// microStats asks every replica of service for its statistics and returns
// each replica's requests over all its endpoints, by instance id; it waits
// for n answers (or 5 s).
func microStats(t *testing.T, nc *nats.Conn, service string, n int) map[string]int {
	t.Helper()
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest("$SRV.STATS."+service, inbox, nil); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	deadline := time.Now().Add(5 * time.Second)
	for len(out) < n {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break // fewer replicas answered; the caller says how many
		}
		var st micro.Stats
		if err := json.Unmarshal(m.Data, &st); err != nil {
			t.Fatalf("$SRV.STATS.%s: %v: %s", service, err, m.Data)
		}
		total := 0
		for _, ep := range st.Endpoints {
			total += ep.NumRequests
		}
		out[st.ID] = total
	}
	return out
}

// natsMonitors are the NATS nodes' monitoring addresses, published on
// 127.0.0.1 by docker-compose.yml (DOSS_COMPOSE_NATS_MONITORS, comma-separated, overrides).
func natsMonitors() []string {
	if v := os.Getenv("DOSS_COMPOSE_NATS_MONITORS"); v != "" {
		return strings.Split(v, ",")
	}
	return []string{"http://127.0.0.1:8222", "http://127.0.0.1:8223", "http://127.0.0.1:8224"}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}
