package app

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/dossapp/backend/pkg/contract"

	"github.com/dossapp/backend/services/auth/internal/domain"
)

// activeAccount finds the active account of a user id.
func (s *Service) activeAccount(ctx context.Context, userID int64) (Account, error) {
	owner, err := s.claimOwner(ctx, "uid:"+strconv.FormatInt(userID, 10))
	if errors.Is(err, contract.ErrNotFound) {
		return Account{}, contract.Errorf(contract.NotFound, "No such account.")
	}
	if err != nil {
		return Account{}, err
	}
	acc, err := s.account(ctx, owner)
	if errors.Is(err, contract.ErrNotFound) || (err == nil && (!acc.Active || acc.Deletion != nil)) {
		return Account{}, contract.Errorf(contract.NotFound, "No such account.")
	}
	return acc, err
}

// contactChange is a new email or phone waiting for its code. OTPID names
// the one code that confirms it, so a code is bound to this account, its
// purpose and the address: another account's code for the same address
// does not answer it. Until is that code's expiry; after it the change is
// simply gone (asking again sends a new code).
type contactChange struct {
	To    string    `bson:"to"`
	OTPID string    `bson:"otp_id"`
	Until time.Time `bson:"until"`
}

func (c *contactChange) contract() *contract.PendingContact {
	if c == nil {
		return nil
	}
	return &contract.PendingContact{To: c.To, Until: c.Until}
}

func (c *contactChange) waiting(now time.Time) bool { return c != nil && now.Before(c.Until) }

// contactKind is what differs between an email and a phone change.
type contactKind struct {
	name    string // contract.ContactEmail or ContactPhone; also the claim prefix
	field   string // the request field naming the new address
	purpose string
	channel string // where its codes and notices go
	event   string
	value   func(a *Account) *string
	at      func(a *Account) **time.Time
	change  func(a *Account) **contactChange
	// inUse says the holder of the address's claim really uses it.
	inUse func(a Account, addr string) bool
}

var (
	emailKind = contactKind{
		name: contract.ContactEmail, field: "new_email", purpose: contract.PurposeChangeEmail,
		channel: contract.ChannelEmail, event: contract.EventEmailChanged,
		value:  func(a *Account) *string { return &a.Email },
		at:     func(a *Account) **time.Time { return &a.EmailVerifiedAt },
		change: func(a *Account) **contactChange { return &a.EmailChange },
		// A registration in progress holds its address too.
		inUse: func(a Account, addr string) bool { return a.Email == addr },
	}
	phoneKind = contactKind{
		name: contract.ContactPhone, field: "new_phone", purpose: contract.PurposeChangePhone,
		channel: contract.ChannelSMS, event: contract.EventPhoneChanged,
		value:  func(a *Account) *string { return &a.Phone },
		at:     func(a *Account) **time.Time { return &a.PhoneVerifiedAt },
		change: func(a *Account) **contactChange { return &a.PhoneChange },
		inUse:  func(a Account, addr string) bool { return a.Active && a.Phone == addr },
	}
	contactKinds = map[string]contactKind{contract.ContactEmail: emailKind, contract.ContactPhone: phoneKind}
)

func (k contactKind) claim(addr string) string { return k.name + ":" + addr }

// ChangeEmail asks to move an active account to a new address. Nothing
// moves yet: a code goes to the new address and the change waits for it
// (VerifyContact). Until then the new address holds no claim, so its real
// owner can still register it, and the old one keeps working.
func (s *Service) ChangeEmail(ctx context.Context, req contract.ChangeEmailRequest) (contract.Account, error) {
	email, err := NormalizeEmail(emailKind.field, req.NewEmail)
	if err != nil {
		return contract.Account{}, err
	}
	return s.requestChange(ctx, req.UserID, emailKind, email)
}

// ChangePhone is ChangeEmail for the phone number: the new number is not a
// login identifier until its code is verified.
func (s *Service) ChangePhone(ctx context.Context, req contract.ChangePhoneRequest) (contract.Account, error) {
	phone, err := NormalizePhone(phoneKind.field, req.NewPhone)
	if err != nil {
		return contract.Account{}, err
	}
	return s.requestChange(ctx, req.UserID, phoneKind, phone)
}

// requestChange sends a code to addr and records the change as pending.
// The address in use hears of it once per new address ("if this was not
// you…"). Asking again for the same address is the resend; asking for the
// address in use gives a pending change up.
func (s *Service) requestChange(ctx context.Context, userID int64, k contactKind, addr string) (contract.Account, error) {
	acc, err := s.activeAccount(ctx, userID)
	if err != nil {
		return contract.Account{}, err
	}
	if *k.value(&acc) == addr {
		if *k.change(&acc) == nil {
			return acc.contract(), nil
		}
		acc, err = s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
			*k.change(a) = nil
			return nil, nil
		})
		return acc.contract(), err
	}
	// The budget first: "taken" says an address is registered, so each
	// such answer costs the asking account one of its changes an hour.
	if err := s.changeSlot(ctx, acc.UUID, k.field); err != nil {
		return contract.Account{}, err
	}
	if taken, err := s.heldByOther(ctx, k, addr, acc.UUID); err != nil {
		return contract.Account{}, err
	} else if taken {
		return contract.Account{}, contract.FieldError(k.field, "The new "+k.name+" has already been taken.")
	}
	_, otpID, err := s.sendCode(ctx, k.field, k.channel, k.purpose, addr, acc.UUID, s.Limits.CodeLength)
	if err != nil {
		return contract.Account{}, err
	}
	now := s.now()
	pending := &contactChange{To: addr, OTPID: otpID, Until: now.Add(s.Limits.CodeTTL)}
	acc, err = s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		var evs []contract.Event
		if prev := *k.change(a); !prev.waiting(now) || prev.To != addr {
			evs = s.notice(ctx, k.channel, *k.value(a), k.name+"_change_requested", a, map[string]string{"Old": *k.value(a), "New": addr})
		}
		*k.change(a) = pending
		return evs, nil
	})
	if err != nil {
		return contract.Account{}, err
	}
	return acc.contract(), nil
}

// heldByOther says addr is an active account's (other than self's).
func (s *Service) heldByOther(ctx context.Context, k contactKind, addr, self string) (bool, error) {
	owner, err := s.claimOwner(ctx, k.claim(addr))
	if errors.Is(err, contract.ErrNotFound) || (err == nil && owner == self) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	acc, err := s.account(ctx, owner)
	if errors.Is(err, contract.ErrNotFound) {
		return false, nil
	}
	return err == nil && acc.Active && k.inUse(acc, addr), err
}

// changeSlot takes one of the account's ChangeSendsPerHour contact
// changes: a code sent to a new address, or an "already taken" answer.
func (s *Service) changeSlot(ctx context.Context, uuid, field string) error {
	return s.changeBudget(ctx, "change-send:"+uuid, field, s.Limits.ChangeSendsPerHour, time.Hour,
		"Too many changes requested. Please try again later.")
}

// changeBudget takes one of max slots per window in the ledger chain key,
// before the work it pays for.
func (s *Service) changeBudget(ctx context.Context, key, field string, max int, window time.Duration, msg string) error {
	_, err := s.Ledger.Append(ctx, key, func(tail domain.Tail, now time.Time) (string, error) {
		oldest, ok, err := tail.At(max - 1)
		if err != nil {
			return "", err
		}
		if ok {
			if wait := oldest.At.Add(window).Sub(now); wait > 0 {
				return "", tooMany(contract.ReasonRateLimited, field, wait, msg)
			}
		}
		return "try", nil
	})
	return err
}

var errChangeReplaced = errors.New("change replaced")

// VerifyContact completes the caller's pending email or phone change with
// the code sent to the new address. Only then is the address claimed: if
// someone registered it (or a registration of it is in progress) the
// change is dropped, the account told, and the answer is 422. On success
// the old address is released and both addresses are told.
func (s *Service) VerifyContact(ctx context.Context, p contract.Principal, req contract.ContactVerifyRequest) (contract.Account, error) {
	var v contract.Validation
	k, ok := contactKinds[req.Channel]
	if !ok {
		v.Add("channel", "The channel must be email or phone.")
	}
	if err := ValidateCode("verification_code", req.VerificationCode, s.Limits.CodeLength); err != nil {
		v.Add("verification_code", contract.AsError(err).Message)
	}
	if err := v.Err(); err != nil {
		return contract.Account{}, err
	}
	acc, err := s.caller(ctx, p, req.UserID)
	if err != nil {
		return contract.Account{}, err
	}
	s.touch(ctx, p)
	pending := *k.change(&acc)
	if !pending.waiting(s.now()) {
		return contract.Account{}, contract.FieldError("verification_code", "No "+k.name+" change is waiting for a code. Ask for the change again.")
	}
	// The per-address caps of checkCode are shared with the address's
	// owner; this one keeps a single account from spending them all.
	if err := s.changeBudget(ctx, "change-check:"+acc.UUID, "verification_code", s.Limits.ChangeChecksPerDay, 24*time.Hour,
		"Too many attempts. Please try again later."); err != nil {
		return contract.Account{}, err
	}
	if err := s.checkCode(ctx, "verification_code", k.purpose, pending.To, req.VerificationCode, func() (domain.OTP, error) {
		return s.otpByID(ctx, k.purpose, pending.To, pending.OTPID)
	}); err != nil {
		return contract.Account{}, err
	}
	moved, err := s.moveContact(ctx, acc, k, pending.To, func(a *Account) error {
		if c := *k.change(a); c == nil || c.OTPID != pending.OTPID {
			return errChangeReplaced
		}
		return nil
	})
	switch {
	case errors.Is(err, errTaken):
		if err := s.dropChange(ctx, acc.UUID, k, pending); err != nil {
			return contract.Account{}, err
		}
		return contract.Account{}, contract.FieldError(k.name, "This "+k.name+" now belongs to another account, so the change was dropped.")
	case errors.Is(err, errChangeReplaced):
		return contract.Account{}, contract.FieldError("verification_code", "The verification code is invalid or has expired.").Because(contract.ReasonOTPInvalid)
	case err != nil:
		return contract.Account{}, err
	}
	return s.withSessions(ctx, moved)
}

// dropChange gives up a pending change whose address went to someone else,
// telling the account at the address it still uses.
func (s *Service) dropChange(ctx context.Context, uuid string, k contactKind, pending *contactChange) error {
	_, err := s.Accounts.Update(ctx, uuid, func(a *Account) ([]contract.Event, error) {
		if c := *k.change(a); c == nil || c.OTPID != pending.OTPID {
			return nil, errUnchanged
		}
		*k.change(a) = nil
		return s.notice(ctx, k.channel, *k.value(a), "contact_change_dropped", a, map[string]string{"New": pending.To}), nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

var errUnchanged = errors.New("unchanged")

// moveContact moves acc to addr, which has just proved to be its owner's
// (a code sent to it came back), with also checked and applied in the same
// version. The new address is claimed first (a unique insert settles a race
// for it; errTaken when another account uses it), then the account changes,
// then the old claim is released; a crash in between leaves a claim its
// holder no longer uses, which takeClaim takes over. The old address hears
// that the change happened, the new one that it is now the account's.
func (s *Service) moveContact(ctx context.Context, acc Account, k contactKind, addr string, also func(a *Account) error) (Account, error) {
	if err := s.takeClaim(ctx, k.claim(addr), acc.UUID, func(a Account) bool { return k.inUse(a, addr) }); err != nil {
		return Account{}, err
	}
	at := s.now().Truncate(time.Second)
	var old string
	moved, err := s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		if err := also(a); err != nil {
			return nil, err
		}
		old = *k.value(a)
		*k.value(a), *k.at(a), *k.change(a) = addr, &at, nil
		data := map[string]string{"Old": old, "New": addr}
		evs := s.event(ctx, k.event, contract.ContactChanged{UserID: a.UserID, UUID: a.UUID, Old: old, New: addr, VerifiedAt: &at})
		evs = append(evs, s.notice(ctx, k.channel, old, k.name+"_changed", a, data)...)
		return append(evs, s.notice(ctx, k.channel, addr, "contact_added", a, data)...), nil
	})
	if err != nil {
		s.release(ctx, k.claim(addr), acc.UUID)
		return Account{}, err
	}
	if old != addr {
		s.release(ctx, k.claim(old), acc.UUID)
	}
	return moved, nil
}

// release gives up a claim owner no longer uses; failing is harmless, as
// takeClaim takes over a claim its holder does not use.
func (s *Service) release(ctx context.Context, key, owner string) {
	_ = s.Claims.Release(ctx, owner, key)
}

// notice asks the notifier for a templated message about the account.
func (s *Service) notice(ctx context.Context, channel, to, template string, a *Account, data map[string]string) []contract.Event {
	return s.event(ctx, contract.EventNotificationWanted, contract.NotificationWanted{
		Channel: channel, To: to, Template: template, Locale: a.Locale, Data: data, UserID: a.UserID,
	})
}
