package contract

import "time"

// Profile is the app's profile object (GET /v2/profile). The JSON names are
// the ones the app already parses; never rename them. Image and document
// URLs are null until something is uploaded.
type Profile struct {
	ID                  int64      `json:"id"`
	FirstName           string     `json:"first_name"`
	LastName            string     `json:"last_name"`
	Email               string     `json:"email"`
	Phone               string     `json:"phone"`
	Image               *string    `json:"image"`
	UUID                string     `json:"uuid"`
	IDProofFront        *string    `json:"id_proof_front"`
	IDProofBack         *string    `json:"id_proof_back"`
	PassportImgFront    *string    `json:"passport_img_front"`
	PassportImgBack     *string    `json:"passport_img_back"`
	DrivingLicenseFront *string    `json:"driving_license_front"`
	DrivingLicenseBack  *string    `json:"driving_license_back"`
	EmailVerifyAt       *time.Time `json:"email_verify_at"`
	PhoneVerifyAt       *time.Time `json:"phone_verify_at"`
	IdentityStatus      string     `json:"identity_status"`
}

// AdminProfile is a Profile for the staff: with its photo's object key,
// which a review names as what the reviewer saw (ReviewedIdentity).
type AdminProfile struct {
	Profile
	ImageKey string `json:"image_key,omitempty"`
}

// Identity is what a reviewer comparing a document with p sees.
func (p AdminProfile) Identity() ReviewedIdentity {
	return ReviewedIdentity{FirstName: p.FirstName, LastName: p.LastName, ImageKey: p.ImageKey}
}

// IdentityUnverified is a profile's identity status until a document
// review says otherwise.
const IdentityUnverified = "unverified"

// ProfileGetRequest asks for the caller's profile (the user is in the
// assertion). The reply says how long it may be kept (HeaderCacheMaxAge).
type ProfileGetRequest struct{}

type UpdateNameRequest struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

// ProfileUpdated announces a change to a profile; readers fetch it anew.
type ProfileUpdated struct {
	UserID int64  `json:"user_id"`
	UUID   string `json:"uuid"`
}

// ProfileNamesChanged is a profile's names after a change. Version counts
// the profile's name changes (1 for the first): of two events, the
// higher version is the newer, whatever order they arrive in.
type ProfileNamesChanged struct {
	UserID    int64  `json:"user_id"`
	UUID      string `json:"uuid"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Version   int64  `json:"version"`
}

// UpdateEmailRequest changes the caller's email; LastEmail must be the
// current one.
type UpdateEmailRequest struct {
	LastEmail string `json:"last_email"`
	NewEmail  string `json:"new_email"`
}

// VerifyContactRequest is POST /v2/verify_contact: the code sent to the
// new address of a pending update_email (channel "email") or update_phone
// (channel "phone").
type VerifyContactRequest struct {
	Channel          string `json:"channel"`
	VerificationCode string `json:"verification_code"`
}

// UpdatePhoneRequest changes the caller's phone; OldPhone must be the
// current one, both with the country dial code.
type UpdatePhoneRequest struct {
	OldPhone string `json:"old_phone"`
	NewPhone string `json:"new_phone"`
}
