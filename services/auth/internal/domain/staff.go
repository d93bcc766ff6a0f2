package domain

import "time"

// StaffAccount is one member of the console's staff.
type StaffAccount struct {
	Name         string    `bson:"_id"`
	Role         string    `bson:"role"`
	PasswordHash string    `bson:"password_hash"`
	TOTPSealed   []byte    `bson:"totp_sealed"`
	Disabled     bool      `bson:"disabled,omitempty"`
	CreatedAt    time.Time `bson:"created_at"`
	CreatedBy    string    `bson:"created_by,omitempty"`
	// Epoch grows with every change that must end the member's sessions
	// (disabled, new TOTP secret); a session remembers the one it began in.
	Epoch int `bson:"epoch"`
}

// StaffSession is one console sign-in, under the digest of its token.
type StaffSession struct {
	ID        string    `bson:"_id"`
	Name      string    `bson:"name"`
	Epoch     int       `bson:"epoch"`
	CSRF      string    `bson:"csrf"`
	CreatedAt time.Time `bson:"created_at"`
	LastSeen  time.Time `bson:"last_seen"`
	IP        string    `bson:"ip,omitempty"`
}

// AuditFilter narrows a search of the audit trail; a zero field matches
// everything.
type AuditFilter struct {
	Admin  string
	UserID int64
	// Since and Until bound the time: Since inclusive, Until exclusive.
	Since, Until time.Time
}
