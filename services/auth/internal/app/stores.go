package app

import (
	"context"
	"time"

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

// Counters are per-key chains of attempts whose limits hold with any
// number of writers at once: an attempt is appended only on the tail it
// was decided on (see domain.Appending).
type Counters interface {
	// Tail reads key's counter.
	Tail(ctx context.Context, key string) (domain.Tail, error)
	// Recalled is key's tail as this process last saw it, read only when
	// it has not: possibly behind, for refusing early before an append
	// decides for sure.
	Recalled(ctx context.Context, key string) (domain.Tail, error)
	Append(ctx context.Context, key string, decide func(tail domain.Tail, now time.Time) (string, error)) (domain.Attempt, error)
	// AppendAll appends one attempt to each of several counters at once;
	// on an error, the attempts stored are those with a Seq.
	AppendAll(ctx context.Context, as ...domain.Appending) ([]domain.Attempt, error)
	// AppendAllHeadsLater is AppendAll leaving the store's pointers to the
	// counters' ends for MoveHeads, so that several appends in a row move
	// them in one write.
	AppendAllHeadsLater(ctx context.Context, as ...domain.Appending) ([]domain.Attempt, error)
	MoveHeads(ctx context.Context, keys ...string)
	// Sweep deletes attempts older than age; Erase every counter whose
	// key matches the regular expression pattern.
	Sweep(ctx context.Context, age time.Duration) (int64, error)
	Erase(ctx context.Context, pattern string) (int64, error)
	EnsureIndexes(ctx context.Context) error
}

// Sessions holds the logins and their ends.
type Sessions interface {
	// Create stores s under an id the store picks, and returns it so named.
	Create(ctx context.Context, s domain.Session) (domain.Session, error)
	// Get returns the session id names, revoked or not;
	// mongox.ErrNotFound when there is none.
	Get(ctx context.Context, id string) (domain.Session, error)
	// Touch moves the last-seen time of userID's session id forward to at
	// if it is older than ifBefore: never back, and never on another
	// user's session.
	Touch(ctx context.Context, userID int64, id string, at, ifBefore time.Time) error
	// Live lists userID's sessions opened since since that have neither
	// expired by now nor been revoked, oldest first. It sees every session
	// whose Create returned before it began: a secret change ends the
	// sessions it lists (see newSession).
	Live(ctx context.Context, userID int64, since, now time.Time) ([]domain.Session, error)
	// Revoke records r; a session revoked before stays as it was.
	Revoke(ctx context.Context, r domain.Revocation) error
	// Propagated clears a revocation's Pending: the gateways know.
	Propagated(ctx context.Context, sessionID string) error
	// Pending lists the revocations made before before and still pending.
	Pending(ctx context.Context, before time.Time) ([]domain.Revocation, error)
	// Erase deletes userID's sessions (an account's purge); their
	// revocations stay until swept.
	Erase(ctx context.Context, userID int64) error
	// Sweep deletes the sessions that expired before expiredBefore and the
	// revocations made before revokedBefore.
	Sweep(ctx context.Context, expiredBefore, revokedBefore time.Time) error
	EnsureIndexes(ctx context.Context) error
}
