package adapters_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/profile/internal/adapters"
	"github.com/dossapp/backend/services/profile/internal/app"
	"github.com/dossapp/backend/services/profile/internal/wallet"
)

// Postings stored before the per-user lists existed are found once the
// store has started on them.
func TestPostingsWrittenBeforeTheListsAreFound(t *testing.T) {
	ctx := context.Background()
	fresh := ferret(t)
	c, lists := fresh(t), fresh(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []wallet.Posting{{ID: "wallet:old1", UserID: 1, Amount: 1, At: at}, {ID: "wallet:old2", UserID: 1, Amount: 2, At: at}, {ID: "wallet:other", UserID: 2, Amount: 3, At: at}} {
		if _, err := c.InsertOne(ctx, p); err != nil { // as the store wrote them before
			t.Fatal(err)
		}
	}
	p := adapters.NewPostings(c, lists)
	if err := p.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Add(ctx, wallet.Posting{ID: "wallet:new", UserID: 1, Amount: 4, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := adapters.NewPostings(c, lists).EnsureIndexes(ctx); err != nil { // another start
		t.Fatal(err)
	}
	ps, err := p.OfUser(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"wallet:new", "wallet:old1", "wallet:old2"}) {
		t.Fatalf("%v", got)
	}
}

// Revocations and verifications stored before the per-user lists are
// found once the store has started on them.
func TestPassEventsWrittenBeforeTheListsAreFound(t *testing.T) {
	ctx := context.Background()
	fresh := ferret(t)
	issues, revocations, shown, lists := fresh(t), fresh(t), fresh(t), fresh(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	type eventDoc struct { // as the store wrote them before
		ID     bson.ObjectID `bson:"_id"`
		UserID int64         `bson:"user_id"`
		At     time.Time     `bson:"at"`
		Fields []string      `bson:"fields,omitempty"`
	}
	for _, d := range []eventDoc{{bson.NewObjectID(), 1, t0.Add(time.Minute), nil}, {bson.NewObjectID(), 1, t0, nil}} {
		if _, err := revocations.InsertOne(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []eventDoc{{bson.NewObjectID(), 1, t0, []string{"firstname"}}, {bson.NewObjectID(), 1, t0.Add(time.Hour), nil}, {bson.NewObjectID(), 2, t0, nil}} {
		if _, err := shown.InsertOne(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // a second start lists nothing twice
		if err := adapters.NewPasses(issues, revocations, shown, lists).EnsureIndexes(ctx); err != nil {
			t.Fatal(err)
		}
	}
	p := adapters.NewPasses(issues, revocations, shown, lists)
	for _, tc := range []struct {
		issued time.Time
		want   bool
	}{{t0.Add(time.Minute), true}, {t0.Add(2 * time.Minute), false}} {
		if got, err := p.RevokedAfter(ctx, 1, tc.issued); err != nil || got != tc.want {
			t.Errorf("issued %v: revoked %v (%v), want %v", tc.issued, got, err, tc.want)
		}
	}
	v, err := p.Verifications(ctx, 1, 10)
	if err != nil || len(v) != 2 || !v[0].At.Equal(t0.Add(time.Hour)) || !slices.Equal(v[1].Fields, []string{"firstname"}) {
		t.Fatalf("%+v %v", v, err)
	}
}

// Only the newest MaxVerifications are kept: each one recorded rewrites
// the user's list, which must not grow without end.
func TestVerificationsKeepTheNewest(t *testing.T) {
	ctx := context.Background()
	fresh := ferret(t)
	p := adapters.NewPasses(fresh(t), fresh(t), fresh(t), fresh(t))
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range adapters.MaxVerifications + 3 {
		if err := p.Seen(ctx, 1, contract.PassVerification{At: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Seen(ctx, 1, contract.PassVerification{At: t0}); err != nil { // older than all kept
		t.Fatal(err)
	}
	v, err := p.Verifications(ctx, 1, 1000)
	if err != nil || len(v) != adapters.MaxVerifications {
		t.Fatalf("%d kept, %v", len(v), err)
	}
	if newest, oldest := v[0].At, v[len(v)-1].At; !newest.Equal(t0.Add((adapters.MaxVerifications+2)*time.Second)) || !oldest.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("kept %v .. %v", newest, oldest)
	}
}

// A posting stored but not listed (the add failed between the two) is
// listed when the add is tried again.
func TestPostingStoredButNotListedIsListedOnRetry(t *testing.T) {
	ctx := context.Background()
	fresh := ferret(t)
	c, lists := fresh(t), fresh(t)
	p := adapters.NewPostings(c, lists)
	if err := p.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	lost := wallet.Posting{ID: "wallet:lost", UserID: 1, Amount: 5, At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := c.InsertOne(ctx, lost); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Add(ctx, lost); !errors.Is(err, wallet.ErrExists) {
		t.Fatalf("retry: %v", err)
	}
	if ps, err := p.OfUser(ctx, 1); err != nil || len(ps) != 1 || ps[0].ID != lost.ID {
		t.Fatalf("%+v %v", ps, err)
	}
}

// Names stored before their changes were announced are announced once, as
// version 1, so auth's copy gets them; profiles without names, or whose
// names were announced, are left as they are, and a second start does
// nothing.
func TestNamesStoredBeforeTheirAnnouncementsAreAnnouncedOnce(t *testing.T) {
	ctx := context.Background()
	c := ferret(t)(t)
	p := adapters.NewVersionedProfiles(c)
	if err := p.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pr := range []app.Profile{
		{UserID: 1, UUID: "u1", FirstName: "Ada", LastName: "Lovelace"}, // as stored before
		{UserID: 2, UUID: "u2"},
		{UserID: 3, UUID: "u3", FirstName: "Grace", LastName: "Hopper", NamesVersion: 4},
	} {
		if err := p.Create(ctx, pr); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // two starts
		if err := p.AnnounceNamesOnce(ctx, app.AnnounceStoredNames); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := mongox.NewVersioned[app.Profile](c).Find(ctx, bson.M{"key": bson.M{"$exists": true}}, 100)
	if err != nil {
		t.Fatal(err)
	}
	var announced []contract.ProfileNamesChanged
	for _, r := range recs {
		for _, ev := range r.Events {
			var d contract.ProfileNamesChanged
			if err := ev.Decode(&d); err != nil || ev.Type != contract.EventProfileNamesChanged {
				t.Fatalf("%s %v", ev.Type, err)
			}
			announced = append(announced, d)
		}
	}
	want := contract.ProfileNamesChanged{UserID: 1, UUID: "u1", FirstName: "Ada", LastName: "Lovelace", Version: 1}
	if len(announced) != 1 || announced[0] != want {
		t.Fatalf("announced %+v, want only %+v", announced, want)
	}
	if got, err := p.Get(ctx, 1); err != nil || got.NamesVersion != 1 {
		t.Fatalf("%+v %v", got, err)
	}
}
