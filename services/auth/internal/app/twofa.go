package app

import (
	"context"
	"errors"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// issueChallenge sends a code to phone and records what it will confirm.
func (s *Service) issueChallenge(ctx context.Context, field string, ch domain.Challenge) (domain.Challenge, string, error) {
	code, otpID, err := s.sendCode(ctx, field, contract.ChannelSMS, ch.Purpose, ch.Phone, ch.UUID, s.Limits.TwoFACodeLength)
	if err != nil {
		return ch, "", err
	}
	now := s.now()
	ch.ID, ch.OTPID, ch.CreatedAt, ch.ExpiresAt = randomID(), otpID, now, now.Add(s.Limits.CodeTTL)
	if err := s.Challenges.Insert(ctx, ch); err != nil {
		return ch, "", err
	}
	return ch, code, nil
}

// answer checks code against the challenge's own code.
func (s *Service) answer(ctx context.Context, field string, ch domain.Challenge, code string) error {
	return s.checkCode(ctx, field, ch.Purpose, ch.Phone, code, func() (domain.OTP, error) {
		return s.otpByID(ctx, ch.Purpose, ch.Phone, ch.OTPID)
	})
}

// startLogin2FA sends the second factor of a login whose PIN was right.
func (s *Service) startLogin2FA(ctx context.Context, acc Account, device string) (string, error) {
	ch, _, err := s.issueChallenge(ctx, "phone", domain.Challenge{
		Purpose: contract.PurposeLogin2FA, UUID: acc.UUID, UserID: acc.UserID, Phone: acc.Phone,
		Stamp: secretStamp(acc.PINHash), Device: device,
	})
	return ch.ID, err
}

// LoginVerifyOTP completes a login that needed a second factor: the code
// must be the one sent for this challenge, within its checks and expiry,
// and the account must still have the phone and secret it had then.
func (s *Service) LoginVerifyOTP(ctx context.Context, req contract.LoginVerifyOTPRequest, client contract.Client) (contract.Session, error) {
	var v contract.Validation
	if req.Challenge == "" {
		v.Add("challenge", "The challenge field is required.")
	} else if len(req.Challenge) > 64 {
		v.Add("challenge", "This login has expired. Please log in again.")
	}
	if err := ValidateCode("otp", req.OTP, s.Limits.TwoFACodeLength); err != nil {
		v.Add("otp", contract.AsError(err).Message)
	}
	if err := v.Err(); err != nil {
		return contract.Session{}, err
	}
	dead := contract.FieldError("challenge", "This login has expired. Please log in again.")
	ch, err := s.Challenges.Get(ctx, req.Challenge, contract.PurposeLogin2FA)
	if errors.Is(err, contract.ErrNotFound) || (err == nil && !s.now().Before(ch.ExpiresAt)) {
		return contract.Session{}, dead
	}
	if err != nil {
		return contract.Session{}, err
	}
	if err := s.answer(ctx, "otp", ch, req.OTP); err != nil {
		return contract.Session{}, err
	}
	acc, err := s.account(ctx, ch.UUID)
	if errors.Is(err, contract.ErrNotFound) || (err == nil && (!acc.Active || acc.Phone != ch.Phone || secretStamp(acc.PINHash) != ch.Stamp)) {
		return contract.Session{}, dead
	}
	if err != nil {
		return contract.Session{}, err
	}
	return s.loggedIn(ctx, acc, ch.Device, client)
}

// TwoFAStart holds a change of telephone and/or 2FA setting until the
// code sent by SMS (to the new number, else the current one) confirms it.
// Nothing to change sends nothing. A new start replaces a pending one.
func (s *Service) TwoFAStart(ctx context.Context, p contract.Principal, req contract.TwoFAStartRequest) (contract.TwoFAStartReply, error) {
	acc, err := s.caller(ctx, p, req.UserID)
	if err != nil {
		return contract.TwoFAStartReply{}, err
	}
	s.touch(ctx, p)
	phone := acc.Phone
	if req.Telephone != "" {
		if phone, err = NormalizePhone("telephone", req.Telephone); err != nil {
			return contract.TwoFAStartReply{}, err
		}
	}
	if phone != acc.Phone {
		if used, err := s.phoneInUse(ctx, phone, acc.UUID); err != nil {
			return contract.TwoFAStartReply{}, err
		} else if used {
			// "Taken" says the number is registered: each such answer costs
			// one of the account's changes an hour (a code sent is bounded
			// by the sending limits already).
			if err := s.changeSlot(ctx, acc.UUID, "telephone"); err != nil {
				return contract.TwoFAStartReply{}, err
			}
			return contract.TwoFAStartReply{}, contract.FieldError("telephone", "The telephone has already been taken.")
		}
	}
	var want *bool
	if req.IsTwoFA != nil && *req.IsTwoFA != acc.TwoFA {
		want = req.IsTwoFA
	}
	if phone == acc.Phone && want == nil {
		return contract.TwoFAStartReply{Telephone: acc.Phone}, nil
	}
	_, code, err := s.issueChallenge(ctx, "telephone", domain.Challenge{
		Purpose: contract.PurposeProfile2FA, UUID: acc.UUID, UserID: acc.UserID, Phone: phone,
		Stamp: secretStamp(acc.PINHash), TwoFA: want,
	})
	if err != nil {
		return contract.TwoFAStartReply{}, err
	}
	if phone != acc.Phone {
		// As for update_phone: the number in use hears of the request.
		if _, err := s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
			return s.notice(ctx, contract.ChannelSMS, a.Phone, "phone_change_requested", a, map[string]string{"Old": a.Phone, "New": phone}), nil
		}); err != nil {
			return contract.TwoFAStartReply{}, err
		}
	}
	return contract.TwoFAStartReply{Telephone: phone, OTPSent: true, VerificationCode: s.devCode(code)}, nil
}

// TwoFAVerify applies the pending change when the code is right. A new
// telephone moves as a verified update_phone does (moveContact: a number
// taken meanwhile is refused, both numbers are told), and comes with a new
// session; the caller's own session stays valid.
func (s *Service) TwoFAVerify(ctx context.Context, p contract.Principal, req contract.TwoFAVerifyRequest) (contract.TwoFAVerifyReply, error) {
	var v contract.Validation
	phone, err := NormalizePhone("telephone", req.Telephone)
	if err != nil {
		v.Add("telephone", contract.AsError(err).Message)
	}
	if err := ValidateCode("otp", req.OTP, s.Limits.TwoFACodeLength); err != nil {
		v.Add("otp", contract.AsError(err).Message)
	}
	if err := v.Err(); err != nil {
		return contract.TwoFAVerifyReply{}, err
	}
	acc, err := s.caller(ctx, p, req.UserID)
	if err != nil {
		return contract.TwoFAVerifyReply{}, err
	}
	s.touch(ctx, p)
	invalid := contract.FieldError("otp", "The verification code is invalid or has expired.").Because(contract.ReasonOTPInvalid)
	ch, err := s.pendingChange(ctx, acc.UUID)
	if errors.Is(err, contract.ErrNotFound) || (err == nil && !s.now().Before(ch.ExpiresAt)) {
		return contract.TwoFAVerifyReply{}, invalid
	}
	if err != nil {
		return contract.TwoFAVerifyReply{}, err
	}
	if ch.Phone != phone {
		return contract.TwoFAVerifyReply{}, contract.FieldError("telephone", "No change is waiting for this telephone. Request a new code.")
	}
	if err := s.answer(ctx, "otp", ch, req.OTP); err != nil {
		return contract.TwoFAVerifyReply{}, err
	}
	if secretStamp(acc.PINHash) != ch.Stamp {
		return contract.TwoFAVerifyReply{}, invalid
	}
	apply := func(a *Account) error {
		if ch.TwoFA != nil {
			a.TwoFA = *ch.TwoFA
		}
		return nil
	}
	var reply contract.TwoFAVerifyReply
	if phone != acc.Phone {
		acc, err = s.moveContact(ctx, acc, phoneKind, phone, apply)
		if errors.Is(err, errTaken) {
			return contract.TwoFAVerifyReply{}, contract.FieldError("telephone", "The telephone has already been taken.")
		}
		if err != nil {
			return contract.TwoFAVerifyReply{}, err
		}
		sess, err := s.newSession(ctx, acc, s.sessionDevice(ctx, p.SessionID), callerClient(ctx))
		if err != nil {
			return contract.TwoFAVerifyReply{}, err
		}
		reply.Session = &sess
	} else if ch.TwoFA != nil {
		if acc, err = s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) { return nil, apply(a) }); err != nil {
			return contract.TwoFAVerifyReply{}, err
		}
	}
	if reply.Account, err = s.withSessions(ctx, acc); err != nil {
		return contract.TwoFAVerifyReply{}, err
	}
	return reply, nil
}

// pendingChange is the account's newest telephone/2FA change challenge.
func (s *Service) pendingChange(ctx context.Context, uuid string) (domain.Challenge, error) {
	return s.Challenges.Newest(ctx, uuid, contract.PurposeProfile2FA)
}

// caller is the active account of the principal, who may only act on
// their own account.
func (s *Service) caller(ctx context.Context, p contract.Principal, userID int64) (Account, error) {
	if p.UserID == 0 {
		return Account{}, contract.Errorf(contract.Unauthenticated, "Unauthenticated.")
	}
	if userID != 0 && userID != p.UserID {
		return Account{}, contract.Errorf(contract.Forbidden, "You may only change your own account.")
	}
	acc, err := s.activeAccount(ctx, p.UserID)
	if err != nil {
		return Account{}, err
	}
	if p.UUID != "" && acc.UUID != p.UUID {
		return Account{}, contract.Errorf(contract.Unauthenticated, "Unauthenticated.")
	}
	return acc, nil
}

// sessionDevice is the push token the session logged in with, so a
// session issued in its place keeps the device.
func (s *Service) sessionDevice(ctx context.Context, sid string) string {
	ss, err := s.Sessions.Get(ctx, sid)
	if err != nil {
		return ""
	}
	return ss.Device
}
