package app

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
)

func (s *Service) emailTaken() error {
	return contract.FieldError("email", "The email has already been taken.")
}

// EmailSendOTP starts (or resumes) a registration for an email.
func (s *Service) EmailSendOTP(ctx context.Context, req contract.EmailSendOTPRequest) (contract.EmailSendOTPReply, error) {
	email, err := NormalizeEmail("email", req.Email)
	if err != nil {
		return contract.EmailSendOTPReply{}, err
	}
	// The account exists before its claim, so a claim whose holder has no
	// account is known to be left over from a crash and may be taken over.
	id := uuid.NewString()
	if err := s.Accounts.Put(ctx, id, 0, Account{UUID: id, Email: email, CreatedAt: s.now()}, nil); err != nil {
		return contract.EmailSendOTPReply{}, err
	}
	err = s.takeClaim(ctx, "email:"+email, id, func(a Account) bool { return a.Email == email })
	if err != nil && !errors.Is(err, errTaken) {
		return contract.EmailSendOTPReply{}, err
	}
	owner, err := s.claimOwner(ctx, "email:"+email)
	if err != nil {
		return contract.EmailSendOTPReply{}, mongox.Wrap("email claim", err)
	}
	acc, err := s.account(ctx, owner)
	if err != nil {
		return contract.EmailSendOTPReply{}, mongox.Wrap("email owner", err)
	}
	if acc.Active {
		return contract.EmailSendOTPReply{}, s.emailTaken()
	}
	code, err := s.SendCode(ctx, "email", contract.ChannelEmail, contract.PurposeRegisterEmail, email, owner)
	if err != nil {
		return contract.EmailSendOTPReply{}, err
	}
	return contract.EmailSendOTPReply{Email: email, UUID: owner, VerificationCode: s.devCode(code)}, nil
}

// registering finds the registration that owns email, refusing active ones.
func (s *Service) registeringByEmail(ctx context.Context, email string) (Account, error) {
	owner, err := s.claimOwner(ctx, "email:"+email)
	if errors.Is(err, mongox.ErrNotFound) {
		return Account{}, contract.FieldError("email", "No registration was started for this email. Request a code first.")
	}
	if err != nil {
		return Account{}, err
	}
	acc, err := s.account(ctx, owner)
	if errors.Is(err, mongox.ErrNotFound) {
		return Account{}, contract.FieldError("email", "No registration was started for this email. Request a code first.")
	}
	if err != nil {
		return Account{}, err
	}
	if acc.Active {
		return Account{}, s.emailTaken()
	}
	return acc, nil
}

func (s *Service) EmailVerifyOTP(ctx context.Context, req contract.EmailVerifyOTPRequest) (contract.EmailVerifyOTPReply, error) {
	email, err := NormalizeEmail("email", req.Email)
	if err != nil {
		return contract.EmailVerifyOTPReply{}, err
	}
	if err := ValidateCode("verification_code", req.VerificationCode, s.Limits.CodeLength); err != nil {
		return contract.EmailVerifyOTPReply{}, err
	}
	acc, err := s.registeringByEmail(ctx, email)
	if err != nil {
		return contract.EmailVerifyOTPReply{}, err
	}
	if err := s.CheckCode(ctx, "verification_code", contract.PurposeRegisterEmail, email, req.VerificationCode); err != nil {
		return contract.EmailVerifyOTPReply{}, err
	}
	at := s.now().Truncate(time.Second)
	acc, err = s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		if a.Active {
			return nil, s.emailTaken()
		}
		a.EmailVerifiedAt = &at
		return nil, nil
	})
	if err != nil {
		return contract.EmailVerifyOTPReply{}, err
	}
	return contract.EmailVerifyOTPReply{EmailVerifyAt: *acc.EmailVerifiedAt}, nil
}

func phoneTaken() error {
	return contract.FieldError("phone", "The phone has already been taken.")
}

func (s *Service) phoneInUse(ctx context.Context, phone, self string) (bool, error) {
	owner, err := s.claimOwner(ctx, "phone:"+phone)
	if errors.Is(err, mongox.ErrNotFound) || owner == self {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	acc, err := s.account(ctx, owner)
	if errors.Is(err, mongox.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return acc.Active && acc.Phone == phone, nil
}

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
	acc, err := s.registeringByEmail(ctx, email)
	if err != nil {
		return contract.PhoneSendOTPReply{}, err
	}
	if acc.EmailVerifiedAt == nil {
		return contract.PhoneSendOTPReply{}, contract.FieldError("email", "Verify your email before adding a phone number.")
	}
	if used, err := s.phoneInUse(ctx, phone, acc.UUID); err != nil {
		return contract.PhoneSendOTPReply{}, err
	} else if used {
		return contract.PhoneSendOTPReply{}, phoneTaken()
	}
	if _, err := s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		if a.Active {
			return nil, s.emailTaken()
		}
		if a.PendingPhone != phone {
			a.PendingPhone, a.Phone, a.PhoneVerifiedAt = phone, "", nil
		}
		return nil, nil
	}); err != nil {
		return contract.PhoneSendOTPReply{}, err
	}
	code, err := s.SendCode(ctx, "phone", contract.ChannelSMS, contract.PurposeRegisterPhone, phone, acc.UUID)
	if err != nil {
		return contract.PhoneSendOTPReply{}, err
	}
	return contract.PhoneSendOTPReply{Phone: phone, UUID: acc.UUID, VerificationCode: s.devCode(code)}, nil
}

func noRegistration() error {
	return contract.FieldError("uuid", "No registration in progress matches this uuid.")
}

func (s *Service) registering(ctx context.Context, id string) (Account, error) {
	if id == "" {
		return Account{}, contract.FieldError("uuid", "The uuid field is required.")
	}
	acc, err := s.account(ctx, id)
	if errors.Is(err, mongox.ErrNotFound) || (err == nil && acc.Active) {
		return Account{}, noRegistration()
	}
	return acc, err
}

func (s *Service) PhoneVerifyOTP(ctx context.Context, req contract.PhoneVerifyOTPRequest) (contract.PhoneVerifyOTPReply, error) {
	if err := ValidateCode("verification_code", req.VerificationCode, s.Limits.CodeLength); err != nil {
		return contract.PhoneVerifyOTPReply{}, err
	}
	acc, err := s.registering(ctx, req.UUID)
	if err != nil {
		return contract.PhoneVerifyOTPReply{}, err
	}
	if acc.PendingPhone == "" {
		return contract.PhoneVerifyOTPReply{}, contract.FieldError("uuid", "Request a phone code first.")
	}
	if err := s.CheckCode(ctx, "verification_code", contract.PurposeRegisterPhone, acc.PendingPhone, req.VerificationCode); err != nil {
		return contract.PhoneVerifyOTPReply{}, err
	}
	at := s.now().Truncate(time.Second)
	acc, err = s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		if a.Active {
			return nil, noRegistration()
		}
		a.Phone, a.PhoneVerifiedAt = a.PendingPhone, &at
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
// change through authenticated calls.
func (s *Service) ConfirmPIN(ctx context.Context, req contract.ConfirmPINRequest, client contract.Client) (contract.Session, error) {
	if req.ConfirmPIN == "" {
		return contract.Session{}, contract.FieldError("confirm_pin", "The confirm pin field is required.")
	}
	acc, err := s.registering(ctx, req.UUID)
	if err != nil {
		return contract.Session{}, err
	}
	if acc.PendingPINHash == "" {
		return contract.Session{}, contract.FieldError("uuid", "Set a PIN first.")
	}
	if _, err := s.pinAttempt(ctx, "confirm:"+acc.UUID, "confirm_pin"); err != nil {
		return contract.Session{}, err
	}
	if !s.Hasher.Verify(acc.PendingPINHash, req.ConfirmPIN) {
		return contract.Session{}, contract.FieldError("confirm_pin", "The PIN confirmation does not match.")
	}
	s.pinSuccess(ctx, "confirm:"+acc.UUID)
	inUse := func(a Account) bool { return a.Active && a.Phone == acc.Phone }
	if err := s.takeClaim(ctx, "phone:"+acc.Phone, acc.UUID, inUse); errors.Is(err, errTaken) {
		return contract.Session{}, phoneTaken()
	} else if err != nil {
		return contract.Session{}, err
	}
	userID, err := s.allocateUserID(ctx, acc.UUID)
	if err != nil {
		return contract.Session{}, err
	}
	acc, err = s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		if a.Active {
			return nil, noRegistration()
		}
		a.Active, a.UserID, a.PINHash, a.PendingPINHash, a.PendingPhone = true, userID, a.PendingPINHash, "", ""
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
		seq, err := s.IDs.Append(ctx, "user-id", func(*mongox.Tail, time.Time) (string, error) { return "id", nil })
		if err != nil {
			return 0, err
		}
		_, err = s.Claims.InsertOne(ctx, claim{ID: "uid:" + strconv.FormatInt(seq.Seq, 10), UUID: uuid})
		if err == nil {
			return seq.Seq, nil
		}
		if !mongox.IsDuplicate(err) {
			return 0, mongox.Wrap("uid claim", err)
		}
	}
	return 0, mongox.Wrap("uid claim", errors.New("no free user id in 1000 tries"))
}
