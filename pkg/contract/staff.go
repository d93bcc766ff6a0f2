package contract

// Staff are the people who review documents and help users through the
// console. Auth keeps their accounts; only the gateway may call the staff
// commands (AuthStaff*, AuthAdmin*, subjects.go; every other bus user's
// calls are listed in BusUsers), and the commands that act for a staff
// member need the admin the gateway vouched for.

import "time"

// Staff roles: a reviewer decides documents, support helps users, an admin
// does both and manages staff.
const (
	RoleReviewer = "reviewer"
	RoleSupport  = "support"
	RoleAdmin    = "admin"
)

// Roles lists every role, least first.
var Roles = []string{RoleReviewer, RoleSupport, RoleAdmin}

// ValidRole tells whether r names a role.
func ValidRole(r string) bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

// StaffLoginRequest signs a staff member in with password and TOTP code.
type StaffLoginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Code     string `json:"code"`
}

// StaffSession is a console session: Token goes in the cookie (auth keeps
// only its digest), CSRF in every form.
type StaffSession struct {
	Token     string    `json:"token,omitempty"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CSRF      string    `json:"csrf"`
	ExpiresAt time.Time `json:"expires_at"`
}

// StaffSessionRequest names a session by its cookie's token.
type StaffSessionRequest struct {
	Token string `json:"token"`
}

// StaffMember is one staff account as listed (never its secrets).
type StaffMember struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// StaffList is every staff account, by name.
type StaffList struct {
	Staff []StaffMember `json:"staff"`
}

// StaffCreateRequest creates a staff account with a generated password and
// TOTP secret.
type StaffCreateRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// StaffCredentials are shown once: the password and the otpauth:// URI of
// the TOTP secret (and the secret itself, for typing in).
type StaffCredentials struct {
	StaffMember
	Password   string `json:"password,omitempty"`
	TOTPSecret string `json:"totp_secret,omitempty"`
	OTPAuthURI string `json:"otpauth_uri,omitempty"`
}

// StaffUpdateRequest changes one staff account: a new role, disabled or
// enabled, a new TOTP secret (which ends the member's sessions).
type StaffUpdateRequest struct {
	Name      string `json:"name"`
	Role      string `json:"role,omitempty"`
	Disabled  *bool  `json:"disabled,omitempty"`
	ResetTOTP bool   `json:"reset_totp,omitempty"`
}

// AuditListRequest filters the audit trail; empty fields match all.
type AuditListRequest struct {
	Admin  string    `json:"admin,omitempty"`
	UserID int64     `json:"user_id,omitempty"`
	Text   string    `json:"text,omitempty"` // in the path or action
	Since  time.Time `json:"since,omitzero"`
	Until  time.Time `json:"until,omitzero"`
	Limit  int       `json:"limit,omitempty"`
}

// AuditEntry is one recorded staff action or sign-in event.
type AuditEntry struct {
	ID string `json:"id"`
	AdminAudited
}

// AuditList is the matching entries, newest first.
type AuditList struct {
	Entries []AuditEntry `json:"entries"`
}

// AdminUserRequest finds one user by email, phone, uuid or user id.
type AdminUserRequest struct {
	Query  string `json:"query,omitempty"`
	UserID int64  `json:"user_id,omitempty"`
}

// AdminUser is what support sees of an account.
type AdminUser struct {
	Account  Account       `json:"account"`
	Sessions []SessionInfo `json:"sessions"`
	Lockout  PINLockout    `json:"lockout"`
}

// PINLockout is the state of a phone's PIN lockout.
type PINLockout struct {
	// UnknownFailures counts the failed PINs from unknown devices in the
	// window; Locked is true when they reached the cap.
	UnknownFailures int       `json:"unknown_failures"`
	UnknownCap      int       `json:"unknown_cap"`
	Locked          bool      `json:"locked"`
	Until           time.Time `json:"until,omitzero"`
	// LockedDevices counts trusted devices locked now.
	LockedDevices int `json:"locked_devices"`
}

// AdminSessionsRevokeRequest ends one session of a user (or all of them
// when SessionID is empty).
type AdminSessionsRevokeRequest struct {
	UserID    int64  `json:"user_id"`
	SessionID string `json:"session_id,omitempty"`
}

// AdminSessionsRevokeReply lists the sessions ended.
type AdminSessionsRevokeReply struct {
	Revoked []string `json:"revoked"`
}

// AdminUserIDRequest names a user by id.
type AdminUserIDRequest struct {
	UserID int64 `json:"user_id"`
}
