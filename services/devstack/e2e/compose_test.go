package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/dossapp/backend/pkg/imagex/imagextest"
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
// account views (gateway → profile → auth) reach every replica. NATS's
// monitoring port (published on 127.0.0.1) counts, per connection, the
// messages delivered; each replica's "<service> requests" connection is its
// micro service's.
func TestComposeReplicasServe(t *testing.T) {
	e := composeEnv(t)
	want := map[string]int{"profile": 3, "auth": 2} // deploy/compose/test.sh's --scale
	_, token := e.register("replicas-"+uniqueSuffix()+"@example.com", uniquePhone(), "4829")
	before := requestsDelivered(t)
	for range 60 {
		e.account(token)
	}
	after := requestsDelivered(t)
	for name, n := range want {
		served := 0
		for conn, count := range after[name] {
			delta := count - before[name][conn]
			t.Logf("%s replica %s: %d requests", name, conn, delta)
			if delta > 0 {
				served++
			}
		}
		if len(after[name]) != n || served != n {
			t.Errorf("%s: %d replicas connected, %d served requests, want %d each", name, len(after[name]), served, n)
		}
	}
}

// requestsDelivered is, per service, each replica's (by address) count of
// requests delivered to its micro service connection, over every NATS
// node's monitoring port (a replica is connected to any one of them).
func requestsDelivered(t *testing.T) map[string]map[string]int64 {
	t.Helper()
	out := map[string]map[string]int64{}
	for _, mon := range natsMonitors() {
		var connz struct {
			Connections []struct {
				Name    string `json:"name"`
				IP      string `json:"ip"`
				OutMsgs int64  `json:"out_msgs"`
			} `json:"connections"`
		}
		getJSON(t, mon+"/connz?limit=1024", &connz)
		for _, c := range connz.Connections {
			svc, ok := strings.CutSuffix(c.Name, " requests")
			if !ok {
				continue
			}
			if out[svc] == nil {
				out[svc] = map[string]int64{}
			}
			out[svc][c.IP] += c.OutMsgs
		}
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
