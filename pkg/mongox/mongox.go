// Package mongox holds the storage patterns that stay correct on both real
// MongoDB and FerretDB v1, whose updates are read-modify-write without
// isolation (concurrent updates lose writes). Only a unique insert is
// atomic everywhere, so every race is settled by one:
//   - Versioned: a document's history as immutable versions; an update is
//     the insert of version n+1, so two writers cannot both win.
//   - Ledger: per-key append-only chains of entries (attempts, sends,
//     sequence numbers); appending claims the next sequence number.
//   - Claim: a unique key owned by one party (an email, an idempotency id).
package mongox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/obs"
)

// Connect opens a client and checks it answers.
func Connect(ctx context.Context, uri, db string) (*mongo.Client, *mongo.Database, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(3 * time.Second).
		SetConnectTimeout(3 * time.Second).
		SetTimeout(10 * time.Second).
		SetMonitor(obs.MongoMonitor()))
	if err != nil {
		return nil, nil, fmt.Errorf("mongo connect: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pctx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, nil, fmt.Errorf("mongo ping: %w", err)
	}
	return client, client.Database(db), nil
}

// IsDuplicate reports a unique-index violation: 11000 from an insert, and
// FerretDB v1's InternalError for the same violation from an update.
func IsDuplicate(err error) bool {
	if err == nil {
		return false
	}
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// Wrap turns a store failure into Unavailable, so callers answer 503 with
// Retry-After instead of 500 when the store is down.
func Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *contract.Error
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return contract.StoreUnavailable(op, err)
}

// ErrNotFound is returned by finders when nothing matches. It is the
// apps' contract.ErrNotFound, so a store interface can promise that word
// while its adapter returns what these patterns return.
var ErrNotFound = contract.ErrNotFound

// EnsureIndexes creates the named indexes that do not exist yet. It only
// creates what is missing: FerretDB v1 fails on a repeated createIndexes,
// and every replica runs this at start.
func EnsureIndexes(ctx context.Context, c *mongo.Collection, want map[string]bson.D) error {
	cur, err := c.Indexes().List(ctx)
	if err != nil {
		return Wrap("list indexes", err)
	}
	var have []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctx, &have); err != nil {
		return Wrap("list indexes", err)
	}
	existing := map[string]bool{}
	for _, ix := range have {
		existing[ix.Name] = true
	}
	for name, keys := range want {
		if existing[name] {
			continue
		}
		if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys, Options: options.Index().SetName(name)}); err != nil {
			return Wrap("create index "+name, err)
		}
	}
	return nil
}

// Pinger is a readiness check of the store behind client.
func Pinger(client *mongo.Client) func(context.Context) error {
	return func(ctx context.Context) error { return client.Ping(ctx, readpref.Primary()) }
}
