package app

import (
	"context"
	"errors"
	"testing"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/services/auth/internal/adapters"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

func namesFixture(t *testing.T) *fixture {
	f := deletionFixture(t)
	f.svc.Names = adapters.NewVersionedNames(f.db.Collection("auth_names"))
	return f
}

// announce hands auth profile's names_changed event, as its consumer would.
func (f *fixture) announce(acc Account, first, last string, version int64) {
	f.t.Helper()
	ev, err := events.New(context.Background(), contract.EventProfileNamesChanged, contract.ProfileNamesChanged{
		UserID: acc.UserID, UUID: acc.UUID, FirstName: first, LastName: last, Version: version,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.svc.HandleNamesEvent(context.Background(), ev); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) loginNames(phone, pin string) (string, string) {
	f.t.Helper()
	r, err := f.login(phone, pin)
	if err != nil || r.Session == nil {
		f.t.Fatalf("login: %+v %v", r, err)
	}
	return r.Session.User.FirstName, r.Session.User.LastName
}

// A login answers with the names profile last announced, from auth's own
// copy: the newest version whatever order the events come in, a
// redelivery changing nothing.
func TestLoginAnswersWithTheAnnouncedNames(t *testing.T) {
	const phone, pin = "+18681239201", "4829"
	tests := []struct {
		name        string
		versions    []int64 // announced in this order; version v names "N<v>"
		first, last string
	}{
		{"none announced yet", nil, "", ""},
		{"one", []int64{1}, "N1", "L1"},
		{"in order", []int64{1, 2, 3}, "N3", "L3"},
		{"an older one arriving last", []int64{1, 3, 2}, "N3", "L3"},
		{"redelivered", []int64{1, 2, 2, 1}, "N2", "L2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := namesFixture(t)
			acc := f.account(1, phone, pin)
			for _, v := range tc.versions {
				f.announce(acc, "N"+itoa(int(v)), "L"+itoa(int(v)), v)
			}
			if first, last := f.loginNames(phone, pin); first != tc.first || last != tc.last {
				t.Fatalf("login names %q %q, want %q %q", first, last, tc.first, tc.last)
			}
		})
	}
}

// The names go with the account's purge (they are in it, and the old
// store is erased too), and an announcement of an account already purged
// keeps nothing anywhere.
func TestPurgeErasesTheNames(t *testing.T) {
	f := namesFixture(t)
	ctx := context.Background()
	acc := f.account(1, "+18681239202", "4829")
	f.announce(acc, "Ada", "Lovelace", 1)
	if got, _, err := f.svc.Accounts.Get(ctx, acc.UUID); err != nil || got.Names.FirstName != "Ada" {
		t.Fatalf("the account's names: %+v %v", got.Names, err)
	}
	if _, err := f.svc.Names.Keep(ctx, acc.UUID, domain.Names{FirstName: "Old", Version: 1}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.EraseAccount(ctx, contract.AccountDeletionDue{UserID: acc.UserID, UUID: acc.UUID}); err != nil {
		t.Fatal(err)
	}
	f.announce(acc, "Late", "Event", 2)
	if _, _, err := f.svc.Accounts.Get(ctx, acc.UUID); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("the account after the purge and a late announcement: %v", err)
	}
	if n, err := f.svc.Names.Get(ctx, acc.UUID); err != nil || n != (domain.Names{}) {
		t.Fatalf("the old store after the purge: %+v %v", n, err)
	}
}

// An account made before the names moved into it answers with the names
// kept in the old store, until its next announcement moves them in; one
// older than what that store holds moves the stored ones in instead.
func TestNamesOfAnOlderAccountMoveInOnTheirNextChange(t *testing.T) {
	const phone, pin = "+18681239203", "4829"
	for _, tc := range []struct {
		name        string
		announced   int64
		first, last string
	}{
		{"a newer announcement", 3, "N3", "L3"},
		{"an older one", 1, "Kept", "Before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := namesFixture(t)
			ctx := context.Background()
			acc := f.account(1, phone, pin)
			if _, err := f.svc.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
				a.NamesIn = false // as stored before
				return nil, nil
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.Names.Keep(ctx, acc.UUID, domain.Names{FirstName: "Kept", LastName: "Before", Version: 2}); err != nil {
				t.Fatal(err)
			}
			if first, last := f.loginNames(phone, pin); first != "Kept" || last != "Before" {
				t.Fatalf("before the move: %q %q", first, last)
			}
			f.announce(acc, "N"+itoa(int(tc.announced)), "L"+itoa(int(tc.announced)), tc.announced)
			got, _, err := f.svc.Accounts.Get(ctx, acc.UUID)
			if err != nil || !got.NamesIn || got.Names.FirstName != tc.first {
				t.Fatalf("the account after the announcement: %+v %v", got.Names, err)
			}
			if first, last := f.loginNames(phone, pin); first != tc.first || last != tc.last {
				t.Fatalf("login names %q %q, want %q %q", first, last, tc.first, tc.last)
			}
		})
	}
}
