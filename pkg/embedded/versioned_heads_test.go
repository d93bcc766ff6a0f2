package embedded_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/mongox"
)

func startHeadStore(t *testing.T) string {
	t.Helper()
	m, err := embedded.StartFerretDB(t.Context(), t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Shutdown)
	return m.URI
}

// connect opens a client of its own, as another replica would have; each
// command it starts goes through started first (which may hold it).
func connectReplica(t *testing.T, uri string, started func(*event.CommandStartedEvent)) *mongo.Collection {
	t.Helper()
	opts := options.Client().ApplyURI(uri)
	if started != nil {
		opts.SetMonitor(&event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) { started(e) }})
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database("doss").Collection("counters")
}

func incremented(c *counter) ([]contract.Event, error) { c.N++; return nil, nil }

// readInOneLookup reads key through a client of its own and fails unless the
// read is one store command that sees every update.
func readInOneLookup(t *testing.T, uri, key string, wantN int) {
	t.Helper()
	var ops atomic.Int32
	c := connectReplica(t, uri, func(*event.CommandStartedEvent) { ops.Add(1) })
	got, ver, err := mongox.NewVersioned[counter](c).Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if got.N != wantN || ver != int64(wantN)+1 {
		t.Fatalf("read %d at version %d, want %d at %d", got.N, ver, wantN, wantN+1)
	}
	if n := ops.Load(); n != 1 {
		t.Fatalf("a read took %d store commands, want 1", n)
	}
}

// A writer whose head move lands after a newer writer's (FerretDB v1's
// updates are a read and a later write) sets the head back, and must then
// move it on: a read, one lookup of the head, sees the newest version.
func TestVersionedHeadSetBackByASlowWriterMovesOn(t *testing.T) {
	ctx := t.Context()
	uri := startHeadStore(t)
	var held sync.Once
	blocked, release := make(chan struct{}), make(chan struct{})
	slow := mongox.NewVersioned[counter](connectReplica(t, uri, func(e *event.CommandStartedEvent) {
		if e.CommandName == "update" {
			held.Do(func() { close(blocked); <-release })
		}
	}))
	fast := mongox.NewVersioned[counter](connectReplica(t, uri, nil))
	if err := fast.Put(ctx, "k", 0, counter{}, nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := slow.Update(ctx, "k", incremented); done <- err }()
	<-blocked // version 2 is stored, its head move not yet sent
	if _, err := fast.Update(ctx, "k", incremented); err != nil {
		t.Fatal(err)
	}
	readInOneLookup(t, uri, "k", 2) // the fast writer moved the head past the slow one's version
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	readInOneLookup(t, uri, "k", 2)
}

// Writers in several replicas at once on one key: every update is kept,
// and once they are done one lookup reads the newest.
func TestVersionedConcurrentReplicasLeaveAnExactHead(t *testing.T) {
	ctx := t.Context()
	uri := startHeadStore(t)
	const replicas, each, keys = 4, 6, 3
	stores := make([]*mongox.Versioned[counter], replicas)
	for i := range stores {
		stores[i] = mongox.NewVersioned[counter](connectReplica(t, uri, nil))
	}
	for k := range keys {
		if err := stores[0].Put(ctx, fmt.Sprint("k", k), 0, counter{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, v := range stores {
		for k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					if _, err := v.Update(ctx, fmt.Sprint("k", k), incremented); err != nil {
						t.Error(err)
					}
				}
			}()
		}
	}
	wg.Wait()
	for k := range keys {
		readInOneLookup(t, uri, fmt.Sprint("k", k), replicas*each)
	}
}

// A version stored without its head moved (its writer died between the
// insert and the head write) is found by the next writer that loses the
// race to it: Put moves the head on as it reports ErrStale, so the retry's
// Get reads past it and the change lands, instead of the same stale head
// losing every retry.
func TestVersionedStaleWriteMovesALaggingHeadOn(t *testing.T) {
	c := connectReplica(t, startHeadStore(t), nil)
	v := mongox.NewVersioned[counter](c)
	ctx := t.Context()
	if err := v.Put(ctx, "k", 0, counter{N: 1}, nil); err != nil {
		t.Fatal(err)
	}
	// Version 2, stored by a writer that never moved the head.
	if _, err := c.InsertOne(ctx, mongox.Record[counter]{ID: "k@2", Key: "k", Version: 2, State: counter{N: 2}, Published: true}); err != nil {
		t.Fatal(err)
	}
	if _, ver, _ := v.Get(ctx, "k"); ver != 1 {
		t.Fatalf("the head is at %d; this test needs it lagging at 1", ver)
	}
	if err := v.Put(ctx, "k", 1, counter{N: 2}, nil); err != mongox.ErrStale {
		t.Fatalf("a put after a lagging head: %v, want ErrStale", err)
	}
	if got, ver, err := v.Get(ctx, "k"); err != nil || ver != 2 || got.N != 2 {
		t.Fatalf("after the stale put the head reads %+v at %d (%v); want version 2", got, ver, err)
	}
	if got, err := v.Update(ctx, "k", incremented); err != nil || got.N != 3 {
		t.Fatalf("an update past the repaired head: %+v %v", got, err)
	}
}

// A writer that loses the race for a version the head has already moved
// past (a creation arriving after the first update) leaves the head where
// it is: moving it "on" to the version it lost to would move it back, and
// a reader in that moment would get, and a cache keep, a superseded state
// (a profile's first version after its first update_name).
func TestALateLoserDoesNotMoveTheHeadBack(t *testing.T) {
	uri := startHeadStore(t)
	ctx := t.Context()
	first := mongox.NewVersioned[counter](connectReplica(t, uri, nil))
	if err := first.Put(ctx, "k", 0, counter{N: 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := first.Put(ctx, "k", 1, counter{N: 2}, nil); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var writes []string
	late := mongox.NewVersioned[counter](connectReplica(t, uri, func(e *event.CommandStartedEvent) {
		if e.CommandName == "update" {
			mu.Lock()
			writes = append(writes, e.Command.String())
			mu.Unlock()
		}
	}))
	if err := late.Put(ctx, "k", 0, counter{N: 0}, nil); err != mongox.ErrStale {
		t.Fatalf("the late creation: %v, want ErrStale", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(writes) > 0 {
		t.Fatalf("the loser wrote the head %d times: %v", len(writes), writes)
	}
	if got, ver, err := first.Get(ctx, "k"); err != nil || got.N != 2 || ver != 2 {
		t.Fatalf("read %d at version %d (%v), want 2 at 2", got.N, ver, err)
	}
}
