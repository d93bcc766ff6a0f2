package contract

import "time"

// Data export (GDPR Art. 15/20): each service answers for what it holds of
// the caller, named only by the caller's verified assertion (the Export
// commands in subjects.go); the gateway puts the parts together and
// answers nothing unless every part came. Nothing secret crosses: no PIN
// or code hash, no token hash, no device HMAC, no key, no code.
const (
	ExportInterval = time.Hour // at most one export per account in this time
	ExportRedacted = "[redacted]"
	ExportTooOften = "You can export your data once an hour. Please try again later."
)

// ExportRequest asks a service for the caller's part; the caller is in the
// assertion, never in the body.
type ExportRequest struct{}

// AuthExportPart is the account as auth holds it and its active sessions.
type AuthExportPart struct {
	Account  ExportAccount `json:"account"`
	Sessions []SessionInfo `json:"sessions"`
	// Audit is every staff action about the user, from auth's audit
	// trail (the console's), oldest first.
	Audit []ExportAuditRow `json:"audit"`
}

// ExportAccount is the account without its secrets.
type ExportAccount struct {
	ID              int64           `json:"id"`
	UUID            string          `json:"uuid"`
	Email           string          `json:"email"`
	Phone           string          `json:"phone"`
	EmailVerifiedAt *time.Time      `json:"email_verify_at"`
	PhoneVerifiedAt *time.Time      `json:"phone_verify_at"`
	TwoFA           bool            `json:"two_fa"`
	HasPassword     bool            `json:"has_password"`
	Locale          string          `json:"locale,omitempty"`
	CreatedAt       time.Time       `json:"created_at"`
	EmailChange     *PendingContact `json:"email_change,omitempty"`
	PhoneChange     *PendingContact `json:"phone_change,omitempty"`
	// TrustedDevices is how many devices the PIN lockout knows; their
	// keyed hashes stay in auth.
	TrustedDevices int `json:"trusted_devices"`
}

// ProfileExportPart is the profile (seed 000), the account profile (seed
// 002), the wallet and order postings and the admin actions on the user.
type ProfileExportPart struct {
	Profile        Profile        `json:"profile"`
	AccountProfile AccountProfile `json:"account_profile"`
	Wallet         []ExportWallet `json:"wallet"`
	Orders         []ExportOrder  `json:"orders"`
}

// ExportWallet is one wallet posting.
type ExportWallet struct {
	ID        string     `json:"id"`
	Balance   string     `json:"balance"`
	Entry     string     `json:"entry"`
	Amount    Amount     `json:"amount"`
	ExpiresAt *time.Time `json:"expires_at"`
	Reason    string     `json:"reason,omitempty"`
	At        time.Time  `json:"at"`
	Received  time.Time  `json:"received_at"`
	Shortfall Amount     `json:"shortfall"`
}

// ExportOrder is one order posting.
type ExportOrder struct {
	ID       string    `json:"id"`
	OrderID  string    `json:"order_id"`
	Status   string    `json:"status"`
	Amount   Amount    `json:"amount"`
	At       time.Time `json:"at"`
	Received time.Time `json:"received_at"`
}

// ExportAuditRow is one staff action about the user (AdminAudited).
type ExportAuditRow struct {
	Admin  string    `json:"admin"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	At     time.Time `json:"at"`
}

// DocumentsExportPart is every current document, its link fresh.
type DocumentsExportPart struct {
	Documents []ExportDocument `json:"documents"`
}

// ExportDocument is a document as the app sees it, and who reviewed it.
type ExportDocument struct {
	Document
	ReviewedBy string `json:"reviewed_by,omitempty"`
}

// NotifierExportPart is what the notifier sent the user.
type NotifierExportPart struct {
	Notifications []ExportNotification `json:"notifications"`
}

// ExportNotification is one sent message, its code replaced by
// ExportRedacted; a push's target is not shown (it is a device token).
type ExportNotification struct {
	Channel  string    `json:"channel"`
	To       string    `json:"to"`
	Template string    `json:"template"`
	Subject  string    `json:"subject"`
	Body     string    `json:"body"`
	SentAt   time.Time `json:"sent_at"`
}

// AccountExport is GET /api/v2/account/export.
type AccountExport struct {
	ExportedAt     time.Time            `json:"exported_at"`
	Account        ExportAccount        `json:"account"`
	Profile        Profile              `json:"profile"`
	AccountProfile AccountProfile       `json:"account_profile"`
	Documents      []ExportDocument     `json:"documents"`
	Sessions       []SessionInfo        `json:"sessions"`
	Wallet         []ExportWallet       `json:"wallet"`
	Orders         []ExportOrder        `json:"orders"`
	Notifications  []ExportNotification `json:"notifications"`
	Audit          []ExportAuditRow     `json:"audit"`
}
