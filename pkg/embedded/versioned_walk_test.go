package embedded_test

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/mongox"
)

// A key read before its first writer moved the head (a profile read in the
// moment after its creation) is found by _id lookups alone, however large
// the collection: the read walks the chain from the first version instead
// of a sorted query on the key, which FerretDB v1 answers by reading every
// document.
func TestAHeadlessReadWalksTheChainByID(t *testing.T) {
	ctx := context.Background()
	db, w := testkit.WatchedDatabase(t, "store")
	c := db.Collection("walked")
	v := mongox.NewVersioned[counter](c)
	for i := range 3 {
		if err := v.Put(ctx, "k", int64(i), counter{N: i + 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteOne(ctx, bson.M{"_id": "k@head"}); err != nil {
		t.Fatal(err)
	}
	w.Reset()
	got, ver, err := v.Get(ctx, "k")
	if err != nil || got.N != 3 || ver != 3 {
		t.Fatalf("headless read: %+v at %d (%v), want the third version", got, ver, err)
	}
	for _, f := range w.Filters() {
		if !f.Lookup() {
			t.Errorf("the headless read filtered on %s, a scan on FerretDB v1", f)
		}
	}
	if got, ver, err := v.Get(ctx, "k"); err != nil || got.N != 3 || ver != 3 {
		t.Fatalf("after the walk wrote the head: %+v at %d (%v)", got, ver, err)
	}
	if _, _, err := v.Get(ctx, "never-written"); err != mongox.ErrNotFound {
		t.Fatalf("a key with no version: %v, want not found", err)
	}
}
