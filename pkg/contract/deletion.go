package contract

import "time"

// Account deletion (issue 16): the user asks with their PIN, auth ends
// every session at once and, after the grace period, starts the purge: a
// saga over events in which each service erases its part and says so.
//
//	auth.account_deletion_requested  auth → auth (the request is durable)
//	auth.account_deletion_due        auth → every service: erase your part
//	<service>.account_erased         each service → auth: my part is gone
//	auth.account_deletion_changed    auth → the stream: one audit entry per step
//
// Only auth may publish events.auth.> (BusUsers), so no other process on
// the bus can start an erasure.

// Deletion states.
const (
	DeletionPending   = "pending"   // in the grace period; support may cancel
	DeletionPurging   = "purging"   // the erase events are out; waiting for every part
	DeletionPurged    = "purged"    // every part erased
	DeletionCancelled = "cancelled" // support cancelled it in the grace period
)

// ErasureParts are the services that erase a part of an account; the
// deletion is purged when each has said so.
var ErasureParts = []string{ServiceAuth, ServiceProfile, ServiceDocuments, ServiceNotifier}

// ErasedEvent is the event type with which service reports its part.
func ErasedEvent(service string) string {
	switch service {
	case ServiceProfile:
		return EventProfileAccountErased
	case ServiceDocuments:
		return EventDocumentsAccountErased
	case ServiceNotifier:
		return EventNotifierAccountErased
	}
	return ""
}

// AccountDeleteRequest is POST /api/v2/account/delete: the PIN again.
type AccountDeleteRequest struct {
	PIN string `json:"pin"`
}

// DeletionState is where one deletion stands, as the app sees it.
type DeletionState struct {
	Status      string    `json:"status"`
	RequestedAt time.Time `json:"requested_at"`
	PurgeAt     time.Time `json:"purge_at"`
}

// AccountDeleteReply is auth's answer; Revoked are the sessions it ended,
// for the serving gateway to refuse at once.
type AccountDeleteReply struct {
	Deletion DeletionState `json:"deletion"`
	Revoked  []string      `json:"revoked"`
}

// AccountDeletionMessage is the answer's message.
const AccountDeletionMessage = "Your account will be deleted. Every device was signed out; contact support before the purge date to cancel."

// AccountDeletionRequested is auth's own durable record of a request.
type AccountDeletionRequested struct {
	UserID      int64     `json:"user_id"`
	UUID        string    `json:"uuid"`
	RequestedAt time.Time `json:"requested_at"`
	PurgeAt     time.Time `json:"purge_at"`
}

// AccountDeletionDue tells every service to erase its part of the
// account. Email and Phone are for the notifier, which knows its records
// by address only.
type AccountDeletionDue struct {
	UserID int64  `json:"user_id"`
	UUID   string `json:"uuid"`
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
}

// AccountPartErased is one service's report that its part is gone.
type AccountPartErased struct {
	UserID  int64  `json:"user_id"`
	UUID    string `json:"uuid"`
	Service string `json:"service"`
}

// DeletionsListRequest is GET /admin/v1/deletions?status=. UserID, when
// set, narrows the list to that account's deletion (the console's user
// page): a keyed read, not the scan of every deletion.
type DeletionsListRequest struct {
	Status string `json:"status,omitempty"`
	UserID int64  `json:"user_id,omitempty"`
}

// AdminDeletion is one deletion as support sees it: no email or phone.
type AdminDeletion struct {
	UserID      int64                `json:"user_id"`
	UUID        string               `json:"uuid"`
	Status      string               `json:"status"`
	RequestedAt time.Time            `json:"requested_at"`
	PurgeAt     time.Time            `json:"purge_at"`
	Parts       map[string]time.Time `json:"parts"`
	Pending     []string             `json:"pending_parts"`
	CancelledAt *time.Time           `json:"cancelled_at,omitempty"`
	CancelledBy string               `json:"cancelled_by,omitempty"`
	PurgedAt    *time.Time           `json:"purged_at,omitempty"`
}

// DeletionsListReply lists deletions, newest request first.
type DeletionsListReply struct {
	Deletions []AdminDeletion `json:"deletions"`
}

// DeletionCancelRequest is POST /admin/v1/users/{id}/deletion/cancel.
type DeletionCancelRequest struct {
	UserID int64 `json:"user_id"`
}

// AccountDeletionChanged is the audit entry of one step of a deletion.
type AccountDeletionChanged struct {
	AdminDeletion
	Step string `json:"step"` // requested, purge_started, part_erased:<service>, purged, cancelled
	By   string `json:"by,omitempty"`
}
