package contract

import (
	"net/netip"
	"time"
)

// Principal is who the gateway authenticated; it travels in NATS headers.
type Principal struct {
	UserID    int64  `json:"user_id"`
	UUID      string `json:"uuid"`
	SessionID string `json:"session_id"`
	// Admin names the operator when the call came through the admin API
	// (an admin token from configuration); it is empty for app users.
	Admin string `json:"admin,omitempty"`
}

// Client is what the gateway knows of the caller that the caller cannot
// forge (the peer address or a trusted proxy's), for rate limiting.
type Client struct {
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	// Locale is the client's preferred language (e.g. "fr"), when it says.
	Locale string `json:"locale,omitempty"`
}

// Network is the client's address as per-client limits count it: an IPv4
// address as it is, an IPv6 one as its /64. One subscriber's line is given
// a /64 to number its devices from, so counted per address one attacker
// would be 2^64 clients, and every "one client may…" limit nothing.
func (c Client) Network() string {
	a, err := netip.ParseAddr(c.IP)
	if err != nil {
		return c.IP
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return c.IP
	}
	return p.String()
}

type EmailSendOTPRequest struct {
	Email string `json:"email"`
}

type EmailSendOTPReply struct {
	Email string `json:"email"`
	// UUID is the registration attempt's, new on every call: the
	// capability the next steps take.
	UUID string `json:"uuid"`
	// VerificationCode is only set in dev mode.
	VerificationCode string `json:"verification_code,omitempty"`
}

type EmailVerifyOTPRequest struct {
	Email            string `json:"email"`
	VerificationCode string `json:"verification_code"`
}

type EmailVerifyOTPReply struct {
	EmailVerifyAt time.Time `json:"email_verify_at"`
}

type PhoneSendOTPRequest struct {
	Email string `json:"email"`
	Phone string `json:"phone"`
}

// PhoneSendOTPReply has no uuid: the attempt's uuid is answered only to
// whoever started it (EmailSendOTPReply).
type PhoneSendOTPReply struct {
	Phone            string `json:"phone"`
	VerificationCode string `json:"verification_code,omitempty"`
}

type PhoneVerifyOTPRequest struct {
	UUID             string `json:"uuid"`
	VerificationCode string `json:"verification_code"`
}

type PhoneVerifyOTPReply struct {
	PhoneVerifyAt time.Time `json:"phone_verify_at"`
}

type SetPINRequest struct {
	UUID string `json:"uuid"`
	PIN  string `json:"pin"`
}

type ConfirmPINRequest struct {
	UUID        string `json:"uuid"`
	ConfirmPIN  string `json:"confirm_pin"`
	DeviceToken string `json:"fcm_last_login_device_token,omitempty"`
}

type LoginRequest struct {
	Phone       string `json:"phone"`
	Password    string `json:"password"`
	DeviceToken string `json:"fcm_last_login_device_token,omitempty"`
}

// LoginVerifyOTPRequest completes a login that needed a second factor.
type LoginVerifyOTPRequest struct {
	Challenge string `json:"challenge"`
	OTP       string `json:"otp"`
}

// User is the user object inside a login answer.
type User struct {
	ID        int64  `json:"id"`
	UUID      string `json:"uuid"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

// Session is a signed token and the user it belongs to.
type Session struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"`
	ExpiresIn int64  `json:"expires_in"`
	User      User   `json:"user"`
}

// ForgotPINRequest asks for the two codes that reset a forgotten PIN.
type ForgotPINRequest struct {
	Phone string `json:"phone"`
}

// ForgotPINMessage is the one answer forgot_pin gives, whether or not the
// phone has an account.
const ForgotPINMessage = "If this phone number belongs to an account, we sent a code to it and another code to the account's email."

// ResetPINRequest sets a new PIN with both codes ForgotPIN sent.
type ResetPINRequest struct {
	Phone       string `json:"phone"`
	SMSCode     string `json:"sms_code"`
	EmailCode   string `json:"email_code"`
	PIN         string `json:"pin"`
	DeviceToken string `json:"fcm_last_login_device_token,omitempty"`
}

// LoginReply is either a session or, with 2FA on, a challenge.
type LoginReply struct {
	Session   *Session `json:"session,omitempty"`
	Challenge string   `json:"challenge,omitempty"`
}

type LogoutRequest struct{}

// Every access token names its issuer and audience; auth signs with them
// and each gateway requires them.
const (
	TokenIssuer   = "doss-auth"
	TokenAudience = "doss-app"
)

// VerificationKey is a public key the gateway checks tokens with.
type VerificationKey struct {
	KeyID     string `json:"kid"`
	Algorithm string `json:"alg"`
	PublicKey []byte `json:"public_key"`
}

type KeysReply struct {
	Issuer   string            `json:"issuer"`
	Audience string            `json:"audience"`
	Keys     []VerificationKey `json:"keys"`
}

// Account is what auth knows of an account: identity and contacts.
type Account struct {
	ID              int64      `json:"id"`
	UUID            string     `json:"uuid"`
	Email           string     `json:"email"`
	Phone           string     `json:"phone"`
	EmailVerifiedAt *time.Time `json:"email_verify_at"`
	PhoneVerifiedAt *time.Time `json:"phone_verify_at"`
	TwoFA           bool       `json:"two_fa"`
	HasPassword     bool       `json:"has_password"`
	// ValidTokenCount is the number of the account's active sessions.
	ValidTokenCount int `json:"valid_token_count"`
	// EmailChange and PhoneChange are a new address waiting for its code:
	// until verified it holds no claim, logs nobody in and gets no notices.
	EmailChange *PendingContact `json:"email_change,omitempty"`
	PhoneChange *PendingContact `json:"phone_change,omitempty"`
	Locale      string          `json:"locale,omitempty"`
	DeviceToken string          `json:"device_token,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
}

// PendingContact is an email or phone an account asked to move to, waiting
// until Until for the code sent to it.
type PendingContact struct {
	To    string    `json:"to" bson:"to"`
	Until time.Time `json:"until" bson:"until"`
}

// Waiting reports whether the change still waits for its code at now.
func (p *PendingContact) Waiting(now time.Time) bool { return p != nil && now.Before(p.Until) }

type AccountGetRequest struct {
	UserID int64 `json:"user_id"`
}

type ChangeEmailRequest struct {
	UserID   int64  `json:"user_id"`
	NewEmail string `json:"new_email"`
}

type ChangePhoneRequest struct {
	UserID   int64  `json:"user_id"`
	NewPhone string `json:"new_phone"`
}

// Contact channels a change is verified on (VerifyContactRequest.Channel).
const (
	ContactEmail = "email"
	ContactPhone = "phone"
)

// ContactVerifyRequest completes the caller's pending email or phone change
// with the code sent to the new address.
type ContactVerifyRequest struct {
	UserID           int64  `json:"user_id"`
	Channel          string `json:"channel"`
	VerificationCode string `json:"verification_code"`
}

// TwoFAStartRequest asks auth to confirm, with a 6-digit code sent by SMS,
// a change of the account's telephone and/or its 2FA setting (the account
// API's /profile/2fa). The change waits in auth until TwoFAVerify.
type TwoFAStartRequest struct {
	UserID int64 `json:"user_id"`
	// Telephone is the wanted number; empty or the current one = unchanged.
	Telephone string `json:"telephone"`
	// IsTwoFA is the wanted 2FA setting; nil = unchanged.
	IsTwoFA *bool `json:"is_two_fa,omitempty"`
}

// TwoFAStartReply says where the code went; OTPSent is false when nothing
// would change (and then no code is sent).
type TwoFAStartReply struct {
	Telephone string `json:"telephone"` // E.164
	OTPSent   bool   `json:"is_otp_sent"`
	// VerificationCode is only set in dev mode.
	VerificationCode string `json:"verification_code,omitempty"`
}

// TwoFAVerifyRequest applies the pending change if the code is right.
type TwoFAVerifyRequest struct {
	UserID    int64  `json:"user_id"`
	Telephone string `json:"telephone"`
	OTP       string `json:"otp"`
}

// TwoFAVerifyReply is the account after the change, and a new session when
// the telephone (which tokens name) changed.
type TwoFAVerifyReply struct {
	Account Account  `json:"account"`
	Session *Session `json:"session,omitempty"`
}

// ChangePasswordRequest replaces the caller's secret. OldPassword is the
// current secret (PIN or password); Password is a 4-digit PIN that passes
// the weak-PIN rules or a password of 8 to 72 characters.
type ChangePasswordRequest struct {
	OldPassword string `json:"old_password"`
	Password    string `json:"password"`
}

// ChangePasswordReply names the sessions the change revoked (every one of
// the account's but the caller's), so the gateway that served it can
// refuse them at once; the others learn them from the revocation bucket.
type ChangePasswordReply struct {
	Revoked []string `json:"revoked"`
}

// SessionInfo is one active login of the caller's account.
type SessionInfo struct {
	ID         string    `json:"id"`
	Device     string    `json:"device"`
	IP         string    `json:"ip"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	Current    bool      `json:"current"`
}

type SessionsListRequest struct{}

type SessionsListReply struct {
	Sessions []SessionInfo `json:"sessions"`
}

// SessionRevokeRequest ends one of the caller's sessions; an id that is not
// an active session of the caller's account is NotFound, whoever owns it.
type SessionRevokeRequest struct {
	ID string `json:"id"`
}

// Events published by auth.

// OTPRequested asks the notifier to deliver a code. The code is sealed
// (AES-GCM under the key auth and the notifier share) so that neither the
// stream nor the outbox document holds it in the clear.
type OTPRequested struct {
	Channel    string    `json:"channel"` // "email" or "sms"
	To         string    `json:"to"`
	Purpose    string    `json:"purpose"`
	SealedCode []byte    `json:"sealed_code"`
	UserUUID   string    `json:"user_uuid,omitempty"`
	Locale     string    `json:"locale,omitempty"`
	ExpiresAt  time.Time `json:"expires_at"`
}

type AccountRegistered struct {
	Account Account `json:"account"`
}

type ContactChanged struct {
	UserID int64  `json:"user_id"`
	UUID   string `json:"uuid"`
	Old    string `json:"old"`
	New    string `json:"new"`
	// VerifiedAt is when the new address proved to be the account's.
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
}

type SessionRevoked struct {
	UserID    int64  `json:"user_id"`
	SessionID string `json:"session_id"`
}

// NotificationWanted asks the notifier to send a templated message.
type NotificationWanted struct {
	Channel     string            `json:"channel"` // "email", "sms" or "push"
	To          string            `json:"to"`
	Template    string            `json:"template"`
	Locale      string            `json:"locale,omitempty"`
	Data        map[string]string `json:"data,omitempty"`
	UserID      int64             `json:"user_id,omitempty"`
	DeviceToken string            `json:"device_token,omitempty"`
}

// OTP channels and purposes.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
	ChannelPush  = "push"

	PurposeRegisterEmail = "register_email"
	PurposeRegisterPhone = "register_phone"
	PurposeLogin2FA      = "login_2fa"
	PurposeProfile2FA    = "profile_2fa"
	PurposeChangeEmail   = "change_email"
	PurposeChangePhone   = "change_phone"
	// A forgotten PIN is reset with two codes, one by SMS to the phone and
	// one to the account's email, each bound to the account.
	PurposeForgotPINSMS   = "forgot_pin_sms"
	PurposeForgotPINEmail = "forgot_pin_email"
)

// Notifier dev outbox.
type OutboxRequest struct {
	To string `json:"to"`
}

type OutboxMessage struct {
	Channel string    `json:"channel"`
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Body    string    `json:"body"`
	Code    string    `json:"code,omitempty"`
	SentAt  time.Time `json:"sent_at"`
}
