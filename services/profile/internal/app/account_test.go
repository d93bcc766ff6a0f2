package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/mongox"
)

func validUpdate() contract.AccountUpdateRequest {
	return contract.AccountUpdateRequest{FirstName: " Jane ", LastName: "Doe", Gender: "Female", Birthdate: "1990-05-15", Telephone: "+18681234567"}
}

func TestValidateAccountUpdate(t *testing.T) {
	today := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	c, err := ValidateAccountUpdate(validUpdate(), false, today)
	if err != nil || c.first != "Jane" || c.gender != "female" || c.birthdate != "1990-05-15" {
		t.Fatalf("%+v %v", c, err)
	}
	yes := contract.FlexBool(true)
	for _, tc := range []struct {
		name      string
		edit      func(*contract.AccountUpdateRequest)
		withTwoFA bool
		field     string // "" = accepted
		birthdate string
	}{
		{"skip the birthdate", func(r *contract.AccountUpdateRequest) { r.Birthdate = "0000-00-00" }, false, "", ""},
		{"yesterday", func(r *contract.AccountUpdateRequest) { r.Birthdate = "2026-11-21" }, false, "", "2026-11-21"},
		{"today", func(r *contract.AccountUpdateRequest) { r.Birthdate = "2026-11-22" }, false, "birthdate", ""},
		{"future", func(r *contract.AccountUpdateRequest) { r.Birthdate = "2030-01-01" }, false, "birthdate", ""},
		{"not a real day", func(r *contract.AccountUpdateRequest) { r.Birthdate = "1990-02-30" }, false, "birthdate", ""},
		{"other format", func(r *contract.AccountUpdateRequest) { r.Birthdate = "15/05/1990" }, false, "birthdate", ""},
		{"unpadded", func(r *contract.AccountUpdateRequest) { r.Birthdate = "1990-5-15" }, false, "birthdate", ""},
		{"too old", func(r *contract.AccountUpdateRequest) { r.Birthdate = "1899-12-31" }, false, "birthdate", ""},
		{"missing birthdate", func(r *contract.AccountUpdateRequest) { r.Birthdate = "" }, false, "birthdate", ""},
		{"gender outside the set", func(r *contract.AccountUpdateRequest) { r.Gender = "robot" }, false, "gender", ""},
		{"no gender", func(r *contract.AccountUpdateRequest) { r.Gender = " " }, false, "gender", ""},
		{"markup in a name", func(r *contract.AccountUpdateRequest) { r.FirstName = "<b>x</b>" }, false, "firstname", ""},
		{"no lastname", func(r *contract.AccountUpdateRequest) { r.LastName = "" }, false, "lastname", ""},
		{"no telephone", func(r *contract.AccountUpdateRequest) { r.Telephone = "" }, false, "telephone", ""},
		{"junk after the number", func(r *contract.AccountUpdateRequest) { r.Telephone = "+18681239000; DROP TABLE users" }, false, "telephone", ""},
		{"zero-width space in the number", func(r *contract.AccountUpdateRequest) { r.Telephone = "+1868\u200b1239000" }, false, "telephone", ""},
		{"a plus inside", func(r *contract.AccountUpdateRequest) { r.Telephone = "1868+1239000" }, false, "telephone", ""},
		{"2fa without is_two_fa", func(*contract.AccountUpdateRequest) {}, true, "is_two_fa", "1990-05-15"},
		{"2fa with is_two_fa", func(r *contract.AccountUpdateRequest) { r.IsTwoFA = &yes }, true, "", "1990-05-15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validUpdate()
			tc.edit(&r)
			c, err := ValidateAccountUpdate(r, tc.withTwoFA, today)
			if tc.field != "" {
				wantField(t, err, tc.field)
				return
			}
			if err != nil || c.birthdate != tc.birthdate {
				t.Fatalf("birthdate %q, err %v; want %q", c.birthdate, err, tc.birthdate)
			}
		})
	}
}

func TestBirthdateLock(t *testing.T) {
	for _, tc := range []struct{ stored, wanted string }{{"", "1990-05-15"}, {"1990-05-15", "1990-05-15"}, {"1990-05-15", ""}} {
		if err := lockedBirthdate(tc.stored, tc.wanted); err != nil {
			t.Errorf("%q → %q refused: %v", tc.stored, tc.wanted, err)
		}
	}
	wantField(t, lockedBirthdate("1990-05-15", "1991-01-01"), "birthdate")
}

// fakeAuth is auth as profile's Service sees it, in process.
type fakeAuth struct {
	mu       sync.Mutex
	accounts map[int64]contract.Account
}

func (f *fakeAuth) get(_ context.Context, id int64) (contract.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.accounts[id]
	if !ok {
		return a, contract.Errorf(contract.NotFound, "No such account.")
	}
	return a, nil
}

func testDB(t *testing.T) *mongo.Database {
	t.Helper()
	m, err := embedded.StartFerretDB(context.Background(), t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Shutdown)
	client, err := mongo.Connect(options.Client().ApplyURI(m.URI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database("profile_test")
}

// Many requests at once for many users, with a code generator that keeps
// colliding: every user ends with exactly one code, no two users share
// one, and the codes of the losers of a race are given back.
func TestReferralCodesUniqueUnderConcurrency(t *testing.T) {
	db := testDB(t)
	const users, perUser = 12, 4
	auth := &fakeAuth{accounts: map[int64]contract.Account{}}
	for i := int64(1); i <= users; i++ {
		auth.accounts[i] = contract.Account{ID: i, UUID: fmt.Sprintf("u-%d", i), Email: fmt.Sprintf("u%d@example.com", i)}
	}
	pool := make([]string, 60) // few codes for many draws: collisions are certain
	for i := range pool {
		pool[i] = fmt.Sprintf("CODE%02d", i)
	}
	s := &Service{
		Profiles:        mongox.NewVersioned[Profile](db.Collection("profiles")),
		Accounts:        auth.get,
		Postings:        db.Collection("postings"),
		Referrals:       db.Collection("referrals"),
		NewReferralCode: func() string { return pool[rand.IntN(len(pool))] },
	}
	ctx := context.Background()
	codes := make([][]string, users+1)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for u := int64(1); u <= users; u++ {
		for range perUser {
			wg.Go(func() {
				p, err := s.AccountProfile(ctx, u, "mobile")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				codes[u] = append(codes[u], p.ReferalCode)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	owner := map[string]int64{}
	for u := int64(1); u <= users; u++ {
		p, err := s.AccountProfile(ctx, u, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range codes[u] {
			if c != p.ReferalCode {
				t.Errorf("user %d was shown %q and later %q", u, c, p.ReferalCode)
			}
		}
		if o, taken := owner[p.ReferalCode]; taken {
			t.Errorf("users %d and %d share %q", o, u, p.ReferalCode)
		}
		owner[p.ReferalCode] = u
	}
	n, err := s.Referrals.CountDocuments(ctx, bson.M{})
	if err != nil || n != users {
		t.Fatalf("%d claims (%v), want %d: losers keep codes they do not use", n, err, users)
	}
}

// FerretDB has no update isolation, so counting once rests on the unique
// insert alone: the same posting delivered many times at once, by the
// stream and by ops, counts once; distinct postings at once all count.
func TestConcurrentPostingsCountOnce(t *testing.T) {
	db := testDB(t)
	auth := &fakeAuth{accounts: map[int64]contract.Account{5: {ID: 5, UUID: "u-5"}}}
	s := &Service{
		Profiles: mongox.NewVersioned[Profile](db.Collection("profiles")),
		Accounts: auth.get, Postings: db.Collection("postings"), Referrals: db.Collection("referrals"),
	}
	ctx := context.Background()
	dup := contract.WalletPosted{ID: "same", UserID: 5, Balance: contract.BalanceCashback, Entry: contract.EntryCredit, Amount: 1000}
	ev, err := json.Marshal(dup)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var fresh sync.Map
	for i := range 16 {
		wg.Go(func() {
			if err := s.HandlePosting(ctx, contract.Event{ID: fmt.Sprint("env-", i), Type: contract.EventWalletPosted, Time: time.Now(), Data: ev}); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			r, err := s.PostWallet(ctx, dup)
			if err != nil {
				t.Error(err)
			} else if !r.Duplicate {
				fresh.Store(i, true)
			}
		})
		wg.Go(func() {
			w := contract.WalletPosted{ID: fmt.Sprint("own-", i), UserID: 5, Balance: contract.BalanceCashback, Entry: contract.EntryCredit, Amount: 1}
			if _, err := s.PostWallet(ctx, w); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f, err := s.figures(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Balances[contract.BalanceCashback].Available; got != 1000+16 {
		t.Fatalf("cashback %d, want %d", got, 1000+16)
	}
	n := 0
	fresh.Range(func(any, any) bool { n++; return true })
	if n > 1 {
		t.Fatalf("%d admin posts of the same id were told they were the first", n)
	}
}

func TestRenameFieldsSpeaksTheAccountAPI(t *testing.T) {
	err := renameFields(contract.FieldError("new_phone", "The new phone has already been taken."))
	e := contract.AsError(err)
	if e.Code != contract.Invalid || len(e.Fields["telephone"]) != 1 || e.Fields["new_phone"] != nil || e.Message != "The telephone has already been taken." {
		t.Fatalf("%+v", e)
	}
	if err := renameFields(contract.Errorf(contract.RateLimited, "Wait.")); contract.ErrorCode(err) != contract.RateLimited {
		t.Fatalf("%v", err)
	}
}
