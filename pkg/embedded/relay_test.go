package embedded_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
)

// publisher hands each event it is given to a channel, or fails while down.
type publisher struct {
	down atomic.Bool
	out  chan string
}

func (p *publisher) Publish(_ context.Context, ev contract.Event) error {
	if p.down.Load() {
		return errors.New("nats: connection closed")
	}
	p.out <- ev.ID
	return nil
}

func (p *publisher) next(t *testing.T) string {
	t.Helper()
	select {
	case id := <-p.out:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("no event published")
		return ""
	}
}

func runRelay(t *testing.T, r *mongox.Relay) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func evs(ids ...string) []contract.Event {
	out := make([]contract.Event, len(ids))
	for i, id := range ids {
		out[i] = contract.Event{ID: id, Type: "test.happened", Data: []byte(`{}`)}
	}
	return out
}

// A record written through a store that relays to r goes out at once, by
// its _id, with no full pass (here none runs after the first); a record
// left unpublished by a writer that died goes out in the pass at start.
func TestRelayPublishesWhatItIsToldOfAndRecoversTheRest(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	coll := db.Collection("relayed")
	dead := mongox.NewVersioned[counter](coll) // a writer that never told a relay
	if err := dead.Put(ctx, "left", 0, counter{N: 1}, evs("left-1")); err != nil {
		t.Fatal(err)
	}
	pub := &publisher{out: make(chan string, 16)}
	r := mongox.NewRelay(pub, zap.NewNop(), coll).WithIntervals(time.Hour, time.Hour)
	v := mongox.NewVersioned[counter](coll)
	v.RelayTo(r)
	runRelay(t, r)
	if got := pub.next(t); got != "left-1" {
		t.Fatalf("the pass at start published %q, want left-1", got)
	}
	if err := v.Put(ctx, "k", 0, counter{N: 1}, evs("k-1a", "k-1b")); err != nil {
		t.Fatal(err)
	}
	if a, b := pub.next(t), pub.next(t); a != "k-1a" || b != "k-1b" {
		t.Fatalf("published %q then %q, want k-1a then k-1b", a, b)
	}
	// Marked, so no later pass sends it again.
	var rec struct {
		Published bool `bson:"published"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for !rec.Published {
		if err := coll.FindOne(ctx, bson.M{"_id": "k@1"}).Decode(&rec); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("k@1 never marked published")
		}
	}
}

// While the publisher fails, what was written waits; once it is back, the
// full pass the failure asked for sends everything, a key's events in the
// order of its versions.
func TestRelayRetriesInOrderAfterAFailedPublish(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	coll := db.Collection("relayed")
	pub := &publisher{out: make(chan string, 16)}
	pub.down.Store(true)
	r := mongox.NewRelay(pub, zap.NewNop(), coll).WithIntervals(10*time.Millisecond, time.Hour)
	v := mongox.NewVersioned[counter](coll)
	v.RelayTo(r)
	runRelay(t, r)
	if err := v.Put(ctx, "k", 0, counter{N: 1}, evs("k-1")); err != nil {
		t.Fatal(err)
	}
	if err := v.Put(ctx, "k", 1, counter{N: 2}, evs("k-2")); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-pub.out:
		t.Fatalf("%s published while the publisher was down", id)
	default:
	}
	pub.down.Store(false)
	if a, b := pub.next(t), pub.next(t); a != "k-1" || b != "k-2" {
		t.Fatalf("published %q then %q, want k-1 then k-2", a, b)
	}
}
