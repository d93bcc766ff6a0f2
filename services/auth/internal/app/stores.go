package app

import (
	"context"

	"github.com/dossapp/backend/services/auth/internal/domain"
)

// ClaimStore holds the claims: whoever inserts a key first owns it, on
// any store, so two accounts can never hold one address or one id.
type ClaimStore interface {
	// Find returns key's claim; mongox.ErrNotFound when no one holds it.
	Find(ctx context.Context, key string) (domain.Claim, error)
	// Insert takes c.Key for c.Owner; domain.ErrClaimHeld when it is held.
	Insert(ctx context.Context, c domain.Claim) error
	// Release gives up the keys owner holds; one held by another stays
	// theirs.
	Release(ctx context.Context, owner string, keys ...string) error
}
