package mongox

import (
	"context"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
)

// Publisher is what the relay hands events to (events.Publisher).
type Publisher interface {
	Publish(ctx context.Context, ev contract.Event) error
}

// Relay publishes the events recorded with state changes (documents with
// published=false) and then marks them. It is the only writer of the mark,
// so the mark needs no isolation; a relay that dies between publish and
// mark publishes again, and JetStream drops the copy by Nats-Msg-Id.
//
// A record written in this process is published at once by its _id (see
// Versioned.RelayTo). The others (their writer died before publishing
// them, or a publish failed) are found from the collection's outbox: a
// marker each writer inserts before its record, removed once the record's
// events are out (see outbox). A query on "published" would find them too,
// but FerretDB v1 answers it by decoding the whole collection (34 ms a
// pass at a few hundred accounts, 10-20% of a core at 6 000); the outbox
// holds only what is not out yet, so a pass costs what is pending, not
// what is stored. It runs at start, every RecoverEvery, and on the next
// tick after a publish failed.
type Relay struct {
	colls   []*mongo.Collection
	pub     Publisher
	log     *zap.Logger
	kick    chan struct{}
	retry   time.Duration // tick: how soon the full pass follows a failure
	recover time.Duration // how often the full pass runs anyway

	mu     sync.Mutex
	queue  []target
	missed bool // a publish failed, the queue overflowed or a pass left records: only the next tick's full pass publishes
}

type target struct {
	c      *mongo.Collection
	id     string
	marker string // the record's outbox marker
}

// maxQueue bounds the records waiting to be published by _id; past it
// they wait for the full pass.
const maxQueue = 10_000

// passLimit is how many records one pass of a collection publishes.
const passLimit = 200

// RecoverEvery is how often a relay looks for unpublished records it was
// not told of (their writer died between the write and the publish).
const RecoverEvery = 30 * time.Second

// NewRelay relays the given Versioned collections.
func NewRelay(pub Publisher, log *zap.Logger, colls ...*mongo.Collection) *Relay {
	return &Relay{colls: colls, pub: pub, log: log, kick: make(chan struct{}, 1), retry: 2 * time.Second, recover: RecoverEvery}
}

// WithIntervals sets the retry tick and the full pass's period (tests).
func (r *Relay) WithIntervals(retry, recover time.Duration) *Relay {
	r.retry, r.recover = retry, recover
	return r
}

// sweepEvery is how often the relay removes superseded versions.
const sweepEvery = KeepFor / 2

// wake has the relay publish what it was told of.
func (r *Relay) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Pending tells the relay of a record just written with events in c.
func (r *Relay) Pending(c *mongo.Collection, id, marker string) {
	r.mu.Lock()
	if len(r.queue) < maxQueue {
		r.queue = append(r.queue, target{c: c, id: id, marker: marker})
	} else {
		r.missed = true
	}
	r.mu.Unlock()
	r.wake()
}

// Run publishes until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	t := time.NewTicker(r.retry)
	defer t.Stop()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	r.legacyPass(ctx) // once per collection: records from before the outbox
	r.Pass(ctx)       // what earlier processes left
	lastPass := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
			r.drain(ctx)
		case <-t.C:
			// The queue needs no tick: every Pending wakes the relay.
			if r.takeMissed() || time.Since(lastPass) >= r.recover {
				r.Pass(ctx)
				lastPass = time.Now()
			}
		case <-sweep.C:
			for _, c := range r.colls {
				if n, err := SweepSuperseded(ctx, c, KeepFor); err != nil {
					r.log.Warn("version sweep", zap.String("collection", c.Name()), zap.Error(err))
				} else if n > 0 {
					r.log.Info("superseded versions swept", zap.String("collection", c.Name()), zap.Int("versions", n))
				}
			}
		}
	}
}

// miss leaves what is queued to the next full pass.
func (r *Relay) miss() {
	r.mu.Lock()
	r.queue, r.missed = nil, true
	r.mu.Unlock()
}

func (r *Relay) takeMissed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.missed
	r.missed = false
	return m
}

// drain publishes the queued records in the order they were written. At
// the first failure the rest are left to the full pass, which keeps their
// order: a later event of a key never goes out before an earlier one.
func (r *Relay) drain(ctx context.Context) {
	for {
		r.mu.Lock()
		q := r.queue
		r.queue = nil
		missed := r.missed
		r.mu.Unlock()
		if len(q) == 0 || missed {
			// After a miss, only the full pass publishes, so a key's later
			// event cannot overtake the one that failed.
			return
		}
		for _, t := range q {
			if err := r.publishOne(ctx, t); err != nil {
				r.log.Warn("relay publish", zap.String("doc", t.id), zap.Error(err))
				r.miss()
				return
			}
		}
	}
}

func (r *Relay) publishOne(ctx context.Context, t target) error {
	var d pending
	err := t.c.FindOne(ctx, bson.M{"_id": t.id}, options.FindOne().SetProjection(bson.M{"events": 1, "published": 1})).Decode(&d)
	if err == mongo.ErrNoDocuments || err == nil && d.Published {
		// A pass (here or in another replica) was first.
		_, err := outbox(t.c).DeleteOne(ctx, bson.M{"_id": t.marker})
		return err
	}
	if err != nil {
		return err
	}
	if err := r.publish(ctx, d.Events); err != nil {
		return err
	}
	return r.mark(ctx, t.c, t.id, t.marker)
}

// mark records that id's events are out; its outbox markers go after.
func (r *Relay) mark(ctx context.Context, c *mongo.Collection, id string, markers ...string) error {
	if _, err := c.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": bson.M{"published": true}}); err != nil {
		return err
	}
	box := outbox(c)
	for _, m := range markers {
		if _, err := box.DeleteOne(ctx, bson.M{"_id": m}); err != nil {
			return err
		}
	}
	return nil
}

// pending is a record as the relay reads it.
type pending struct {
	ID        string           `bson:"_id"`
	Events    []contract.Event `bson:"events"`
	Published bool             `bson:"published"`
}

// Pass publishes what is pending now; errors are logged and retried on the
// next pass. It reads each collection's outbox, whose size is what is not
// yet out (none, when all is well), and the pending records by _id.
func (r *Relay) Pass(ctx context.Context) {
	for _, c := range r.colls {
		// A key's versions in order, so its events go out in the order
		// they happened (the store's natural order is not the insertion
		// order: FerretDB returned version 2 before 1).
		cur, err := outbox(c).Find(ctx, bson.M{}, options.Find().SetLimit(passLimit).
			SetSort(bson.D{{Key: "key", Value: 1}, {Key: "version", Value: 1}}))
		if err != nil {
			r.log.Warn("relay outbox", zap.String("collection", c.Name()), zap.Error(err))
			r.miss()
			continue
		}
		var markers []outboxMarker
		if err := cur.All(ctx, &markers); err != nil {
			r.log.Warn("relay outbox", zap.Error(err))
			r.miss()
			continue
		}
		if len(markers) == passLimit {
			r.miss() // more are waiting: the next tick passes again
		}
		for _, m := range markers {
			if m.Record == "" {
				continue // the legacy pass's note (see legacyPass)
			}
			if err := r.publishMarked(ctx, c, m); err != nil {
				r.log.Warn("relay publish", zap.String("doc", m.Record), zap.Error(err))
				r.miss()
				break // keep order: later events wait for this one
			}
		}
	}
}

// publishMarked publishes the record an outbox marker stands for, and
// removes the marker once its record's events are out or it has none.
func (r *Relay) publishMarked(ctx context.Context, c *mongo.Collection, m outboxMarker) error {
	var d pending
	err := c.FindOne(ctx, bson.M{"_id": m.Record}, options.FindOne().SetProjection(bson.M{"events": 1, "published": 1})).Decode(&d)
	switch {
	case err == mongo.ErrNoDocuments:
		// The writer is between its marker and its record, or died
		// there: the marker goes once no writer can still be under way.
		if time.Since(m.At) < markerGrace {
			return nil
		}
		_, err := outbox(c).DeleteOne(ctx, bson.M{"_id": m.ID})
		return err
	case err != nil:
		return err
	case d.Published:
		_, err := outbox(c).DeleteOne(ctx, bson.M{"_id": m.ID})
		return err
	}
	if err := r.publish(ctx, d.Events); err != nil {
		return err
	}
	return r.mark(ctx, c, m.Record, m.ID)
}

// markerGrace is how long a marker without its record may be a writer's
// still under way (handlers are bounded to seconds).
const markerGrace = time.Minute

// legacyPass publishes, once per collection, the records written before
// their writers left outbox markers, by the query on "published" the
// outbox replaces, and queues their superseded versions for the sweep;
// a note in the outbox says it was done. Its one scan is paid at one
// start, not on every pass.
func (r *Relay) legacyPass(ctx context.Context) {
	for _, c := range r.colls {
		box := outbox(c)
		err := box.FindOne(ctx, bson.M{"_id": legacyNote}).Err()
		if err == nil {
			continue
		}
		if err != mongo.ErrNoDocuments {
			r.log.Warn("relay legacy pass", zap.String("collection", c.Name()), zap.Error(err))
			continue
		}
		if err := r.legacy(ctx, c); err != nil {
			r.log.Warn("relay legacy pass", zap.String("collection", c.Name()), zap.Error(err))
			continue
		}
		if _, err := box.InsertOne(ctx, bson.M{"_id": legacyNote, "at": time.Now().UTC()}); err != nil && !IsDuplicate(err) {
			r.log.Warn("relay legacy pass", zap.String("collection", c.Name()), zap.Error(err))
		}
	}
}

const legacyNote = "!legacy-pass-done"

func (r *Relay) legacy(ctx context.Context, c *mongo.Collection) error {
	cur, err := c.Find(ctx, bson.M{"published": false}, options.Find().SetProjection(bson.M{"events": 1}).
		SetSort(bson.D{{Key: "key", Value: 1}, {Key: "version", Value: 1}}))
	if err != nil {
		return err
	}
	var docs []pending
	if err := cur.All(ctx, &docs); err != nil {
		return err
	}
	for _, d := range docs {
		if err := r.publish(ctx, d.Events); err != nil {
			return err
		}
		if err := r.mark(ctx, c, d.ID); err != nil {
			return err
		}
	}
	return queueLegacySuperseded(ctx, c)
}

func (r *Relay) publish(ctx context.Context, evs []contract.Event) error {
	for _, ev := range evs {
		if err := r.pub.Publish(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}
