package app

import (
	"fmt"
	"slices"
	"strings"
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

// Once a code had expired, a check found nothing live, gave its failure
// slot back, and then compared the guess with the expired codes for free:
// a stranger could try every code at a forgotten PIN's expired SMS code,
// held back only by the per-client check rate, and a phone with an
// account answered otp_expired at its code while one without (a decoy,
// which no code opens) never did; a registration email likewise. A guess
// at expired codes now costs the failure slot and the code's checks that
// a guess at live ones does, so the day's cap ends the search as soon,
// and guess for guess alike, whether a code or a decoy was sent.
func TestGuessesAtExpiredCodesAreCountedAlike(t *testing.T) {
	f := newFixture(t)
	const email, phone = "known@example.com", "+18685550501"
	f.register(email, phone, "5830")
	f.advance(f.svc.Limits.CodeTTL + ExpiredLookback)
	clients := 0
	stranger := func() registrar { clients++; return f.as(fmt.Sprintf("203.0.113.%d", clients)) }
	// sent are the real codes of the guessed address, which guesses avoid:
	// only wrong guesses are under test.
	var sent []string
	guess := func() string {
		for w := 0; ; w++ {
			if c := fmt.Sprintf("%04d", w); !slices.Contains(sent, c) {
				return c
			}
		}
	}
	// late sends a code, and lets it expire before the guesses.
	late := func(send func() error) func() error {
		return func() error {
			err := send()
			f.advance(f.svc.Limits.CodeTTL + time.Second)
			return err
		}
	}
	for _, c := range []struct {
		name              string
		registered, other string
		guesses           func(address string) []string
	}{
		{"email", email, "new@example.com", func(address string) []string {
			s := stranger()
			return f.answers(late(func() error { sent = append(sent, s.sendEmail(address).VerificationCode); return nil }),
				func() error { return s.verifyEmail(address, guess()) })
		}},
		{"reset", phone, "+18685550503", func(address string) []string {
			s := stranger()
			return f.answers(late(func() error {
				err := f.svc.ForgotPIN(s.ctx, contract.ForgotPINRequest{Phone: address})
				if address == phone {
					sent = append(sent, f.code(contract.PurposeForgotPINSMS, address))
				}
				return err
			}), func() error {
				_, err := f.svc.ResetPIN(s.ctx, contract.ResetPINRequest{Phone: address, SMSCode: guess(), EmailCode: "0000", PIN: "4829"}, contract.Client{IP: "203.0.113.99"})
				return err
			})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sent = nil
			known := c.guesses(c.registered)
			unknown := c.guesses(c.other)
			if strings.Join(known, ",") != strings.Join(unknown, ",") {
				t.Fatalf("guesses at expired codes:\nregistered %v\nnot        %v", known, unknown)
			}
			if last := known[len(known)-1]; !strings.HasPrefix(last, string(contract.RateLimited)) {
				t.Fatalf("%d guesses at expired codes and no cap: %v", len(known), known)
			}
		})
	}
}
