package app

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
)

// activeAccount finds the active account of a user id.
func (s *Service) activeAccount(ctx context.Context, userID int64) (Account, error) {
	owner, err := s.claimOwner(ctx, "uid:"+strconv.FormatInt(userID, 10))
	if errors.Is(err, mongox.ErrNotFound) {
		return Account{}, contract.Errorf(contract.NotFound, "No such account.")
	}
	if err != nil {
		return Account{}, err
	}
	acc, err := s.account(ctx, owner)
	if errors.Is(err, mongox.ErrNotFound) || (err == nil && !acc.Active) {
		return Account{}, contract.Errorf(contract.NotFound, "No such account.")
	}
	return acc, err
}

// ChangeEmail moves an active account to a new address. The new address
// is claimed first (a unique insert settles a race for it), then the
// account changes, then the old claim is released; a crash in between
// leaves a claim its holder no longer uses, which takeClaim takes over.
// The new address has not been verified, so its verification time is
// cleared.
func (s *Service) ChangeEmail(ctx context.Context, req contract.ChangeEmailRequest) (contract.Account, error) {
	email, err := NormalizeEmail("new_email", req.NewEmail)
	if err != nil {
		return contract.Account{}, err
	}
	acc, err := s.activeAccount(ctx, req.UserID)
	if err != nil {
		return contract.Account{}, err
	}
	if acc.Email == email {
		return acc.contract(), nil
	}
	// A registration in progress holds its address too.
	inUse := func(a Account) bool { return a.Email == email }
	if err := s.takeClaim(ctx, "email:"+email, acc.UUID, inUse); errors.Is(err, errTaken) {
		return contract.Account{}, contract.FieldError("new_email", "The new email has already been taken.")
	} else if err != nil {
		return contract.Account{}, err
	}
	var old string
	acc, err = s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		old = a.Email
		a.Email, a.EmailVerifiedAt = email, nil
		evs := s.event(ctx, contract.EventEmailChanged, contract.ContactChanged{UserID: a.UserID, UUID: a.UUID, Old: old, New: email})
		// The old address hears of the change: if it was not its owner's
		// doing, that is how they find out.
		return append(evs, s.notice(ctx, contract.ChannelEmail, old, "email_changed", a, map[string]string{"Old": old, "New": email})...), nil
	})
	if err != nil {
		return contract.Account{}, err
	}
	s.release(ctx, "email:"+old, acc.UUID)
	return acc.contract(), nil
}

// ChangePhone moves an active account to a new phone number, in the same
// order as ChangeEmail.
func (s *Service) ChangePhone(ctx context.Context, req contract.ChangePhoneRequest) (contract.Account, error) {
	phone, err := NormalizePhone("new_phone", req.NewPhone)
	if err != nil {
		return contract.Account{}, err
	}
	acc, err := s.activeAccount(ctx, req.UserID)
	if err != nil {
		return contract.Account{}, err
	}
	if acc.Phone == phone {
		return acc.contract(), nil
	}
	// Nobody proved to own the new number yet.
	acc, err = s.changePhone(ctx, acc, phone, "new_phone", func(a *Account) { a.PhoneVerifiedAt = nil })
	if err != nil {
		return contract.Account{}, err
	}
	return acc.contract(), nil
}

// changePhone moves acc to phone (claim, change, release, as ChangeEmail
// does), applying also in the same version; the old number hears of it.
// field names the request field a taken number is reported on.
func (s *Service) changePhone(ctx context.Context, acc Account, phone, field string, also func(a *Account)) (Account, error) {
	inUse := func(a Account) bool { return a.Active && a.Phone == phone }
	if err := s.takeClaim(ctx, "phone:"+phone, acc.UUID, inUse); errors.Is(err, errTaken) {
		return Account{}, contract.FieldError(field, "The "+strings.ReplaceAll(field, "_", " ")+" has already been taken.")
	} else if err != nil {
		return Account{}, err
	}
	var old string
	acc, err := s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		old = a.Phone
		a.Phone = phone
		also(a)
		evs := s.event(ctx, contract.EventPhoneChanged, contract.ContactChanged{UserID: a.UserID, UUID: a.UUID, Old: old, New: phone})
		return append(evs, s.notice(ctx, contract.ChannelSMS, old, "phone_changed", a, map[string]string{"Old": old, "New": phone})...), nil
	})
	if err != nil {
		return Account{}, err
	}
	if old != phone {
		s.release(ctx, "phone:"+old, acc.UUID)
	}
	return acc, nil
}

// release gives up a claim owner no longer uses; failing is harmless, as
// takeClaim takes over a claim its holder does not use.
func (s *Service) release(ctx context.Context, key, owner string) {
	_, _ = s.Claims.DeleteOne(ctx, bson.M{"_id": key, "uuid": owner})
}

// notice asks the notifier for a templated message about the account.
func (s *Service) notice(ctx context.Context, channel, to, template string, a *Account, data map[string]string) []contract.Event {
	return s.event(ctx, contract.EventNotificationWanted, contract.NotificationWanted{
		Channel: channel, To: to, Template: template, Locale: a.Locale, Data: data, UserID: a.UserID,
	})
}
