// Package adapters implements the documents app's stores (app.Documents,
// app.ReviewQueue, app.IDs) on MongoDB. The ones named FerretV1 hold the
// machinery FerretDB v1 needs, whose updates are read-modify-write without
// isolation and which scans for any filter but _id: every race is settled
// by a unique insert, and every read is an _id lookup. A MongoDB-native
// adapter (findOneAndUpdate, $inc) can sit beside them behind the same
// interfaces; storetest holds the contract every one of them keeps.
package adapters

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// FerretV1Documents keeps each user's set as a version chain
// (mongox.Versioned) keyed by user id: a change is the insert of the next
// version with its events, which the relay publishes. A read is one _id
// lookup, the chain's head.
type FerretV1Documents struct {
	chain *mongox.Versioned[app.Docs]
}

var _ app.Documents = (*FerretV1Documents)(nil)

func NewFerretV1Documents(c *mongo.Collection) *FerretV1Documents {
	return &FerretV1Documents{chain: mongox.NewVersioned[app.Docs](c)}
}

func (d *FerretV1Documents) EnsureIndexes(ctx context.Context) error {
	return d.chain.EnsureIndexes(ctx)
}

// Collection is where the versions and their events are, for the relay.
func (d *FerretV1Documents) Collection() *mongo.Collection { return d.chain.Collection() }

// RelayTo has r publish each change's events at once.
func (d *FerretV1Documents) RelayTo(r *mongox.Relay) { d.chain.RelayTo(r) }

func chainKey(userID int64) string { return strconv.FormatInt(userID, 10) }

func (d *FerretV1Documents) Get(ctx context.Context, userID int64) (app.Docs, int64, error) {
	docs, ver, err := d.chain.Get(ctx, chainKey(userID))
	if errors.Is(err, mongox.ErrNotFound) {
		return app.Docs{UserID: userID}, 0, nil
	}
	return docs, ver, err
}

// contention bounds the retries of one change; a user's own requests are
// all that race on their set.
const contention = 32

func (d *FerretV1Documents) Update(ctx context.Context, userID int64, change func(*app.Docs, int64) ([]contract.Event, error)) (app.Docs, int64, error) {
	for range contention {
		docs, ver, err := d.Get(ctx, userID)
		if err != nil {
			return docs, 0, err
		}
		evs, err := change(&docs, ver+1)
		if err != nil {
			return docs, 0, err
		}
		switch err := d.chain.Put(ctx, chainKey(userID), ver, docs, evs); {
		case errors.Is(err, mongox.ErrStale):
			continue // Put moved the head on past what we read
		case err != nil:
			return docs, 0, err
		}
		return docs, ver + 1, nil
	}
	return app.Docs{}, 0, mongox.Wrap("documents update", fmt.Errorf("user %d: too much contention", userID))
}

func (d *FerretV1Documents) Erase(ctx context.Context, userID int64) error {
	return d.chain.Erase(ctx, chainKey(userID))
}
