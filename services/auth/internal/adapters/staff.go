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

// The console's stores are small and written by a few people, so plain
// documents do: an account's changes are admins' replaces, a session is
// written once and touched, a used code and an audit entry are unique
// inserts.

// StaffAccounts keeps one document per member, the name as _id.
type StaffAccounts struct{ c *mongo.Collection }

func NewStaffAccounts(c *mongo.Collection) StaffAccounts { return StaffAccounts{c: c} }

func (s StaffAccounts) Create(ctx context.Context, a domain.StaffAccount) error {
	_, err := s.c.InsertOne(ctx, a)
	if mongox.IsDuplicate(err) {
		return contract.ErrExists
	}
	return mongox.Wrap("staff insert", err)
}

func (s StaffAccounts) Get(ctx context.Context, name string) (domain.StaffAccount, error) {
	return findOne[domain.StaffAccount](ctx, s.c, "staff find", bson.M{"_id": name})
}

func (s StaffAccounts) Replace(ctx context.Context, a domain.StaffAccount) error {
	_, err := s.c.ReplaceOne(ctx, bson.M{"_id": a.Name}, a)
	return mongox.Wrap("staff update", err)
}

func (s StaffAccounts) List(ctx context.Context) ([]domain.StaffAccount, error) {
	cur, err := s.c.Find(ctx, bson.M{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, mongox.Wrap("staff list", err)
	}
	var all []domain.StaffAccount
	if err := cur.All(ctx, &all); err != nil {
		return nil, mongox.Wrap("staff list", err)
	}
	return all, nil
}

// StaffSessions keeps one document per session, its token's digest as
// _id.
type StaffSessions struct{ c *mongo.Collection }

func NewStaffSessions(c *mongo.Collection) StaffSessions { return StaffSessions{c: c} }

func (s StaffSessions) Insert(ctx context.Context, ss domain.StaffSession) error {
	_, err := s.c.InsertOne(ctx, ss)
	return mongox.Wrap("staff session", err)
}

func (s StaffSessions) Get(ctx context.Context, id string) (domain.StaffSession, error) {
	return findOne[domain.StaffSession](ctx, s.c, "staff session", bson.M{"_id": id})
}

func (s StaffSessions) Touch(ctx context.Context, id string, at time.Time) error {
	_, err := s.c.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": bson.M{"last_seen": at}})
	return mongox.Wrap("staff session touch", err)
}

func (s StaffSessions) Delete(ctx context.Context, id string) error {
	_, err := s.c.DeleteOne(ctx, bson.M{"_id": id})
	return mongox.Wrap("staff logout", err)
}

func (s StaffSessions) Sweep(ctx context.Context, age time.Duration) error {
	return deleteOlder(ctx, s.c, "staff session sweep", "created_at", age)
}

// UsedCodes keeps one document per use, the key as _id: the unique insert
// settles two sign-ins with one code at once.
type UsedCodes struct{ c *mongo.Collection }

func NewUsedCodes(c *mongo.Collection) UsedCodes { return UsedCodes{c: c} }

type usedCode struct {
	Key string    `bson:"_id"`
	At  time.Time `bson:"at"`
}

func (u UsedCodes) Use(ctx context.Context, key string, at time.Time) (bool, error) {
	_, err := u.c.InsertOne(ctx, usedCode{Key: key, At: at})
	if mongox.IsDuplicate(err) {
		return false, nil
	}
	if err != nil {
		return false, mongox.Wrap("staff code", err)
	}
	return true, nil
}

func (u UsedCodes) Sweep(ctx context.Context, age time.Duration) error {
	return deleteOlder(ctx, u.c, "staff code sweep", "at", age)
}

// AuditTrail keeps one document per entry, its id as _id. Its queries
// filter on other fields, which FerretDB v1 answers by a scan: the trail
// is read by the console and by a user's export (once an hour at most),
// never on a request of the app's.
type AuditTrail struct{ c *mongo.Collection }

func NewAuditTrail(c *mongo.Collection) AuditTrail { return AuditTrail{c: c} }

type auditDoc struct {
	ID                    string `bson:"_id"`
	contract.AdminAudited `bson:",inline"`
}

func (a AuditTrail) Add(ctx context.Context, e contract.AuditEntry) error {
	_, err := a.c.InsertOne(ctx, auditDoc{ID: e.ID, AdminAudited: e.AdminAudited})
	if mongox.IsDuplicate(err) {
		return nil
	}
	return mongox.Wrap("audit insert", err)
}

func (a AuditTrail) About(ctx context.Context, userID int64) ([]contract.AuditEntry, error) {
	return a.find(ctx, bson.M{"user_id": userID}, options.Find().SetSort(bson.D{{Key: "at", Value: 1}}))
}

func (a AuditTrail) Find(ctx context.Context, f domain.AuditFilter, limit int) ([]contract.AuditEntry, error) {
	q := bson.M{}
	if f.Admin != "" {
		q["admin"] = f.Admin
	}
	if f.UserID != 0 {
		q["user_id"] = f.UserID
	}
	at := bson.M{}
	if !f.Since.IsZero() {
		at["$gte"] = f.Since
	}
	if !f.Until.IsZero() {
		at["$lt"] = f.Until
	}
	if len(at) > 0 {
		q["at"] = at
	}
	return a.find(ctx, q, options.Find().SetSort(bson.D{{Key: "at", Value: -1}}).SetLimit(int64(limit)))
}

func (a AuditTrail) find(ctx context.Context, q bson.M, opts *options.FindOptionsBuilder) ([]contract.AuditEntry, error) {
	cur, err := a.c.Find(ctx, q, opts)
	if err != nil {
		return nil, mongox.Wrap("audit read", err)
	}
	var docs []auditDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mongox.Wrap("audit read", err)
	}
	out := make([]contract.AuditEntry, 0, len(docs))
	for _, d := range docs {
		out = append(out, contract.AuditEntry{ID: d.ID, AdminAudited: d.AdminAudited})
	}
	return out, nil
}
