package embedded_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/mongox"
)

type counter struct {
	N int `bson:"n"`
}

// mongox.Versioned on FerretDB: concurrent updates of one key lose nothing
// (each is an insert of the next version, and only one insert of a number
// wins), and the chain stays short however many updates there were.
func TestVersionedUpdatesAreNotLostAndChainsArePruned(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	v := mongox.NewVersioned[counter](db.Collection("counters"))
	if err := v.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.Put(ctx, "k", 0, counter{}, nil); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 5
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := v.Update(ctx, "k", func(c *counter) ([]contract.Event, error) { c.N++; return nil, nil }); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got, ver, err := v.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if got.N != writers*each || ver != writers*each+1 {
		t.Fatalf("counter %d at version %d, want %d at %d", got.N, ver, writers*each, writers*each+1)
	}
	// Superseded versions go once they are older than the bound; young
	// ones stay, and the newest always does.
	if n, err := mongox.SweepSuperseded(ctx, v.Collection(), time.Hour); err != nil || n != 0 {
		t.Fatalf("swept %d young versions (%v)", n, err)
	}
	if n, err := mongox.SweepSuperseded(ctx, v.Collection(), 0); err != nil || n != writers*each-1 {
		t.Fatalf("swept %d, want %d (all but the first and the newest) (%v)", n, writers*each-1, err)
	}
	if got, ver2, err := v.Get(ctx, "k"); err != nil || ver2 != ver || got.N != writers*each {
		t.Fatalf("after the sweep: %+v at %d (%v)", got, ver2, err)
	}
	if n, _ := v.Collection().CountDocuments(ctx, bson.M{"key": "k"}); n != 2 {
		t.Fatalf("%d versions kept, want the first and the newest", n)
	}

	// A version whose events are not out yet is kept until they are.
	ev := contract.Event{ID: "e1", Type: "t"}
	if _, err := v.Update(ctx, "k", func(c *counter) ([]contract.Event, error) { return []contract.Event{ev}, nil }); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := v.Update(ctx, "k", func(c *counter) ([]contract.Event, error) { c.N = i; return nil, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mongox.SweepSuperseded(ctx, v.Collection(), 0); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("k@%d", ver+1)
	if n, _ := v.Collection().CountDocuments(ctx, bson.M{"_id": id}); n != 1 {
		t.Fatalf("the unpublished version %s was pruned", id)
	}
}

// Get reads the key's head by _id; Latest and Changed see past a head that
// lags (a failed head write), an update from it stores the next version
// and puts the head right, and a missing head still yields the newest
// version.
func TestVersionedLatestFollowsTheChainPastTheHead(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	c := db.Collection("heads")
	v := mongox.NewVersioned[counter](c)
	if _, _, err := v.Get(ctx, "k"); err != mongox.ErrNotFound {
		t.Fatalf("missing key: %v", err)
	}
	for i := range 3 {
		if err := v.Put(ctx, "k", int64(i), counter{N: i + 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, read func(context.Context, string) (counter, int64, error), want int) {
		t.Helper()
		got, ver, err := read(ctx, "k")
		if err != nil || got.N != want || ver != int64(want) {
			t.Fatalf("%s: %+v at %d (%v), want %d", what, got, ver, err, want)
		}
	}
	check("head current", v.Get, 3)
	// The head steps back, as a failed head write leaves it.
	if _, err := c.UpdateOne(ctx, bson.M{"_id": "k@head"}, bson.M{"$set": bson.M{"version": 1, "head_state": counter{N: 1}}}); err != nil {
		t.Fatal(err)
	}
	check("head behind, latest", v.Latest, 3)
	for after, want := range map[int64]bool{1: true, 2: true, 3: false} {
		if got, err := v.Changed(ctx, "k", after); err != nil || got != want {
			t.Fatalf("changed after %d: %v (%v), want %v", after, got, err, want)
		}
	}
	if _, err := v.Update(ctx, "k", func(c *counter) ([]contract.Event, error) { c.N++; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	check("head behind, updated", v.Get, 4)
	if _, err := c.DeleteOne(ctx, bson.M{"_id": "k@head"}); err != nil {
		t.Fatal(err)
	}
	check("head missing", v.Get, 4)
	if n, _ := c.CountDocuments(ctx, bson.M{"_id": "k@head"}); n != 1 {
		t.Fatal("the slow read did not put the head back")
	}
	// Heads are not versions: version queries never see them.
	if n, _ := c.CountDocuments(ctx, bson.M{"key": "k"}); n != 4 {
		t.Fatalf("%d documents with the key, want the 4 versions", n)
	}
}

// testDB is a database on a fresh in-process FerretDB for t.
func testDB(t testing.TB) *mongo.Database {
	t.Helper()
	ks := testkit.Start(t)
	client, db, err := mongox.Connect(context.Background(), ks.Mongo.URI, "store")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return db
}
