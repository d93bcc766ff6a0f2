package embedded_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/mongox"
)

// countedLedger is a ledger on its own client (another replica), and the
// store commands it sends.
func countedLedger(t *testing.T, uri string) (*mongox.Ledger, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var ops []string
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetMonitor(&event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			mu.Lock()
			defer mu.Unlock()
			ops = append(ops, e.CommandName)
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := ops
		ops = nil
		return out
	}
	return mongox.NewLedger(client.Database("doss").Collection("ledger"), nil), take
}

func kind(k string) func(*mongox.Tail, time.Time) (string, error) {
	return func(*mongox.Tail, time.Time) (string, error) { return k, nil }
}

// AppendAll counts one request towards several chains in one insert and
// one head write; a chain another replica appended to meanwhile is decided
// again on its real tail, and every chain keeps one entry per number.
func TestLedgerAppendAllIsOneInsertAndOneHeadWrite(t *testing.T) {
	ctx := t.Context()
	uri := startHeadStore(t)
	l, ops := countedLedger(t, uri)
	other, _ := countedLedger(t, uri)
	for _, k := range []string{"a", "b"} {
		if _, err := l.Append(ctx, k, kind("x")); err != nil {
			t.Fatal(err)
		}
	}
	ops()
	if _, err := l.AppendAll(ctx, mongox.Appending{Key: "a", Decide: kind("y")}, mongox.Appending{Key: "b", Decide: kind("y")}); err != nil {
		t.Fatal(err)
	}
	if got := ops(); len(got) != 2 || got[0] != "insert" || got[1] != "update" {
		t.Fatalf("commands %v, want one insert and one update", got)
	}
	// The other replica appends to b; this one still remembers b at 2.
	if _, err := other.Append(ctx, "b", kind("z")); err != nil {
		t.Fatal(err)
	}
	var seen []int64
	got, err := l.AppendAll(ctx, mongox.Appending{Key: "a", Decide: kind("w")}, mongox.Appending{Key: "b", Decide: func(tail *mongox.Tail, _ time.Time) (string, error) {
		e, _, err := tail.At(0)
		seen = append(seen, e.Seq)
		return "w", err
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Seq != 3 || got[1].Seq != 4 || len(seen) != 2 || seen[0] != 2 || seen[1] != 3 {
		t.Fatalf("appended a at %d, b at %d, b decided on %v; want 3, 4, [2 3]", got[0].Seq, got[1].Seq, seen)
	}
	for key, want := range map[string][]string{"a": {"w", "y", "x"}, "b": {"w", "z", "y", "x"}} {
		tail, err := other.Tail(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := tail.First(10)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(want) {
			t.Fatalf("%s: %d entries, want %v", key, len(entries), want)
		}
		for i, e := range entries {
			if e.Kind != want[i] {
				t.Fatalf("%s: entry %d is %q, want %v", key, i, e.Kind, want)
			}
		}
	}
}

// Many AppendAll at once from two replicas over two shared chains: no
// number is taken twice, none is lost.
func TestLedgerAppendAllUnderConcurrency(t *testing.T) {
	ctx := t.Context()
	uri := startHeadStore(t)
	l1, _ := countedLedger(t, uri)
	l2, _ := countedLedger(t, uri)
	var n atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := l1
			if i%2 == 1 {
				l = l2
			}
			if _, err := l.AppendAll(ctx, mongox.Appending{Key: "p", Decide: kind("x")}, mongox.Appending{Key: "q", Decide: kind("x")}); err != nil {
				t.Error(err)
				return
			}
			n.Add(1)
		}()
	}
	wg.Wait()
	for _, key := range []string{"p", "q"} {
		tail, err := l1.Tail(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := tail.First(64)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(entries)) != n.Load() || entries[0].Seq != n.Load() {
			t.Fatalf("%s: %d entries, newest %d, want %d", key, len(entries), entries[0].Seq, n.Load())
		}
	}
}
