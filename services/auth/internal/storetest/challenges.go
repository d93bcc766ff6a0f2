package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/auth/internal/app"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// Challenges runs the Challenges contract against the stores open
// returns, each empty.
func Challenges(t *testing.T, open func(t *testing.T) app.Challenges) {
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	on := true
	challenge := func(id, purpose, uuid string, created time.Time) domain.Challenge {
		return domain.Challenge{ID: id, Purpose: purpose, UUID: uuid, UserID: 7, Phone: "+14155550100", OTPID: "otp-" + id,
			Stamp: "stamp", TwoFA: &on, CreatedAt: created, ExpiresAt: created.Add(10 * time.Minute)}
	}
	insert := func(t *testing.T, s app.Challenges, chs ...domain.Challenge) {
		t.Helper()
		for _, ch := range chs {
			if err := s.Insert(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("a challenge is read back by id, only for its purpose", func(t *testing.T) {
		s := open(t)
		if _, err := s.Get(ctx, "ch1", contract.PurposeLogin2FA); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("before its insert: %v", err)
		}
		insert(t, s, challenge("ch1", contract.PurposeLogin2FA, "u1", at))
		got, err := s.Get(ctx, "ch1", contract.PurposeLogin2FA)
		if err != nil || got.UUID != "u1" || got.OTPID != "otp-ch1" || got.TwoFA == nil || !*got.TwoFA || !got.ExpiresAt.Equal(at.Add(10*time.Minute)) {
			t.Fatalf("get: %+v %v", got, err)
		}
		if _, err := s.Get(ctx, "ch1", contract.PurposeProfile2FA); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("asked for as another purpose: %v", err)
		}
	})
	t.Run("the newest of an account's challenges of a purpose", func(t *testing.T) {
		s := open(t)
		if _, err := s.Newest(ctx, "u1", contract.PurposeProfile2FA); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("before any: %v", err)
		}
		insert(t, s,
			challenge("old", contract.PurposeProfile2FA, "u1", at),
			challenge("new", contract.PurposeProfile2FA, "u1", at.Add(time.Minute)),
			challenge("login", contract.PurposeLogin2FA, "u1", at.Add(2*time.Minute)),
			challenge("theirs", contract.PurposeProfile2FA, "u2", at.Add(3*time.Minute)),
		)
		if got, err := s.Newest(ctx, "u1", contract.PurposeProfile2FA); err != nil || got.ID != "new" {
			t.Fatalf("newest: %+v %v", got, err)
		}
	})
	t.Run("erasing an account's challenges leaves the others", func(t *testing.T) {
		s := open(t)
		insert(t, s, challenge("a", contract.PurposeLogin2FA, "u1", at), challenge("b", contract.PurposeProfile2FA, "u1", at), challenge("c", contract.PurposeLogin2FA, "u2", at))
		if err := s.Erase(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "a", contract.PurposeLogin2FA); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("an erased challenge: %v", err)
		}
		if _, err := s.Newest(ctx, "u1", contract.PurposeProfile2FA); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("an erased account's newest: %v", err)
		}
		if got, err := s.Get(ctx, "c", contract.PurposeLogin2FA); err != nil || got.UUID != "u2" {
			t.Fatalf("another account's: %+v %v", got, err)
		}
	})
}
