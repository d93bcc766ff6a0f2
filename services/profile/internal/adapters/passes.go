package adapters

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/profile/internal/app"
)

// Passes keeps identity passes in insert-only collections (on FerretDB
// only a unique insert is atomic), and per user, in userLists, the time
// of their latest revocation and their newest verifications, so a
// verify and the verifications list read by _id alone.
type Passes struct {
	issues, revocations, shown *mongo.Collection
	revoked                    userList[time.Time]
	seen                       userList[[]seenEntry]
}

// NewPasses keeps the pass records in issues, every revocation in
// revocations, and the per-user lists in lists (a mongox Versioned
// collection, which a relay should sweep); shown holds the verifications
// recorded before the lists, read once to list them, and erased.
func NewPasses(issues, revocations, shown, lists *mongo.Collection) Passes {
	return Passes{issues: issues, revocations: revocations, shown: shown,
		revoked: newUserList[time.Time](lists, "pass-revoked"), seen: newUserList[[]seenEntry](lists, "pass-seen")}
}

// MaxVerifications is how many of a user's newest verifications are
// kept: more than the app lists, few enough that each one recorded
// rewrites a small document.
const MaxVerifications = 200

type seenEntry struct {
	ID     bson.ObjectID `bson:"id"`
	At     time.Time     `bson:"at"`
	Fields []string      `bson:"fields,omitempty"`
}

// addSeen puts e among the newest first, unless it is there.
func addSeen(list *[]seenEntry, e seenEntry) bool {
	if slices.ContainsFunc(*list, func(o seenEntry) bool { return o.ID == e.ID }) {
		return false
	}
	i, _ := slices.BinarySearchFunc(*list, e, func(o, e seenEntry) int { return e.At.Compare(o.At) })
	*list = slices.Insert(*list, i, e)
	*list = (*list)[:min(len(*list), MaxVerifications)]
	return slices.ContainsFunc(*list, func(o seenEntry) bool { return o.ID == e.ID })
}

type issuedDoc struct {
	ID        string              `bson:"_id"`
	UserID    int64               `bson:"user_id"`
	IssuedAt  time.Time           `bson:"issued_at"`
	ExpiresAt time.Time           `bson:"expires_at"`
	Fields    []string            `bson:"fields"`
	Claims    contract.PassClaims `bson:"claims"`
}

type eventDoc struct {
	ID     bson.ObjectID `bson:"_id"`
	UserID int64         `bson:"user_id"`
	At     time.Time     `bson:"at"`
	Fields []string      `bson:"fields,omitempty"`
}

// EnsureIndexes lists the revocations and verifications stored before
// the lists existed, once.
func (p Passes) EnsureIndexes(ctx context.Context) error {
	if err := mongox.EnsureIndexes(ctx, p.shown, map[string]bson.D{"user_at": {{Key: "user_id", Value: 1}, {Key: "at", Value: -1}}}); err != nil {
		return err // the erasure's
	}
	if err := p.revoked.chain.EnsureIndexes(ctx); err != nil {
		return err
	}
	err := p.revoked.backfillOnce(ctx, func(ctx context.Context) error {
		docs, err := allEvents(ctx, p.revocations)
		for _, d := range docs {
			if err := p.revoked.change(ctx, d.UserID, func(latest *time.Time) bool { return laterRevocation(latest, d.At) }); err != nil {
				return err
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	return p.seen.backfillOnce(ctx, func(ctx context.Context) error {
		docs, err := allEvents(ctx, p.shown)
		for _, d := range docs {
			if err := p.seen.change(ctx, d.UserID, func(list *[]seenEntry) bool { return addSeen(list, seenEntry{ID: d.ID, At: d.At, Fields: d.Fields}) }); err != nil {
				return err
			}
		}
		return err
	})
}

func allEvents(ctx context.Context, c *mongo.Collection) ([]eventDoc, error) {
	cur, err := c.Find(ctx, bson.M{})
	if err != nil {
		return nil, mongox.Wrap("pass lists backfill", err)
	}
	var docs []eventDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mongox.Wrap("pass lists backfill", err)
	}
	return docs, nil
}

func laterRevocation(latest *time.Time, at time.Time) bool {
	// Stored times have millisecond precision.
	at = at.Truncate(time.Millisecond)
	if !at.After(*latest) {
		return false
	}
	*latest = at
	return true
}

func (p Passes) Record(ctx context.Context, r app.IssuedPass) error {
	_, err := p.issues.InsertOne(ctx, issuedDoc{ID: r.ID, UserID: r.UserID, IssuedAt: r.IssuedAt, ExpiresAt: r.ExpiresAt, Fields: r.Fields, Claims: r.Claims})
	return mongox.Wrap("pass record", err)
}

func (p Passes) Issued(ctx context.Context, jti string) (app.IssuedPass, error) {
	var d issuedDoc
	err := p.issues.FindOne(ctx, bson.M{"_id": jti}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return app.IssuedPass{}, app.ErrNotFound
	}
	if err != nil {
		return app.IssuedPass{}, mongox.Wrap("pass get", err)
	}
	return app.IssuedPass{ID: d.ID, UserID: d.UserID, IssuedAt: d.IssuedAt, ExpiresAt: d.ExpiresAt, Fields: d.Fields, Claims: d.Claims}, nil
}

func (p Passes) Revoke(ctx context.Context, userID int64, at time.Time) error {
	// The latest time first: it is what a verify reads.
	if err := p.revoked.change(ctx, userID, func(latest *time.Time) bool { return laterRevocation(latest, at) }); err != nil {
		return err
	}
	_, err := p.revocations.InsertOne(ctx, eventDoc{ID: bson.NewObjectID(), UserID: userID, At: at})
	return mongox.Wrap("pass revoke", err)
}

// RevokedAfter reads the user's latest revocation: two _id lookups.
func (p Passes) RevokedAfter(ctx context.Context, userID int64, t time.Time) (bool, error) {
	latest, err := p.revoked.get(ctx, userID)
	if err != nil {
		return false, err
	}
	// A revocation in the same millisecond as the issue counts (the safe
	// side).
	return !latest.IsZero() && !latest.Before(t.Truncate(time.Millisecond)), nil
}

func (p Passes) Seen(ctx context.Context, userID int64, v contract.PassVerification) error {
	return p.seen.change(ctx, userID, func(list *[]seenEntry) bool {
		return addSeen(list, seenEntry{ID: bson.NewObjectID(), At: v.At, Fields: v.Fields})
	})
}

// Verifications reads the user's list: two _id lookups.
func (p Passes) Verifications(ctx context.Context, userID int64, limit int) ([]contract.PassVerification, error) {
	list, err := p.seen.get(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]contract.PassVerification, 0, min(limit, len(list)))
	for _, e := range list[:min(max(limit, 0), len(list))] {
		out = append(out, contract.PassVerification{At: e.At, Fields: e.Fields})
	}
	return out, nil
}

// Erase removes what the user's passes said about them: the names, photo
// digest and age in each pass record (bson names of contract.PassClaims),
// and every verification. The record itself stays, with its owner's id,
// status and expiry, so a pass that outlives the purge reads as revoked
// (by the revocation the deletion made) rather than as unknown.
func (p Passes) Erase(ctx context.Context, userID int64) error {
	if _, err := p.issues.UpdateMany(ctx, bson.M{"user_id": userID}, bson.M{"$unset": bson.M{
		"claims.firstname": "", "claims.lastname": "", "claims.photo": "", "claims.ageover18": "",
	}}); err != nil {
		return mongox.Wrap("erase passes", err)
	}
	if err := p.seen.erase(ctx, userID); err != nil {
		return err
	}
	_, err := p.shown.DeleteMany(ctx, bson.M{"user_id": userID}) // recorded before the lists
	return mongox.Wrap("erase pass verifications", err)
}
