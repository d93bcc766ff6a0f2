package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/profile/internal/adapters"
	"github.com/dossapp/backend/services/profile/internal/app"
	"github.com/dossapp/backend/services/profile/internal/storetest"
)

// Each change of the names, and only that, announces them with the next
// version (auth keeps the newest for its logins); a profile's other
// changes announce none.
func TestNameChangesAreAnnouncedInVersionOrder(t *testing.T) {
	db := storetest.FerretDB(t)
	ctx := context.Background()
	profiles := db.Collection("profiles")
	s := &app.Service{
		Profiles: adapters.NewVersionedProfiles(profiles),
		Accounts: func(_ context.Context, id int64) (contract.Account, error) {
			return contract.Account{ID: id, UUID: "uuid-1", Email: "a@example.com"}, nil
		},
	}
	for _, n := range []contract.UpdateNameRequest{
		{FirstName: "Ada", LastName: "Lovelace"},
		{FirstName: "Ada", LastName: "Lovelace"}, // the same again
		{FirstName: "Grace", LastName: "Hopper"},
	} {
		if _, err := s.UpdateName(ctx, 1, n); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := mongox.NewVersioned[app.Profile](profiles).Find(ctx, bson.M{"key": "1"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []contract.ProfileNamesChanged
	for i := len(recs) - 1; i >= 0; i-- { // oldest first
		for _, ev := range recs[i].Events {
			if ev.Type != contract.EventProfileNamesChanged {
				continue
			}
			var d contract.ProfileNamesChanged
			if err := ev.Decode(&d); err != nil {
				t.Fatal(err)
			}
			got = append(got, d)
		}
	}
	want := []contract.ProfileNamesChanged{
		{UserID: 1, UUID: "uuid-1", FirstName: "Ada", LastName: "Lovelace", Version: 1},
		{UserID: 1, UUID: "uuid-1", FirstName: "Grace", LastName: "Hopper", Version: 2},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("announced %+v, want %+v", got, want)
	}
}

// Auth's deletion request revokes the account's passes (auth asks
// nothing of profile); a redelivery records no second revocation.
func TestDeletionRequestRevokesThePasses(t *testing.T) {
	db := storetest.FerretDB(t)
	ctx := context.Background()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now().UTC()
	revocations := db.Collection("revocations")
	store := adapters.NewPasses(db.Collection("passes"), revocations, db.Collection("shown"), db.Collection("lists"))
	if err := store.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	s := &app.Service{
		Profiles: adapters.NewVersionedProfiles(db.Collection("profiles")),
		Accounts: func(_ context.Context, id int64) (contract.Account, error) {
			return contract.Account{ID: id, UUID: "uuid-1", Email: "a@example.com"}, nil
		},
		Passes: app.Passes{Keys: app.PassKeys{KeyID: "p1", Key: key}, Store: store, Photos: noLinks{}},
		Now:    func() time.Time { return now },
	}
	if _, err := s.UpdateName(ctx, 1, contract.UpdateNameRequest{FirstName: "Jane", LastName: "Doe"}); err != nil {
		t.Fatal(err)
	}
	issued, err := s.IssuePass(ctx, 1, contract.PassIssueRequest{Fields: []string{contract.PassFirstName}})
	if err != nil {
		t.Fatal(err)
	}
	verify := func() contract.PassVerifyReply {
		t.Helper()
		r, err := s.VerifyPass(ctx, contract.PassVerifyRequest{Token: issued.Token})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := verify(); !r.Valid {
		t.Fatalf("before the request: %+v", r)
	}
	ev, err := events.New(ctx, contract.EventAccountDeletionRequested, contract.AccountDeletionRequested{
		UserID: 1, UUID: "uuid-1", RequestedAt: now, PurgeAt: now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // delivered, then redelivered
		if err := s.OnDeletionRequested(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if r := verify(); r.Valid || r.Reason != contract.PassRevoked {
		t.Fatalf("after the request: %+v", r)
	}
	if n, err := revocations.CountDocuments(ctx, bson.M{"user_id": 1}); err != nil || n != 1 {
		t.Fatalf("%d revocations (%v), want 1", n, err)
	}
}

// A contact change handled before the registration it follows (each event
// type has its own consumer) is not lost: the profile shows the new email,
// not the registration's.
func TestContactChangeBeforeRegistrationIsKept(t *testing.T) {
	db := storetest.FerretDB(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	current := contract.Account{ID: 7, UUID: "uuid-7", Email: "new@example.com", Phone: "+18681230007", EmailVerifiedAt: &now}
	s := &app.Service{
		Profiles: adapters.NewVersionedProfiles(db.Collection("profiles")),
		Accounts: func(_ context.Context, id int64) (contract.Account, error) {
			if id != current.ID {
				return contract.Account{}, contract.Errorf(contract.NotFound, "No such account.")
			}
			return current, nil
		},
	}
	changed, err := events.New(ctx, contract.EventEmailChanged, contract.ContactChanged{UserID: 7, Old: "old@example.com", New: "new@example.com", VerifiedAt: &now})
	if err != nil {
		t.Fatal(err)
	}
	registered := current
	registered.Email = "old@example.com"
	joined, err := events.New(ctx, contract.EventAccountRegistered, contract.AccountRegistered{Account: registered})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []contract.Event{changed, joined} {
		if err := s.HandleEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	p, err := s.Get(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if p.Email != "new@example.com" {
		t.Fatalf("email %q after the change and then the registration, want new@example.com", p.Email)
	}
	// Nothing is made for an account auth no longer has: not by a contact
	// change, nor by a registration read after the account's purge
	// (before, that brought the profile back with the erased email, phone
	// and uuid).
	for id, late := range map[int64]struct {
		typ  string
		data any
	}{
		8: {contract.EventPhoneChanged, contract.ContactChanged{UserID: 8, Old: "+1", New: "+2"}},
		9: {contract.EventAccountRegistered, contract.AccountRegistered{Account: contract.Account{ID: 9, UUID: "uuid-9", Email: "gone@example.com"}}},
	} {
		ev, err := events.New(ctx, late.typ, late.data)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.HandleEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Profiles.Get(ctx, id); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("%s of an account auth does not have made its profile: %v", late.typ, err)
		}
	}
}
