package adapters

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// VersionedNames keeps each account's names as a mongox version chain
// keyed by the account's uuid, the FerretDB v1 way: it has no atomic
// compare-and-set, so keeping only the newer names is the unique insert of
// the chain's next version, decided on the version read. A read is one
// _id lookup of the chain's head.
type VersionedNames struct {
	chain *mongox.Versioned[domain.Names]
}

// NewVersionedNames keeps the chains in c; a relay over c sweeps their
// superseded versions.
func NewVersionedNames(c *mongo.Collection) VersionedNames {
	return VersionedNames{chain: mongox.NewVersioned[domain.Names](c)}
}

func (v VersionedNames) EnsureIndexes(ctx context.Context) error { return v.chain.EnsureIndexes(ctx) }

// Collection is for the relay that sweeps the chains.
func (v VersionedNames) Collection() *mongo.Collection { return v.chain.Collection() }

func (v VersionedNames) Get(ctx context.Context, uuid string) (domain.Names, error) {
	n, _, err := v.chain.Get(ctx, uuid)
	if errors.Is(err, mongox.ErrNotFound) {
		return domain.Names{}, nil
	}
	return n, err
}

func (v VersionedNames) Keep(ctx context.Context, uuid string, n domain.Names) (bool, error) {
	for range 32 {
		cur, ver, err := v.chain.Get(ctx, uuid)
		switch {
		case errors.Is(err, mongox.ErrNotFound):
		case err != nil:
			return false, err
		case cur.Version >= n.Version:
			return false, nil
		}
		switch err := v.chain.Put(ctx, uuid, ver, n, nil); {
		case errors.Is(err, mongox.ErrStale):
			continue // Put moved the head past what we read
		case err != nil:
			return false, err
		}
		return true, nil
	}
	return false, mongox.Wrap("names keep", fmt.Errorf("%s: too much contention", uuid))
}

func (v VersionedNames) Erase(ctx context.Context, uuid string) error {
	return v.chain.Erase(ctx, uuid)
}
