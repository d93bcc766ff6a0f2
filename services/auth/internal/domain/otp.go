package domain

import "time"

// OTP is one issued code: only its MAC is kept. Its attempts, its use and
// the address's failures live in ledgers, so caps hold under concurrency.
type OTP struct {
	ID      string `bson:"id"`
	Purpose string `bson:"purpose"`
	Address string `bson:"address"`
	// Subject binds the code to what it may verify: a registration
	// attempt's uuid for an email code, the registration's email for a
	// phone code. A code proves control of its address for its subject
	// only, whoever else asked for a code to the same address.
	Subject   string    `bson:"subject,omitempty"`
	MAC       []byte    `bson:"mac"`
	CreatedAt time.Time `bson:"created_at"`
	ExpiresAt time.Time `bson:"expires_at"`
}
