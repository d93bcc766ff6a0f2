package mongox

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
)

// Record is one immutable version of a document, with the events its
// change announces: the state and its events are one insert, so they
// cannot diverge; the relay publishes and marks them afterwards.
type Record[T any] struct {
	ID        string           `bson:"_id"` // key@version
	Key       string           `bson:"key"`
	Version   int64            `bson:"version"`
	State     T                `bson:"state"`
	Events    []contract.Event `bson:"events,omitempty"`
	Published bool             `bson:"published"`
	At        time.Time        `bson:"at"`
}

// Versioned stores documents as version chains; see the package comment.
type Versioned[T any] struct {
	c *mongo.Collection
	// KeepFor is how long a superseded version stays (DefaultKeepFor when
	// zero); it must exceed the longest time a writer holds a read.
	KeepFor time.Duration
}

func NewVersioned[T any](c *mongo.Collection) *Versioned[T] { return &Versioned[T]{c: c} }

func (v *Versioned[T]) Collection() *mongo.Collection { return v.c }

func (v *Versioned[T]) EnsureIndexes(ctx context.Context) error {
	return EnsureIndexes(ctx, v.c, map[string]bson.D{
		"key_version": {{Key: "key", Value: 1}, {Key: "version", Value: -1}},
		"published":   {{Key: "published", Value: 1}},
	})
}

// Get returns the newest state of key and its version; ErrNotFound when
// the key has none.
func (v *Versioned[T]) Get(ctx context.Context, key string) (T, int64, error) {
	var rec Record[T]
	err := v.c.FindOne(ctx, bson.M{"key": key}, options.FindOne().SetSort(bson.D{{Key: "version", Value: -1}})).Decode(&rec)
	if err == mongo.ErrNoDocuments {
		return rec.State, 0, ErrNotFound
	}
	if err != nil {
		return rec.State, 0, Wrap("versioned get", err)
	}
	return rec.State, rec.Version, nil
}

// ErrStale means another writer stored that version first.
var ErrStale = fmt.Errorf("stale version")

// Put stores state as version after+1; ErrStale when that version exists.
func (v *Versioned[T]) Put(ctx context.Context, key string, after int64, state T, evs []contract.Event) error {
	rec := Record[T]{
		ID: fmt.Sprintf("%s@%d", key, after+1), Key: key, Version: after + 1,
		State: state, Events: evs, Published: len(evs) == 0, At: time.Now().UTC(),
	}
	if _, err := v.c.InsertOne(ctx, rec); err != nil {
		if IsDuplicate(err) {
			return ErrStale
		}
		return Wrap("versioned put", err)
	}
	if after > 0 {
		// Only the newest version is read, so older ones are dead weight
		// once their events are out, and keeping chains short keeps every
		// read cheap on a store that scans (FerretDB v1). But a version's
		// existence is what makes a racing writer's insert of the same
		// number fail: one is deleted only when it is older than any writer
		// can still be holding (handlers are bounded to seconds). A failure
		// costs space, not correctness; the next write tries again.
		_, _ = v.c.DeleteMany(context.WithoutCancel(ctx), bson.M{
			"key": key, "version": bson.M{"$lt": after}, "published": true,
			"at": bson.M{"$lt": time.Now().UTC().Add(-v.keepFor())},
		})
	}
	return nil
}

// DefaultKeepFor is how long a superseded version is kept by default.
const DefaultKeepFor = 10 * time.Minute

func (v *Versioned[T]) keepFor() time.Duration {
	if v.KeepFor > 0 {
		return v.KeepFor
	}
	return DefaultKeepFor
}

// Update applies change to the newest state and stores the result as the
// next version, retrying on a lost race. change returns the events the
// change announces; returning an error stores nothing.
func (v *Versioned[T]) Update(ctx context.Context, key string, change func(state *T) ([]contract.Event, error)) (T, error) {
	for range 32 {
		state, ver, err := v.Get(ctx, key)
		if err != nil {
			return state, err
		}
		evs, err := change(&state)
		if err != nil {
			return state, err
		}
		switch err := v.Put(ctx, key, ver, state, evs); err {
		case nil:
			return state, nil
		case ErrStale:
			continue
		default:
			return state, err
		}
	}
	var zero T
	return zero, Wrap("versioned update", fmt.Errorf("%s: too much contention", key))
}

// Find returns records (any version) matching filter, newest first.
func (v *Versioned[T]) Find(ctx context.Context, filter any, limit int64) ([]Record[T], error) {
	cur, err := v.c.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "at", Value: -1}}).SetLimit(limit))
	if err != nil {
		return nil, Wrap("versioned find", err)
	}
	var out []Record[T]
	if err := cur.All(ctx, &out); err != nil {
		return nil, Wrap("versioned find", err)
	}
	return out, nil
}
