// Package adapters implements auth's stores (see app's store interfaces)
// on MongoDB, in the ways that stay correct on FerretDB v1 too: each race
// is settled by a unique insert, and every lookup on a request's path is
// by _id, the one filter FerretDB v1 answers from an index.
package adapters

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// Claims keeps one document per claim, its key as _id.
type Claims struct{ c *mongo.Collection }

func NewClaims(c *mongo.Collection) *Claims { return &Claims{c: c} }

// claimDoc is a claim as stored.
type claimDoc struct {
	ID    string    `bson:"_id"`
	Owner string    `bson:"uuid"`
	At    time.Time `bson:"at,omitempty"`
}

func (s *Claims) Find(ctx context.Context, key string) (domain.Claim, error) {
	d, err := findOne[claimDoc](ctx, s.c, "claim find", bson.M{"_id": key})
	if err != nil {
		return domain.Claim{}, err
	}
	return domain.Claim{Key: d.ID, Owner: d.Owner, At: d.At}, nil
}

func (s *Claims) Insert(ctx context.Context, c domain.Claim) error {
	_, err := s.c.InsertOne(ctx, claimDoc{ID: c.Key, Owner: c.Owner, At: c.At})
	if mongox.IsDuplicate(err) {
		return domain.ErrClaimHeld
	}
	return mongox.Wrap("claim insert", err)
}

func (s *Claims) Release(ctx context.Context, owner string, keys ...string) error {
	var err error
	switch len(keys) {
	case 0:
		return nil
	case 1:
		// By _id, which FerretDB v1 looks up in its index.
		_, err = s.c.DeleteOne(ctx, bson.M{"_id": keys[0], "uuid": owner})
	default:
		_, err = s.c.DeleteMany(ctx, bson.M{"_id": bson.M{"$in": keys}, "uuid": owner})
	}
	return mongox.Wrap("claim release", err)
}
