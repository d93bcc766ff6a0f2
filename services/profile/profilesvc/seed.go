package profilesvc

import (
	"context"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/profile/internal/app"
)

// SeedProfile is one profile for Seed: its account, and the snapshot of
// its documents when it has some.
type SeedProfile struct {
	Account   contract.Account
	Documents *contract.DocumentsSnapshot
}

// Seed writes profiles straight into profile's store in bulk (make seed),
// as the account.registered event and the documents' snapshot leave
// them: the profile's first version and its head, keyed as
// VersionedProfiles keys them.
func Seed(ctx context.Context, db *mongo.Database, profiles []SeedProfile) error {
	now := time.Now().UTC()
	docs := make([]any, 0, 2*len(profiles))
	for _, p := range profiles {
		docs = append(docs, mongox.Settled(strconv.FormatInt(p.Account.ID, 10), app.NewProfile(p.Account, p.Documents), now)...)
	}
	return mongox.Seed(ctx, db, map[string][]any{"profile_profiles": docs})
}
