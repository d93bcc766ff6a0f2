package adapters_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/auth/internal/adapters"
	"github.com/dossapp/backend/services/auth/internal/app"
	"github.com/dossapp/backend/services/auth/internal/domain"
	"github.com/dossapp/backend/services/auth/internal/storetest"
)

// store is one embedded FerretDB for the package's tests, each given a
// collection of its own.
func store(t *testing.T) func(t *testing.T) *mongo.Collection {
	ks := testkit.Start(t)
	client, db, err := mongox.Connect(context.Background(), ks.Mongo.URI, "adapters")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	var n atomic.Int64
	return func(t *testing.T) *mongo.Collection { return db.Collection(fmt.Sprint("c", n.Add(1))) }
}

func TestClaims(t *testing.T) {
	collection := store(t)
	storetest.Claims(t, func(t *testing.T) app.ClaimStore { return adapters.NewClaims(collection(t)) })
}

func TestCounters(t *testing.T) {
	collection := store(t)
	storetest.Counters(t, func(t *testing.T) func() app.Counters {
		c := collection(t)
		return func() app.Counters { return adapters.NewCounters(mongox.NewLedger(c, nil)) }
	})
}

func TestSessions(t *testing.T) {
	collection := store(t)
	storetest.Sessions(t, func(t *testing.T) func() app.Sessions {
		sessions, revocations := collection(t), collection(t)
		return func() app.Sessions { return adapters.NewSessions(sessions, revocations) }
	})
}

// Sessions opened before ids named their user (random ids) are still
// listed, revoked and touched, once the start has found them.
func TestSessionsOpenedBeforeNamedIDs(t *testing.T) {
	collection := store(t)
	ctx := context.Background()
	sessions, revocations := collection(t), collection(t)
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, id := range []string{"kept", "revoked"} {
		if _, err := sessions.InsertOne(ctx, bson.M{"_id": id, "user_id": int64(1), "uuid": "u",
			"created_at": now.Add(-time.Hour), "last_seen_at": now.Add(-time.Hour), "expires_at": now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	s := adapters.NewSessions(sessions, revocations)
	if err := s.FindLegacy(ctx, now); err != nil {
		t.Fatal(err)
	}
	named, err := s.Create(ctx, domain.Session{UserID: 1, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, domain.Revocation{SessionID: "revoked", UserID: 1, At: now}); err != nil {
		t.Fatal(err)
	}
	live, err := s.Live(ctx, 1, now.Add(-24*time.Hour), now)
	if err != nil || len(live) != 2 || live[0].ID != "kept" || live[1].ID != named.ID {
		t.Fatalf("live %+v %v", live, err)
	}
	for _, user := range []int64{2, 1} {
		if err := s.Touch(ctx, user, "kept", now, now); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Get(ctx, "kept"); err != nil || !got.LastSeenAt.Equal(now) {
		t.Fatalf("touched: %+v %v", got, err)
	}
	// Once the last of them expired, no list asks for them.
	if live, err := s.Live(ctx, 1, now, now.Add(time.Hour)); err != nil || len(live) != 0 {
		t.Fatalf("after they expired: %+v %v", live, err)
	}
}

// The revocation retry reads only what is still to be sent, whatever the
// number of revocations of the last days: after 300 propagated and one
// not, its one query is on the markers, and they hold that one. A marker
// a crash left without its record, and a pending record from before the
// markers (marked at start), are sent too, and the first gets its record.
func TestPendingRevocationsAreReadFromTheirMarkers(t *testing.T) {
	db, w := testkit.WatchedDatabase(t, "adapters")
	ctx := context.Background()
	revocations := db.Collection("revocations")
	s := adapters.NewSessions(db.Collection("sessions"), revocations)
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for i := range 300 {
		id := fmt.Sprint("s-1-20261202-", i+1)
		if err := s.Revoke(ctx, domain.Revocation{SessionID: id, UserID: 1, At: now, Pending: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.Propagated(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Revoke(ctx, domain.Revocation{SessionID: "s-2-20261202-1", UserID: 2, At: now, Pending: true}); err != nil {
		t.Fatal(err)
	}
	pendingIDs := func() []string {
		t.Helper()
		rs, err := s.Pending(ctx, now.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, r := range rs {
			ids = append(ids, r.SessionID)
		}
		slices.Sort(ids)
		return ids
	}
	w.Reset()
	if got := pendingIDs(); !slices.Equal(got, []string{"s-2-20261202-1"}) {
		t.Fatalf("pending %v", got)
	}
	var reads []string
	for _, f := range w.Filters() {
		reads = append(reads, f.String())
	}
	if !slices.Equal(reads, []string{"find revocations_pending {}"}) {
		t.Fatalf("the retry read %v, want only the markers", reads)
	}
	if n, err := db.Collection("revocations_pending").CountDocuments(ctx, bson.M{}); err != nil || n != 1 {
		t.Fatalf("%d markers (%v), want the one pending", n, err)
	}

	// A crash between the marker and the record; a record from before.
	if _, err := db.Collection("revocations_pending").InsertOne(ctx, bson.M{"_id": "s-3-20261202-1", "user_id": int64(3), "at": now, "pending": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := revocations.InsertOne(ctx, bson.M{"_id": "s-4-20261202-1", "user_id": int64(4), "at": now, "pending": true}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pendingIDs(); !slices.Equal(got, []string{"s-2-20261202-1", "s-3-20261202-1", "s-4-20261202-1"}) {
		t.Fatalf("pending %v", got)
	}
	if err := revocations.FindOne(ctx, bson.M{"_id": "s-3-20261202-1"}).Err(); err != nil {
		t.Fatalf("the crashed revocation has no record: %v", err)
	}
}

func TestChainsAsAccounts(t *testing.T) {
	collection := store(t)
	storetest.Accounts(t, func(t *testing.T) func() app.Accounts {
		c := collection(t)
		if err := adapters.NewChains[app.Account](c).EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return func() app.Accounts { return adapters.NewChains[app.Account](c) }
	})
}

func TestChainedCodes(t *testing.T) {
	collection := store(t)
	storetest.Codes(t, func(t *testing.T) app.Codes {
		c := adapters.NewChainedCodes(collection(t))
		if err := c.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestChallenges(t *testing.T) {
	collection := store(t)
	storetest.Challenges(t, func(t *testing.T) app.Challenges {
		c := adapters.NewChallenges(collection(t))
		if err := c.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestStaffStores(t *testing.T) {
	collection := store(t)
	t.Run("accounts", func(t *testing.T) {
		storetest.StaffAccounts(t, func(t *testing.T) app.StaffAccounts { return adapters.NewStaffAccounts(collection(t)) })
	})
	t.Run("sessions", func(t *testing.T) {
		storetest.StaffSessions(t, func(t *testing.T) app.StaffSessions { return adapters.NewStaffSessions(collection(t)) })
	})
	t.Run("used codes", func(t *testing.T) {
		storetest.UsedCodes(t, func(t *testing.T) app.UsedCodes { return adapters.NewUsedCodes(collection(t)) })
	})
	t.Run("audit trail", func(t *testing.T) {
		storetest.AuditTrail(t, func(t *testing.T) app.AuditTrail { return adapters.NewAuditTrail(collection(t)) })
	})
}

func TestNames(t *testing.T) {
	collection := store(t)
	storetest.Names(t, func(t *testing.T) app.NameStore { return adapters.NewVersionedNames(collection(t)) })
}

func TestDeletions(t *testing.T) {
	collection := store(t)
	storetest.Deletions(t, func(t *testing.T) app.Deletions {
		d := adapters.NewDeletions[app.Deletion](collection(t), collection(t))
		if err := d.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return d
	})
}
