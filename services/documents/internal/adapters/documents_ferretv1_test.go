package adapters

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// Ferret starts an embedded FerretDB for t and opens a database on it
// (exported for this package's external tests).
func Ferret(t testing.TB) *mongo.Database { return testkit.Database(t, "documents") }

// A replica that knows a set reads it with one probe, and still sees what
// another replica changed since; it trusts what it knows for trustKnown
// only, and forgets an erased set.
func TestKnownSetsSeeOtherReplicasChanges(t *testing.T) {
	db := Ferret(t)
	ctx := context.Background()
	a, b := NewFerretV1Documents(db.Collection("documents_docs")), NewFerretV1Documents(db.Collection("documents_docs"))
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	add := func(id int64) func(*app.Docs, int64) ([]contract.Event, error) {
		return func(d *app.Docs, _ int64) ([]contract.Event, error) {
			d.Items = append(slices.Clone(d.Items), app.Doc{ID: id, Key: "k"})
			return nil, nil
		}
	}
	if _, _, err := a.Update(ctx, 7, add(1)); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.recall(7, now); !ok {
		t.Fatal("the writer does not know what it wrote")
	}
	if _, _, err := b.Update(ctx, 7, add(2)); err != nil {
		t.Fatal(err)
	}
	d, ver, err := a.Get(ctx, 7)
	if err != nil || ver != 2 || len(d.Items) != 2 {
		t.Fatalf("the other replica's change unseen: %+v %d %v", d, ver, err)
	}
	d.Items[0].Key = "changed by the caller"
	if k, _ := a.recall(7, now); k.version != 2 || k.docs.Items[0].Key != "k" {
		t.Fatalf("what it knows: %+v", k)
	}
	if _, ok := a.recall(7, now.Add(trustKnown)); ok {
		t.Fatal("a known set is trusted past trustKnown")
	}
	if _, ok := a.recall(7, now.Add(-time.Second)); ok {
		t.Fatal("a clock that went back trusts a set learnt after it")
	}
	if err := a.Erase(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if d, ver, err := a.Get(ctx, 7); err != nil || ver != 0 || len(d.Items) != 0 {
		t.Fatalf("erased, still read: %+v %d %v", d, ver, err)
	}
}
