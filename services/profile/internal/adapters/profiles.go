package adapters

import (
	"context"
	"errors"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/profile/internal/app"
)

// VersionedProfiles keeps each profile as a mongox version chain, the
// FerretDB v1 way: it has no atomic update, so every change is the unique
// insert of the next version, and its events wait in that version for the
// relay. A store with findOneAndUpdate would need none of it.
type VersionedProfiles struct {
	chain *mongox.Versioned[app.Profile]
}

// NewVersionedProfiles keeps the chains in c.
func NewVersionedProfiles(c *mongo.Collection) VersionedProfiles {
	return VersionedProfiles{chain: mongox.NewVersioned[app.Profile](c)}
}

func (v VersionedProfiles) EnsureIndexes(ctx context.Context) error {
	return v.chain.EnsureIndexes(ctx)
}

// Collection is where the relay finds the events waiting in versions.
func (v VersionedProfiles) Collection() *mongo.Collection { return v.chain.Collection() }

// RelayTo has r publish a change's events as soon as it is stored.
func (v VersionedProfiles) RelayTo(r *mongox.Relay) { v.chain.RelayTo(r) }

func profileKey(userID int64) string { return strconv.FormatInt(userID, 10) }

// notFound speaks the app's word for a chain with no version.
func notFound(err error) error {
	if errors.Is(err, mongox.ErrNotFound) {
		return app.ErrNotFound
	}
	return err
}

func (v VersionedProfiles) Get(ctx context.Context, userID int64) (app.Profile, error) {
	p, _, err := v.chain.Get(ctx, profileKey(userID))
	return p, notFound(err)
}

func (v VersionedProfiles) Create(ctx context.Context, p app.Profile) error {
	err := v.chain.Put(ctx, profileKey(p.UserID), 0, p, nil)
	if errors.Is(err, mongox.ErrStale) {
		return app.ErrExists
	}
	return err
}

func (v VersionedProfiles) Update(ctx context.Context, userID int64, change func(*app.Profile) ([]contract.Event, error)) (app.Profile, error) {
	p, err := v.chain.Update(ctx, profileKey(userID), change)
	return p, notFound(err)
}

func (v VersionedProfiles) Erase(ctx context.Context, userID int64) error {
	return v.chain.Erase(ctx, profileKey(userID))
}
