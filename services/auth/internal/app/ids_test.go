package app

import (
	"context"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// register runs the whole registration through the service and returns
// the new account's user id.
func (f *fixture) register(email, phone, pin string) int64 {
	f.t.Helper()
	ctx := context.Background()
	client := contract.Client{IP: "10.0.0.9", UserAgent: "test"}
	r, err := f.svc.EmailSendOTP(ctx, contract.EmailSendOTPRequest{Email: email})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.svc.EmailVerifyOTP(ctx, contract.EmailVerifyOTPRequest{Email: email, VerificationCode: r.VerificationCode}); err != nil {
		f.t.Fatal(err)
	}
	p, err := f.svc.PhoneSendOTP(ctx, contract.PhoneSendOTPRequest{Email: email, Phone: phone})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.svc.PhoneVerifyOTP(ctx, contract.PhoneVerifyOTPRequest{UUID: r.UUID, VerificationCode: p.VerificationCode}); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.svc.SetPIN(ctx, contract.SetPINRequest{UUID: r.UUID, PIN: pin}); err != nil {
		f.t.Fatal(err)
	}
	s, err := f.svc.ConfirmPIN(ctx, contract.ConfirmPINRequest{UUID: r.UUID, ConfirmPIN: pin}, client)
	if err != nil {
		f.t.Fatal(err)
	}
	return s.User.ID
}

// User ids are never reused: not after the attempt ledger is swept (the
// allocator used to live in it, and two quiet days made it start again
// from 1), and not when the allocator hands out a number already claimed.
func TestUserIDsAreNeverReused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if id := f.register("one@example.com", "+14155550111", "7193"); id != 1 {
		t.Fatalf("first id %d", id)
	}
	f.advance(72 * time.Hour)
	if _, err := f.svc.Ledger.Sweep(ctx, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	// The allocator itself survives the sweep (a restarted one would walk
	// every claimed id on the next registration).
	if tail, err := f.svc.IDs.Tail(ctx, "user-id"); err != nil || tail.Empty() {
		t.Fatalf("the id allocator was swept (%v)", err)
	}
	if id := f.register("two@example.com", "+14155550112", "7193"); id != 2 {
		t.Fatalf("after a sweep the next id is %d, want 2", id)
	}
	// Number 3 is somebody's already: it is skipped.
	if err := f.svc.Claims.Insert(ctx, domain.Claim{Key: "uid:3", Owner: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	if id := f.register("three@example.com", "+14155550113", "7193"); id != 4 {
		t.Fatalf("with 3 taken the next id is %d, want 4", id)
	}
}
