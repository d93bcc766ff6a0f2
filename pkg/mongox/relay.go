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
// Versioned.RelayTo). Finding the others takes a query on "published",
// which FerretDB v1 answers by decoding the whole collection (34 ms a pass
// at a few hundred accounts, growing with every one), so that full pass
// runs only at start, every RecoverEvery (for records whose writer died
// before publishing them), and on the next tick after a publish failed.
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
	c  *mongo.Collection
	id string
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
func (r *Relay) Pending(c *mongo.Collection, id string) {
	r.mu.Lock()
	if len(r.queue) < maxQueue {
		r.queue = append(r.queue, target{c: c, id: id})
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
	r.Pass(ctx) // what earlier processes left
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
		return nil // a full pass (here or in another replica) was first
	}
	if err != nil {
		return err
	}
	if err := r.publish(ctx, d.Events); err != nil {
		return err
	}
	return r.mark(ctx, t.c, t.id)
}

func (r *Relay) mark(ctx context.Context, c *mongo.Collection, id string) error {
	_, err := c.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": bson.M{"published": true}})
	return err
}

// pending is a record as the relay reads it.
type pending struct {
	ID        string           `bson:"_id"`
	Events    []contract.Event `bson:"events"`
	Published bool             `bson:"published"`
}

// Pass publishes what is pending now; errors are logged and retried on the
// next pass.
func (r *Relay) Pass(ctx context.Context) {
	for _, c := range r.colls {
		// A key's versions in order, so its events go out in the order
		// they happened (the store's natural order is not the insertion
		// order: FerretDB returned version 2 before 1).
		cur, err := c.Find(ctx, bson.M{"published": false}, options.Find().SetLimit(passLimit).SetProjection(bson.M{"events": 1}).
			SetSort(bson.D{{Key: "key", Value: 1}, {Key: "version", Value: 1}}))
		if err != nil {
			r.log.Warn("relay find", zap.String("collection", c.Name()), zap.Error(err))
			r.miss()
			continue
		}
		var docs []pending
		if err := cur.All(ctx, &docs); err != nil {
			r.log.Warn("relay read", zap.Error(err))
			r.miss()
			continue
		}
		if len(docs) == passLimit {
			r.miss() // more are waiting: the next tick passes again
		}
		for _, d := range docs {
			if err := r.publish(ctx, d.Events); err != nil {
				r.log.Warn("relay publish", zap.String("doc", d.ID), zap.Error(err))
				r.miss()
				break // keep order: later events wait for this one
			}
			if err := r.mark(ctx, c, d.ID); err != nil {
				r.log.Warn("relay mark", zap.String("doc", d.ID), zap.Error(err))
			}
		}
	}
}

func (r *Relay) publish(ctx context.Context, evs []contract.Event) error {
	for _, ev := range evs {
		if err := r.pub.Publish(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}
