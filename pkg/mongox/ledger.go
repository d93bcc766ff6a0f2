package mongox

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Entry is one link of a ledger chain.
type Entry struct {
	ID   string    `bson:"_id"`
	Key  string    `bson:"key"`
	Seq  int64     `bson:"seq"`
	Kind string    `bson:"kind"`
	At   time.Time `bson:"at"`
}

// Ledger appends entries to per-key chains; the unique _id key#seq makes
// each sequence number go to exactly one writer, so a decision taken on
// the chain's tail holds even with many writers at once.
type Ledger struct {
	c   *mongo.Collection
	now func() time.Time
}

func NewLedger(c *mongo.Collection, now func() time.Time) *Ledger {
	if now == nil {
		now = time.Now
	}
	return &Ledger{c: c, now: now}
}

// EnsureIndexes helps real MongoDB; FerretDB scans regardless.
func (l *Ledger) EnsureIndexes(ctx context.Context) error {
	return EnsureIndexes(ctx, l.c, map[string]bson.D{"key_seq": {{Key: "key", Value: 1}, {Key: "seq", Value: -1}}})
}

// Tail returns up to n newest entries of key, newest first.
func (l *Ledger) Tail(ctx context.Context, key string, n int64) ([]Entry, error) {
	cur, err := l.c.Find(ctx, bson.M{"key": key}, options.Find().SetSort(bson.D{{Key: "seq", Value: -1}}).SetLimit(n))
	if err != nil {
		return nil, Wrap("ledger tail", err)
	}
	var out []Entry
	if err := cur.All(ctx, &out); err != nil {
		return nil, Wrap("ledger tail", err)
	}
	return out, nil
}

// Append reads the newest n entries, asks decide for the kind of entry to
// add (or an error to refuse), and appends it. Losing a race re-reads and
// decides again on the new tail.
func (l *Ledger) Append(ctx context.Context, key string, n int64, decide func(tail []Entry, now time.Time) (string, error)) (Entry, error) {
	for range 64 {
		tail, err := l.Tail(ctx, key, n)
		if err != nil {
			return Entry{}, err
		}
		now := l.now().UTC()
		kind, err := decide(tail, now)
		if err != nil {
			return Entry{}, err
		}
		var seq int64 = 1
		if len(tail) > 0 {
			seq = tail[0].Seq + 1
		}
		e := Entry{ID: fmt.Sprintf("%s#%d", key, seq), Key: key, Seq: seq, Kind: kind, At: now}
		if _, err := l.c.InsertOne(ctx, e); err != nil {
			if IsDuplicate(err) {
				continue
			}
			return Entry{}, Wrap("ledger append", err)
		}
		return e, nil
	}
	return Entry{}, Wrap("ledger append", fmt.Errorf("%s: too much contention", key))
}

// Sweep deletes entries older than age. A chain's numbering survives: what
// remains is newer, so it still holds the highest sequence number.
func (l *Ledger) Sweep(ctx context.Context, age time.Duration) (int64, error) {
	res, err := l.c.DeleteMany(ctx, bson.M{"at": bson.M{"$lt": l.now().Add(-age)}})
	if err != nil {
		return 0, Wrap("ledger sweep", err)
	}
	return res.DeletedCount, nil
}
