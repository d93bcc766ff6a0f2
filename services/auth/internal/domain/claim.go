// Package domain holds the types auth's app and its store adapters share.
package domain

import (
	"errors"
	"time"
)

// Claim is a unique key owned by one account: "email:<addr>",
// "phone:<e164>", "uid:<n>".
type Claim struct {
	Key   string
	Owner string // the account's uuid
	// At is when it was taken (zero for claims taken before it was kept).
	At time.Time
}

// ErrClaimHeld means another party holds the key already.
var ErrClaimHeld = errors.New("claim held")
