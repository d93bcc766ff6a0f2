package app

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
)

// ContactChanger is auth, which owns contacts and their uniqueness
// (natsx.Call in production).
type ContactChanger interface {
	ChangeEmail(ctx context.Context, req contract.ChangeEmailRequest) (contract.Account, error)
	ChangePhone(ctx context.Context, req contract.ChangePhoneRequest) (contract.Account, error)
	VerifyContact(ctx context.Context, req contract.ContactVerifyRequest) (contract.Account, error)
}

// UpdateEmail checks the current address, has auth start the move to the
// new one (auth validates it, sends it a code and keeps the change pending
// until VerifyContact), and records what auth answered. The current address
// may be given as the one in use or as the pending one the profile shows.
func (s *Service) UpdateEmail(ctx context.Context, userID int64, req contract.UpdateEmailRequest) (contract.Profile, error) {
	last := strings.ToLower(strings.TrimSpace(req.LastEmail))
	if last == "" {
		return contract.Profile{}, contract.FieldError("last_email", "The last email field is required.")
	}
	p, err := s.load(ctx, userID)
	if err != nil {
		return contract.Profile{}, err
	}
	if last != strings.ToLower(p.Email) && last != strings.ToLower(p.Contract(s.now()).Email) {
		return contract.Profile{}, contract.FieldError("last_email", "The last email does not match your current email.")
	}
	acc, err := s.Contacts.ChangeEmail(ctx, contract.ChangeEmailRequest{UserID: userID, NewEmail: req.NewEmail})
	if err != nil {
		return contract.Profile{}, err
	}
	return s.record(ctx, userID, func(p *Profile) { p.setContacts(acc) })
}

// UpdatePhone is UpdateEmail for the phone number.
func (s *Service) UpdatePhone(ctx context.Context, userID int64, req contract.UpdatePhoneRequest) (contract.Profile, error) {
	old := digits(req.OldPhone)
	if old == "" {
		return contract.Profile{}, contract.FieldError("old_phone", "The old phone field is required.")
	}
	p, err := s.load(ctx, userID)
	if err != nil {
		return contract.Profile{}, err
	}
	if old != digits(p.Phone) && old != digits(p.Contract(s.now()).Phone) {
		return contract.Profile{}, contract.FieldError("old_phone", "The old phone does not match your current phone.")
	}
	acc, err := s.Contacts.ChangePhone(ctx, contract.ChangePhoneRequest{UserID: userID, NewPhone: req.NewPhone})
	if err != nil {
		return contract.Profile{}, err
	}
	return s.record(ctx, userID, func(p *Profile) { p.setContacts(acc) })
}

// VerifyContact is POST /v2/verify_contact: auth moves the account to the
// pending address if the code is right, and profile records the contacts
// auth then has. A refusal may have dropped the change (its address was
// registered meanwhile), so the profile follows auth then too.
func (s *Service) VerifyContact(ctx context.Context, userID int64, req contract.VerifyContactRequest) (contract.Profile, error) {
	if _, err := s.load(ctx, userID); err != nil {
		return contract.Profile{}, err
	}
	acc, err := s.Contacts.VerifyContact(ctx, contract.ContactVerifyRequest{
		UserID: userID, Channel: req.Channel, VerificationCode: strings.TrimSpace(req.VerificationCode),
	})
	if contract.ErrorCode(err) == contract.Invalid {
		if now, aerr := s.Accounts(ctx, userID); aerr == nil {
			_, _ = s.change(ctx, userID, func(p *Profile) { p.setContacts(now) })
		}
		return contract.Profile{}, err
	}
	if err != nil {
		return contract.Profile{}, err
	}
	return s.record(ctx, userID, func(p *Profile) { p.setContacts(acc) })
}

// phoneChars says phone holds only what people write in numbers: digits,
// one leading +, spaces, dashes, dots and brackets. Anything else is
// refused even where only the digits are compared, so no junk is ever
// accepted as a telephone.
func phoneChars(phone string) bool {
	for i, r := range phone {
		switch {
		case r >= '0' && r <= '9', r == ' ', r == '-', r == '.', r == '(', r == ')':
		case r == '+' && i == 0:
		default:
			return false
		}
	}
	return true
}

// digits is a phone number's digits, so that "+1 868-123-4567" and
// "+18681234567" compare equal.
func digits(phone string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, phone)
}

// OnContactChanged follows auth's email and phone changes, so a profile
// whose own update failed after auth's succeeded still catches up. Only a
// profile still holding the old value changes: a redelivered or
// overtaken event does nothing.
func (s *Service) OnContactChanged(ctx context.Context, ev contract.Event) error {
	var c contract.ContactChanged
	if err := ev.Decode(&c); err != nil {
		return errors.Join(events.ErrPermanent, err)
	}
	field := func(p *Profile) (*string, **time.Time, **contract.PendingContact) {
		if ev.Type == contract.EventEmailChanged {
			return &p.Email, &p.EmailVerifyAt, &p.EmailChange
		}
		return &p.Phone, &p.PhoneVerifyAt, &p.PhoneChange
	}
	// Read before the registration event (each event type has its own
	// consumer, in no order with the others), the profile is made here from
	// auth's current account, which has this change already, and the
	// registration's older account then finds it made.
	p, err := s.load(ctx, c.UserID)
	if contract.ErrorCode(err) == contract.NotFound {
		return nil // erased meanwhile
	}
	if err != nil {
		return err
	}
	if v, _, _ := field(&p); *v != c.Old {
		return nil
	}
	_, err = s.Profiles.Update(ctx, c.UserID, func(p *Profile) ([]contract.Event, error) {
		v, at, pending := field(p)
		if *v != c.Old {
			return nil, errUnchanged
		}
		*v, *at = c.New, c.VerifiedAt
		if *pending != nil && (*pending).To == c.New {
			*pending = nil
		}
		ev, err := events.New(ctx, contract.EventProfileUpdated, contract.ProfileUpdated{UserID: p.UserID, UUID: p.UUID})
		if err != nil {
			return nil, err
		}
		return []contract.Event{ev}, nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

var errUnchanged = errors.New("unchanged")
