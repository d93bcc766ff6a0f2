package adapters

import (
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/profile/internal/wallet"
)

// Postings keeps postings as documents under their id: counting a
// posting once rests on the unique insert alone, which FerretDB v1 and
// MongoDB both make atomic. A copy of each user's postings is kept in
// their userList, so a user's postings are one read by _id.
type Postings struct {
	c      *mongo.Collection
	byUser userList[[]wallet.Posting]
}

// NewPostings keeps the postings in c and each user's list of them in
// lists (a mongox Versioned collection, which a relay should sweep).
func NewPostings(c, lists *mongo.Collection) Postings {
	return Postings{c: c, byUser: newUserList[[]wallet.Posting](lists, "postings")}
}

// EnsureIndexes lists the postings stored before the lists existed, once.
func (p Postings) EnsureIndexes(ctx context.Context) error {
	if err := p.byUser.chain.EnsureIndexes(ctx); err != nil {
		return err
	}
	return p.byUser.backfillOnce(ctx, func(ctx context.Context) error {
		cur, err := p.c.Find(ctx, bson.M{})
		if err != nil {
			return mongox.Wrap("postings backfill", err)
		}
		var all []wallet.Posting
		if err := cur.All(ctx, &all); err != nil {
			return mongox.Wrap("postings backfill", err)
		}
		byUser := map[int64][]wallet.Posting{}
		for _, posting := range all {
			byUser[posting.UserID] = append(byUser[posting.UserID], posting)
		}
		for userID, ps := range byUser {
			if err := p.list(ctx, userID, ps...); err != nil {
				return err
			}
		}
		return nil
	})
}

// list copies the stored postings into the user's list. A posting is
// only ever changed by its shortfall being set, so the copy with the
// larger one is the newer: a stale copy never undoes a newer one.
func (p Postings) list(ctx context.Context, userID int64, stored ...wallet.Posting) error {
	return p.byUser.change(ctx, userID, func(list *[]wallet.Posting) bool {
		changed := false
		for _, posting := range stored {
			i := slices.IndexFunc(*list, func(o wallet.Posting) bool { return o.ID == posting.ID })
			switch {
			case i < 0:
				*list = append(*list, posting)
			case (*list)[i].Shortfall < posting.Shortfall:
				(*list)[i] = posting
			default:
				continue
			}
			changed = true
		}
		return changed
	})
}

// Add stores the posting, then copies it to the user's list. A failure
// between the two leaves it unlisted until the add is tried again (the
// consumer's redelivery, the caller's retry with the same id), which
// meets the stored posting and lists it.
func (p Postings) Add(ctx context.Context, posting wallet.Posting) (wallet.Posting, error) {
	_, err := p.c.InsertOne(ctx, posting)
	if err == nil {
		return posting, p.list(ctx, posting.UserID, posting)
	}
	if !mongox.IsDuplicate(err) {
		return wallet.Posting{}, mongox.Wrap("posting insert", err)
	}
	var old wallet.Posting
	if err := p.c.FindOne(ctx, bson.M{"_id": posting.ID}).Decode(&old); err != nil {
		return wallet.Posting{}, mongox.Wrap("posting read", err)
	}
	if err := p.list(ctx, old.UserID, old); err != nil {
		return wallet.Posting{}, err
	}
	return old, wallet.ErrExists
}

// OfUser reads the user's list: two _id lookups (its head and a probe
// for a newer version), however many postings they have.
func (p Postings) OfUser(ctx context.Context, userID int64) ([]wallet.Posting, error) {
	return p.byUser.get(ctx, userID)
}

func (p Postings) SetShortfall(ctx context.Context, id string, shortfall int64) error {
	r, err := p.c.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": bson.M{"shortfall": shortfall}})
	if err != nil {
		return mongox.Wrap("posting shortfall", err)
	}
	if r.MatchedCount == 0 {
		return wallet.ErrNotFound
	}
	var stored wallet.Posting
	if err := p.c.FindOne(ctx, bson.M{"_id": id}).Decode(&stored); err != nil {
		return mongox.Wrap("posting read", err)
	}
	return p.list(ctx, stored.UserID, stored)
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
