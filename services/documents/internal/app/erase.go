package app

import (
	"context"

	"github.com/dossapp/backend/pkg/contract"
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
	if err := s.Queue.EraseUser(ctx, due.UserID); err != nil {
		return err
	}
	return s.Docs.Erase(ctx, due.UserID)
}
