package adapters

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
)

// Chains keeps each key's states as a mongox version chain, the FerretDB
// v1 way: it has no atomic update, so a change is the unique insert of the
// next version, its events wait in that version for the relay, and a read
// is one _id lookup of the chain's head. A store with findOneAndUpdate
// would need none of it.
//
// It is generic in the state so that it need not import app (whose own
// tests build their stores from this package): Chains[app.Account] is
// app.Accounts.
type Chains[T any] struct{ chain *mongox.Versioned[T] }

// NewChains keeps the chains in c.
func NewChains[T any](c *mongo.Collection) Chains[T] {
	return Chains[T]{chain: mongox.NewVersioned[T](c)}
}

func (c Chains[T]) EnsureIndexes(ctx context.Context) error { return c.chain.EnsureIndexes(ctx) }

// Collection is where the relay finds the events waiting in versions.
func (c Chains[T]) Collection() *mongo.Collection { return c.chain.Collection() }

// RelayTo has r publish a change's events as soon as it is stored.
func (c Chains[T]) RelayTo(r *mongox.Relay) { c.chain.RelayTo(r) }

func (c Chains[T]) Get(ctx context.Context, key string) (T, int64, error) {
	return c.chain.Get(ctx, key)
}

func (c Chains[T]) Latest(ctx context.Context, key string) (T, int64, error) {
	return c.chain.Latest(ctx, key)
}

func (c Chains[T]) Changed(ctx context.Context, key string, version int64) (bool, error) {
	return c.chain.Changed(ctx, key, version)
}

func (c Chains[T]) Create(ctx context.Context, key string, state T) error {
	err := c.chain.Put(ctx, key, 0, state, nil)
	if errors.Is(err, mongox.ErrStale) {
		return contract.ErrExists
	}
	return err
}

func (c Chains[T]) Update(ctx context.Context, key string, change func(*T) ([]contract.Event, error)) (T, error) {
	return c.chain.Update(ctx, key, change)
}

func (c Chains[T]) Erase(ctx context.Context, key string) error { return c.chain.Erase(ctx, key) }
