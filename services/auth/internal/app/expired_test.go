package app

import (
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
)

func reasonOf(err error) contract.Reason {
	if err == nil {
		return ""
	}
	return contract.AsError(err).Reason
}

// A right code past its lifetime is told otp_expired, for an hour; a wrong
// one, or the right one later than that, is otp_invalid as before, so the
// answer tells only whoever holds the code that it once was good.
func TestExpiredCodeIsToldSo(t *testing.T) {
	f := newFixture(t)
	ttl := f.svc.Limits.CodeTTL
	owner := f.as("198.51.100.7")

	e := owner.sendEmail("late@example.com")
	f.advance(ttl + time.Second)
	for _, c := range []struct {
		name, code string
		want       contract.Reason
	}{
		{"a stranger's guess", otherCode(e.VerificationCode), contract.ReasonOTPInvalid},
		{"the right code, late", e.VerificationCode, contract.ReasonOTPExpired},
	} {
		if got := reasonOf(owner.verifyEmail("late@example.com", c.code)); got != c.want {
			t.Errorf("email, %s: %q, want %q", c.name, got, c.want)
		}
	}

	// Past the look-back the code is forgotten.
	e = owner.sendEmail("later@example.com")
	f.advance(ttl + ExpiredLookback + time.Minute)
	if got := reasonOf(owner.verifyEmail("later@example.com", e.VerificationCode)); got != contract.ReasonOTPInvalid {
		t.Errorf("an hour past expiry: %q, want otp_invalid", got)
	}
}
