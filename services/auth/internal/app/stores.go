package app

import (
	"context"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// Accounts keeps each account's state by its uuid. Every stored state has
// a version, one more than the state it replaced, so a reader can ask
// cheaply whether what it read is still the newest; concurrent changes of
// one account never lose each other.
type Accounts interface {
	// Get returns the newest state this store can answer from one lookup
	// and its version; contract.ErrNotFound when there is none. A change
	// being stored at that moment may not be seen yet.
	Get(ctx context.Context, uuid string) (Account, int64, error)
	// Latest is Get that also sees a change stored but not yet visible to
	// Get: what a check that must see every change before it began needs.
	Latest(ctx context.Context, uuid string) (Account, int64, error)
	// Changed reports whether a state newer than version is stored.
	Changed(ctx context.Context, uuid string, version int64) (bool, error)
	// Create stores the first state of uuid; contract.ErrExists when it
	// has one.
	Create(ctx context.Context, uuid string, a Account) error
	// Update stores change's result with the events it announces (sent
	// once the state is stored), re-applying change to the newest state
	// until no other writer got in between; an error from change stores
	// nothing and is returned. contract.ErrNotFound when there is none.
	Update(ctx context.Context, uuid string, change func(*Account) ([]contract.Event, error)) (Account, error)
	// Erase removes every state of uuid: a later Get finds nothing. A
	// state whose events are not sent yet is kept, with an error, until
	// they are; erasing again then finishes. Erasing twice is no error.
	Erase(ctx context.Context, uuid string) error
}

// ClaimStore holds the claims: whoever inserts a key first owns it, on
// any store, so two accounts can never hold one address or one id.
type ClaimStore interface {
	// Find returns key's claim; contract.ErrNotFound when no one holds it.
	Find(ctx context.Context, key string) (domain.Claim, error)
	// Insert takes c.Key for c.Owner; domain.ErrClaimHeld when it is held.
	Insert(ctx context.Context, c domain.Claim) error
	// Release gives up the keys owner holds; one held by another stays
	// theirs.
	Release(ctx context.Context, owner string, keys ...string) error
}

// Codes keeps the codes issued, each under its purpose, address and id,
// and which of an address's codes for a purpose is the newest.
type Codes interface {
	// Issue stores otp with the events that send it (sent once it is
	// stored) and makes it the newest of its purpose and address.
	Issue(ctx context.Context, otp domain.OTP, evs []contract.Event) error
	// Get returns code id of purpose and address; contract.ErrNotFound
	// when there is none.
	Get(ctx context.Context, purpose, address, id string) (domain.OTP, error)
	// Newest returns the code last issued for purpose and address;
	// contract.ErrNotFound when none was.
	Newest(ctx context.Context, purpose, address string) (domain.OTP, error)
	// EraseSubject removes the codes bound to subject; EraseAddress those
	// sent to address, and what says which of them is the newest.
	EraseSubject(ctx context.Context, subject string) error
	EraseAddress(ctx context.Context, address string) error
}

// Challenges keeps the second-factor steps waiting for their code (see
// domain.Challenge), each written once.
type Challenges interface {
	Insert(ctx context.Context, ch domain.Challenge) error
	// Get returns challenge id when it is one of purpose;
	// contract.ErrNotFound when there is none such.
	Get(ctx context.Context, id, purpose string) (domain.Challenge, error)
	// Newest returns the account's newest challenge of purpose;
	// contract.ErrNotFound when it has none.
	Newest(ctx context.Context, uuid, purpose string) (domain.Challenge, error)
	// Erase removes every challenge of the account.
	Erase(ctx context.Context, uuid string) error
}

// StaffAccounts keeps the console's staff accounts by name.
type StaffAccounts interface {
	// Create stores a new account; contract.ErrExists when the name is
	// taken.
	Create(ctx context.Context, a domain.StaffAccount) error
	// Get returns name's account; contract.ErrNotFound when there is none.
	Get(ctx context.Context, name string) (domain.StaffAccount, error)
	// Replace stores a in place of the account of its name (the last
	// writer wins: only admins change accounts, one at a time).
	Replace(ctx context.Context, a domain.StaffAccount) error
	// List is every account, by name.
	List(ctx context.Context) ([]domain.StaffAccount, error)
}

// StaffSessions keeps the console's sessions under their token's digest.
type StaffSessions interface {
	Insert(ctx context.Context, ss domain.StaffSession) error
	// Get returns session id; contract.ErrNotFound when there is none.
	Get(ctx context.Context, id string) (domain.StaffSession, error)
	// Touch sets the session's last request to at.
	Touch(ctx context.Context, id string, at time.Time) error
	// Delete ends the session; ending one that is gone is no error.
	Delete(ctx context.Context, id string) error
	// Sweep deletes the sessions begun longer than age ago.
	Sweep(ctx context.Context, age time.Duration) error
}

// UsedCodes remembers the TOTP steps each member used, so a code is good
// once, however many sign-ins present it at once.
type UsedCodes interface {
	// Use marks key used at at: true for the first use, false for any
	// after.
	Use(ctx context.Context, key string, at time.Time) (bool, error)
	// Sweep forgets the uses older than age.
	Sweep(ctx context.Context, age time.Duration) error
}

// AuditTrail keeps the staff's recorded actions and sign-in events.
type AuditTrail interface {
	// Add stores e once per e.ID: adding an id again changes nothing and
	// is no error (a redelivered event).
	Add(ctx context.Context, e contract.AuditEntry) error
	// About is every entry about userID, oldest first.
	About(ctx context.Context, userID int64) ([]contract.AuditEntry, error)
	// Find is the entries f matches, newest first, at most limit.
	Find(ctx context.Context, f domain.AuditFilter, limit int) ([]contract.AuditEntry, error)
}

// Counters are per-key chains of attempts whose limits hold with any
// number of writers at once: an attempt is appended only on the tail it
// was decided on (see domain.Appending).
type Counters interface {
	// Tail reads key's counter.
	Tail(ctx context.Context, key string) (domain.Tail, error)
	// Recalled is key's tail as this process last saw it, read only when
	// it has not: possibly behind, for refusing early before an append
	// decides for sure.
	Recalled(ctx context.Context, key string) (domain.Tail, error)
	Append(ctx context.Context, key string, decide func(tail domain.Tail, now time.Time) (string, error)) (domain.Attempt, error)
	// AppendAll appends one attempt to each of several counters at once;
	// on an error, the attempts stored are those with a Seq.
	AppendAll(ctx context.Context, as ...domain.Appending) ([]domain.Attempt, error)
	// AppendAllHeadsLater is AppendAll leaving the store's pointers to the
	// counters' ends for MoveHeads, so that several appends in a row move
	// them in one write.
	AppendAllHeadsLater(ctx context.Context, as ...domain.Appending) ([]domain.Attempt, error)
	MoveHeads(ctx context.Context, keys ...string)
	// Sweep deletes attempts older than age; Erase every counter whose
	// key matches the regular expression pattern.
	Sweep(ctx context.Context, age time.Duration) (int64, error)
	Erase(ctx context.Context, pattern string) (int64, error)
	EnsureIndexes(ctx context.Context) error
}

// Sessions holds the logins and their ends.
type Sessions interface {
	// Create stores s under an id the store picks, and returns it so named.
	Create(ctx context.Context, s domain.Session) (domain.Session, error)
	// Get returns the session id names, revoked or not;
	// mongox.ErrNotFound when there is none.
	Get(ctx context.Context, id string) (domain.Session, error)
	// Touch moves the last-seen time of userID's session id forward to at
	// if it is older than ifBefore: never back, and never on another
	// user's session.
	Touch(ctx context.Context, userID int64, id string, at, ifBefore time.Time) error
	// Live lists userID's sessions opened since since that have neither
	// expired by now nor been revoked, oldest first. It sees every session
	// whose Create returned before it began: a secret change ends the
	// sessions it lists (see newSession).
	Live(ctx context.Context, userID int64, since, now time.Time) ([]domain.Session, error)
	// Revoke records r; a session revoked before stays as it was.
	Revoke(ctx context.Context, r domain.Revocation) error
	// Propagated clears a revocation's Pending: the gateways know.
	Propagated(ctx context.Context, sessionID string) error
	// Pending lists the revocations made before before and still pending.
	Pending(ctx context.Context, before time.Time) ([]domain.Revocation, error)
	// Erase deletes userID's sessions (an account's purge); their
	// revocations stay until swept.
	Erase(ctx context.Context, userID int64) error
	// Sweep deletes the sessions that expired before expiredBefore and the
	// revocations made before revokedBefore.
	Sweep(ctx context.Context, expiredBefore, revokedBefore time.Time) error
	EnsureIndexes(ctx context.Context) error
}

// Deletions keeps the deletion sagas' records by account uuid, each step
// a new version stored with its events (see Accounts), and an index of the
// deletions in flight, which the deletion loop reads whole.
type Deletions interface {
	// Get returns uuid's deletion and its version; contract.ErrNotFound
	// when there is none.
	Get(ctx context.Context, uuid string) (Deletion, int64, error)
	// Put stores d as the version after after (0: the first) with the
	// events it announces; contract.ErrExists when another writer stored
	// that version first.
	Put(ctx context.Context, uuid string, after int64, d Deletion, evs []contract.Event) error
	// All is the newest state of every deletion, of at most limit
	// versions read: support's list, never on a user's path.
	All(ctx context.Context, limit int) ([]Deletion, error)
	// MarkDue puts uuid in the in-flight index (again: no error), Settle
	// takes it out (not there: no error), Due lists the uuids in it.
	MarkDue(ctx context.Context, uuid string, purgeAt time.Time) error
	Settle(ctx context.Context, uuid string) error
	Due(ctx context.Context) ([]string, error)
}
