package adapters_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/services/documents/internal/adapters"
	"github.com/dossapp/backend/services/documents/internal/app"
	"github.com/dossapp/backend/services/documents/internal/storetest"
)

// fresh names a collection no other store of the test has used.
func fresh(db *mongo.Database, prefix string) *mongo.Collection {
	return db.Collection(fmt.Sprintf("%s_%d", prefix, seq.Add(1)))
}

var seq atomic.Int64

func TestFerretV1Documents(t *testing.T) {
	db := adapters.Ferret(t)
	storetest.Documents(t, func(t *testing.T) app.Documents {
		s := adapters.NewFerretV1Documents(fresh(db, "documents_docs"))
		if err := s.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestReviewQueue(t *testing.T) {
	db := adapters.Ferret(t)
	storetest.ReviewQueue(t, func(t *testing.T) app.ReviewQueue {
		q := adapters.NewReviewQueue(fresh(db, "documents_ids"))
		if err := q.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return q
	})
}

func TestFerretV1IDs(t *testing.T) {
	db := adapters.Ferret(t)
	storetest.IDs(t, func(t *testing.T) app.IDs {
		s := adapters.NewFerretV1IDs(fresh(db, "documents_seq"))
		if err := s.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// Entries the queue keyed by their number before QueueKey are moved to
// their string key at start, once; one an old replica writes later is moved
// when the queue lists it. Either way it is found by its key, keeps its
// place (the older first) and its state.
func TestReviewQueueMovesNumericKeys(t *testing.T) {
	ctx := context.Background()
	c := fresh(adapters.Ferret(t), "documents_ids")
	legacy := func(id, userID int64, pending bool) {
		t.Helper()
		if _, err := c.InsertOne(ctx, bson.M{"_id": id, "user_id": userID, "pending": pending}); err != nil {
			t.Fatal(err)
		}
	}
	numeric := func() int64 {
		t.Helper()
		n, err := c.CountDocuments(ctx, bson.M{"_id": bson.M{"$type": "number"}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	legacy(5, 7, true)
	legacy(6, 7, false)
	q := adapters.NewReviewQueue(c)
	for range 2 { // a second start (or replica) finds the marker
		if err := q.EnsureIndexes(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := numeric(); n != 0 {
		t.Fatalf("%d entries keep their numeric key", n)
	}
	for _, id := range []int64{5, 6} {
		if owner, err := q.Owner(ctx, id); err != nil || owner != 7 {
			t.Fatalf("owner of %d: %d %v", id, owner, err)
		}
	}
	if err := q.Add(ctx, 12, 8); err != nil {
		t.Fatal(err)
	}
	legacy(3, 9, true) // an old replica, after the move
	if err := q.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	marks, err := q.Awaiting(ctx, 10)
	if want := []app.QueueMark{{ID: 3, UserID: 9}, {ID: 5, UserID: 7}, {ID: 12, UserID: 8}}; err != nil || !slices.Equal(marks, want) {
		t.Fatalf("awaiting %v (%v), want %v", marks, err, want)
	}
	if owner, err := q.Owner(ctx, 3); err != nil || owner != 9 || numeric() != 0 {
		t.Fatalf("owner of 3: %d %v; %d numeric keys left", owner, err, numeric())
	}
	if err := q.Settle(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if marks, _ := q.Awaiting(ctx, 10); !slices.Equal(marks, []app.QueueMark{{ID: 3, UserID: 9}, {ID: 12, UserID: 8}}) {
		t.Fatalf("after settling 5: %v", marks)
	}
}
