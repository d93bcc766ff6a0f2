package adapters

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/profile/internal/app"
)

// Passes keeps identity passes in three insert-only collections: on
// FerretDB only a unique insert is atomic, and nothing here is updated.
type Passes struct {
	Issues, Revocations, Shown *mongo.Collection
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

// EnsureIndexes creates the lookups by user and time.
func (p Passes) EnsureIndexes(ctx context.Context) error {
	for _, c := range []*mongo.Collection{p.Revocations, p.Shown} {
		if err := mongox.EnsureIndexes(ctx, c, map[string]bson.D{"user_at": {{Key: "user_id", Value: 1}, {Key: "at", Value: -1}}}); err != nil {
			return err
		}
	}
	return nil
}

func (p Passes) Record(ctx context.Context, r app.IssuedPass) error {
	_, err := p.Issues.InsertOne(ctx, issuedDoc{ID: r.ID, UserID: r.UserID, IssuedAt: r.IssuedAt, ExpiresAt: r.ExpiresAt, Fields: r.Fields, Claims: r.Claims})
	return mongox.Wrap("pass record", err)
}

func (p Passes) Issued(ctx context.Context, jti string) (app.IssuedPass, error) {
	var d issuedDoc
	err := p.Issues.FindOne(ctx, bson.M{"_id": jti}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return app.IssuedPass{}, app.ErrNotFound
	}
	if err != nil {
		return app.IssuedPass{}, mongox.Wrap("pass get", err)
	}
	return app.IssuedPass{ID: d.ID, UserID: d.UserID, IssuedAt: d.IssuedAt, ExpiresAt: d.ExpiresAt, Fields: d.Fields, Claims: d.Claims}, nil
}

func (p Passes) Revoke(ctx context.Context, userID int64, at time.Time) error {
	_, err := p.Revocations.InsertOne(ctx, eventDoc{ID: bson.NewObjectID(), UserID: userID, At: at})
	return mongox.Wrap("pass revoke", err)
}

func (p Passes) RevokedAfter(ctx context.Context, userID int64, t time.Time) (bool, error) {
	// Stored times have millisecond precision: a revocation in the same
	// millisecond as the issue counts (the safe side).
	n, err := p.Revocations.CountDocuments(ctx, bson.M{"user_id": userID, "at": bson.M{"$gte": t.Truncate(time.Millisecond)}}, options.Count().SetLimit(1))
	return n > 0, mongox.Wrap("pass revocations", err)
}

func (p Passes) Seen(ctx context.Context, userID int64, v contract.PassVerification) error {
	_, err := p.Shown.InsertOne(ctx, eventDoc{ID: bson.NewObjectID(), UserID: userID, At: v.At, Fields: v.Fields})
	return mongox.Wrap("pass verification", err)
}

func (p Passes) Verifications(ctx context.Context, userID int64, limit int) ([]contract.PassVerification, error) {
	cur, err := p.Shown.Find(ctx, bson.M{"user_id": userID}, options.Find().SetSort(bson.D{{Key: "at", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, mongox.Wrap("pass verifications", err)
	}
	var docs []eventDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mongox.Wrap("pass verifications", err)
	}
	out := make([]contract.PassVerification, 0, len(docs))
	for _, d := range docs {
		out = append(out, contract.PassVerification{At: d.At, Fields: d.Fields})
	}
	return out, nil
}

// Erase removes what the user's passes said about them: the names, photo
// digest and age in each pass record (bson names of contract.PassClaims),
// and every verification. The record itself stays, with its owner's id,
// status and expiry, so a pass that outlives the purge reads as revoked
// (by the revocation the deletion made) rather than as unknown.
func (p Passes) Erase(ctx context.Context, userID int64) error {
	if _, err := p.Issues.UpdateMany(ctx, bson.M{"user_id": userID}, bson.M{"$unset": bson.M{
		"claims.firstname": "", "claims.lastname": "", "claims.photo": "", "claims.ageover18": "",
	}}); err != nil {
		return mongox.Wrap("erase passes", err)
	}
	_, err := p.Shown.DeleteMany(ctx, bson.M{"user_id": userID})
	return mongox.Wrap("erase pass verifications", err)
}
