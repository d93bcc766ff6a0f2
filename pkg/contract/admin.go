package contract

import "time"

// AdminAudited records one call to the admin API before it runs: who, what
// and when. It stays in the EVENTS stream, so the audit trail is as durable
// as the events themselves.
type AdminAudited struct {
	Admin     string    `json:"admin"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Route     string    `json:"route"`
	ClientIP  string    `json:"client_ip"`
	UserAgent string    `json:"user_agent,omitempty"`
	At        time.Time `json:"at"`
	// UserID is the user the call is about, when its path names one
	// (/admin/v1/users/{id}/...): what the user's data export lists.
	UserID int64 `json:"user_id,omitempty"`
}
