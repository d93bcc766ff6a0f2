package app

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/auth/internal/adapters"
)

func deletionFixture(t *testing.T) *fixture {
	f := newFixture(t)
	db := f.db
	f.svc.Deletions = adapters.NewDeletions[Deletion](db.Collection("auth_deletions"), db.Collection("auth_deletions_due"))
	f.svc.Limits.DeletionGrace = time.Hour
	return f
}

// requested asks for the deletion of acc's account and runs what its
// event does (the consumer in production).
func (f *fixture) requested(p contract.Principal, pin string) contract.AccountDeleteReply {
	f.t.Helper()
	ctx := context.Background()
	r, err := f.svc.RequestDeletion(ctx, p, contract.AccountDeleteRequest{PIN: pin})
	if err != nil {
		f.t.Fatal(err)
	}
	acc, err := f.svc.account(ctx, p.UUID)
	if err != nil || acc.Deletion == nil {
		f.t.Fatalf("account not marked: %+v %v", acc, err)
	}
	if err := f.svc.onDeletionRequested(ctx, contract.AccountDeletionRequested{
		UserID: p.UserID, UUID: p.UUID, RequestedAt: acc.Deletion.RequestedAt, PurgeAt: acc.Deletion.PurgeAt,
	}); err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) deletion(uuid string) Deletion {
	f.t.Helper()
	d, _, err := f.svc.Deletions.Get(context.Background(), uuid)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// dueEvents counts the erase events stored with the deletion's versions.
func (f *fixture) dueEvents(uuid string) int {
	recs, err := mongox.NewVersioned[Deletion](f.db.Collection("auth_deletions")).Find(context.Background(), bson.M{"key": uuid}, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		for _, ev := range r.Events {
			if ev.Type == contract.EventAccountDeletionDue {
				n++
			}
		}
	}
	return n
}

// In the grace period the right PIN gets a clear refusal, a wrong one the
// usual answer; the purge waits for its time, then one erase event goes
// out, the parts are counted once each whatever is redelivered, and the
// last one ends it.
func TestDeletionLifecycle(t *testing.T) {
	f := deletionFixture(t)
	ctx := context.Background()
	acc := f.account(1, "+18681239101", "4829")
	p := f.mustLogin("+18681239101", "4829")
	if _, err := f.svc.RequestDeletion(ctx, p, contract.AccountDeleteRequest{PIN: "5831"}); code(err) != contract.Invalid || field(err) != "pin" {
		t.Fatalf("wrong PIN: %v", err)
	}
	r := f.requested(p, "4829")
	if r.Deletion.Status != contract.DeletionPending || r.Deletion.PurgeAt.Sub(r.Deletion.RequestedAt) != time.Hour || !f.revoked.has(p.SessionID) {
		t.Fatalf("reply %+v, revoked %v", r, f.revoked.ids)
	}
	if _, err := f.login("+18681239101", "4829"); code(err) != contract.Forbidden {
		t.Fatalf("login in grace: %v", err)
	}
	if _, err := f.login("+18681239101", "5831"); code(err) != contract.Unauthenticated {
		t.Fatalf("wrong PIN in grace: %v", err)
	}
	if _, err := f.svc.AccountGet(ctx, contract.AccountGetRequest{UserID: 1}); code(err) != contract.NotFound {
		t.Fatalf("account-get in grace: %v", err)
	}

	if err := f.svc.DeletionsPass(ctx); err != nil {
		t.Fatal(err)
	}
	if d := f.deletion(acc.UUID); d.Status != contract.DeletionPending || f.dueEvents(acc.UUID) != 0 {
		t.Fatalf("purged before its time: %+v", d)
	}
	f.advance(time.Hour)
	for range 2 { // a second pass does not start it twice
		if err := f.svc.DeletionsPass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d := f.deletion(acc.UUID); d.Status != contract.DeletionPurging || f.dueEvents(acc.UUID) != 1 {
		t.Fatalf("after the grace: %+v, %d erase events", d, f.dueEvents(acc.UUID))
	}
	for i, svc := range contract.ErasureParts {
		for range 2 { // redelivered
			if err := f.svc.partErased(ctx, acc.UUID, svc); err != nil {
				t.Fatal(err)
			}
		}
		d := f.deletion(acc.UUID)
		if last := i == len(contract.ErasureParts)-1; (d.Status == contract.DeletionPurged) != last || len(d.Parts) != i+1 {
			t.Fatalf("after %s: %+v", svc, d)
		}
	}
	if due, err := f.svc.Deletions.Due(ctx); err != nil || len(due) != 0 {
		t.Fatalf("left in the due index: %q %v", due, err)
	}
	// Late parts and a late pass change nothing.
	if err := f.svc.partErased(ctx, acc.UUID, contract.ServiceProfile); err != nil {
		t.Fatal(err)
	}
	f.advance(2 * DeletionResend)
	if err := f.svc.DeletionsPass(ctx); err != nil || f.dueEvents(acc.UUID) != 1 {
		t.Fatalf("a purged deletion asked again: %v", err)
	}
}

// Auth's own part frees the phone and email: the claims are gone, a login
// is an unknown phone, and erasing again is a no-op.
func TestEraseAccountFreesTheAddresses(t *testing.T) {
	f := deletionFixture(t)
	ctx := context.Background()
	acc := f.account(2, "+18681239102", "4829")
	f.mustLogin("+18681239102", "4829")
	due := contract.AccountDeletionDue{UserID: 2, UUID: acc.UUID, Email: acc.Email, Phone: acc.Phone}
	for range 2 {
		if err := f.svc.EraseAccount(ctx, due); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"phone:" + acc.Phone, "uid:2"} {
		if _, err := f.svc.findClaim(ctx, k); !errors.Is(err, mongox.ErrNotFound) {
			t.Fatalf("claim %s: %v", k, err)
		}
	}
	if _, _, err := f.svc.Accounts.Get(ctx, acc.UUID); !errors.Is(err, mongox.ErrNotFound) {
		t.Fatalf("account: %v", err)
	}
	if n, _ := f.db.Collection("auth_sessions").CountDocuments(ctx, bson.M{"user_id": 2}); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	if _, err := f.login("+18681239102", "4829"); code(err) != contract.Unauthenticated {
		t.Fatalf("login after erasure: %v", err)
	}
}

// Support's cancel and the purge race at the end of the grace period: of
// the two, exactly one wins, and the account ends consistent with it.
func TestCancelRacingThePurge(t *testing.T) {
	f := deletionFixture(t)
	ctx := context.Background()
	for i := range 4 {
		id := int64(3 + i)
		phone := "+1868123911" + itoa(i)
		acc := f.account(id, phone, "4829")
		f.requested(f.mustLogin(phone, "4829"), "4829")
		f.advance(time.Hour)
		var wg sync.WaitGroup
		var cancelErr, passErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, cancelErr = f.svc.CancelDeletion(ctx, "alice", contract.DeletionCancelRequest{UserID: id})
		}()
		go func() { defer wg.Done(); passErr = f.svc.DeletionsPass(ctx) }()
		wg.Wait()
		if passErr != nil {
			t.Fatal(passErr)
		}
		d := f.deletion(acc.UUID)
		a, err := f.svc.account(ctx, acc.UUID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case cancelErr == nil:
			if d.Status != contract.DeletionCancelled || a.Deletion != nil || f.dueEvents(acc.UUID) != 0 {
				t.Fatalf("cancelled, yet %+v, account %+v, %d erase events", d, a.Deletion, f.dueEvents(acc.UUID))
			}
			if _, err := f.login(phone, "4829"); err != nil {
				t.Fatalf("login after cancel: %v", err)
			}
		case code(cancelErr) == contract.Conflict:
			if d.Status != contract.DeletionPurging || a.Deletion == nil || f.dueEvents(acc.UUID) != 1 {
				t.Fatalf("purging, yet %+v, account %+v", d, a.Deletion)
			}
		default:
			t.Fatal(cancelErr)
		}
	}
}

// A redelivered request event after support's cancel leaves the owner's
// new sessions and the account alone.
func TestCancelledRequestReplayedChangesNothing(t *testing.T) {
	f := deletionFixture(t)
	ctx := context.Background()
	acc := f.account(8, "+18681239120", "4829")
	f.requested(f.mustLogin("+18681239120", "4829"), "4829")
	before, err := f.svc.account(ctx, acc.UUID)
	if err != nil || before.Deletion == nil {
		t.Fatalf("%+v %v", before, err)
	}
	marked := *before.Deletion
	if _, err := f.svc.CancelDeletion(ctx, "alice", contract.DeletionCancelRequest{UserID: 8}); err != nil {
		t.Fatal(err)
	}
	fresh := f.mustLogin("+18681239120", "4829")
	if err := f.svc.onDeletionRequested(ctx, contract.AccountDeletionRequested{UserID: 8, UUID: acc.UUID, RequestedAt: marked.RequestedAt, PurgeAt: marked.PurgeAt}); err != nil {
		t.Fatal(err)
	}
	if f.revoked.has(fresh.SessionID) {
		t.Fatal("a replayed request revoked a session opened after the cancel")
	}
	if d := f.deletion(acc.UUID); d.Status != contract.DeletionCancelled {
		t.Fatalf("replay changed the deletion: %+v", d)
	}
}

// The list narrowed to one user shows that user's deletion only, follows
// it through the cancel, honours the status filter, and is empty for an
// account without one or an id nobody has.
func TestDeletionsListOfOneUser(t *testing.T) {
	f := deletionFixture(t)
	ctx := context.Background()
	f.account(5, "+18681239131", "4829")
	f.account(6, "+18681239132", "4829")
	f.account(7, "+18681239133", "4829")
	f.requested(f.mustLogin("+18681239131", "4829"), "4829")
	f.requested(f.mustLogin("+18681239132", "4829"), "4829")
	list := func(id int64, status string) []contract.AdminDeletion {
		t.Helper()
		r, err := f.svc.DeletionsList(ctx, contract.DeletionsListRequest{UserID: id, Status: status})
		if err != nil {
			t.Fatal(err)
		}
		return r.Deletions
	}
	if got := list(5, ""); len(got) != 1 || got[0].UserID != 5 || got[0].Status != contract.DeletionPending {
		t.Fatalf("user 5: %+v", got)
	}
	if _, err := f.svc.CancelDeletion(ctx, "alice", contract.DeletionCancelRequest{UserID: 5}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		id     int64
		status string
		want   string // "" for none
	}{
		{"cancelled at once", 5, "", contract.DeletionCancelled},
		{"status filter excludes", 5, contract.DeletionPending, ""},
		{"the other user untouched", 6, "", contract.DeletionPending},
		{"no deletion", 7, "", ""},
		{"no such user", 999, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := list(tc.id, tc.status)
			switch {
			case tc.want == "" && len(got) != 0:
				t.Fatalf("want none, got %+v", got)
			case tc.want != "" && (len(got) != 1 || got[0].UserID != tc.id || got[0].Status != tc.want):
				t.Fatalf("want %s of %d, got %+v", tc.want, tc.id, got)
			}
		})
	}
}

// The purge erases what is keyed by the account's own addresses, not by
// an address it only asked to change to: that one's codes and counters
// belong to whoever else uses it. Before, an account that asked
// update_phone for a stranger's number and then deleted itself wiped
// that number's failure count (a fresh day of guesses) and its live
// codes.
func TestEraseAccountLeavesAnAddressItNeverVerified(t *testing.T) {
	f := deletionFixture(t)
	ctx := context.Background()
	const target, email = "+18681239177", "registering@example.com"
	// Someone registers with the number; a guesser has failed at its code.
	victim := f.as("198.51.100.7")
	e := victim.sendEmail(email)
	if err := victim.verifyEmail(email, e.VerificationCode); err != nil {
		t.Fatal(err)
	}
	p, err := victim.sendPhone(email, target)
	if err != nil {
		t.Fatal(err)
	}
	failures := "fail:" + failKey(contract.PurposeRegisterPhone, target)
	if err := f.svc.claimFailure(ctx, "verification_code", failKey(contract.PurposeRegisterPhone, target), "guesser0guesser0"); err != nil {
		t.Fatal(err)
	}
	// An account asks to move to that number, then is purged.
	acc := f.account(2, "+18681239102", "4829")
	if _, err := f.svc.ChangePhone(ctx, contract.ChangePhoneRequest{UserID: 2, NewPhone: target}); err != nil {
		t.Fatal(err)
	}
	// What the relay does with the change's notice.
	if _, err := f.db.Collection("auth_accounts").UpdateMany(ctx, bson.M{"key": acc.UUID}, bson.M{"$set": bson.M{"published": true}}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.EraseAccount(ctx, contract.AccountDeletionDue{UserID: 2, UUID: acc.UUID, Email: acc.Email, Phone: acc.Phone}); err != nil {
		t.Fatal(err)
	}
	tail, err := f.svc.Ledger.Tail(ctx, failures)
	if err != nil {
		t.Fatal(err)
	}
	if live, err := currentFailures(tail, f.clock()); err != nil || len(live) != 1 {
		t.Fatalf("the number's failures after the purge: %d (%v), want 1", len(live), err)
	}
	if err := victim.verifyPhone(e.UUID, p.VerificationCode); err != nil {
		t.Fatalf("the registration's code after the purge: %v", err)
	}
}

// Auth erases only what it started: an erase order that no purging record
// of the same user backs (a forgery on the bus, or a stale redelivery) is
// ignored, and one naming another user is dead-lettered. Before, a body
// with any user, uuid and phone erased the account, or cleared the
// unknown-device PIN lockout of the phone it named, as often as asked.
func TestOnlyAPurgeAuthStartedErases(t *testing.T) {
	f := deletionFixture(t)
	ctx := context.Background()
	acc := f.account(3, "+18681239103", "4829")
	p := f.mustLogin("+18681239103", "4829")
	erase := func(d contract.AccountDeletionDue) error {
		t.Helper()
		ev, err := events.New(ctx, contract.EventAccountDeletionDue, d)
		if err != nil {
			t.Fatal(err)
		}
		return f.svc.HandleDeletionEvent(ctx, ev)
	}
	order := contract.AccountDeletionDue{UserID: 3, UUID: acc.UUID, Email: acc.Email, Phone: acc.Phone}
	intact := func(when string) {
		t.Helper()
		if _, _, err := f.svc.Accounts.Get(ctx, acc.UUID); err != nil {
			t.Fatalf("%s: the account: %v", when, err)
		}
	}

	if err := erase(order); err != nil {
		t.Fatal(err)
	}
	intact("no deletion asked for")
	if f.revoked.has(p.SessionID) {
		t.Fatal("a forged erasure revoked the owner's session")
	}

	// A made-up account naming another's phone: its lockout stays.
	locked := f.account(5, "+18681239105", "4829")
	f.wrongPINs(f.svc.Limits.UnknownPINFailures, "", locked.Phone)
	if err := erase(contract.AccountDeletionDue{UserID: 99, UUID: "00000000-0000-4000-8000-000000000099", Phone: locked.Phone}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login(locked.Phone, "4829"); code(err) != contract.RateLimited {
		t.Fatalf("the lockout after a forged erasure: %v, want %s", err, contract.RateLimited)
	}

	f.requested(p, "4829") // pending: its grace has not ended
	if err := erase(order); err != nil {
		t.Fatal(err)
	}
	intact("in the grace period")

	f.advance(2 * time.Hour)
	if err := f.svc.DeletionsPass(ctx); err != nil || f.deletion(acc.UUID).Status != contract.DeletionPurging {
		t.Fatalf("purge not started: %v", err)
	}
	other := order
	other.UserID = 4
	if err := erase(other); !errors.Is(err, events.ErrPermanent) {
		t.Fatalf("an erase order of another user: %v, want a permanent failure", err)
	}
	intact("ordered for another user")
	// What the relay does with the deletion request's notices.
	if _, err := f.db.Collection("auth_accounts").UpdateMany(ctx, bson.M{"key": acc.UUID}, bson.M{"$set": bson.M{"published": true}}); err != nil {
		t.Fatal(err)
	}
	if err := erase(order); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Accounts.Get(ctx, acc.UUID); !errors.Is(err, mongox.ErrNotFound) {
		t.Fatalf("the purge auth started: %v", err)
	}
}
