package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

func (s *Service) emailTaken() error {
	return contract.FieldError("email", "The email has already been taken.")
}

// AttemptTTL is how long a registration attempt whose email was verified
// can go on to its phone step.
const AttemptTTL = time.Hour

// registered says whether key ("email:…", "phone:…") is held by an active
// account that uses it.
func (s *Service) registered(ctx context.Context, key string, uses func(Account) bool) (bool, error) {
	owner, err := s.claimOwner(ctx, key)
	if errors.Is(err, contract.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	acc, err := s.account(ctx, owner)
	if errors.Is(err, contract.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return acc.Active && uses(acc), nil
}

// EmailSendOTP starts a registration attempt for an email. Every call is a
// new attempt with a new uuid, answered to its caller only: the uuid is the
// attempt's capability, and it advances only with the code sent for it.
// Nothing is claimed until confirm_pin, so a stranger's attempt for the
// same address can neither take over nor block the owner's.
func (s *Service) EmailSendOTP(ctx context.Context, req contract.EmailSendOTPRequest) (contract.EmailSendOTPReply, error) {
	email, err := NormalizeEmail("email", req.Email)
	if err != nil {
		return contract.EmailSendOTPReply{}, err
	}
	taken, err := s.registered(ctx, "email:"+email, func(a Account) bool { return a.Email == email })
	if err != nil {
		return contract.EmailSendOTPReply{}, err
	}
	if taken && s.Limits.RevealRegistered {
		return contract.EmailSendOTPReply{}, s.emailTaken()
	}
	// A registered address gets a uuid no code exists for.
	id := s.attemptID(ctx, email)
	code, err := s.codeOrNotice(ctx, taken, codeRequest{
		field: "email", channel: contract.ChannelEmail, purpose: contract.PurposeRegisterEmail,
		address: email, subject: id, userUUID: id, length: s.Limits.CodeLength,
	})
	if err != nil {
		return contract.EmailSendOTPReply{}, err
	}
	if err := s.Accounts.Create(ctx, id, Account{UUID: id, Email: email, CreatedAt: s.now(), NamesIn: true}); err != nil && !s.sameAttempt(ctx, err, id, email) {
		return contract.EmailSendOTPReply{}, err
	}
	return contract.EmailSendOTPReply{Email: email, UUID: id, VerificationCode: s.devCode(code)}, nil
}

// attemptID is a new attempt's uuid: random, or, for a call that names
// itself (natsx.Caller.Call), a keyed digest of the call and the email, so
// that every copy of one call starts the same attempt, whichever replica
// runs it and in whatever order (a copy that ran while its first run was
// still going made a second attempt: two accounts for one email in CI).
// The key keeps it as unguessable as a random one.
func (s *Service) attemptID(ctx context.Context, email string) string {
	call := natsx.CallerFrom(ctx).Call
	if call == "" {
		return uuid.NewString()
	}
	m := hmac.New(sha256.New, s.CodeKey)
	m.Write([]byte("attempt|" + call + "|" + email))
	id, _ := uuid.FromBytes(m.Sum(nil)[:16])
	id[6], id[8] = id[6]&0x0f|0x40, id[8]&0x3f|0x80 // a version 4 uuid, as the random ones
	return id.String()
}

// sameAttempt says whether err, from creating attempt id for email, is a
// copy of this call having created it first: the attempt exists, is for
// email, and has not gone on to be an account.
func (s *Service) sameAttempt(ctx context.Context, err error, id, email string) bool {
	if !errors.Is(err, contract.ErrExists) {
		return false
	}
	acc, gerr := s.account(ctx, id)
	return gerr == nil && acc.Email == email && !acc.Active
}

// EmailVerifyOTP verifies the email of the attempt the code was sent for,
// and of no other: the request names only the address, the code names the
// attempt.
func (s *Service) EmailVerifyOTP(ctx context.Context, req contract.EmailVerifyOTPRequest) (contract.EmailVerifyOTPReply, error) {
	email, err := NormalizeEmail("email", req.Email)
	if err != nil {
		return contract.EmailVerifyOTPReply{}, err
	}
	if err := ValidateCode("verification_code", req.VerificationCode, s.Limits.CodeLength); err != nil {
		return contract.EmailVerifyOTPReply{}, err
	}
	codes, err := s.recentCodes(ctx, contract.PurposeRegisterEmail, email)
	if err != nil {
		return contract.EmailVerifyOTPReply{}, err
	}
	otp, err := s.checkCodes(ctx, "verification_code", []codeSet{{failKey(contract.PurposeRegisterEmail, email), codes}}, req.VerificationCode)
	if err != nil {
		return contract.EmailVerifyOTPReply{}, err
	}
	at := s.now().Truncate(time.Second)
	acc, err := s.Accounts.Update(ctx, otp.Subject, func(a *Account) ([]contract.Event, error) {
		if a.Active || a.Email != email {
			return nil, noRegistration()
		}
		a.EmailVerifiedAt = &at
		return nil, nil
	})
	if err != nil {
		return contract.EmailVerifyOTPReply{}, err
	}
	// Whoever holds this code controls the address: telling them it is
	// registered reveals nothing.
	if taken, err := s.registered(ctx, "email:"+email, func(a Account) bool { return a.Email == email }); err != nil {
		return contract.EmailVerifyOTPReply{}, err
	} else if taken {
		return contract.EmailVerifyOTPReply{}, s.emailTaken()
	}
	if _, err := s.Ledger.Append(ctx, "reg:"+email, func(domain.Tail, time.Time) (string, error) { return "v|" + acc.UUID + "|" + s.clientTag(ctx), nil }); err != nil {
		return contract.EmailVerifyOTPReply{}, err
	}
	return contract.EmailVerifyOTPReply{EmailVerifyAt: *acc.EmailVerifiedAt}, nil
}

// failKey is the ledger key of the failed checks of codes for purpose sent
// to address: per purpose, so guessing registration codes for a phone
// cannot exhaust its owner's 2FA login checks.
func failKey(purpose, address string) string { return purpose + ":" + address }

// emailVerified says whether an attempt for email had its email code
// verified within AttemptTTL, and from which client (clientTag): the one
// that holds the mailbox ("" for an entry written before it was kept).
func (s *Service) emailVerified(ctx context.Context, email string) (bool, string, error) {
	tail, err := s.Ledger.Tail(ctx, "reg:"+email)
	if err != nil {
		return false, "", err
	}
	last, ok, err := tail.At(0)
	if err != nil {
		return false, "", err
	}
	var verifier string
	if parts := strings.SplitN(last.Kind, "|", 3); len(parts) == 3 {
		verifier = parts[2]
	}
	return ok && s.now().Sub(last.At) < AttemptTTL, verifier, nil
}

// phoneInUse says whether an active account other than self uses phone.
func (s *Service) phoneInUse(ctx context.Context, phone, self string) (bool, error) {
	owner, err := s.claimOwner(ctx, "phone:"+phone)
	if errors.Is(err, contract.ErrNotFound) || owner == self {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.registered(ctx, "phone:"+phone, func(a Account) bool { return a.Phone == phone })
}

func phoneTaken() error {
	return contract.FieldError("phone", "The phone has already been taken.")
}

// PhoneSendOTP sends a phone code for a registration of email. The code is
// bound to email, and only an attempt of email that verified its own email
// code can use it (PhoneVerifyOTP): no uuid is answered here.
func (s *Service) PhoneSendOTP(ctx context.Context, req contract.PhoneSendOTPRequest) (contract.PhoneSendOTPReply, error) {
	var v contract.Validation
	email, err := NormalizeEmail("email", req.Email)
	if err != nil {
		v.Add("email", contract.AsError(err).Message)
	}
	phone, err := NormalizePhone("phone", req.Phone)
	if err != nil {
		v.Add("phone", contract.AsError(err).Message)
	}
	if err := v.Err(); err != nil {
		return contract.PhoneSendOTPReply{}, err
	}
	ok, verifier, err := s.emailVerified(ctx, email)
	if err != nil {
		return contract.PhoneSendOTPReply{}, err
	} else if !ok {
		return contract.PhoneSendOTPReply{}, contract.FieldError("email", "Verify your email before adding a phone number.")
	}
	taken, err := s.registered(ctx, "phone:"+phone, func(a Account) bool { return a.Phone == phone })
	if err != nil {
		return contract.PhoneSendOTPReply{}, err
	}
	if taken && s.Limits.RevealRegistered {
		return contract.PhoneSendOTPReply{}, phoneTaken()
	}
	if err := s.smsBudget(ctx, "phone", email, phone, verifier); err != nil {
		return contract.PhoneSendOTPReply{}, err
	}
	code, err := s.codeOrNotice(ctx, taken, codeRequest{
		field: "phone", channel: contract.ChannelSMS, purpose: contract.PurposeRegisterPhone,
		address: phone, subject: email, length: s.Limits.CodeLength,
	})
	if err != nil {
		return contract.PhoneSendOTPReply{}, err
	}
	return contract.PhoneSendOTPReply{Phone: phone, VerificationCode: s.devCode(code)}, nil
}

func noRegistration() error {
	return contract.FieldError("uuid", "No registration in progress matches this uuid.")
}

func (s *Service) registering(ctx context.Context, id string) (Account, error) {
	if id == "" {
		return Account{}, contract.FieldError("uuid", "The uuid field is required.")
	}
	acc, err := s.account(ctx, id)
	if errors.Is(err, contract.ErrNotFound) || (err == nil && acc.Active) {
		return Account{}, noRegistration()
	}
	return acc, err
}

// PhoneVerifyOTP gives the attempt the phone a code was sent to for its
// email. The attempt must have verified its own email code, so the uuid a
// stranger got from email_send_otp for someone else's address gets nowhere.
func (s *Service) PhoneVerifyOTP(ctx context.Context, req contract.PhoneVerifyOTPRequest) (contract.PhoneVerifyOTPReply, error) {
	if err := ValidateCode("verification_code", req.VerificationCode, s.Limits.CodeLength); err != nil {
		return contract.PhoneVerifyOTPReply{}, err
	}
	acc, err := s.registering(ctx, req.UUID)
	if err != nil {
		return contract.PhoneVerifyOTPReply{}, err
	}
	if acc.EmailVerifiedAt == nil {
		return contract.PhoneVerifyOTPReply{}, contract.FieldError("uuid", "Verify your email before your phone.")
	}
	phones, err := s.registrationPhones(ctx, acc.Email)
	if err != nil {
		return contract.PhoneVerifyOTPReply{}, err
	}
	if len(phones) == 0 {
		return contract.PhoneVerifyOTPReply{}, contract.FieldError("uuid", "Request a phone code first.")
	}
	// Each phone's failures count only when its codes for this email are
	// compared: a stranger can add a phone to the list (phone_send_otp
	// with the email), and a phone whose cap a stranger filled drops out
	// of the check instead of refusing it (checkCodes).
	sets := make([]codeSet, 0, len(phones))
	for _, phone := range phones {
		codes, err := s.recentCodes(ctx, contract.PurposeRegisterPhone, phone)
		if err != nil {
			return contract.PhoneVerifyOTPReply{}, err
		}
		set := codeSet{failKey: failKey(contract.PurposeRegisterPhone, phone)}
		for _, c := range codes {
			if c.Subject == acc.Email {
				set.codes = append(set.codes, c)
			}
		}
		sets = append(sets, set)
	}
	otp, err := s.checkCodes(ctx, "verification_code", sets, req.VerificationCode)
	if err != nil {
		return contract.PhoneVerifyOTPReply{}, err
	}
	at := s.now().Truncate(time.Second)
	_, err = s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		if a.Active {
			return nil, noRegistration()
		}
		a.Phone, a.PhoneVerifiedAt, a.PendingPhone = otp.Address, &at, ""
		return nil, nil
	})
	if err != nil {
		return contract.PhoneVerifyOTPReply{}, err
	}
	return contract.PhoneVerifyOTPReply{PhoneVerifyAt: at}, nil
}

func (s *Service) SetPIN(ctx context.Context, req contract.SetPINRequest) (struct{}, error) {
	if err := ValidatePIN("pin", req.PIN); err != nil {
		return struct{}{}, err
	}
	acc, err := s.registering(ctx, req.UUID)
	if err != nil {
		return struct{}{}, err
	}
	if acc.EmailVerifiedAt == nil || acc.PhoneVerifiedAt == nil {
		return struct{}{}, contract.FieldError("uuid", "Verify your email and phone before setting a PIN.")
	}
	hash := s.Hasher.Hash(req.PIN)
	_, err = s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		if a.Active {
			return nil, noRegistration()
		}
		a.PendingPINHash = hash
		return nil, nil
	})
	return struct{}{}, err
}

// ConfirmPIN activates the account: from here its contacts and PIN can only
// change through authenticated calls. Of several attempts for one address
// the first here takes the email and phone claims; the others then find
// them taken.
func (s *Service) ConfirmPIN(ctx context.Context, req contract.ConfirmPINRequest, client contract.Client) (contract.Session, error) {
	if req.ConfirmPIN == "" {
		return contract.Session{}, contract.FieldError("confirm_pin", "The confirm pin field is required.")
	}
	acc, err := s.registering(ctx, req.UUID)
	if err != nil {
		// A copy of the call that activated the account gets its session
		// (read again only on this path: a registration pays nothing).
		if req.UUID != "" {
			if acc, aerr := s.account(ctx, req.UUID); aerr == nil && acc.Active && acc.ActivatedAt != nil &&
				s.copyOf(ctx, acc.ActivatedBy, *acc.ActivatedAt) && s.Hasher.Verify(acc.PINHash, req.ConfirmPIN) {
				return s.newSession(ctx, acc, req.DeviceToken, client)
			}
		}
		return contract.Session{}, err
	}
	if acc.PendingPINHash == "" || acc.EmailVerifiedAt == nil || acc.PhoneVerifiedAt == nil {
		return contract.Session{}, contract.FieldError("uuid", "Set a PIN first.")
	}
	// The attempt's own counter (its uuid is its capability): checks take
	// turns and only a mismatch counts, UnknownPINFailures a day.
	ok, _, err := s.checkPIN(ctx, pinScope{key: "confirm:" + acc.UUID}, "confirm_pin", func() bool {
		return s.Hasher.Verify(acc.PendingPINHash, req.ConfirmPIN)
	}, nil)
	if err != nil {
		return contract.Session{}, err
	}
	if !ok {
		return contract.Session{}, contract.FieldError("confirm_pin", "The PIN confirmation does not match.")
	}
	emailKey, phoneKey := "email:"+acc.Email, "phone:"+acc.Phone
	emailInUse := func(a Account) bool { return a.Active && a.Email == acc.Email }
	if err := s.takeClaim(ctx, emailKey, acc.UUID, emailInUse); errors.Is(err, errTaken) {
		return contract.Session{}, s.emailTaken()
	} else if err != nil {
		return contract.Session{}, err
	}
	phoneInUse := func(a Account) bool { return a.Active && a.Phone == acc.Phone }
	if err := s.takeClaim(ctx, phoneKey, acc.UUID, phoneInUse); err != nil {
		s.release(ctx, emailKey, acc.UUID)
		if errors.Is(err, errTaken) {
			return contract.Session{}, phoneTaken()
		}
		return contract.Session{}, err
	}
	// A claim left unused for claimGrace may be taken over (a writer that
	// died); a writer that slow must not then activate beside its taker.
	for _, key := range []string{emailKey, phoneKey} {
		if owner, err := s.claimOwner(ctx, key); err != nil || owner != acc.UUID {
			return contract.Session{}, contract.Errorf(contract.Conflict, "The registration took too long. Please try again.")
		}
	}
	userID, err := s.allocateUserID(ctx, acc.UUID)
	if err != nil {
		return contract.Session{}, err
	}
	call, now := natsx.CallerFrom(ctx).Call, s.now()
	acc, err = s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		if a.Active {
			if a.ActivatedAt != nil && s.copyOf(ctx, a.ActivatedBy, *a.ActivatedAt) {
				return nil, nil // the first run, still going, activated it
			}
			return nil, noRegistration()
		}
		a.Active, a.UserID, a.PINHash, a.PendingPINHash, a.PendingPhone = true, userID, a.PendingPINHash, "", ""
		if call != "" {
			a.ActivatedBy, a.ActivatedAt = call, &now
		}
		if req.DeviceToken != "" {
			a.DeviceToken = req.DeviceToken
			a.trust(s.deviceMAC(a.UUID, req.DeviceToken), s.Limits.TrustedDevices)
		}
		return s.event(ctx, contract.EventAccountRegistered, contract.AccountRegistered{Account: a.contract()}), nil
	})
	if err != nil {
		return contract.Session{}, err
	}
	return s.newSession(ctx, acc, req.DeviceToken, client)
}

// allocateUserID takes the next user id and claims it for uuid. The claim
// is what makes an id one account's for ever: a number already claimed
// (an allocator restored from an old backup, or moved) is skipped, never
// shared.
func (s *Service) allocateUserID(ctx context.Context, uuid string) (int64, error) {
	for range 1000 {
		seq, err := s.IDs.Append(ctx, "user-id", func(domain.Tail, time.Time) (string, error) { return "id", nil })
		if err != nil {
			return 0, err
		}
		err = s.Claims.Insert(ctx, domain.Claim{Key: "uid:" + strconv.FormatInt(seq.Seq, 10), Owner: uuid})
		if err == nil {
			return seq.Seq, nil
		}
		if !errors.Is(err, domain.ErrClaimHeld) {
			return 0, err
		}
	}
	return 0, contract.StoreUnavailable("uid claim", errors.New("no free user id in 1000 tries"))
}
