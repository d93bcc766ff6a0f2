package app

import (
	"context"

	"github.com/dossapp/backend/pkg/contract"
)

// Documents is every user's current document set. A change and the
// events it announces are stored together or not at all, and two changes
// of one user never both build on the same state.
type Documents interface {
	// Get is the user's documents and their version: an empty set at
	// version 0 when the user has none yet.
	Get(ctx context.Context, userID int64) (Docs, int64, error)
	// Update applies change to the newest set, the version it will be
	// stored as in hand, and stores the result with the events change
	// returns, running change again on a lost race; an error from change
	// stores nothing and is returned as is.
	Update(ctx context.Context, userID int64, change func(d *Docs, version int64) ([]contract.Event, error)) (Docs, int64, error)
	// Erase forgets every version of the user's documents; erasing twice
	// is a no-op.
	Erase(ctx context.Context, userID int64) error
}

// ReviewQueue is what staff review: every document's owner, and a mark on
// those awaiting a decision. The marks are a hint kept without isolation
// beside the documents; readers check each against its owner's set.
type ReviewQueue interface {
	// Add records userID as the owner of document id, awaiting review.
	Add(ctx context.Context, id, userID int64) error
	// Owner is whose document id is; contract.DocumentNotFound when no
	// document has that id.
	Owner(ctx context.Context, id int64) (int64, error)
	// Settle takes document id off the queue; the owner is kept.
	Settle(ctx context.Context, id int64) error
	// Awaiting is up to limit documents awaiting review, oldest first.
	Awaiting(ctx context.Context, limit int) ([]QueueMark, error)
	// EraseUser forgets every document of userID.
	EraseUser(ctx context.Context, userID int64) error
}

// QueueMark is one document awaiting review.
type QueueMark struct {
	ID     int64
	UserID int64
}

// IDs allocates document ids: each is given once, and later ones are
// larger.
type IDs interface {
	Next(ctx context.Context) (int64, error)
}
