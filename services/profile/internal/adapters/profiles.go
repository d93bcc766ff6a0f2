package adapters

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
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

// namesMarker says AnnounceNamesOnce has run to its end.
const namesMarker = "backfilled:names"

// AnnounceNamesOnce has announce (app.AnnounceStoredNames) look at every
// profile as it stands and store, as the profile's next version, the events
// it returns: for the names set before their changes were announced, so
// that auth, which answers logins from its own copy, gets them too. Once, at
// a start (a scan of the heads, then a marker); replicas starting together
// may both run it, and the second finds nothing left to announce.
func (v VersionedProfiles) AnnounceNamesOnce(ctx context.Context, announce func(context.Context, *app.Profile) ([]contract.Event, error)) error {
	c := v.chain.Collection()
	err := c.FindOne(ctx, bson.M{"_id": namesMarker}).Err()
	if err == nil {
		return nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return mongox.Wrap("names backfill", err)
	}
	cur, err := c.Find(ctx, bson.M{"_id": bson.M{"$regex": "@head$"}})
	if err != nil {
		return mongox.Wrap("names backfill", err)
	}
	var heads []struct {
		ID    string      `bson:"_id"`
		State app.Profile `bson:"head_state"`
	}
	if err := cur.All(ctx, &heads); err != nil {
		return mongox.Wrap("names backfill", err)
	}
	nothing := errors.New("nothing to announce")
	for _, h := range heads {
		if evs, err := announce(ctx, &h.State); err != nil || len(evs) == 0 {
			continue // read only to choose; the update below decides
		}
		key := strings.TrimSuffix(h.ID, "@head")
		_, err := v.chain.Update(ctx, key, func(p *app.Profile) ([]contract.Event, error) {
			evs, err := announce(ctx, p)
			if err == nil && len(evs) == 0 {
				return nil, nothing
			}
			return evs, err
		})
		if err != nil && !errors.Is(err, nothing) {
			return err
		}
	}
	// published keeps the relay's pass off it, no key the sweep.
	_, err = c.InsertOne(ctx, bson.M{"_id": namesMarker, "published": true, "at": time.Now().UTC()})
	if mongox.IsDuplicate(err) {
		return nil
	}
	return mongox.Wrap("names backfill", err)
}
