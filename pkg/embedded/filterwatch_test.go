package embedded_test

import (
	"context"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/embedded"
)

// watched is a store with a watch in front of it and a client through
// the watch.
func watched(t *testing.T) (*embedded.FilterWatch, *mongo.Client) {
	t.Helper()
	m, err := embedded.StartFerretDB(t.Context(), t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Shutdown)
	w, err := embedded.WatchFilters(m.URI)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	client, err := mongo.Connect(options.Client().ApplyURI(w.URI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return w, client
}

// The watch sees the filter of every kind of command that has one, over
// the wire as the driver sends it (bulk writes as document sequences),
// and tells the one filter FerretDB v1 answers from its _id index
// ({_id: string}) from the scans: a second condition, $in, an $or, or an
// _id that is a number.
func TestFilterWatchSeesEveryFilter(t *testing.T) {
	w, client := watched(t)
	ctx := t.Context()
	c := client.Database("watch").Collection("things")
	if _, err := c.InsertMany(ctx, []any{bson.M{"_id": "a", "owner": 1}, bson.M{"_id": "b", "owner": 2}}); err != nil {
		t.Fatal(err)
	}
	w.Reset()

	_ = c.FindOne(ctx, bson.M{"_id": "a"}).Err()
	_ = c.FindOne(ctx, bson.M{"owner": 1}).Err()
	_, _ = c.UpdateOne(ctx, bson.M{"_id": "b"}, bson.M{"$set": bson.M{"seen": true}})
	_, _ = c.DeleteMany(ctx, bson.M{"$or": bson.A{bson.M{"owner": 3}, bson.M{"at": bson.M{"$lt": 5}}}})
	_, _ = c.DeleteOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "holder", Value: "x"}})
	_, _ = c.DeleteOne(ctx, bson.M{"$or": bson.A{bson.M{"_id": "a"}, bson.M{"owner": 2}}})
	_, _ = c.CountDocuments(ctx, bson.M{})
	_ = c.FindOne(ctx, bson.M{"_id": bson.M{"$in": bson.A{"a", "b"}}}).Err()
	_ = c.FindOne(ctx, bson.M{"_id": int64(7)}).Err()
	_, _ = c.BulkWrite(ctx, []mongo.WriteModel{
		mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": "a"}).SetUpdate(bson.M{"$set": bson.M{"n": 1}}),
		mongo.NewUpdateOneModel().SetFilter(bson.M{"owner": 2}).SetUpdate(bson.M{"$set": bson.M{"n": 2}}),
	})

	want := []string{
		"find things {_id}",
		"find things {owner}",
		"update things {_id}",
		"delete things {at, owner}",
		"delete things {_id, holder}",
		"delete things {_id, owner}",
		"aggregate things {}",
		"find things {_id}",
		"find things {_id}",
		"update things {_id}",
		"update things {owner}",
	}
	var got []string
	for _, f := range w.Filters() {
		got = append(got, f.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("filters seen:\n%q\nwant\n%q", got, want)
	}
	var lookups []bool
	for _, f := range w.Filters() {
		lookups = append(lookups, f.Lookup())
	}
	if !slices.Equal(lookups, []bool{true, false, true, false, false, false, false, false, false, true, false}) {
		t.Fatalf("Lookup = %v", lookups)
	}
}

// The watch counts store operations: each command the driver sends for
// the app (an insert, a find, an update, a bulk write as one), none of the
// ones it keeps its connections with.
func TestFilterWatchCountsStoreOperations(t *testing.T) {
	w, client := watched(t)
	ctx := t.Context()
	if err := client.Ping(ctx, nil); err != nil {
		t.Fatal(err)
	}
	w.Reset()
	c := client.Database("watch").Collection("ops")
	if _, err := c.InsertOne(ctx, bson.M{"_id": "a"}); err != nil {
		t.Fatal(err)
	}
	if err := c.FindOne(ctx, bson.M{"_id": "a"}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateOne(ctx, bson.M{"_id": "a"}, bson.M{"$set": bson.M{"n": 1}}); err != nil {
		t.Fatal(err)
	}
	if err := client.Ping(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := w.Operations(); got != 3 {
		t.Fatalf("%d store operations counted, want 3 (insert, find, update; the pings not)", got)
	}
	w.Reset()
	if got := w.Operations(); got != 0 {
		t.Fatalf("%d after Reset", got)
	}
}
