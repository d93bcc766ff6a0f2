package mongox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The relay's two background jobs, finding records whose events are not
// out and removing superseded versions, each read a small collection of
// their own beside the versions' instead of querying the versions: on
// FerretDB v1 any filter but a lone _id decodes the whole collection, so a
// pass over the versions costs what is stored, on every tick, even when
// nothing happens. These collections hold only the work to do.
//
//   - outbox(c): a marker per record with events, inserted before the
//     record and removed once its events are out.
//   - superseded(c): a version that a newer one replaced, queued when the
//     newer one is stored and removed when the sweep deletes it.

func outbox(c *mongo.Collection) *mongo.Collection {
	return c.Database().Collection(c.Name() + "_outbox")
}

func superseded(c *mongo.Collection) *mongo.Collection {
	return c.Database().Collection(c.Name() + "_superseded")
}

// outboxMarker stands for a record whose events may not be out. Its _id
// is the writer's own (two writers racing for one version each insert
// theirs), Record the record's.
type outboxMarker struct {
	ID      string    `bson:"_id"`
	Record  string    `bson:"record"`
	Key     string    `bson:"key"`
	Version int64     `bson:"version"`
	At      time.Time `bson:"at"`
}

func newMarker(key string, version int64) outboxMarker {
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := recordID(key, version)
	return outboxMarker{ID: id + "#" + hex.EncodeToString(b[:]), Record: id, Key: key, Version: version, At: time.Now().UTC()}
}

// queued is a superseded version waiting for the sweep.
type queued struct {
	ID      string    `bson:"_id"` // the version's record id
	Key     string    `bson:"key"`
	Version int64     `bson:"version"`
	At      time.Time `bson:"at"` // when it was superseded
}

// queueSuperseded queues key's version for the sweep; a version queued
// twice is queued once.
func queueSuperseded(ctx context.Context, c *mongo.Collection, key string, version int64) error {
	_, err := superseded(c).InsertOne(ctx, queued{ID: recordID(key, version), Key: key, Version: version, At: time.Now().UTC()})
	if IsDuplicate(err) {
		return nil
	}
	return err
}

// sweepBatch is how many queued versions one sweep looks at.
const sweepBatch = 1000

// SweepSuperseded deletes the versions in c that a newer version replaced
// more than keepFor ago and whose events are out, so chains stay short.
// Version 1 is never queued (it tells a key that exists from one that
// does not when the head is missing, see scan), nor is the newest. It
// reads the queue, whose size is the versions superseded in the last
// keepFor plus those whose events wait, not c.
func SweepSuperseded(ctx context.Context, c *mongo.Collection, keepFor time.Duration) (int, error) {
	q := superseded(c)
	cur, err := q.Find(ctx, bson.M{}, options.Find().SetSort(bson.D{{Key: "at", Value: 1}}).SetLimit(sweepBatch))
	if err != nil {
		return 0, Wrap("sweep versions", err)
	}
	var due []queued
	if err := cur.All(ctx, &due); err != nil {
		return 0, Wrap("sweep versions", err)
	}
	cutoff := time.Now().UTC().Add(-keepFor)
	n := 0
	for _, e := range due {
		if !e.At.Before(cutoff) {
			break // sorted: the rest are younger
		}
		var rec struct {
			Published bool `bson:"published"`
		}
		err := c.FindOne(ctx, bson.M{"_id": e.ID}, options.FindOne().SetProjection(bson.M{"published": 1})).Decode(&rec)
		if err != nil && err != mongo.ErrNoDocuments {
			return n, Wrap("sweep versions", err)
		}
		if err == nil {
			if !rec.Published {
				continue // its events first; a later sweep takes it
			}
			// The queue says a newer version exists; a version is only
			// deleted with its successor seen.
			if err := c.FindOne(ctx, bson.M{"_id": recordID(e.Key, e.Version+1)}).Err(); err == mongo.ErrNoDocuments {
				continue
			} else if err != nil {
				return n, Wrap("sweep versions", err)
			}
			if _, err := c.DeleteOne(ctx, bson.M{"_id": e.ID}); err != nil {
				return n, Wrap("sweep versions", err)
			}
			n++
		}
		// Swept, or gone already (an erased key).
		if _, err := q.DeleteOne(ctx, bson.M{"_id": e.ID}); err != nil {
			return n, Wrap("sweep versions", err)
		}
	}
	return n, nil
}

// queueLegacySuperseded queues the superseded versions stored before Put
// queued them, by one scan of c (see Relay.legacyPass).
func queueLegacySuperseded(ctx context.Context, c *mongo.Collection) error {
	cur, err := c.Find(ctx, bson.M{"key": bson.M{"$exists": true}, "version": bson.M{"$gt": 1}},
		options.Find().SetProjection(bson.M{"_id": 1, "key": 1, "version": 1}))
	if err != nil {
		return err
	}
	var old []queued
	if err := cur.All(ctx, &old); err != nil {
		return err
	}
	for _, r := range old {
		err := c.FindOne(ctx, bson.M{"_id": recordID(r.Key, r.Version+1)}).Err()
		if err == mongo.ErrNoDocuments {
			continue // the newest of its key
		}
		if err != nil {
			return err
		}
		if err := queueSuperseded(ctx, c, r.Key, r.Version); err != nil {
			return err
		}
	}
	return nil
}
