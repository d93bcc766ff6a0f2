package stack

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/auth/authsvc"
	"github.com/dossapp/backend/services/documents/documentsvc"
	"github.com/dossapp/backend/services/profile/profilesvc"
)

// Seeded accounts take ids far above what the allocators hand out, so
// registrations after a seed never meet them.
const (
	firstUserID     = 1_000_000_000
	firstDocumentID = 1_000_000_000
	SeedBatch       = 2000
)

// SeedPhone and SeedEmail are seeded account i's; it logs in with its
// phone.
func SeedPhone(i int) string { return fmt.Sprintf("+1415%07d", 3_000_000+i) }
func SeedEmail(i int) string { return fmt.Sprintf("seed%d@example.com", i) }

// Seed writes seeded accounts from to to-1 straight into the stores of db
// (make seed): each service's seed helper writes what a whole
// registration leaves, an account with its claims, its profile, and a
// document for each tenth account; every account's PIN is pin.
func Seed(ctx context.Context, getenv func(string) string, db *mongo.Database, pin string, from, to int) error {
	var accounts []authsvc.SeedAccount
	var docs []documentsvc.SeedDocument
	for i := from; i < to; i++ {
		id := int64(firstUserID + i)
		accounts = append(accounts, authsvc.SeedAccount{UUID: uuid.NewString(), UserID: id, Email: SeedEmail(i), Phone: SeedPhone(i)})
		if i%10 == 0 {
			docs = append(docs, documentsvc.SeedDocument{ID: int64(firstDocumentID + i/10), UserID: id, TypeID: 1})
		}
	}
	accs, err := authsvc.Seed(ctx, getenv, db, pin, accounts)
	if err != nil {
		return err
	}
	snaps, err := documentsvc.Seed(ctx, db, docs)
	if err != nil {
		return err
	}
	byUser := map[int64]*contract.DocumentsSnapshot{}
	for i := range snaps {
		byUser[snaps[i].UserID] = &snaps[i]
	}
	profiles := make([]profilesvc.SeedProfile, len(accs))
	for i, a := range accs {
		profiles[i] = profilesvc.SeedProfile{Account: a, Documents: byUser[a.ID]}
	}
	return profilesvc.Seed(ctx, db, profiles)
}
