package mongox

import (
	"context"
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
type Relay struct {
	colls    []*mongo.Collection
	pub      Publisher
	log      *zap.Logger
	kick     chan struct{}
	interval time.Duration
}

// NewRelay relays the given Versioned collections. A write kicks it at once;
// the tick is only the recovery path (a process that died before its kick)
// and a pass is a scan on FerretDB, so it is not frequent. Now and then it
// also sweeps superseded versions.
func NewRelay(pub Publisher, log *zap.Logger, colls ...*mongo.Collection) *Relay {
	return &Relay{colls: colls, pub: pub, log: log, kick: make(chan struct{}, 1), interval: 2 * time.Second}
}

// sweepEvery is how often the relay removes superseded versions.
const sweepEvery = KeepFor / 2

// Kick asks for a pass now (after a write), without waiting for the tick.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run passes until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	for {
		r.Pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
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

type pending struct {
	ID     string           `bson:"_id"`
	Events []contract.Event `bson:"events"`
}

// Pass publishes what is pending now; errors are logged and retried on the
// next pass.
func (r *Relay) Pass(ctx context.Context) {
	for _, c := range r.colls {
		cur, err := c.Find(ctx, bson.M{"published": false}, options.Find().SetLimit(200).SetProjection(bson.M{"events": 1}))
		if err != nil {
			r.log.Warn("relay find", zap.String("collection", c.Name()), zap.Error(err))
			continue
		}
		var docs []pending
		if err := cur.All(ctx, &docs); err != nil {
			r.log.Warn("relay read", zap.Error(err))
			continue
		}
		for _, d := range docs {
			if err := r.publish(ctx, d.Events); err != nil {
				r.log.Warn("relay publish", zap.String("doc", d.ID), zap.Error(err))
				break // keep order: later events wait for this one
			}
			if _, err := c.UpdateOne(ctx, bson.M{"_id": d.ID}, bson.M{"$set": bson.M{"published": true}}); err != nil {
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
