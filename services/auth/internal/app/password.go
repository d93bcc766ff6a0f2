package app

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dossapp/backend/pkg/contract"
)

// Passwords are 8 to 72 characters; 72 is what the app's other API allows.
const (
	minPasswordLen = 8
	maxPasswordLen = 72
)

// ValidateSecret checks a new secret: four characters must be a PIN that
// passes ValidatePIN; anything else a password of 8 to 72 characters
// (not bytes) with no control characters. It reports whether the secret
// is a password.
func ValidateSecret(field, secret string) (bool, error) {
	if secret == "" {
		return false, contract.FieldError(field, "The "+field+" field is required.")
	}
	if len(secret) == 4 && strings.Trim(secret, "0123456789") == "" {
		return false, ValidatePIN(field, secret)
	}
	if !utf8.ValidString(secret) || strings.IndexFunc(secret, unicode.IsControl) >= 0 {
		return false, contract.FieldError(field, "The "+field+" contains characters that are not allowed.")
	}
	if n := utf8.RuneCountInString(secret); n < minPasswordLen || n > maxPasswordLen {
		return false, contract.FieldError(field, "The "+field+" must be a 4-digit PIN or between 8 and 72 characters.")
	}
	return true, nil
}

// ChangePassword replaces the caller's secret after checking the current
// one, then ends every other session of the account. A wrong old secret
// counts toward the same lockout as a wrong login PIN from the session's
// device, so this route is no way around it.
func (s *Service) ChangePassword(ctx context.Context, p contract.Principal, req contract.ChangePasswordRequest) (contract.ChangePasswordReply, error) {
	var v contract.Validation
	if req.OldPassword == "" {
		v.Add("old_password", "The old password field is required.")
	} else if len(req.OldPassword) > 4*maxPasswordLen {
		v.Add("old_password", "The old password is incorrect.")
	}
	isPassword, err := ValidateSecret("password", req.Password)
	if err != nil {
		v.Add("password", contract.AsError(err).Message)
	}
	if err := v.Err(); err != nil {
		return contract.ChangePasswordReply{}, err
	}
	acc, err := s.caller(ctx, p, 0)
	if err != nil {
		return contract.ChangePasswordReply{}, err
	}
	s.touch(ctx, p)
	right, err := s.checkSecret(ctx, &acc, acc.Phone, s.sessionDevice(ctx, p.SessionID), "old_password", func() bool {
		return s.Hasher.Verify(acc.PINHash, req.OldPassword)
	})
	if err != nil {
		return contract.ChangePasswordReply{}, err
	}
	if !right {
		return contract.ChangePasswordReply{}, contract.FieldError("old_password", "The old password is incorrect.")
	}
	if s.Hasher.Verify(acc.PINHash, req.Password) {
		return contract.ChangePasswordReply{}, contract.FieldError("password", "The new password must differ from the old one.")
	}
	hash := s.Hasher.Hash(req.Password)
	checked := acc.PINHash
	if _, err := s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		if a.PINHash != checked {
			// Another change won the race; its secret is not the one the
			// caller just proved to know.
			return nil, contract.FieldError("old_password", "The old password is incorrect.")
		}
		a.PINHash, a.Password = hash, isPassword
		return nil, nil
	}); err != nil {
		return contract.ChangePasswordReply{}, err
	}
	revoked, err := s.revokeOthers(ctx, acc.UserID, p.SessionID)
	if err != nil {
		return contract.ChangePasswordReply{}, err
	}
	return contract.ChangePasswordReply{Revoked: revoked}, nil
}
