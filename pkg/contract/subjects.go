package contract

import "strings"

// Every NATS subject, service name, stream, consumer and bucket lives
// here, so that a grep for one finds its publisher and every reader; the
// bus users' rights over them are in bus.go.
//
// Commands are request-reply through the nats.go micro framework: service
// <name>, group "<name>.v1", endpoint "<verb>". Events are past tense,
// published on JetStream under "events.<area>.<what_happened>".

// Service names as registered with micro (and seen in $SRV.PING/INFO/STATS).
const (
	ServiceAuth      = "auth"
	ServiceProfile   = "profile"
	ServiceDocuments = "documents"
	ServiceNotifier  = "notifier"
	// QueueGroupSuffix names the group every replica of a service joins,
	// so that N replicas split the load with no code change.
	QueueGroupSuffix = ".workers"
)

// HealthSubject is a service's readiness command: every replica answers
// it with the state of its dependencies (natsx.AddHealth).
func HealthSubject(service string) string { return service + ".v1.health" }

// HealthReply names each dependency of a replica and its state.
type HealthReply struct {
	Checks map[string]string `json:"checks"`
}

// Auth commands.
const (
	// Registration and login.
	AuthEmailSendOTP   = "auth.v1.email-send-otp"
	AuthEmailVerifyOTP = "auth.v1.email-verify-otp"
	AuthPhoneSendOTP   = "auth.v1.phone-send-otp"
	AuthPhoneVerifyOTP = "auth.v1.phone-verify-otp"
	AuthSetPIN         = "auth.v1.set-pin"
	AuthConfirmPIN     = "auth.v1.confirm-pin"
	AuthLogin          = "auth.v1.login"
	AuthLoginVerifyOTP = "auth.v1.login-verify-otp"
	AuthLogout         = "auth.v1.logout"
	AuthForgotPIN      = "auth.v1.forgot-pin"
	AuthResetPIN       = "auth.v1.reset-pin"
	AuthKeys           = "auth.v1.keys"

	// The account: contacts, password, sessions, 2FA.
	AuthAccountGet     = "auth.v1.account-get"
	AuthChangeEmail    = "auth.v1.change-email"
	AuthChangePhone    = "auth.v1.change-phone"
	AuthVerifyContact  = "auth.v1.verify-contact"
	AuthChangePassword = "auth.v1.change-password"
	AuthSessionsList   = "auth.v1.sessions-list"
	AuthSessionRevoke  = "auth.v1.session-revoke"
	AuthTwoFAStart     = "auth.v1.twofa-start"
	AuthTwoFAVerify    = "auth.v1.twofa-verify"

	// Deletion (deletion.go) and export (export.go).
	AuthAccountDelete  = "auth.v1.account-delete"
	AuthDeletionsList  = "auth.v1.deletions-list"
	AuthDeletionCancel = "auth.v1.deletion-cancel"
	// AuthExport is auth's part of an export; it refuses (RateLimited)
	// when the account's last export is younger than ExportInterval.
	AuthExport = "auth.v1.export"
	// AuthExportDone records a finished export: the one that records first
	// within ExportInterval wins, a concurrent one is RateLimited.
	AuthExportDone = "auth.v1.export-done"

	// Staff accounts, console sessions and the audit trail (staff.go).
	AuthStaffLogin   = "auth.v1.staff-login"
	AuthStaffSession = "auth.v1.staff-session"
	AuthStaffLogout  = "auth.v1.staff-logout"
	AuthStaffList    = "auth.v1.staff-list"
	AuthStaffCreate  = "auth.v1.staff-create"
	AuthStaffUpdate  = "auth.v1.staff-update"
	AuthAuditList    = "auth.v1.audit-list"
	// Support: one user's account, sessions and PIN lockout, for staff.
	AuthAdminUser           = "auth.v1.admin-user"
	AuthAdminSessionsRevoke = "auth.v1.admin-sessions-revoke"
	AuthAdminUnlock         = "auth.v1.admin-unlock"
)

// Profile commands.
const (
	// The profile (seed 000).
	ProfileGet           = "profile.v1.get"
	ProfileUpdateName    = "profile.v1.update-name"
	ProfileUpdateEmail   = "profile.v1.update-email"
	ProfileUpdatePhone   = "profile.v1.update-phone"
	ProfileVerifyContact = "profile.v1.verify-contact"
	ProfileUpdateImage   = "profile.v1.update-image"
	// ProfileApplyDocuments: documents tells profile its new state at once
	// (read-your-writes; the events are the recovery path).
	ProfileApplyDocuments = "profile.v1.apply-documents"

	// The account API (/api/user, seed 002) and the postings admins make.
	AccountGet        = "profile.v1.account-get"
	AccountUpdate     = "profile.v1.account-update"
	AccountUpdate2FA  = "profile.v1.account-update-2fa"
	AccountVerifyOTP  = "profile.v1.account-verify-otp"
	AccountWalletPost = "profile.v1.wallet-post"
	AccountOrderPost  = "profile.v1.order-post"

	// The identity pass (pass.go).
	ProfilePassIssue         = "profile.v1.pass-issue"
	ProfilePassVerify        = "profile.v1.pass-verify"
	ProfilePassRevoke        = "profile.v1.pass-revoke"
	ProfilePassKeys          = "profile.v1.pass-keys"
	ProfilePassPhoto         = "profile.v1.pass-photo"
	ProfilePassVerifications = "profile.v1.pass-verifications"

	ProfileAdminGet = "profile.v1.admin-get"
	ProfileExport   = "profile.v1.export"
)

// Documents commands.
const (
	DocumentsTypes     = "documents.v1.types"
	DocumentsAdd       = "documents.v1.add"
	DocumentsUploadURL = "documents.v1.upload-url"
	DocumentsList      = "documents.v1.list"
	DocumentsGet       = "documents.v1.get"
	DocumentsDelete    = "documents.v1.delete"
	DocumentsReview    = "documents.v1.review"
	DocumentsAdminList = "documents.v1.admin-list"
	DocumentsAdminUser = "documents.v1.admin-user"
	DocumentsAdminGet  = "documents.v1.admin-get"
	DocumentsExport    = "documents.v1.export"
)

// Notifier commands.
const (
	NotifierOutbox = "notifier.v1.outbox"
	NotifierExport = "notifier.v1.export"
)

// JetStream streams.
const (
	StreamEvents        = "EVENTS"
	StreamEventsSubject = "events.>"
	StreamDeadLetters   = "DEADLETTER"
	// DeadLetterPrefix + consumer name + "." + original subject.
	DeadLetterPrefix        = "deadletter."
	StreamDeadLetterSubject = "deadletter.>"
)

// EventSubject is the JetStream subject an event type is published on.
func EventSubject(eventType string) string { return "events." + eventType }

// Event types, by the area that publishes them.
const (
	EventOTPRequested      = "auth.otp_requested"
	EventAccountRegistered = "auth.account_registered"
	EventEmailChanged      = "auth.email_changed"
	EventPhoneChanged      = "auth.phone_changed"
	EventSessionRevoked    = "auth.session_revoked"
	// The deletion saga (deletion.go): auth asks, each service erases its
	// part and says so.
	EventAccountDeletionRequested = "auth.account_deletion_requested"
	EventAccountDeletionDue       = "auth.account_deletion_due"
	EventAccountDeletionChanged   = "auth.account_deletion_changed"
	EventProfileAccountErased     = "profile.account_erased"
	EventDocumentsAccountErased   = "documents.account_erased"
	EventNotifierAccountErased    = "notifier.account_erased"

	EventProfileUpdated = "profile.updated"
	// EventProfileNamesChanged carries a profile's new names to auth,
	// which answers logins with them without asking profile.
	EventProfileNamesChanged = "profile.names_changed"
	EventWalletPosted        = "wallet.posted"
	EventOrderPosted         = "orders.posted"

	EventDocumentAdded    = "documents.added"
	EventDocumentDeleted  = "documents.deleted"
	EventDocumentReviewed = "documents.reviewed"

	// Every service deletes the objects its own state changes orphan.
	EventDocumentObjectOrphaned = "documents.object_orphaned"
	EventProfileObjectOrphaned  = "profile.object_orphaned"

	EventNotificationWanted = "notify.requested"
	EventAdminAudited       = "admin.audited"
)

// Durable consumers of the EVENTS stream, one per reader and purpose; a
// dead letter names its consumer (DeadLetterPrefix).
const (
	DurableAuthAudit        = "auth-audit"     // admin.audited into auth's audit trail
	DurableAuthDeletions    = "auth-deletions" // the erased parts of a deletion
	DurableAuthNames        = "auth-names"     // profile.names_changed into auth's copy of the names
	DurableProfileAccounts  = "profile-accounts"
	DurableProfileDocuments = "profile-documents"
	DurableProfileObjects   = "profile-objects"
	DurableProfileErasure   = "profile-erasure"
	DurableProfileDeletions = "profile-deletions" // a deletion request revokes the passes
	DurableProfilePostings  = "profile-postings"
	DurableDocumentsObjects = "documents-objects"
	DurableDocumentsErasure = "documents-erasure"
	DurableNotifier         = "notifier"
	DurableNotifierErasure  = "notifier-erasure"
)

// readers are the event types each durable reads. A reader of one type is
// one consumer named as the durable; a reader of several is one consumer
// per type (ConsumerName), because the bus pins a consumer to a single
// filter only (bus.go eventsAPI): a service cannot widen what its own
// consumers read. Each consumer keeps its own order, so a reader of several
// types sees them interleaved in any order (as it already did after a
// redelivery), and its handler must not depend on it.
var readers = map[string][]string{
	DurableAuthAudit:        {EventAdminAudited},
	DurableAuthDeletions:    authDeletionEvents(),
	DurableAuthNames:        {EventProfileNamesChanged},
	DurableProfileAccounts:  {EventAccountRegistered, EventEmailChanged, EventPhoneChanged},
	DurableProfileDocuments: {EventDocumentAdded, EventDocumentDeleted, EventDocumentReviewed},
	DurableProfileObjects:   {EventProfileObjectOrphaned},
	DurableProfileErasure:   {EventAccountDeletionDue},
	DurableProfileDeletions: {EventAccountDeletionRequested},
	DurableProfilePostings:  {EventWalletPosted, EventOrderPosted},
	DurableDocumentsObjects: {EventDocumentObjectOrphaned},
	DurableDocumentsErasure: {EventAccountDeletionDue},
	DurableNotifier:         {EventOTPRequested, EventNotificationWanted},
	DurableNotifierErasure:  {EventAccountDeletionDue},
}

// authDeletionEvents are what auth's deletion saga reads: the request, the
// moment it falls due, and each part's report that it erased.
func authDeletionEvents() []string {
	out := []string{EventAccountDeletionRequested, EventAccountDeletionDue}
	for _, svc := range ErasureParts {
		if t := ErasedEvent(svc); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// ReaderEvents are the event types durable reads; nil for a name that is
// no reader.
func ReaderEvents(durable string) []string { return append([]string(nil), readers[durable]...) }

// Consumers are the JetStream consumers of durable, one per event type.
func Consumers(durable string) []string {
	var out []string
	for _, t := range readers[durable] {
		out = append(out, ConsumerName(durable, t))
	}
	return out
}

// ConsumerName is the JetStream consumer through which durable reads
// eventType: the durable's own name when it reads one type, else the name
// and the type ("profile-accounts_auth_email_changed").
func ConsumerName(durable, eventType string) string {
	if len(readers[durable]) == 1 {
		return durable
	}
	return durable + "_" + strings.NewReplacer(".", "_").Replace(eventType)
}

// Buckets.
const (
	// BucketRevokedSessions (KV) holds one key per revoked session id until
	// the longest token it could appear in has expired; every gateway
	// replica watches it, so a revocation reaches all of them without a
	// request.
	BucketRevokedSessions = "auth_revoked_sessions"
	// Upload buckets (object stores, pkg/uploads): the gateway puts, the
	// service takes.
	BucketProfileUploads   = "profile_uploads"
	BucketDocumentsUploads = "documents_uploads"
)

// NATS headers set by the caller and read by the services. Who the caller
// is travels only in HeaderAssertion (bus.go).
const (
	HeaderCorrelationID = "Doss-Correlation-Id"
	HeaderClientIP      = "Doss-Client-Ip"
	HeaderUserAgent     = "Doss-User-Agent"
	HeaderLocale        = "Doss-Locale"
	// HeaderReceipt asks a replica to say at once that it has the request
	// (natsx: an empty message with this header, before the answer).
	HeaderReceipt = "Doss-Receipt"
	// HeaderCall names one call: every copy of a request its caller sends
	// (natsx: again, for want of a receipt) carries the same one, so a
	// handler can tell a copy of a request it ran from a new request.
	HeaderCall = "Doss-Call"

	// What the old bus believed of who called: sent by no one and read by
	// no one now, kept for the tests that forge them and must be refused.
	HeaderUserID    = "Doss-User-Id"
	HeaderUserUUID  = "Doss-User-Uuid"
	HeaderSessionID = "Doss-Session-Id"
	HeaderAdmin     = "Doss-Admin"
)

// NATS headers a service sets on its reply and its caller may act on
// (natsx.CacheFor, natsx.ProfileChanged; a caller hears them with
// natsx.OnReply).
const (
	// HeaderCacheMaxAge is how many whole seconds the answer may be kept
	// by its caller; 0 or none: not at all. The profile service says it of
	// a profile: the life of the links it signs, less a margin for the
	// phone to fetch them.
	HeaderCacheMaxAge = "Doss-Cache-Max-Age"
	// HeaderProfileChanged names a user (one value each) whose profile the
	// command changed, on success and failure alike, so the caller drops
	// what it keeps of it before it answers (read-your-writes). A service
	// passes on what the replies to its own calls said.
	HeaderProfileChanged = "Doss-Profile-Changed"
	// HeaderDocumentsChanged is the same for a user's documents.
	HeaderDocumentsChanged = "Doss-Documents-Changed"
)

// ObjectStream is the JetStream stream holding an object store bucket's
// objects (nats.go names it so), for permissions and stream settings.
func ObjectStream(bucket string) string { return "OBJ_" + bucket }
