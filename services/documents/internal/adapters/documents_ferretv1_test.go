package adapters

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// Ferret starts an embedded FerretDB for t and opens a database on it
// (exported for this package's external tests).
func Ferret(t testing.TB) *mongo.Database { return testkit.Database(t, "documents") }

// A replica sees what another changed, and an erased set, on its next
// read; and a change lands when the chain's head lags a version a racing
// writer stored but has not pointed the head at yet (Get reads the head
// alone, so the retry after a stale insert must follow the chain).
func TestChangesLandPastALaggingHead(t *testing.T) {
	db := Ferret(t)
	ctx := context.Background()
	c := db.Collection("documents_docs")
	a, b := NewFerretV1Documents(c), NewFerretV1Documents(c)
	add := func(id int64) func(*app.Docs, int64) ([]contract.Event, error) {
		return func(d *app.Docs, _ int64) ([]contract.Event, error) {
			d.Items = append(slices.Clone(d.Items), app.Doc{ID: id, Key: "k"})
			return nil, nil
		}
	}
	if _, _, err := a.Update(ctx, 7, add(1)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Update(ctx, 7, add(2)); err != nil {
		t.Fatal(err)
	}
	if d, ver, err := a.Get(ctx, 7); err != nil || ver != 2 || len(d.Items) != 2 {
		t.Fatalf("the other replica's change unseen: %+v %d %v", d, ver, err)
	}

	// Version 3 stored, its writer gone before it moved the head.
	racer := app.Docs{UserID: 7, Items: []app.Doc{{ID: 1, Key: "k"}, {ID: 2, Key: "k"}, {ID: 3, Key: "k"}}}
	if _, err := c.InsertOne(ctx, mongox.Record[app.Docs]{ID: "7@3", Key: "7", Version: 3, State: racer, Published: true, At: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	d, ver, err := a.Update(ctx, 7, add(4))
	if err != nil || ver != 4 || len(d.Items) != 4 {
		t.Fatalf("a change past a lagging head: %+v %d %v", d, ver, err)
	}

	if err := b.Erase(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if d, ver, err := a.Get(ctx, 7); err != nil || ver != 0 || len(d.Items) != 0 {
		t.Fatalf("erased by another replica, still read: %+v %d %v", d, ver, err)
	}
}
