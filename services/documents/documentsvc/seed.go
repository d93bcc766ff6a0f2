package documentsvc

import (
	"context"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/documents/internal/adapters"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// SeedDocument is one document for Seed, its user's only one.
type SeedDocument struct {
	ID     int64 // from a range the id allocator will not reach
	UserID int64
	TypeID int
}

// Seed writes documents straight into the documents service's store in
// bulk (make seed), as an upload leaves them, pending review: the user's
// set at version 1 and its head, and the review queue's mark. The files
// are not stored. It returns each user's snapshot, for the profile.
func Seed(ctx context.Context, db *mongo.Database, docs []SeedDocument) ([]contract.DocumentsSnapshot, error) {
	now := time.Now().UTC()
	var sets, marks []any
	snaps := make([]contract.DocumentsSnapshot, 0, len(docs))
	for _, d := range docs {
		set, snap := app.NewDocs(d.UserID, d.ID, d.TypeID, 914, now)
		sets = append(sets, mongox.Settled(strconv.FormatInt(d.UserID, 10), set, now)...)
		marks = append(marks, adapters.QueueEntry(d.ID, d.UserID, true))
		snaps = append(snaps, snap)
	}
	if err := mongox.Seed(ctx, db, map[string][]any{"documents_docs": sets, "documents_ids": marks}); err != nil {
		return nil, err
	}
	return snaps, nil
}
