package wallet

import (
	"context"
	"crypto/rand"
	"errors"

	"github.com/dossapp/backend/pkg/contract"
)

// referralAlphabet leaves out letters and digits that read alike.
const referralAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// NewReferralCode is 8 random characters (32^8 ≈ 10^12 codes).
func NewReferralCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = referralAlphabet[int(b[i])%len(referralAlphabet)]
	}
	return string(b)
}

// ReferralCode returns the user's code (current, when they have one),
// making one the first time. A code belongs to one user by its claim; the
// profile keeps one code per user: of two requests making a code at once,
// one is kept, and the loser gives its code back.
func (s *Service) ReferralCode(ctx context.Context, userID int64, current string) (string, error) {
	if current != "" {
		return current, nil
	}
	gen := s.NewReferralCode
	if gen == nil {
		gen = NewReferralCode
	}
	var code string
	for attempt := 0; ; attempt++ {
		if attempt == 16 {
			return "", contract.StoreUnavailable("referral code", errors.New("no free code after 16 tries"))
		}
		code = gen()
		err := s.Referrals.Claim(ctx, code, userID)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrExists) {
			return "", err
		}
	}
	kept, err := s.Users.KeepReferralCode(ctx, userID, code)
	if err != nil {
		return "", err
	}
	if kept != code {
		_ = s.Referrals.Release(ctx, code, userID)
	}
	return kept, nil
}
