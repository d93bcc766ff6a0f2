// Package app holds the profile service's commands and queries. It keeps
// its state in the stores it declares (stores.go); adapters implement them.
package app

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/services/profile/internal/wallet"
)

// Profile is the stored state of one user's profile.
type Profile struct {
	UserID    int64  `bson:"user_id"`
	UUID      string `bson:"uuid"`
	FirstName string `bson:"first_name"`
	LastName  string `bson:"last_name"`
	// NamesVersion counts the changes of the names, for the order of
	// their profile.names_changed events (see namesChanged).
	NamesVersion        int64      `bson:"names_version,omitempty"`
	Email               string     `bson:"email"`
	Phone               string     `bson:"phone"`
	Image               *string    `bson:"image"`
	IDProofFront        *string    `bson:"id_proof_front"`
	IDProofBack         *string    `bson:"id_proof_back"`
	PassportImgFront    *string    `bson:"passport_img_front"`
	PassportImgBack     *string    `bson:"passport_img_back"`
	DrivingLicenseFront *string    `bson:"driving_license_front"`
	DrivingLicenseBack  *string    `bson:"driving_license_back"`
	EmailVerifyAt       *time.Time `bson:"email_verify_at"`
	PhoneVerifyAt       *time.Time `bson:"phone_verify_at"`
	IdentityStatus      string     `bson:"identity_status"`
	// DocumentsVersion is the documents snapshot the six document fields
	// and IdentityStatus come from; only a newer one is applied.
	DocumentsVersion int64 `bson:"documents_version"`
	// VerifiedDocuments are the document kinds whose every side is
	// approved (contract.DocNationalID, ...), for the identity pass.
	VerifiedDocuments []string `bson:"verified_documents,omitempty"`
	// VerifiedAs is who the profile said it was when a document of it was
	// last approved: the names and photo the reviewer saw beside it. A
	// pass says verified only beside these (pass.go), so a rename or a new
	// photo after the review is never vouched for.
	VerifiedAs *VerifiedIdentity `bson:"verified_as,omitempty"`
	// The account API's fields (/api/user/profile).
	Gender       string `bson:"gender,omitempty"`
	Birthdate    string `bson:"birthdate,omitempty"` // YYYY-MM-DD; set once
	ReferralCode string `bson:"referral_code,omitempty"`
	// EmailChange and PhoneChange are auth's pending changes, shown in
	// place of Email and Phone (with no verify time) while they wait.
	EmailChange *contract.PendingContact `bson:"email_change,omitempty"`
	PhoneChange *contract.PendingContact `bson:"phone_change,omitempty"`
}

// VerifiedIdentity is the profile's names and photo (its key) as of an
// approval.
type VerifiedIdentity struct {
	FirstName string `bson:"first_name"`
	LastName  string `bson:"last_name"`
	Image     string `bson:"image,omitempty"`
}

// setContacts records what auth says of the account's contacts.
func (p *Profile) setContacts(a contract.Account) {
	p.Email, p.EmailVerifyAt, p.EmailChange = a.Email, a.EmailVerifiedAt, a.EmailChange
	p.Phone, p.PhoneVerifyAt, p.PhoneChange = a.Phone, a.PhoneVerifiedAt, a.PhoneChange
}

// Contract is the profile as the app sees it at now, less the photo link,
// which Service.answer makes fresh for each answer from the stored key. A
// change waiting for its code shows the new address with a null verify
// time; the old one, still the one that works, is not shown.
func (p Profile) Contract(now time.Time) contract.Profile {
	c := contract.Profile{
		ID: p.UserID, UUID: p.UUID, FirstName: p.FirstName, LastName: p.LastName, Email: p.Email, Phone: p.Phone,
		IDProofFront: p.IDProofFront, IDProofBack: p.IDProofBack,
		PassportImgFront: p.PassportImgFront, PassportImgBack: p.PassportImgBack,
		DrivingLicenseFront: p.DrivingLicenseFront, DrivingLicenseBack: p.DrivingLicenseBack,
		EmailVerifyAt: p.EmailVerifyAt, PhoneVerifyAt: p.PhoneVerifyAt,
		IdentityStatus: p.IdentityStatus,
	}
	if p.EmailChange.Waiting(now) {
		c.Email, c.EmailVerifyAt = p.EmailChange.To, nil
	}
	if p.PhoneChange.Waiting(now) {
		c.Phone, c.PhoneVerifyAt = p.PhoneChange.To, nil
	}
	return c
}

// NewProfile is the profile an account's registration creates, with the
// documents of snap applied as ApplyDocuments would when snap is given:
// for a seed of many written in bulk (Create is the request paths' way).
func NewProfile(a contract.Account, snap *contract.DocumentsSnapshot) Profile {
	p := fromAccount(a)
	if snap != nil {
		applySnapshot(&p, *snap)
	}
	return p
}

func fromAccount(a contract.Account) Profile {
	p := Profile{UserID: a.ID, UUID: a.UUID, IdentityStatus: contract.IdentityUnverified}
	p.setContacts(a)
	return p
}

// AccountSource asks auth for an account (natsx.Call in production).
type AccountSource func(ctx context.Context, userID int64) (contract.Account, error)

// Service is the profile service's core.
type Service struct {
	Profiles Profiles
	Accounts AccountSource
	Contacts ContactChanger
	Photos   PhotoStore
	// DocumentLinks signs links to document images (shorter-lived).
	DocumentLinks LinkSigner
	// MaxAge is how long a caller may keep a profile read's answer
	// (MaxAgeFor the links' lifetimes); 0: not at all.
	MaxAge time.Duration

	// The account API: auth's 2FA confirmation, and the wallet's figures
	// and referral code.
	TwoFA   TwoFA
	Wallet  *wallet.Service
	Publish func(ctx context.Context, ev contract.Event) error
	// Passes signs and checks identity passes (issue 19).
	Passes Passes
	Now    func() time.Time // time.Now when nil
	// EraseObjects deletes every object under a prefix (an account's purge).
	EraseObjects func(ctx context.Context, prefix string) error
}

// LinkMargin is how long before the signed links in an answer expire the
// answer stops being kept, so a phone shown a link still has time to
// fetch it.
const LinkMargin = 2 * time.Minute

// MaxAgeFor is how long an answer holding links signed for these
// lifetimes may be kept: the shortest, less LinkMargin (0: not at all). It
// takes every kind of link the service signs, whether an answer holds it
// or not: an answer without one gains it only by a change, which drops
// every copy anyway.
func MaxAgeFor(linkTTLs ...time.Duration) time.Duration {
	if len(linkTTLs) == 0 {
		return 0
	}
	return max(0, slices.Min(linkTTLs)-LinkMargin)
}

// Get returns the user's profile, creating it from the auth account the
// first time it is asked for; the reply says how long it may be kept.
func (s *Service) Get(ctx context.Context, userID int64) (contract.Profile, error) {
	p, err := s.load(ctx, userID)
	if err != nil {
		return contract.Profile{}, err
	}
	natsx.CacheFor(ctx, s.MaxAge)
	return s.answer(ctx, p)
}

// AdminGet is the profile for the staff, with its photo's object key.
func (s *Service) AdminGet(ctx context.Context, userID int64) (contract.AdminProfile, error) {
	p, err := s.load(ctx, userID)
	if err != nil {
		return contract.AdminProfile{}, err
	}
	out, err := s.answer(ctx, p)
	if err != nil {
		return contract.AdminProfile{}, err
	}
	admin := contract.AdminProfile{Profile: out}
	if p.Image != nil {
		admin.ImageKey = *p.Image
	}
	return admin, nil
}

func (s *Service) load(ctx context.Context, userID int64) (Profile, error) {
	p, err := s.Profiles.Get(ctx, userID)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return p, err
	}
	acc, err := s.Accounts(ctx, userID)
	if err != nil {
		return Profile{}, err
	}
	if err := s.Create(ctx, acc); err != nil {
		return Profile{}, err
	}
	p, err = s.Profiles.Get(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return p, contract.StoreUnavailable("profile get", err)
	}
	return p, err
}

// Create stores the first version of a profile from an account; it is a
// no-op when the profile exists (an event redelivered, or a Get that ran
// first).
func (s *Service) Create(ctx context.Context, acc contract.Account) error {
	if acc.ID == 0 {
		return contract.Errorf(contract.NotFound, "No such account.")
	}
	err := s.Profiles.Create(ctx, fromAccount(acc))
	if errors.Is(err, ErrExists) {
		return nil
	}
	return err
}

// HandleEvent is the consumer's handler for every event profile reads.
func (s *Service) HandleEvent(ctx context.Context, ev contract.Event) error {
	switch ev.Type {
	case contract.EventAccountRegistered:
		return s.OnAccountRegistered(ctx, ev)
	case contract.EventEmailChanged, contract.EventPhoneChanged:
		return s.OnContactChanged(ctx, ev)
	}
	return nil
}

// OnAccountRegistered creates the profile ahead of its first read, from
// auth's account as it is now (load): an event read late (redelivered, or
// after an outage with no grace) could otherwise bring back the profile
// of an account purged since, with its email, phone and uuid.
func (s *Service) OnAccountRegistered(ctx context.Context, ev contract.Event) error {
	var data contract.AccountRegistered
	if err := ev.Decode(&data); err != nil {
		return errors.Join(events.ErrPermanent, err)
	}
	if data.Account.ID == 0 {
		return nil // not an active account; nothing to create
	}
	_, err := s.load(ctx, data.Account.ID)
	if contract.ErrorCode(err) == contract.NotFound {
		return nil // erased since
	}
	return err
}

// UpdateName sets the user's first and last name.
func (s *Service) UpdateName(ctx context.Context, userID int64, req contract.UpdateNameRequest) (contract.Profile, error) {
	first, last, err := ValidateName(req)
	if err != nil {
		return contract.Profile{}, err
	}
	if _, err := s.load(ctx, userID); err != nil {
		return contract.Profile{}, err
	}
	return s.record(ctx, userID, func(p *Profile) { p.FirstName, p.LastName = first, last })
}

// namesChanged is what a change from before to p announces of the
// names: nothing when they are the same; otherwise the change is counted
// in p.NamesVersion and the new names go to auth, which answers logins
// with its own copy rather than asking profile.
func namesChanged(ctx context.Context, before Profile, p *Profile) ([]contract.Event, error) {
	if p.FirstName == before.FirstName && p.LastName == before.LastName {
		return nil, nil
	}
	p.NamesVersion = before.NamesVersion + 1
	ev, err := events.New(ctx, contract.EventProfileNamesChanged, contract.ProfileNamesChanged{
		UserID: p.UserID, UUID: p.UUID, FirstName: p.FirstName, LastName: p.LastName, Version: p.NamesVersion,
	})
	if err != nil {
		return nil, err
	}
	return []contract.Event{ev}, nil
}

// AnnounceStoredNames is the first announcement of names stored before
// their changes were announced (NamesVersion 0), for a one-time backfill;
// nothing for a profile without names or whose names were announced.
func AnnounceStoredNames(ctx context.Context, p *Profile) ([]contract.Event, error) {
	if p.NamesVersion != 0 {
		return nil, nil
	}
	return namesChanged(ctx, Profile{}, p)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// record stores a change as the next version with its profile.updated
// event, wakes the relay, and has the reply say the profile changed.
func (s *Service) record(ctx context.Context, userID int64, change func(*Profile)) (contract.Profile, error) {
	return s.recordWith(ctx, userID, func(p *Profile) ([]contract.Event, error) { change(p); return nil, nil })
}

// recordWith is record for a change that announces events of its own
// besides profile.updated, or refuses with an error (nothing is stored).
func (s *Service) recordWith(ctx context.Context, userID int64, change func(*Profile) ([]contract.Event, error)) (contract.Profile, error) {
	p, err := s.Profiles.Update(ctx, userID, func(p *Profile) ([]contract.Event, error) {
		before := *p
		evs, err := change(p)
		if err != nil {
			return nil, err
		}
		names, err := namesChanged(ctx, before, p)
		if err != nil {
			return nil, err
		}
		ev, err := events.New(ctx, contract.EventProfileUpdated, contract.ProfileUpdated{UserID: p.UserID, UUID: p.UUID})
		if err != nil {
			return nil, err
		}
		return append(append(evs, names...), ev), nil
	})
	if errors.Is(err, ErrNotFound) {
		err = contract.StoreUnavailable("profile update", err)
	}
	if errors.Is(err, errUnchanged) {
		// Already stored, by an event's consumer perhaps (see change).
		natsx.ProfileChanged(ctx, userID)
	}
	if err != nil {
		return contract.Profile{}, err
	}
	natsx.ProfileChanged(ctx, userID)
	return s.answer(ctx, p)
}

// answer is the profile as the app sees it, with the stored keys turned
// into fresh expiring links.
func (s *Service) answer(ctx context.Context, p Profile) (contract.Profile, error) {
	c := p.Contract(s.now())
	var err error
	if c.Image, err = link(ctx, s.Photos, p.Image); err != nil {
		return contract.Profile{}, err
	}
	for _, f := range []struct{ out, key **string }{
		{&c.IDProofFront, &p.IDProofFront}, {&c.IDProofBack, &p.IDProofBack},
		{&c.PassportImgFront, &p.PassportImgFront}, {&c.PassportImgBack, &p.PassportImgBack},
		{&c.DrivingLicenseFront, &p.DrivingLicenseFront}, {&c.DrivingLicenseBack, &p.DrivingLicenseBack},
	} {
		if *f.out, err = link(ctx, s.DocumentLinks, *f.key); err != nil {
			return contract.Profile{}, err
		}
	}
	return c, nil
}

func link(ctx context.Context, signer LinkSigner, key *string) (*string, error) {
	if key == nil || *key == "" || signer == nil {
		return nil, nil
	}
	u, err := signer.URL(ctx, *key)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// MaxNameLength is the longest first or last name, in characters.
const MaxNameLength = 50

// ValidateName trims both names and checks them, naming every bad field.
func ValidateName(req contract.UpdateNameRequest) (first, last string, err error) {
	var v contract.Validation
	first = checkName(&v, "first_name", "first name", req.FirstName)
	last = checkName(&v, "last_name", "last name", req.LastName)
	return first, last, v.Err()
}

func checkName(v *contract.Validation, field, label, raw string) string {
	name := strings.TrimSpace(raw)
	switch {
	case name == "":
		v.Add(field, "The "+label+" field is required.")
	case !utf8.ValidString(name):
		v.Add(field, "The "+label+" must be valid text.")
	case utf8.RuneCountInString(name) > MaxNameLength:
		v.Add(field, "The "+label+" may not be greater than 50 characters.")
	case strings.IndexFunc(name, forbidden) >= 0:
		v.Add(field, "The "+label+" contains characters that are not allowed.")
	}
	return name
}

// forbidden rejects control and invisible format characters, and the
// markup brackets a name never needs.
func forbidden(r rune) bool {
	return r == '<' || r == '>' || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
}
