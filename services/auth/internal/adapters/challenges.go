package adapters

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// Challenges keeps one document per challenge, its id as _id. A
// challenge is written once, so a plain insert needs no version chain.
type Challenges struct{ c *mongo.Collection }

func NewChallenges(c *mongo.Collection) Challenges { return Challenges{c: c} }

// EnsureIndexes serves Newest on MongoDB; FerretDB v1 scans for it
// anyway, which a pending telephone or 2FA change, checked once per
// code typed, can afford.
func (s Challenges) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.c, map[string]bson.D{
		"uuid_purpose": {{Key: "uuid", Value: 1}, {Key: "purpose", Value: 1}, {Key: "created_at", Value: -1}},
	})
}

func (s Challenges) Insert(ctx context.Context, ch domain.Challenge) error {
	_, err := s.c.InsertOne(ctx, ch)
	return mongox.Wrap("challenge insert", err)
}

// Get looks the challenge up by _id alone and checks its purpose here: a
// second condition in the filter would make FerretDB v1 scan.
func (s Challenges) Get(ctx context.Context, id, purpose string) (domain.Challenge, error) {
	ch, err := findOne[domain.Challenge](ctx, s.c, "challenge find", bson.M{"_id": id})
	if err == nil && ch.Purpose != purpose {
		return domain.Challenge{}, contract.ErrNotFound
	}
	return ch, err
}

func (s Challenges) Newest(ctx context.Context, uuid, purpose string) (domain.Challenge, error) {
	return findOne[domain.Challenge](ctx, s.c, "challenge find", bson.M{"uuid": uuid, "purpose": purpose},
		options.FindOne().SetSort(bson.D{{Key: "created_at", Value: -1}}))
}

func (s Challenges) Erase(ctx context.Context, uuid string) error {
	_, err := s.c.DeleteMany(ctx, bson.M{"uuid": uuid})
	return mongox.Wrap("erase challenges", err)
}

// Sweep deletes the challenges expired for longer than age: nothing reads
// them.
func (s Challenges) Sweep(ctx context.Context, age time.Duration) error {
	return deleteOlder(ctx, s.c, "sweep challenges", "expires_at", age)
}
