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

// Codes runs the Codes contract against the stores open returns, each
// empty.
func Codes(t *testing.T, open func(t *testing.T) app.Codes) {
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	code := func(id, purpose, address, subject string) domain.OTP {
		return domain.OTP{ID: id, Purpose: purpose, Address: address, Subject: subject, MAC: []byte("mac-" + id), CreatedAt: at, ExpiresAt: at.Add(10 * time.Minute)}
	}
	issue := func(t *testing.T, s app.Codes, otps ...domain.OTP) {
		t.Helper()
		for _, o := range otps {
			if err := s.Issue(ctx, o, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := func(t *testing.T, got domain.OTP, err error, id string) {
		t.Helper()
		if err != nil || got.ID != id {
			t.Fatalf("got code %q (%v), want %q", got.ID, err, id)
		}
	}
	gone := func(t *testing.T, err error, what string) {
		t.Helper()
		if !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("%s: %v, want ErrNotFound", what, err)
		}
	}
	t.Run("nothing issued is not found", func(t *testing.T) {
		s := open(t)
		_, err := s.Newest(ctx, "register", "a@example.com")
		gone(t, err, "newest")
		_, err = s.Get(ctx, "register", "a@example.com", "c1")
		gone(t, err, "get")
	})
	t.Run("the newest is the last issued, and every code stays readable by id", func(t *testing.T) {
		s := open(t)
		issue(t, s, code("c1", "register", "a@example.com", "u1"), code("c2", "register", "a@example.com", "u2"))
		got, err := s.Newest(ctx, "register", "a@example.com")
		want(t, got, err, "c2")
		got, err = s.Get(ctx, "register", "a@example.com", "c1")
		want(t, got, err, "c1")
		if got.Subject != "u1" || string(got.MAC) != "mac-c1" || !got.ExpiresAt.Equal(at.Add(10*time.Minute)) {
			t.Fatalf("read back %+v", got)
		}
	})
	t.Run("the newest is per purpose and address", func(t *testing.T) {
		s := open(t)
		issue(t, s, code("c1", "register", "a@example.com", ""), code("c2", "login_2fa", "a@example.com", ""), code("c3", "register", "b@example.com", ""))
		got, err := s.Newest(ctx, "register", "a@example.com")
		want(t, got, err, "c1")
		_, err = s.Get(ctx, "register", "b@example.com", "c1")
		gone(t, err, "a code under another address")
	})
	t.Run("erasing a subject's codes leaves the others", func(t *testing.T) {
		s := open(t)
		issue(t, s, code("c1", "register", "a@example.com", "u1"), code("c2", "register", "b@example.com", "u2"))
		if err := s.EraseSubject(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
		_, err := s.Get(ctx, "register", "a@example.com", "c1")
		gone(t, err, "an erased subject's code")
		_, err = s.Newest(ctx, "register", "a@example.com")
		gone(t, err, "the newest, erased")
		got, err := s.Newest(ctx, "register", "b@example.com")
		want(t, got, err, "c2")
	})
	t.Run("erasing an address leaves one it is the start of", func(t *testing.T) {
		s := open(t)
		issue(t, s, code("c1", "register", "+1415555010", ""), code("c2", "login_2fa", "+1415555010", ""), code("c3", "register", "+14155550100", ""),
			code("n1", "forgot_pin_sms", "+1415555010", ""))
		if err := s.EraseAddress(ctx, "+1415555010"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ purpose, id string }{{"register", "c1"}, {"login_2fa", "c2"}, {"forgot_pin_sms", "n1"}} {
			_, err := s.Get(ctx, c.purpose, "+1415555010", c.id)
			gone(t, err, "an erased address's "+c.id)
		}
		_, err := s.Newest(ctx, "register", "+1415555010")
		gone(t, err, "an erased address's newest")
		got, err := s.Newest(ctx, "register", "+14155550100")
		want(t, got, err, "c3")
	})
}
