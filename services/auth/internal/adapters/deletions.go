package adapters

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
)

// Deletions keeps the deletion sagas as version chains (see Chains: each
// step a unique insert with its events, so of a cancel and a purge racing
// one wins), and beside them a small index of the deletions in flight,
// one document per account keyed by its uuid, so the deletion loop reads a
// handful of documents rather than every deletion ever made: FerretDB v1
// scans any filter but _id.
//
// Generic in the state for the reason Chains is: Deletions[app.Deletion]
// is app.Deletions.
type Deletions[T any] struct {
	Chains[T] // Get, EnsureIndexes, Collection, RelayTo
	due       *mongo.Collection
}

// NewDeletions keeps the chains in records and the in-flight index in due.
func NewDeletions[T any](records, due *mongo.Collection) Deletions[T] {
	return Deletions[T]{Chains: NewChains[T](records), due: due}
}

type dueDoc struct {
	ID      string    `bson:"_id"`
	PurgeAt time.Time `bson:"purge_at"`
}

// Put stores state as the version after after; contract.ErrExists when
// another writer stored that version first.
func (d Deletions[T]) Put(ctx context.Context, uuid string, after int64, state T, evs []contract.Event) error {
	err := d.chain.Put(ctx, uuid, after, state, evs)
	if errors.Is(err, mongox.ErrStale) {
		return contract.ErrExists
	}
	return err
}

// All reads every version there is and keeps each chain's newest: a scan,
// for support's list only.
func (d Deletions[T]) All(ctx context.Context, limit int) ([]T, error) {
	recs, err := d.chain.Find(ctx, bson.M{"key": bson.M{"$exists": true}}, int64(limit))
	if err != nil {
		return nil, err
	}
	newest := map[string]mongox.Record[T]{}
	for _, r := range recs {
		if cur, ok := newest[r.Key]; !ok || r.Version > cur.Version {
			newest[r.Key] = r
		}
	}
	out := make([]T, 0, len(newest))
	for _, r := range newest {
		out = append(out, r.State)
	}
	return out, nil
}

func (d Deletions[T]) MarkDue(ctx context.Context, uuid string, purgeAt time.Time) error {
	_, err := d.due.InsertOne(ctx, dueDoc{ID: uuid, PurgeAt: purgeAt})
	if mongox.IsDuplicate(err) {
		return nil
	}
	return mongox.Wrap("deletion due insert", err)
}

func (d Deletions[T]) Settle(ctx context.Context, uuid string) error {
	_, err := d.due.DeleteOne(ctx, bson.M{"_id": uuid})
	return mongox.Wrap("deletion due delete", err)
}

func (d Deletions[T]) Due(ctx context.Context) ([]string, error) {
	cur, err := d.due.Find(ctx, bson.M{})
	if err != nil {
		return nil, mongox.Wrap("deletions due", err)
	}
	var due []dueDoc
	if err := cur.All(ctx, &due); err != nil {
		return nil, mongox.Wrap("deletions due", err)
	}
	out := make([]string, len(due))
	for i, dd := range due {
		out[i] = dd.ID
	}
	return out, nil
}
