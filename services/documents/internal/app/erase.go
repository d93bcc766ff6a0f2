package app

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
)

// EraseAccount is documents' part of an account's purge: every object
// under the user's prefixes (stored documents, orphans not yet deleted,
// presigned uploads not yet claimed), the review index entries, and the
// user's document records. The objects go first: a crash after them
// leaves records that the retry erases, never an object nothing names.
// Idempotent.
func (s *Service) EraseAccount(ctx context.Context, due contract.AccountDeletionDue) error {
	if s.EraseObjects != nil {
		for _, prefix := range []string{documentPrefix(due.UserID), incomingPrefix(due.UserID)} {
			if err := s.EraseObjects(ctx, prefix); err != nil {
				return err
			}
		}
	}
	if _, err := s.IDs.DeleteMany(ctx, bson.M{"user_id": due.UserID}); err != nil {
		return mongox.Wrap("erase document ids", err)
	}
	return s.Docs.Erase(ctx, key(due.UserID))
}
