package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/dossapp/backend/pkg/contract"
)

// A forgotten PIN is reset with two codes: one by SMS to the phone, one to
// the account's verified email, both bound to the account. One stolen
// factor (a SIM swap, a read mailbox) is not enough.

// ForgotPIN sends the two reset codes for an active account. A phone
// without one costs the same send slot on the phone and about the same
// writes, and gets the same answer: only the phone's own sending limits
// (which every caller meets alike) can refuse it.
func (s *Service) ForgotPIN(ctx context.Context, req contract.ForgotPINRequest) error {
	phone, err := NormalizePhone("phone", req.Phone)
	if err != nil {
		return err
	}
	acc, err := s.activeByPhone(ctx, phone)
	if errors.Is(err, contract.ErrNotFound) || (err == nil && acc.Deletion != nil) {
		// An account being deleted gets nothing, and looks like no account.
		return s.forgotPINDecoy(ctx, phone)
	}
	if err != nil {
		return err
	}
	sms := codeRequest{field: "phone", channel: contract.ChannelSMS, purpose: contract.PurposeForgotPINSMS,
		address: phone, subject: acc.UUID, userUUID: acc.UUID, length: s.Limits.CodeLength}
	if _, _, err := s.issueCode(ctx, sms); err != nil {
		return err
	}
	// The email's own limits must not show in the answer (an unknown phone
	// has no email to be limited): a refusal there is only logged, and the
	// user asks again later.
	mail := sms
	mail.channel, mail.purpose, mail.address = contract.ChannelEmail, contract.PurposeForgotPINEmail, acc.Email
	if _, _, err := s.issueCode(ctx, mail); err != nil {
		slog.WarnContext(ctx, "forgot pin: email code not sent", "err", err)
	}
	return nil
}

// forgotPINDecoy does for a phone without an account what ForgotPIN does
// for one, minus the messages: the same two code writes (the first under
// the phone's sending limits, so they answer alike), which nothing sends.
// The SMS one is a decoy of the reset's own purpose: a stranger's wrong
// codes at it are checked and counted as at a real account's, and
// answered alike (checkResetCode). The email one has no address to go to.
func (s *Service) forgotPINDecoy(ctx context.Context, phone string) error {
	decoy := codeRequest{field: "phone", purpose: contract.PurposeForgotPINSMS, address: phone, length: s.Limits.CodeLength, silent: true, decoy: true}
	if _, _, err := s.issueCode(ctx, decoy); err != nil {
		return err
	}
	decoy.purpose, decoy.address = "decoy_email", "decoy:"+phone
	_, _, _ = s.issueCode(ctx, decoy)
	return nil
}

// ResetPIN checks both codes, sets the new PIN, clears the PIN lockout of
// the phone, takes the trust of the account's devices, ends every session of the
// account on every gateway, tells both addresses, and logs this device in.
// The SMS code is checked first; a right SMS code with a wrong email code
// is spent all the same, so a mistyped email code means new codes.
func (s *Service) ResetPIN(ctx context.Context, req contract.ResetPINRequest, client contract.Client) (contract.Session, error) {
	var v contract.Validation
	phone, err := NormalizePhone("phone", req.Phone)
	if err != nil {
		v.Add("phone", contract.AsError(err).Message)
	}
	for field, code := range map[string]string{"sms_code": req.SMSCode, "email_code": req.EmailCode} {
		if code == "" {
			v.Add(field, "The "+field+" field is required.")
		} else if len(code) > 16 {
			v.Add(field, "The verification code is invalid or has expired.")
		}
	}
	if err := ValidatePIN("pin", req.PIN); err != nil {
		v.Add("pin", contract.AsError(err).Message)
	}
	if err := v.Err(); err != nil {
		return contract.Session{}, err
	}
	acc, err := s.activeByPhone(ctx, phone)
	var known *Account
	switch {
	case err == nil && acc.Deletion == nil:
		known = &acc
	case err != nil && !errors.Is(err, contract.ErrNotFound):
		return contract.Session{}, err
	}
	if err := s.checkResetCode(ctx, "sms_code", contract.PurposeForgotPINSMS, phone, known, req.SMSCode); err != nil {
		return contract.Session{}, err
	}
	// A right SMS code for no account cannot happen: codes go only to
	// accounts, and each is bound to its account's uuid.
	if err := s.checkResetCode(ctx, "email_code", contract.PurposeForgotPINEmail, acc.Email, known, req.EmailCode); err != nil {
		return contract.Session{}, err
	}
	hash := s.Hasher.Hash(req.PIN)
	data := map[string]string{}
	updated, err := s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		if !a.Active || a.Phone != phone || a.Deletion != nil {
			return nil, contract.FieldError("sms_code", "The verification code is invalid or has expired.").Because(contract.ReasonOTPInvalid)
		}
		// The devices that knew the old PIN are trusted no more (a stolen
		// one among them would get a fresh count of guesses): each earns
		// trust again by logging in with the new PIN, and this one does at
		// once below.
		a.PINHash, a.Password, a.TrustedDevices = hash, false, nil
		evs := s.notice(ctx, contract.ChannelSMS, a.Phone, "pin_reset", a, data)
		return append(evs, s.notice(ctx, contract.ChannelEmail, a.Email, "pin_reset", a, data)...), nil
	})
	if err != nil {
		return contract.Session{}, err
	}
	s.clearPINLockout(ctx, updated, phone)
	if req.DeviceToken != "" {
		// The device that proved both codes starts from a clean count,
		// even one its owner had locked.
		s.appendPIN(context.WithoutCancel(ctx), trustedDevice(acc.UUID, s.deviceMAC(acc.UUID, req.DeviceToken)).failures(), pinOK)
	}
	if _, err := s.revokeOthers(ctx, updated.UserID, ""); err != nil {
		return contract.Session{}, err
	}
	return s.loggedIn(ctx, updated, req.DeviceToken, client)
}

// checkResetCode checks code against the codes of purpose sent to address
// for acc, or, for a phone without an account, against the decoys sent
// there (no account's uuid is their subject, and no code opens them), live
// or expired alike, so that both fail alike and cost the same slots.
func (s *Service) checkResetCode(ctx context.Context, field, purpose, address string, acc *Account, code string) error {
	owner := ""
	if acc != nil {
		owner = acc.UUID
	}
	codes, err := s.recentCodes(ctx, purpose, address)
	if err != nil {
		return err
	}
	set := codeSet{failKey: failKey(purpose, address)}
	for _, otp := range codes {
		if otp.Subject == owner {
			set.codes = append(set.codes, otp)
		}
	}
	_, err = s.checkCodes(ctx, field, []codeSet{set}, code)
	return err
}

// clearPINLockout: whoever proved both the phone and the email is the
// owner, so the failures a stranger ran up against the phone (the shared
// cap of unknown devices) and against the account's devices stop counting.
func (s *Service) clearPINLockout(ctx context.Context, acc Account, phone string) {
	ctx = context.WithoutCancel(ctx)
	s.appendPIN(ctx, unknownDevices(phone).failures(), pinReset)
	for _, mac := range acc.TrustedDevices {
		s.appendPIN(ctx, trustedDevice(acc.UUID, mac).failures(), pinOK)
	}
}

// pinReset in a phone's unknown-device failures ends the count: the
// failures before it do not count toward the cap.
const pinReset = "reset"
