package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
)

// notices are the messages an account's versions asked the notifier for,
// as "template to".
func (f *fixture) notices(uuid string) map[string]bool {
	f.t.Helper()
	// The relay's view: the events waiting in the account's versions.
	recs, err := mongox.NewVersioned[Account](f.db.Collection("auth_accounts")).Find(context.Background(), bson.M{"key": uuid}, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, r := range recs {
		for _, ev := range r.Events {
			var n contract.NotificationWanted
			if ev.Type == contract.EventNotificationWanted && ev.Decode(&n) == nil {
				out[n.Template+" "+n.To] = true
			}
		}
	}
	return out
}

// signedUp registers email and phone through the service and returns the
// account and a session of it.
func (f *fixture) signedUp(email, phone, pin string) (Account, contract.Principal) {
	f.t.Helper()
	f.register(email, phone, pin)
	p := f.mustLogin(phone, pin)
	acc, err := f.svc.account(context.Background(), p.UUID)
	if err != nil {
		f.t.Fatal(err)
	}
	return acc, p
}

func (f *fixture) verify(p contract.Principal, channel, code string) (contract.Account, error) {
	return f.svc.VerifyContact(context.Background(), p, contract.ContactVerifyRequest{Channel: channel, VerificationCode: code})
}

func otherCode(code string) string {
	if code == "0000" {
		return "1111"
	}
	return "0000"
}

// A signed-in user asks for a stranger's email: the address holds no
// claim, so its owner registers it and wins; the squatter's change is then
// dropped with a notice.
func TestEmailChangeHoldsNoClaimAndTheOwnerWins(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	squatter, p := f.signedUp("squatter@example.com", "+18681240001", "4829")
	acc, err := f.svc.ChangeEmail(ctx, contract.ChangeEmailRequest{UserID: squatter.UserID, NewEmail: "Owner@Example.com"})
	if err != nil || acc.Email != "squatter@example.com" || acc.EmailChange == nil || acc.EmailChange.To != "owner@example.com" {
		t.Fatalf("change: %+v %v", acc, err)
	}
	if _, err := f.svc.claimOwner(ctx, "email:owner@example.com"); !errors.Is(err, mongox.ErrNotFound) {
		t.Fatalf("the pending address is claimed: %v", err)
	}
	if !f.notices(squatter.UUID)["email_change_requested squatter@example.com"] {
		t.Fatalf("the address in use was not told: %v", f.notices(squatter.UUID))
	}
	code := f.code(contract.PurposeChangeEmail, "owner@example.com")

	f.register("owner@example.com", "+18681240002", "5820") // fails the test if the address is blocked

	if _, err := f.verify(p, contract.ContactEmail, code); field(err) != "email" {
		t.Fatalf("verify after the owner registered: %v", err)
	}
	got, _ := f.svc.account(ctx, squatter.UUID)
	if got.EmailChange != nil || got.Email != "squatter@example.com" {
		t.Fatalf("the change was not dropped: %+v", got)
	}
	if !f.notices(squatter.UUID)["contact_change_dropped squatter@example.com"] {
		t.Fatalf("no notice of the drop: %v", f.notices(squatter.UUID))
	}
	if owner, _ := f.svc.claimOwner(ctx, "email:owner@example.com"); owner == squatter.UUID || owner == "" {
		t.Fatalf("the owner lost the address: %q", owner)
	}
	if _, err := f.verify(p, contract.ContactEmail, code); field(err) != "verification_code" {
		t.Fatalf("verify of a dropped change: %v", err)
	}
}

// An email change verified by its code moves the claim and tells both
// addresses; the old one is free again.
func TestEmailChangeVerified(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acc, p := f.signedUp("old@example.com", "+18681240011", "4829")
	if _, err := f.svc.ChangeEmail(ctx, contract.ChangeEmailRequest{UserID: acc.UserID, NewEmail: "new@example.com"}); err != nil {
		t.Fatal(err)
	}
	code := f.code(contract.PurposeChangeEmail, "new@example.com")
	if _, err := f.verify(p, contract.ContactEmail, otherCode(code)); field(err) != "verification_code" {
		t.Fatalf("wrong code: %v", err)
	}
	if _, err := f.verify(p, "fax", code); field(err) != "channel" {
		t.Fatalf("bad channel: %v", err)
	}
	if _, err := f.verify(p, contract.ContactPhone, code); field(err) != "verification_code" {
		t.Fatalf("no phone change waits: %v", err)
	}
	got, err := f.verify(p, contract.ContactEmail, code)
	if err != nil || got.Email != "new@example.com" || got.EmailVerifiedAt == nil || got.EmailChange != nil {
		t.Fatalf("verify: %+v %v", got, err)
	}
	if owner, _ := f.svc.claimOwner(ctx, "email:new@example.com"); owner != acc.UUID {
		t.Fatalf("new address owned by %q", owner)
	}
	if _, err := f.svc.claimOwner(ctx, "email:old@example.com"); !errors.Is(err, mongox.ErrNotFound) {
		t.Fatalf("old address still claimed: %v", err)
	}
	n := f.notices(acc.UUID)
	if !n["email_changed old@example.com"] || !n["contact_added new@example.com"] {
		t.Fatalf("notices: %v", n)
	}
	if _, err := f.verify(p, contract.ContactEmail, code); field(err) != "verification_code" {
		t.Fatalf("reused: %v", err)
	}
}

// A pending phone is no login identifier; the old one keeps working. A
// wrong code counts toward the code's and the address's caps, another
// account's code for the same number does not answer the change, and the
// right one moves the number.
func TestPhoneChangeNeedsItsOwnCode(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const oldPhone, newPhone = "+18681240021", "+18681240029"
	acc, p := f.signedUp("phone@example.com", oldPhone, "4829")
	other, op := f.signedUp("other@example.com", "+18681240022", "5820")
	got, err := f.svc.ChangePhone(ctx, contract.ChangePhoneRequest{UserID: acc.UserID, NewPhone: "+1 868 124 0029"})
	if err != nil || got.Phone != oldPhone || got.PhoneChange == nil || got.PhoneChange.To != newPhone {
		t.Fatalf("change: %+v %v", got, err)
	}
	mine := f.code(contract.PurposeChangePhone, newPhone)
	if r, err := f.login(newPhone, "4829"); err == nil || r.Session != nil || r.Challenge != "" {
		t.Fatalf("the unproven number logged in: %+v %v", r, err)
	}
	f.mustLogin(oldPhone, "4829")
	if !f.notices(acc.UUID)["phone_change_requested "+oldPhone] {
		t.Fatalf("the number in use was not told: %v", f.notices(acc.UUID))
	}

	// Another account asks for the same number: its code is its own.
	if _, err := f.verify(op, contract.ContactPhone, mine); field(err) != "verification_code" {
		t.Fatalf("verify without a change of one's own: %v", err)
	}
	if _, err := f.svc.ChangePhone(ctx, contract.ChangePhoneRequest{UserID: other.UserID, NewPhone: newPhone}); err != nil {
		t.Fatal(err)
	}
	theirs := f.code(contract.PurposeChangePhone, newPhone)
	if theirs != mine {
		if _, err := f.verify(op, contract.ContactPhone, mine); field(err) != "verification_code" {
			t.Fatalf("another account's code accepted: %v", err)
		}
	}
	tail, err := f.svc.Ledger.Tail(ctx, "fail:"+failKey(contract.PurposeChangePhone, newPhone))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := tail.At(0); !ok && theirs != mine {
		t.Fatal("a wrong code was not counted against the address")
	}

	// Wrong codes count; past the per-account cap even the right one is refused.
	for i := range f.svc.Limits.ChangeChecksPerDay {
		if _, err := f.verify(p, contract.ContactPhone, otherCode(mine)); field(err) != "verification_code" {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := f.verify(p, contract.ContactPhone, mine); code(err) != contract.RateLimited {
		t.Fatalf("right code after the cap: %v", err)
	}
	f.advance(25 * time.Hour)

	// A new request, a new code; this one is right.
	if _, err := f.svc.ChangePhone(ctx, contract.ChangePhoneRequest{UserID: acc.UserID, NewPhone: newPhone}); err != nil {
		t.Fatal(err)
	}
	mine = f.code(contract.PurposeChangePhone, newPhone)
	got, err = f.verify(p, contract.ContactPhone, mine)
	if err != nil || got.Phone != newPhone || got.PhoneVerifiedAt == nil || got.PhoneChange != nil {
		t.Fatalf("verify: %+v %v", got, err)
	}
	f.mustLogin(newPhone, "4829")
	if r, err := f.login(oldPhone, "4829"); err == nil || r.Session != nil {
		t.Fatalf("the old number still logs in: %+v %v", r, err)
	}
	n := f.notices(acc.UUID)
	if !n["phone_changed "+oldPhone] || !n["contact_added "+newPhone] {
		t.Fatalf("notices: %v", n)
	}
	// The number is now the account's: another cannot even ask for it.
	if _, err := f.svc.ChangePhone(ctx, contract.ChangePhoneRequest{UserID: other.UserID, NewPhone: newPhone}); field(err) != "new_phone" {
		t.Fatalf("a number in use asked for: %v", err)
	}
}

// "Already taken" tells a signed-in user that an address is registered.
// Each answer costs a change slot of the asking account (3 an hour), so
// one account cannot test a list of addresses; before, the check ran
// before the budget and answered without limit.
func TestTakenAnswersCostAChangeSlot(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.account(1, "+18681239131", "4829")
	for i := range 4 {
		f.account(int64(2+i), "+1868123914"+itoa(i), "4829")
	}
	lim := f.svc.Limits
	for i := range lim.ChangeSendsPerHour + 1 {
		_, err := f.svc.ChangePhone(ctx, contract.ChangePhoneRequest{UserID: 1, NewPhone: "+1868123914" + itoa(i)})
		if i < lim.ChangeSendsPerHour && field(err) != "new_phone" {
			t.Fatalf("probe %d: %v", i, err)
		}
		if i == lim.ChangeSendsPerHour && code(err) != contract.RateLimited {
			t.Fatalf("probe %d past the account's change budget: %v", i, err)
		}
	}
	// The same through a 2FA setup on another number.
	f.account(6, "+18681239132", "4829")
	p := contract.Principal{UserID: 6, UUID: "00000000-0000-4000-8000-000000000006"}
	for i := range lim.ChangeSendsPerHour + 1 {
		_, err := f.svc.TwoFAStart(ctx, p, contract.TwoFAStartRequest{Telephone: "+1868123914" + itoa(i)})
		if i < lim.ChangeSendsPerHour && field(err) != "telephone" {
			t.Fatalf("2FA probe %d: %v", i, err)
		}
		if i == lim.ChangeSendsPerHour && code(err) != contract.RateLimited {
			t.Fatalf("2FA probe %d past the account's change budget: %v", i, err)
		}
	}
}
