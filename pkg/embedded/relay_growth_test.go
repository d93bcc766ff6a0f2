package embedded_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/mongox"
)

// passCost is what one background pass asked of the store: its filters
// that are not _id lookups (each a scan of its collection on FerretDB v1),
// and the documents those scans had to read.
type passCost struct {
	scans   []string
	scanned int64
	lookups int
}

// costOfIdlePasses seeds n settled keys (a first version and its head, as
// a registration leaves them) plus a few live changes with events, lets
// the relay publish those, then measures one recovery pass and one sweep.
func costOfIdlePasses(t *testing.T, n int) passCost {
	t.Helper()
	ctx := context.Background()
	db, w := testkit.WatchedDatabase(t, "store")
	coll := db.Collection("grown")
	now := time.Now().UTC()
	var docs []any
	for i := range n {
		key := fmt.Sprintf("seeded-%d", i)
		docs = append(docs,
			bson.M{"_id": key + "@1", "key": key, "version": 1, "state": bson.M{"n": 1}, "published": true, "at": now},
			bson.M{"_id": key + "@head", "version": 1, "head_state": bson.M{"n": 1}, "published": true, "at": now})
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	pub := &publisher{out: make(chan string, 64)}
	r := mongox.NewRelay(pub, zap.NewNop(), coll).WithIntervals(time.Hour, time.Hour)
	v := mongox.NewVersioned[counter](coll)
	v.RelayTo(r)
	runRelay(t, r)
	for i := range 3 {
		if _, err := v.Update(ctx, "seeded-0", func(c *counter) ([]contract.Event, error) {
			c.N++
			return evs(fmt.Sprintf("change-%d", i)), nil
		}); err != nil {
			t.Fatal(err)
		}
		pub.next(t)
	}
	// The relay marks what it published after the publish: wait for it.
	eventually := time.Now().Add(10 * time.Second)
	for {
		var rec struct {
			Published bool `bson:"published"`
		}
		if err := coll.FindOne(ctx, bson.M{"_id": "seeded-0@4"}).Decode(&rec); err == nil && rec.Published {
			break
		}
		if time.Now().After(eventually) {
			t.Fatal("seeded-0@4 never marked published")
		}
	}
	counts := map[string]int64{}
	for _, name := range mustCollections(t, db) {
		c, err := db.Collection(name).CountDocuments(ctx, bson.M{})
		if err != nil {
			t.Fatal(err)
		}
		counts[name] = c
	}
	w.Reset()
	r.Pass(ctx)
	if _, err := mongox.SweepSuperseded(ctx, coll, mongox.KeepFor); err != nil {
		t.Fatal(err)
	}
	var cost passCost
	for _, f := range w.Filters() {
		if f.Command == "listCollections" || f.Command == "count" {
			continue
		}
		if f.Lookup() {
			cost.lookups++
			continue
		}
		cost.scans = append(cost.scans, f.String())
		cost.scanned += counts[f.Collection]
	}
	return cost
}

func mustCollections(t *testing.T, db *mongo.Database) []string {
	t.Helper()
	names, err := db.ListCollectionNames(context.Background(), bson.M{})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// The relay's recovery pass and the version sweep run on their clocks
// whether or not anything happens: with nothing to do, what they read of
// the store must not grow with the data in it (on FerretDB v1 a filter on
// anything but _id reads the whole collection, which at 100 000 accounts
// was the process's idle CPU).
func TestIdlePassesCostTheSameAtAnySize(t *testing.T) {
	small, large := costOfIdlePasses(t, 10), costOfIdlePasses(t, 1000)
	t.Logf("n=10: %d documents scanned by %v, %d lookups; n=1000: %d scanned by %v, %d lookups",
		small.scanned, small.scans, small.lookups, large.scanned, large.scans, large.lookups)
	if large.scanned > small.scanned || large.lookups > small.lookups {
		t.Fatalf("an idle pass reads more as the data grows: %d documents scanned and %d lookups at n=1000, %d and %d at n=10 (scans: %v)",
			large.scanned, large.lookups, small.scanned, small.lookups, large.scans)
	}
}
