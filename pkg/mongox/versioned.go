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
	c     *mongo.Collection
	local *stripes
	relay *Relay // told of each record written with events; nil: the relay's full pass finds them
}

func NewVersioned[T any](c *mongo.Collection) *Versioned[T] {
	return &Versioned[T]{c: c, local: &stripes{}}
}

func (v *Versioned[T]) Collection() *mongo.Collection { return v.c }

// RelayTo has r publish each record this store writes with events at
// once, by its _id; r must relay v's collection.
func (v *Versioned[T]) RelayTo(r *Relay) { v.relay = r }

func (v *Versioned[T]) EnsureIndexes(ctx context.Context) error {
	return EnsureIndexes(ctx, v.c, map[string]bson.D{
		"key_version": {{Key: "key", Value: 1}, {Key: "version", Value: -1}},
		"published":   {{Key: "published", Value: 1}},
	})
}

// Get returns the newest state of key and its version; ErrNotFound when
// the key has none. It is one lookup by _id, which every store answers
// from its primary index (FerretDB v1 scans for anything else: a sorted
// query on "key" took 123 ms in a 2,000-document collection, an _id lookup
// 1 ms): the key's head, which every writer moves forward past any version
// stored before its own (see moveHead). A version whose writer is still
// between its insert and its head move is not seen yet, as if read just
// before it; Latest and Changed see it too.
func (v *Versioned[T]) Get(ctx context.Context, key string) (T, int64, error) {
	var h head[T]
	err := v.c.FindOne(ctx, bson.M{"_id": headID(key)}).Decode(&h)
	if err == mongo.ErrNoDocuments {
		return v.walk(ctx, key)
	}
	if err != nil {
		return h.State, 0, Wrap("versioned get", err)
	}
	return h.State, h.Version, nil
}

// Latest is Get followed to the end of the chain, one lookup more: it also
// sees a version whose writer has not moved the head yet, which is what a
// writer about to insert the next version, or a check that must see a
// change stored before it began, needs.
func (v *Versioned[T]) Latest(ctx context.Context, key string) (T, int64, error) {
	state, ver, err := v.Get(ctx, key)
	if err != nil {
		return state, ver, err
	}
	for {
		rec, found, err := v.version(ctx, key, ver+1)
		if err != nil || !found {
			return state, ver, err
		}
		state, ver = rec.State, rec.Version
	}
}

// Changed reports whether key has a version newer than version, in one
// lookup that sees every version stored before it, head moved or not.
func (v *Versioned[T]) Changed(ctx context.Context, key string, version int64) (bool, error) {
	_, found, err := v.version(ctx, key, version+1)
	return found, err
}

func (v *Versioned[T]) version(ctx context.Context, key string, version int64) (Record[T], bool, error) {
	var rec Record[T]
	err := v.c.FindOne(ctx, bson.M{"_id": recordID(key, version)}).Decode(&rec)
	if err == mongo.ErrNoDocuments {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, Wrap("versioned get", err)
	}
	return rec, true, nil
}

// walk finds the newest version of a key whose head is missing (its
// first writer has not moved it yet, or that head write failed) by
// following the chain from its first version, one _id lookup per version,
// and writes the head for next time. Versions are numbered without gaps
// (each is the unique insert of the number after the one its writer read),
// so the walk ends at the newest; a sorted query on the key would find the
// same version, but on FerretDB v1 reads the whole collection to do it.
// A head is missing only for a moment or after a failure, so the walk is
// short: usually the first version alone.
func (v *Versioned[T]) walk(ctx context.Context, key string) (T, int64, error) {
	rec, found, err := v.version(ctx, key, 1)
	if err != nil {
		return rec.State, 0, err
	}
	if !found {
		return rec.State, 0, ErrNotFound
	}
	for {
		next, found, err := v.version(ctx, key, rec.Version+1)
		if err != nil {
			return rec.State, 0, err
		}
		if !found {
			break
		}
		rec = next
	}
	v.moveHead(ctx, key, rec.Version, rec.State)
	return rec.State, rec.Version, nil
}

// head is a key's pointer to its newest version, with that version's
// state, so a read is one _id lookup. It has no "key" or "state" field, so
// nothing that queries the versions matches it, and "published" keeps the
// relay off it.
type head[T any] struct {
	ID        string    `bson:"_id"`
	Version   int64     `bson:"version"`
	State     T         `bson:"head_state"`
	Published bool      `bson:"published"`
	At        time.Time `bson:"at"`
}

func headID(key string) string { return key + "@head" }

func recordID(key string, version int64) string { return fmt.Sprintf("%s@%d", key, version) }

// moveHead moves the head to version, which this process just wrote or
// found, then on past any version stored after it. The filter is the _id
// alone, the one FerretDB v1 pushes down into SQLite (a condition on any
// other field, such as a compare-and-set on the version, makes it decode
// the whole collection), so a slower writer may set the head back over a
// newer one; but every writer, after its write, looks for the version
// after the one it wrote and moves the head on to it. The last write to
// land is so followed by a look that finds any version stored before it,
// and a version stored after it has a writer still to come: once the
// writers are done, the head is the newest version. A store failure stops
// the walk; the head then lags until the key's next write (whose insert of
// a number already taken sends it down the chain).
func (v *Versioned[T]) moveHead(ctx context.Context, key string, version int64, state T) {
	ctx = context.WithoutCancel(ctx)
	for {
		_, err := v.c.UpdateOne(ctx, bson.M{"_id": headID(key)},
			bson.M{"$set": bson.M{"version": version, "head_state": state, "published": true, "at": time.Now().UTC()}},
			options.UpdateOne().SetUpsert(true))
		if err != nil {
			return
		}
		next, found, err := v.version(ctx, key, version+1)
		if err != nil || !found {
			return
		}
		version, state = next.Version, next.State
	}
}

// headBefore says whether key's head is missing or behind version (or
// could not be read: then moving it on is the safe side).
func (v *Versioned[T]) headBefore(ctx context.Context, key string, version int64) bool {
	var h struct {
		Version int64 `bson:"version"`
	}
	err := v.c.FindOne(ctx, bson.M{"_id": headID(key)}, options.FindOne().SetProjection(bson.M{"version": 1})).Decode(&h)
	return err != nil || h.Version < version
}

// ErrStale means another writer stored that version first.
var ErrStale = fmt.Errorf("stale version")

// Put stores state as version after+1; ErrStale when that version exists.
// A record with events has an outbox marker inserted first, so the relay
// finds it even if this writer dies before telling it; the version it
// supersedes is queued for the sweep (see outbox.go).
func (v *Versioned[T]) Put(ctx context.Context, key string, after int64, state T, evs []contract.Event) error {
	rec := Record[T]{
		ID: recordID(key, after+1), Key: key, Version: after + 1,
		State: state, Events: evs, Published: len(evs) == 0, At: time.Now().UTC(),
	}
	var marker outboxMarker
	if len(evs) > 0 {
		marker = newMarker(key, after+1)
		if _, err := outbox(v.c).InsertOne(ctx, marker); err != nil {
			return Wrap("versioned put", err)
		}
	}
	if _, err := v.c.InsertOne(ctx, rec); err != nil {
		if marker.ID != "" {
			// The winner's record has a marker of its own.
			_, _ = outbox(v.c).DeleteOne(context.WithoutCancel(ctx), bson.M{"_id": marker.ID})
		}
		if IsDuplicate(err) {
			// A version after the one the caller read exists, so the head
			// the caller read may lag it (its writer has not moved it yet,
			// or never will): move it on, so the caller's next Get sees
			// past it instead of losing the same race again. Unless the
			// head is there or past it already (this caller read long
			// ago, or created a key another writer created and updated
			// since): moving it "on" would move it back, and a reader in
			// that moment would get a superseded state.
			if v.headBefore(ctx, key, after+1) {
				if next, found, err := v.version(ctx, key, after+1); err == nil && found {
					v.moveHead(ctx, key, next.Version, next.State)
				}
			}
			return ErrStale
		}
		return Wrap("versioned put", err)
	}
	v.moveHead(ctx, key, after+1, state)
	if after >= 2 {
		// Version 1 stays (see scan). A failed queueing leaves a version
		// the sweep never removes: space, not correctness.
		_ = queueSuperseded(context.WithoutCancel(ctx), v.c, key, after)
	}
	if v.relay != nil && len(evs) > 0 {
		v.relay.Pending(v.c, rec.ID, marker.ID)
	}
	return nil
}

// KeepFor is how long a superseded version stays before SweepSuperseded
// removes it. A version's existence is what makes a racing writer's insert
// of the same number fail, so it must outlive any writer still holding
// the read it was based on (handlers are bounded to seconds).
const KeepFor = 10 * time.Minute

// Update applies change to the newest state and stores the result as the
// next version, retrying on a lost race. change returns the events the
// change announces; returning an error stores nothing.
func (v *Versioned[T]) Update(ctx context.Context, key string, change func(state *T) ([]contract.Event, error)) (T, error) {
	defer v.local.lock(key)()
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
			continue // Put moved the head on past what we read
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

// Erase deletes every version of key and its head: an erased key reads as
// one that never existed.
// Records whose events are not yet out are left for the relay, which
// publishes them, and a later Erase removes them; erasing twice is a no-op.
func (v *Versioned[T]) Erase(ctx context.Context, key string) error {
	defer v.local.lock(key)()
	if _, err := v.c.DeleteMany(ctx, bson.M{"key": key, "published": true}); err != nil {
		return Wrap("versioned erase", err)
	}
	left, err := v.c.CountDocuments(ctx, bson.M{"key": key})
	if err != nil {
		return Wrap("versioned erase", err)
	}
	if left > 0 {
		return Wrap("versioned erase", fmt.Errorf("%s: %d versions with events not yet published", key, left))
	}
	if _, err := v.c.DeleteOne(ctx, bson.M{"_id": headID(key)}); err != nil {
		return Wrap("versioned erase", err)
	}
	return nil
}

// Settled is what Put and its head move leave for a key's first version
// with no events pending: the record and the head, as documents to insert
// in bulk (a seed of many keys at once, straight into the store).
func Settled[T any](key string, state T, at time.Time) []any {
	at = at.UTC()
	return []any{
		Record[T]{ID: recordID(key, 1), Key: key, Version: 1, State: state, Published: true, At: at},
		head[T]{ID: headID(key), Version: 1, State: state, Published: true, At: at},
	}
}

// Seed inserts each collection's documents in bulk, unordered so that one
// batch is one round trip however many keys it holds; an empty batch is
// skipped, since the driver refuses one.
func Seed(ctx context.Context, db *mongo.Database, batches map[string][]any) error {
	for coll, docs := range batches {
		if len(docs) == 0 {
			continue
		}
		if _, err := db.Collection(coll).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
			return fmt.Errorf("seed %s: %w", coll, err)
		}
	}
	return nil
}
