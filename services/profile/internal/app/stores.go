package app

import (
	"context"
	"time"

	"github.com/dossapp/backend/pkg/contract"
)

// ErrNotFound is a store's answer for a key it holds nothing under, and
// ErrExists its refusal to create what it already holds: the pair every
// service's stores share (see contract.ErrNotFound).
var (
	ErrNotFound = contract.ErrNotFound
	ErrExists   = contract.ErrExists
)

// Profiles keeps one profile per user. Concurrent updates of one profile
// must not lose each other: Update re-applies change to the newest state
// until it is the one stored.
type Profiles interface {
	// Get returns the newest state, or ErrNotFound.
	Get(ctx context.Context, userID int64) (Profile, error)
	// Create stores a profile that did not exist, or returns ErrExists.
	Create(ctx context.Context, p Profile) error
	// Update stores change's result with the events it announces (sent
	// once the change is stored); an error from change stores nothing and
	// is returned with the state change saw. ErrNotFound when there is no
	// profile.
	Update(ctx context.Context, userID int64, change func(*Profile) ([]contract.Event, error)) (Profile, error)
	// Erase removes the profile; a later Get finds nothing. Idempotent.
	Erase(ctx context.Context, userID int64) error
}

// Limits counts attempts under a key (a client address, ...) shared by
// every replica.
type Limits interface {
	// Hit counts one attempt unless limit of them were counted in the last
	// window; then it counts nothing and says how long until one more fits.
	Hit(ctx context.Context, key string, limit int, window time.Duration) (wait time.Duration, err error)
}
