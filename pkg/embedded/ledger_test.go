package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/mongox"
)

func ledgerFor(t *testing.T) (*mongox.Ledger, *mongo.Collection) {
	t.Helper()
	c := testDB(t).Collection("ledger")
	return mongox.NewLedger(c, nil), c
}

var errFull = errors.New("full")

// A cap decided on the tail holds with many writers at once, on a store
// whose updates are not isolated: only the unique insert of a sequence
// number decides.
func TestLedgerCapHoldsUnderConcurrency(t *testing.T) {
	l, _ := ledgerFor(t)
	ctx := context.Background()
	var won atomic.Int64
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Append(ctx, "cap", func(tail *mongox.Tail, _ time.Time) (string, error) {
				if _, full, err := tail.At(4); err != nil {
					return "", err
				} else if full {
					return "", errFull
				}
				return "try", nil
			})
			if err == nil {
				won.Add(1)
			} else if !errors.Is(err, errFull) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 5 {
		t.Fatalf("%d appends won, want 5", won.Load())
	}
}

// The tail reads the same whether it comes from the head, from entries
// the head has not caught up with, from the entries each carries, or from
// lookups past them; and a chain written before heads still reads.
func TestLedgerTailReads(t *testing.T) {
	l, c := ledgerFor(t)
	ctx := context.Background()
	const n = mongox.RecentEntries + 10
	for i := range n {
		if _, err := l.Append(ctx, "k", func(*mongox.Tail, time.Time) (string, error) { return fmt.Sprint(i), nil }); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string) {
		t.Helper()
		tail, err := l.Tail(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		all, err := tail.First(n + 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != n {
			t.Fatalf("%s: %d entries, want %d", what, len(all), n)
		}
		for i, e := range all {
			if e.Kind != fmt.Sprint(n-1-i) || e.Seq != int64(n-i) {
				t.Fatalf("%s: entry %d is %q #%d", what, i, e.Kind, e.Seq)
			}
		}
	}
	check("head current")
	heads := c.Database().Collection(c.Name() + "_heads")
	if res, err := heads.UpdateOne(ctx, bson.M{"_id": "k#head"}, bson.M{"$set": bson.M{"seq": 3, "kind": "2", "recent": bson.A{}}}); err != nil || res.MatchedCount != 1 {
		t.Fatalf("setting the head back: %v", err)
	}
	check("head behind")
	if res, err := heads.DeleteOne(ctx, bson.M{"_id": "k#head"}); err != nil || res.DeletedCount != 1 {
		t.Fatalf("removing the head: %v", err)
	}
	check("no head")
	if tail, err := l.Tail(ctx, "other"); err != nil || !tail.Empty() {
		t.Fatalf("a new key: empty %v, %v", tail != nil && tail.Empty(), err)
	}
}

// Entries carry the ones before them packed in one binary value; a chain
// written when they were an array of documents still reads, kinds and
// times, and appends go on from it.
func TestLedgerReadsRecentEntriesWrittenAsArrays(t *testing.T) {
	l, c := ledgerFor(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	old := bson.A{bson.M{"k": "fail", "t": at.Add(-time.Minute)}, bson.M{"k": "ok", "t": at.Add(-2 * time.Minute)}}
	if _, err := c.InsertOne(ctx, bson.M{"_id": "k#3", "key": "k", "seq": 3, "kind": "fail", "at": at, "recent": old}); err != nil {
		t.Fatal(err)
	}
	heads := c.Database().Collection(c.Name() + "_heads")
	if _, err := heads.InsertOne(ctx, bson.M{"_id": "k#head", "seq": 3, "kind": "fail", "at": at, "recent": old}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, "k", func(*mongox.Tail, time.Time) (string, error) { return "ok", nil }); err != nil {
		t.Fatal(err)
	}
	tail, err := l.Tail(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tail.First(10)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind string
		at   time.Time
	}{{"ok", time.Time{}}, {"fail", at}, {"fail", at.Add(-time.Minute)}, {"ok", at.Add(-2 * time.Minute)}}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Kind != w.kind || got[i].Seq != int64(4-i) || (i > 0 && !got[i].At.Equal(w.at)) {
			t.Fatalf("entry %d is %q #%d at %v, want %q #%d at %v", i, got[i].Kind, got[i].Seq, got[i].At, w.kind, 4-i, w.at)
		}
	}
	var raw bson.M
	if err := c.FindOne(ctx, bson.M{"_id": "k#4"}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if _, packed := raw["recent"].(bson.Binary); !packed {
		t.Fatalf("a new entry stores its recent entries as %T, want binary", raw["recent"])
	}
}

func TestLedgerSweepKeepsNumbering(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	l := mongox.NewLedger(testDB(t).Collection("ledger"), func() time.Time { return now })
	add := func() mongox.Entry {
		e, err := l.Append(ctx, "k", func(*mongox.Tail, time.Time) (string, error) { return "x", nil })
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	add()
	add()
	now = now.Add(time.Hour)
	add()
	if n, err := l.Sweep(ctx, 30*time.Minute); err != nil || n != 2 {
		t.Fatalf("swept %d, %v", n, err)
	}
	if e := add(); e.Seq != 4 {
		t.Fatalf("after a partial sweep the next entry is #%d, want #4", e.Seq)
	}
	now = now.Add(time.Hour)
	if _, err := l.Sweep(ctx, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	if tail, err := l.Tail(ctx, "k"); err != nil || !tail.Empty() {
		t.Fatalf("a chain swept whole is not empty (%v)", err)
	}
}
