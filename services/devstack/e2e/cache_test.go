package e2e

import (
	"context"
	"fmt"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
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

// A replica that lost its NATS connection may have missed invalidations,
// so it drops its whole cache when it reconnects. The change here is made
// behind every service's back (a new profile version written straight to
// the store, announcing nothing), so only the reconnect flush can reveal it.
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

// Profile replicas cache too. With two of them behind two gateways, a
// client still reads its own write on its very next request every time,
// and the other gateway within a second: a gateway that saw a change asks
// for the store's answer, not a replica's memory.
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
