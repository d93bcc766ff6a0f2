package contract

// Every NATS subject, service name, stream and bucket lives here, so that a
// grep for one finds its publisher and every reader.
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
	// QueueGroup is shared by every replica of a service so that N replicas
	// split the load with no code change.
	QueueGroupSuffix = ".workers"
)

// Auth commands.
const (
	AuthEmailSendOTP   = "auth.v1.email-send-otp"
	AuthEmailVerifyOTP = "auth.v1.email-verify-otp"
	AuthPhoneSendOTP   = "auth.v1.phone-send-otp"
	AuthPhoneVerifyOTP = "auth.v1.phone-verify-otp"
	AuthSetPIN         = "auth.v1.set-pin"
	AuthConfirmPIN     = "auth.v1.confirm-pin"
	AuthLogin          = "auth.v1.login"
	AuthLoginVerifyOTP = "auth.v1.login-verify-otp"
	AuthLogout         = "auth.v1.logout"
	AuthKeys           = "auth.v1.keys"
	AuthAccountGet     = "auth.v1.account-get"
	AuthChangeEmail    = "auth.v1.change-email"
	AuthChangePhone    = "auth.v1.change-phone"
	AuthVerifyContact  = "auth.v1.verify-contact"
	AuthChangePassword = "auth.v1.change-password"
	AuthSessionsList   = "auth.v1.sessions-list"
	AuthSessionRevoke  = "auth.v1.session-revoke"
	AuthTwoFAStart     = "auth.v1.twofa-start"
	AuthTwoFAVerify    = "auth.v1.twofa-verify"
	AuthForgotPIN      = "auth.v1.forgot-pin"
	AuthResetPIN       = "auth.v1.reset-pin"
)

// Profile commands.
const (
	ProfileGet           = "profile.v1.get"
	ProfileUpdateName    = "profile.v1.update-name"
	ProfileUpdateEmail   = "profile.v1.update-email"
	ProfileUpdatePhone   = "profile.v1.update-phone"
	ProfileVerifyContact = "profile.v1.verify-contact"
	ProfileUpdateImage   = "profile.v1.update-image"
	AccountGet           = "profile.v1.account-get"
	AccountUpdate        = "profile.v1.account-update"
	AccountWalletPost    = "profile.v1.wallet-post"
	AccountOrderPost     = "profile.v1.order-post"
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
)

// HealthSubject is a service's readiness command: every replica answers
// it with the state of its dependencies (natsx.AddHealth).
func HealthSubject(service string) string { return service + ".v1.health" }

// HealthReply names each dependency of a replica and its state.
type HealthReply struct {
	Checks map[string]string `json:"checks"`
}

// Notifier commands.
const (
	NotifierOutbox = "notifier.v1.outbox"
)

// JetStream streams and event subjects.
const (
	StreamEvents        = "EVENTS"
	StreamEventsSubject = "events.>"
	StreamDeadLetters   = "DEADLETTER"
	// DeadLetterPrefix + consumer name + "." + original subject.
	DeadLetterPrefix        = "deadletter."
	StreamDeadLetterSubject = "deadletter.>"

	EventOTPRequested       = "auth.otp_requested"
	EventAccountRegistered  = "auth.account_registered"
	EventEmailChanged       = "auth.email_changed"
	EventPhoneChanged       = "auth.phone_changed"
	EventSessionRevoked     = "auth.session_revoked"
	EventNotificationWanted = "notify.requested"
	EventProfileUpdated     = "profile.updated"
	EventDocumentAdded      = "documents.added"
	EventDocumentDeleted    = "documents.deleted"
	EventDocumentReviewed   = "documents.reviewed"
	EventAdminAudited       = "admin.audited"
	EventWalletPosted       = "wallet.posted"
	EventOrderPosted        = "orders.posted"
)

// EventSubject is the JetStream subject an event type is published on.
func EventSubject(eventType string) string { return "events." + eventType }

// KV buckets.
const (
	// BucketRevokedSessions holds one key per revoked session id until the
	// longest token it could appear in has expired; every gateway replica
	// watches it, so a revocation reaches all of them without a request.
	BucketRevokedSessions = "auth_revoked_sessions"
)

// NATS headers set by the gateway and read by the services. Who the caller
// is travels only in HeaderAssertion (bus.go); the identity headers below
// are what the old bus believed, sent by no one and read by no one now, and
// kept for the tests that forge them.
const (
	HeaderCorrelationID = "Doss-Correlation-Id"
	HeaderClientIP      = "Doss-Client-Ip"
	HeaderUserAgent     = "Doss-User-Agent"
	HeaderLocale        = "Doss-Locale"
	// HeaderReceipt asks a replica to say at once that it has the request
	// (natsx: an empty message with this header, before the answer).
	HeaderReceipt = "Doss-Receipt"

	HeaderUserID    = "Doss-User-Id"
	HeaderUserUUID  = "Doss-User-Uuid"
	HeaderSessionID = "Doss-Session-Id"
	HeaderAdmin     = "Doss-Admin"
)

// Documents and the profile: documents tells profile its new state at once
// (read-your-writes; the events are the recovery path), and every service
// deletes the objects its own state changes orphan.
const (
	ProfileApplyDocuments       = "profile.v1.apply-documents"
	EventDocumentObjectOrphaned = "documents.object_orphaned"
	EventProfileObjectOrphaned  = "profile.object_orphaned"
)

// Account API commands (/api/user), served by profile.
const (
	AccountUpdate2FA = "profile.v1.account-update-2fa"
	AccountVerifyOTP = "profile.v1.account-verify-otp"
)
