package contract

// The identity pass: a short-lived signed statement of who the user is,
// shown as a QR code and checked by anyone. The profile service owns the
// facts it states, so it signs and checks passes, with a key of its own
// (never the app tokens' key: a pass cannot be a bearer token). Its
// commands are the ProfilePass ones in subjects.go.

import "time"

// Pass fields a user may choose to show.
const (
	PassFirstName      = "first_name"
	PassLastName       = "last_name"
	PassPhoto          = "photo"
	PassIdentityStatus = "identity_status"
	PassAgeOver18      = "age_over_18"
)

// PassFields is every field a pass may hold; PassDefaultFields is what a
// pass shows when the user chose nothing.
var (
	PassFields        = []string{PassFirstName, PassLastName, PassPhoto, PassIdentityStatus, PassAgeOver18}
	PassDefaultFields = []string{PassFirstName, PassLastName, PassPhoto, PassIdentityStatus}
)

// Pass token: its JOSE "typ" and audience, which no app token has.
const (
	PassType     = "doss-pass+jwt"
	PassAudience = "doss-pass"
	// PassDefaultTTL and PassMaxTTL bound a pass's life.
	PassDefaultTTL = 120 * time.Second
	PassMaxTTL     = 10 * time.Minute
)

// Reasons a pass is not valid.
const (
	PassExpired = "expired"
	PassRevoked = "revoked"
	PassInvalid = "invalid"
)

// PassIssueRequest is POST /api/v2/identity/pass.
type PassIssueRequest struct {
	Fields []string `json:"fields,omitempty"`
	TTL    *int     `json:"ttl,omitempty"` // seconds
}

// PassIssueReply is the signed pass; the gateway adds the QR code.
type PassIssueReply struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	Fields    []string  `json:"fields"`
}

// PassClaims are what a pass states, beside the registered claims. Only
// the chosen fields are present. Subject is a fresh random value per pass.
type PassClaims struct {
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	// Photo names the photo shown when the pass was made (a digest of its
	// stored key, not the key); the image itself is fetched online through
	// the pass, while the pass is valid.
	Photo             string   `json:"photo,omitempty"`
	IdentityStatus    string   `json:"identity_status,omitempty"`
	VerifiedDocuments []string `json:"verified_documents,omitempty"`
	AgeOver18         *bool    `json:"age_over_18,omitempty"`
}

// PassVerifyRequest is POST /api/v2/identity/verify (and GET /v/<token>).
type PassVerifyRequest struct {
	Token string `json:"token"`
}

// PassVerifyReply is the verdict. Claims and times are set only when
// Valid; Reason only when not.
type PassVerifyReply struct {
	Valid     bool        `json:"valid"`
	Reason    string      `json:"reason,omitempty"`
	Claims    *PassClaims `json:"claims,omitempty"`
	IssuedAt  *time.Time  `json:"issued_at,omitempty"`
	ExpiresAt *time.Time  `json:"expires_at,omitempty"`
}

// PassPhotoReply is a short-lived link to a valid pass's photo.
type PassPhotoReply struct {
	URL string `json:"url"`
}

// PassKeysReply lists the keys passes are checked with, as a JWKS.
type PassKeysReply struct {
	Keys []JWK `json:"keys"`
}

// JWK is one Ed25519 public key (RFC 8037).
type JWK struct {
	KeyType   string `json:"kty"`
	Curve     string `json:"crv"`
	X         string `json:"x"`
	KeyID     string `json:"kid"`
	Use       string `json:"use"`
	Algorithm string `json:"alg"`
}

// PassVerification is one time a user's pass was checked and found
// valid: when, and which fields were shown. Who scanned is unknown.
type PassVerification struct {
	At     time.Time `json:"at"`
	Fields []string  `json:"fields"`
}

// PassVerificationsReply is the user's newest verifications.
type PassVerificationsReply struct {
	Verifications []PassVerification `json:"verifications"`
}
