package domain

import "time"

// Session is a server-side login; the token's sid names it. It is written
// once; only LastSeenAt moves afterwards. Its end is a Revocation, kept
// apart from it, so that a last-seen write can never undo one.
type Session struct {
	// ID is given by the store when the session is created.
	ID         string
	UserID     int64
	UUID       string
	Device     string // the FCM token the login named
	UserAgent  string
	IP         string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// Revocation ends a session; revoking one twice is one revocation.
type Revocation struct {
	SessionID string
	UserID    int64
	At        time.Time
	// Pending says the gateways may not know yet: their revocation list
	// must still be told.
	Pending bool
}
