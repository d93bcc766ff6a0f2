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
	"slices"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// FerretV1Documents keeps each user's set as a version chain
// (mongox.Versioned) keyed by user id: a change is the insert of the next
// version with its events, which the relay publishes.
//
// A chain's read is two _id lookups, its head and a probe for a newer
// version. A set this process read or wrote lately is read with the probe
// alone: versions are immutable and numbered one after another, so no
// version after the one known means the known one is the newest. Lately
// means within trustKnown, well inside mongox.KeepFor, the least time a
// superseded version stays (a version written after the known one was
// learnt cannot have been swept yet, so the probe finds it).
type FerretV1Documents struct {
	chain *mongox.Versioned[app.Docs]
	now   func() time.Time

	mu    sync.Mutex
	known map[int64]knownSet
}

type knownSet struct {
	docs    app.Docs
	version int64
	at      time.Time // when it was the newest, at the latest
}

// trustKnown is how long a known version is read with the probe alone. It
// also bounds how long a set another replica erased may still be read
// here (the erasing replica forgets at once).
const trustKnown = time.Minute

// maxKnown bounds the sets remembered; past it they start over.
const maxKnown = 50_000

var _ app.Documents = (*FerretV1Documents)(nil)

func NewFerretV1Documents(c *mongo.Collection) *FerretV1Documents {
	return &FerretV1Documents{chain: mongox.NewVersioned[app.Docs](c), now: time.Now, known: map[int64]knownSet{}}
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
	start := d.now()
	if k, ok := d.recall(userID, start); ok {
		// mongox.Versioned names version n of key "key@n".
		err := d.chain.Collection().FindOne(ctx, bson.M{"_id": fmt.Sprintf("%s@%d", chainKey(userID), k.version+1)}).Err()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return k.docs, k.version, nil
		}
		if err != nil {
			return app.Docs{}, 0, mongox.Wrap("documents get", err)
		}
	}
	docs, ver, err := d.chain.Get(ctx, chainKey(userID))
	if errors.Is(err, mongox.ErrNotFound) {
		docs, ver, err = app.Docs{UserID: userID}, 0, nil
	}
	if err == nil {
		d.remember(userID, docs, ver, start)
	}
	return docs, ver, err
}

// recall is the user's set as this process last knew it, if that was
// lately; its items are the caller's to change.
func (d *FerretV1Documents) recall(userID int64, now time.Time) (knownSet, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k, ok := d.known[userID]
	if !ok || now.Before(k.at) || now.Sub(k.at) >= trustKnown {
		return knownSet{}, false
	}
	k.docs.Items = slices.Clone(k.docs.Items)
	return k, true
}

func (d *FerretV1Documents) remember(userID int64, docs app.Docs, version int64, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.known) >= maxKnown {
		d.known = map[int64]knownSet{}
	}
	if k, ok := d.known[userID]; ok && k.version > version {
		return // a racing read or write of this process knew better
	}
	docs.Items = slices.Clone(docs.Items)
	d.known[userID] = knownSet{docs: docs, version: version, at: at}
}

func (d *FerretV1Documents) forget(userID int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.known, userID)
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
		start := d.now()
		switch err := d.chain.Put(ctx, chainKey(userID), ver, docs, evs); {
		case errors.Is(err, mongox.ErrStale):
			d.forget(userID) // read it all next round
			continue
		case err != nil:
			return docs, 0, err
		}
		d.remember(userID, docs, ver+1, start)
		return docs, ver + 1, nil
	}
	return app.Docs{}, 0, mongox.Wrap("documents update", fmt.Errorf("user %d: too much contention", userID))
}

func (d *FerretV1Documents) Erase(ctx context.Context, userID int64) error {
	d.forget(userID)
	err := d.chain.Erase(ctx, chainKey(userID))
	d.forget(userID) // a read while it ran may have remembered the set
	return err
}
