package app

import (
	"context"
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

// The names go with the account's purge, and an announcement of an
// account already purged is not kept.
func TestPurgeErasesTheNames(t *testing.T) {
	f := namesFixture(t)
	ctx := context.Background()
	acc := f.account(1, "+18681239202", "4829")
	f.announce(acc, "Ada", "Lovelace", 1)
	if err := f.svc.EraseAccount(ctx, contract.AccountDeletionDue{UserID: acc.UserID, UUID: acc.UUID}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.svc.Names.Get(ctx, acc.UUID); err != nil || n != (domain.Names{}) {
		t.Fatalf("names after the purge: %+v %v", n, err)
	}
	f.announce(acc, "Late", "Event", 2)
	if n, err := f.svc.Names.Get(ctx, acc.UUID); err != nil || n != (domain.Names{}) {
		t.Fatalf("names announced after the purge: %+v %v", n, err)
	}
}
