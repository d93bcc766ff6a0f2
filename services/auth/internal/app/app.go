// Package app holds auth's commands: registration, OTPs, PIN login,
// tokens and sessions. The stores it needs are the interfaces of
// stores.go, each with a contract every adapter passes (storetest), so the
// rules hold on FerretDB and MongoDB alike.
package app

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/seal"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// Account is auth's record of one person, registering or active.
type Account struct {
	UUID            string     `bson:"uuid"`
	UserID          int64      `bson:"user_id,omitempty"`
	Email           string     `bson:"email"`
	Phone           string     `bson:"phone,omitempty"`
	PendingPhone    string     `bson:"pending_phone,omitempty"`
	EmailVerifiedAt *time.Time `bson:"email_verified_at,omitempty"`
	PhoneVerifiedAt *time.Time `bson:"phone_verified_at,omitempty"`
	PendingPINHash  string     `bson:"pending_pin_hash,omitempty"`
	PINHash         string     `bson:"pin_hash,omitempty"`
	// Password is true when the secret PINHash holds is a password (8 to
	// 72 characters, set by a password change) rather than a 4-digit PIN.
	Password bool `bson:"password,omitempty"`
	// TwoFA: a login also needs a code sent by SMS to Phone.
	TwoFA       bool      `bson:"two_fa,omitempty"`
	Active      bool      `bson:"active"`
	DeviceToken string    `bson:"device_token,omitempty"`
	Locale      string    `bson:"locale,omitempty"`
	CreatedAt   time.Time `bson:"created_at"`
	// ActivatedBy and ActivatedAt are the call (natsx.Caller.Call) that
	// confirmed the PIN and when: a copy of that call gets the session
	// the first run's lost answer held.
	ActivatedBy string     `bson:"activated_by,omitempty"`
	ActivatedAt *time.Time `bson:"activated_at,omitempty"`
	// EmailChange and PhoneChange wait for the code sent to the new
	// address (see contact.go); Email and Phone stay in use until then.
	EmailChange *contactChange `bson:"email_change,omitempty"`
	PhoneChange *contactChange `bson:"phone_change,omitempty"`

	// Names are the profile's names as its names_changed events last
	// announced them (names.go), for the login's answer. NamesIn says they
	// are kept here, as for every account made since they were; an older
	// account's are in the NameStore until its next change of names.
	Names   domain.Names `bson:"names,omitempty"`
	NamesIn bool         `bson:"names_in,omitempty"`

	// TrustedDevices are keyed hashes (deviceMAC) of the push tokens of
	// the devices that logged in to this account, newest first, at most
	// Limits.TrustedDevices of them; never the tokens.
	TrustedDevices []string `bson:"trusted_devices,omitempty"`

	// Deletion is set while the owner's deletion request waits for its
	// purge (see deletion.go): no login, no code, no command.
	Deletion *accountDeletion `bson:"deletion,omitempty"`

	// version is the one this state was read at (0: not known), for a
	// check that only needs to know whether it is still the newest.
	version int64
}

func (a Account) contract() contract.Account {
	return contract.Account{
		ID: a.UserID, UUID: a.UUID, Email: a.Email, Phone: a.Phone,
		EmailVerifiedAt: a.EmailVerifiedAt, PhoneVerifiedAt: a.PhoneVerifiedAt,
		TwoFA: a.TwoFA, HasPassword: a.Password, Locale: a.Locale, DeviceToken: a.DeviceToken, CreatedAt: a.CreatedAt,
		EmailChange: a.EmailChange.contract(), PhoneChange: a.PhoneChange.contract(),
	}
}

// Limits are the security limits around 4-digit secrets.
type Limits struct {
	CodeLength    int
	CodeTTL       time.Duration
	ChecksPerCode int
	// FailuresPerDay caps failed code checks per address from everyone,
	// ClientFailuresPerDay from one client address (see checkCodes).
	FailuresPerDay       int
	ClientFailuresPerDay int
	// SendGap and SendsPerHour are per address and client,
	// AddressSendsPerHour per address from everyone (see allowSend).
	SendGap             time.Duration
	SendsPerHour        int
	AddressSendsPerHour int
	// SMS budgets (see smsBudget): per registration a day, for everyone an
	// hour, and the destination country calling codes allowed (empty: all).
	SMSPerRegistration int
	SMSPerHour         int
	SMSCountries       []string
	// RevealRegistered makes email_send_otp and phone_send_otp answer 422
	// for a registered address instead of the same 200 as a new one.
	RevealRegistered bool
	PINFailures      int
	PINLockBase      time.Duration
	PINLockMax       time.Duration
	// A trusted device's failures in a row lock it as PINFailures says;
	// after DeviceUntrustAfter of them it is an unknown device until it
	// gets the PIN right. Unknown devices share UnknownPINFailures per
	// phone per UnknownPINWindow. An account trusts its newest
	// TrustedDevices devices.
	DeviceUntrustAfter int
	UnknownPINFailures int
	UnknownPINWindow   time.Duration
	TrustedDevices     int
	// TwoFACodeLength is the length of the codes a login or an account
	// change is confirmed with.
	TwoFACodeLength int
	// Per account: codes sent for contact changes an hour, and checks of
	// those codes a day. Both stay below the per-address limits, so one
	// account cannot spend a stranger's whole budget by asking to move to
	// the stranger's address.
	ChangeSendsPerHour int
	ChangeChecksPerDay int
	// LastSeenEvery bounds how often a session's last-seen time is written.
	LastSeenEvery time.Duration
	// Per client address: codes sent, and code or PIN checks.
	IPSends  IPLimit
	IPChecks IPLimit
	// DeletionGrace is how long a deletion request waits before its purge
	// (0: at once); support can cancel it meanwhile.
	DeletionGrace time.Duration
}

func DefaultLimits() Limits {
	return Limits{
		CodeLength: 4, CodeTTL: 10 * time.Minute, ChecksPerCode: 5, FailuresPerDay: 9, ClientFailuresPerDay: 6,
		SendGap: 60 * time.Second, SendsPerHour: 5, AddressSendsPerHour: 10,
		SMSPerRegistration: 5, SMSPerHour: 1000,
		TwoFACodeLength: 6, LastSeenEvery: 5 * time.Minute,
		ChangeSendsPerHour: 3, ChangeChecksPerDay: 4,
		PINFailures: 5, PINLockBase: time.Minute, PINLockMax: 24 * time.Hour,
		DeviceUntrustAfter: 10, UnknownPINFailures: 9, UnknownPINWindow: 24 * time.Hour, TrustedDevices: 10,
		IPSends:       IPLimit{Max: 30, Window: time.Hour},
		IPChecks:      IPLimit{Max: 60, Window: 10 * time.Minute},
		DeletionGrace: 7 * 24 * time.Hour,
	}
}

// RevocationList is where revoked session ids go for the gateways.
type RevocationList interface {
	Revoke(ctx context.Context, sessionID string) error
}

// Service is auth's application core.
type Service struct {
	Accounts Accounts
	OTPs     Codes
	Claims   ClaimStore
	// Sessions holds the logins and their revocations.
	Sessions Sessions
	// Challenges are second-factor steps waiting for their code: a login
	// with 2FA on, a pending telephone or 2FA change.
	Challenges Challenges
	Ledger     Counters
	// IDs allocates user ids. It is never swept (the Ledger is, after two
	// days): a swept allocator would start again from 1.
	IDs     Counters
	Hasher  *Hasher
	CodeKey []byte
	Box     *seal.Box
	Signer  *Signer
	Limits  Limits
	Dev     bool
	Now     func() time.Time
	Revoked RevocationList
	// Names is auth's copy of the profile's names, for logins (names.go).
	Names   NameStore
	Observe Observer // may be nil

	seen lastWrites

	turns turns
	// phoneOwners are the phone claims' holders as last read (see
	// activeByPhone).
	phoneOwners owners

	// Deletions are the deletion sagas' records (keyed by account uuid)
	// and the index of the ones in flight.
	Deletions Deletions
}

func (s *Service) now() time.Time { return s.Now().UTC() }

// claimGrace is how long a new claim is held for a writer still on its way.
const claimGrace = time.Minute

func (s *Service) claimOwner(ctx context.Context, key string) (string, error) {
	c, err := s.findClaim(ctx, key)
	return c.Owner, err
}

func (s *Service) findClaim(ctx context.Context, key string) (domain.Claim, error) {
	return s.Claims.Find(ctx, key)
}

// takeClaim makes uuid the owner of key. A key held by an account that no
// longer uses it (a crash halfway through a change, an abandoned
// registration) is taken over; one in real use is a conflict.
func (s *Service) takeClaim(ctx context.Context, key, owner string, inUse func(Account) bool) error {
	for range 4 {
		err := s.Claims.Insert(ctx, domain.Claim{Key: key, Owner: owner, At: s.now()})
		if err == nil {
			return nil
		}
		if !errors.Is(err, domain.ErrClaimHeld) {
			return err
		}
		c, err := s.findClaim(ctx, key)
		if errors.Is(err, contract.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		holder := c.Owner
		if holder == owner {
			return nil
		}
		if s.now().Sub(c.At) < claimGrace {
			return errTaken
		}
		acc, _, err := s.Accounts.Get(ctx, holder)
		if err == nil && inUse(acc) {
			return errTaken
		}
		if err != nil && !errors.Is(err, contract.ErrNotFound) {
			return err
		}
		if err := s.Claims.Release(ctx, holder, key); err != nil {
			return err
		}
	}
	return errTaken
}

var errTaken = errors.New("taken")

func (s *Service) account(ctx context.Context, id string) (Account, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Account{}, contract.ErrNotFound
	}
	acc, ver, err := s.Accounts.Get(ctx, id)
	acc.version = ver
	return acc, err
}

func (s *Service) event(ctx context.Context, typ string, data any) []contract.Event {
	ev, err := events.New(ctx, typ, data)
	if err != nil {
		panic(err) // our own types always encode
	}
	return []contract.Event{ev}
}

// AccountGet answers another service's question about an active account.
func (s *Service) AccountGet(ctx context.Context, req contract.AccountGetRequest) (contract.Account, error) {
	owner, err := s.claimOwner(ctx, "uid:"+strconv.FormatInt(req.UserID, 10))
	if errors.Is(err, contract.ErrNotFound) {
		return contract.Account{}, contract.Errorf(contract.NotFound, "No such account.")
	}
	if err != nil {
		return contract.Account{}, err
	}
	acc, err := s.account(ctx, owner)
	if err != nil {
		return contract.Account{}, err
	}
	if acc.Deletion != nil {
		return contract.Account{}, contract.Errorf(contract.NotFound, "No such account.")
	}
	if p := callerPrincipal(ctx); p.UserID == req.UserID {
		s.touch(ctx, p)
	}
	return s.withSessions(ctx, acc)
}

// withSessions is the account as other services see it, with the number
// of its active sessions.
func (s *Service) withSessions(ctx context.Context, acc Account) (contract.Account, error) {
	out := acc.contract()
	n, err := s.sessionCount(ctx, acc.UserID)
	if err != nil {
		return contract.Account{}, err
	}
	out.ValidTokenCount = n
	return out, nil
}
