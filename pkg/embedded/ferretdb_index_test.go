package embedded_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/embedded"
)

// Every collection gets an index on the expression FerretDB's _id lookups
// use, so SQLite searches instead of scanning; lookups, misses, updates
// and the uniqueness of _id behave as before.
func TestFerretDBLooksUpIDsByIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m, err := embedded.StartFerretDB(ctx, dir, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown()
	client, err := mongo.Connect(options.Client().ApplyURI(m.URI))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(ctx) }()
	c := client.Database("idx").Collection("things")
	var docs []any
	for i := range 50 {
		docs = append(docs, bson.M{"_id": fmt.Sprintf("k%d", i), "n": i})
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if err := m.IndexIDs(ctx); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "idx.sqlite")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var table string
	if err := db.QueryRow(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'things\_%' ESCAPE '\'`).Scan(&table); err != nil {
		t.Fatal(err)
	}
	var id, parent, unused int
	var plan string
	// The statement FerretDB sends for a filter on _id alone.
	q := fmt.Sprintf(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' = ?`, table)
	if err := db.QueryRow(q, `"k7"`).Scan(&id, &parent, &unused, &plan); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "USING INDEX "+table+"_doss_id") {
		t.Fatalf("plan %q does not use the _id index", plan)
	}

	var got bson.M
	if err := c.FindOne(ctx, bson.M{"_id": "k7"}).Decode(&got); err != nil || got["n"] != int32(7) {
		t.Fatalf("find k7: %v %v", got, err)
	}
	if err := c.FindOne(ctx, bson.M{"_id": "nope"}).Err(); err != mongo.ErrNoDocuments {
		t.Fatalf("find of a missing _id: %v", err)
	}
	if r, err := c.UpdateOne(ctx, bson.M{"_id": "k9"}, bson.M{"$set": bson.M{"n": 90}}); err != nil || r.ModifiedCount != 1 {
		t.Fatalf("update k9: %+v %v", r, err)
	}
	if _, err := c.InsertOne(ctx, bson.M{"_id": "k9"}); !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("a second k9 was not refused: %v", err)
	}
	// A collection created later is indexed too.
	if _, err := client.Database("idx").Collection("later").InsertOne(ctx, bson.M{"_id": 1}); err != nil {
		t.Fatal(err)
	}
	if err := m.IndexIDs(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'later\_%\_doss\_id' ESCAPE '\'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("later's _id index: %d (%v)", n, err)
	}
}
