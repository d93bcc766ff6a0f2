package adapters

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/profile/internal/wallet"
)

// Postings keeps postings as documents under their id: counting a
// posting once rests on the unique insert alone, which FerretDB v1 and
// MongoDB both make atomic.
type Postings struct {
	C *mongo.Collection
}

// EnsureIndexes helps real MongoDB find a user's postings (FerretDB v1
// scans whatever the index says).
func (p Postings) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, p.C, map[string]bson.D{"user_id": {{Key: "user_id", Value: 1}}})
}

func (p Postings) Add(ctx context.Context, posting wallet.Posting) (wallet.Posting, error) {
	_, err := p.C.InsertOne(ctx, posting)
	if err == nil {
		return posting, nil
	}
	if !mongox.IsDuplicate(err) {
		return wallet.Posting{}, mongox.Wrap("posting insert", err)
	}
	var old wallet.Posting
	if err := p.C.FindOne(ctx, bson.M{"_id": posting.ID}).Decode(&old); err != nil {
		return wallet.Posting{}, mongox.Wrap("posting read", err)
	}
	return old, wallet.ErrExists
}

// OfUser filters on user_id: a full scan on FerretDB v1.
func (p Postings) OfUser(ctx context.Context, userID int64) ([]wallet.Posting, error) {
	cur, err := p.C.Find(ctx, bson.M{"user_id": userID})
	if err != nil {
		return nil, mongox.Wrap("postings find", err)
	}
	var ps []wallet.Posting
	if err := cur.All(ctx, &ps); err != nil {
		return nil, mongox.Wrap("postings read", err)
	}
	return ps, nil
}

func (p Postings) SetShortfall(ctx context.Context, id string, shortfall int64) error {
	r, err := p.C.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": bson.M{"shortfall": shortfall}})
	if err != nil {
		return mongox.Wrap("posting shortfall", err)
	}
	if r.MatchedCount == 0 {
		return wallet.ErrNotFound
	}
	return nil
}

// ReferralCodes keeps each claimed code as a document whose _id is the
// code, so the unique insert is what gives it to one user.
type ReferralCodes struct {
	C *mongo.Collection
}

func (r ReferralCodes) Claim(ctx context.Context, code string, userID int64) error {
	_, err := r.C.InsertOne(ctx, bson.M{"_id": code, "user_id": userID})
	if mongox.IsDuplicate(err) {
		return wallet.ErrExists
	}
	return mongox.Wrap("referral claim", err)
}

func (r ReferralCodes) Release(ctx context.Context, code string, userID int64) error {
	_, err := r.C.DeleteOne(ctx, bson.M{"_id": code, "user_id": userID})
	return mongox.Wrap("referral release", err)
}

// EraseUser filters on user_id: a full scan on FerretDB v1, run by the
// erasure consumer only.
func (r ReferralCodes) EraseUser(ctx context.Context, userID int64) error {
	_, err := r.C.DeleteMany(ctx, bson.M{"user_id": userID})
	return mongox.Wrap("erase referral code", err)
}
