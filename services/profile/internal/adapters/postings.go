package adapters

import (
	"context"
	"errors"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/profile/internal/wallet"
)

// Postings keeps postings as documents under their id: counting a
// posting once rests on the unique insert alone, which FerretDB v1 and
// MongoDB both make atomic. Each user's posting ids are listed in a
// userList, so a user's postings are read by _id alone.
type Postings struct {
	c      *mongo.Collection
	byUser userList[[]string]
}

// NewPostings keeps the postings in c and each user's list of them in
// lists (a mongox Versioned collection, which a relay should sweep).
func NewPostings(c, lists *mongo.Collection) Postings {
	return Postings{c: c, byUser: newUserList[[]string](lists, "postings")}
}

// EnsureIndexes lists the postings stored before the lists existed, once.
func (p Postings) EnsureIndexes(ctx context.Context) error {
	if err := p.byUser.chain.EnsureIndexes(ctx); err != nil {
		return err
	}
	return p.byUser.backfillOnce(ctx, func(ctx context.Context) error {
		cur, err := p.c.Find(ctx, bson.M{}, options.Find().SetProjection(bson.M{"_id": 1, "user_id": 1}))
		if err != nil {
			return mongox.Wrap("postings backfill", err)
		}
		var all []struct {
			ID     string `bson:"_id"`
			UserID int64  `bson:"user_id"`
		}
		if err := cur.All(ctx, &all); err != nil {
			return mongox.Wrap("postings backfill", err)
		}
		byUser := map[int64][]string{}
		for _, d := range all {
			byUser[d.UserID] = append(byUser[d.UserID], d.ID)
		}
		for userID, ids := range byUser {
			if err := p.list(ctx, userID, ids...); err != nil {
				return err
			}
		}
		return nil
	})
}

// list adds ids to the user's list unless they are there.
func (p Postings) list(ctx context.Context, userID int64, ids ...string) error {
	return p.byUser.change(ctx, userID, func(list *[]string) bool {
		n := len(*list)
		for _, id := range ids {
			if !slices.Contains(*list, id) {
				*list = append(*list, id)
			}
		}
		return len(*list) > n
	})
}

func (p Postings) Add(ctx context.Context, posting wallet.Posting) (wallet.Posting, error) {
	// Listed first: an id listed whose insert then failed is skipped on
	// reading, while a posting stored but not listed would be lost to it.
	if err := p.list(ctx, posting.UserID, posting.ID); err != nil {
		return wallet.Posting{}, err
	}
	_, err := p.c.InsertOne(ctx, posting)
	if err == nil {
		return posting, nil
	}
	if !mongox.IsDuplicate(err) {
		return wallet.Posting{}, mongox.Wrap("posting insert", err)
	}
	var old wallet.Posting
	if err := p.c.FindOne(ctx, bson.M{"_id": posting.ID}).Decode(&old); err != nil {
		return wallet.Posting{}, mongox.Wrap("posting read", err)
	}
	return old, wallet.ErrExists
}

// OfUser reads the user's list, then each posting by its _id alone (the
// only filter FerretDB v1 answers from an index): 2 + n lookups, none of
// which grows with the collection.
func (p Postings) OfUser(ctx context.Context, userID int64) ([]wallet.Posting, error) {
	ids, err := p.byUser.get(ctx, userID)
	if err != nil {
		return nil, err
	}
	ps := make([]wallet.Posting, 0, len(ids))
	for _, id := range ids {
		var posting wallet.Posting
		err := p.c.FindOne(ctx, bson.M{"_id": id}).Decode(&posting)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // listed, but its insert failed
		}
		if err != nil {
			return nil, mongox.Wrap("postings read", err)
		}
		if posting.UserID == userID { // an id another user's posting holds
			ps = append(ps, posting)
		}
	}
	return ps, nil
}

func (p Postings) SetShortfall(ctx context.Context, id string, shortfall int64) error {
	r, err := p.c.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": bson.M{"shortfall": shortfall}})
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
