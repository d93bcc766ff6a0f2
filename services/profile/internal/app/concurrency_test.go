package app_test

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

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/profile/internal/adapters"
	"github.com/dossapp/backend/services/profile/internal/app"
	"github.com/dossapp/backend/services/profile/internal/storetest"
	"github.com/dossapp/backend/services/profile/internal/wallet"
)

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

// withWallet gives s a wallet on db, its postings made for s's users.
func withWallet(db *mongo.Database, s *app.Service) *app.Service {
	s.Wallet = &wallet.Service{Postings: adapters.NewPostings(db.Collection("postings"), db.Collection("lists")), Referrals: adapters.ReferralCodes{C: db.Collection("referrals")}, Users: s}
	return s
}

// Many requests at once for many users, with a code generator that keeps
// colliding: every user ends with exactly one code, no two users share
// one, and the codes of the losers of a race are given back.
func TestReferralCodesUniqueUnderConcurrency(t *testing.T) {
	db := storetest.FerretDB(t)
	const users, perUser = 12, 4
	auth := &fakeAuth{accounts: map[int64]contract.Account{}}
	for i := int64(1); i <= users; i++ {
		auth.accounts[i] = contract.Account{ID: i, UUID: fmt.Sprintf("u-%d", i), Email: fmt.Sprintf("u%d@example.com", i)}
	}
	pool := make([]string, 60) // few codes for many draws: collisions are certain
	for i := range pool {
		pool[i] = fmt.Sprintf("CODE%02d", i)
	}
	s := withWallet(db, &app.Service{Profiles: adapters.NewVersionedProfiles(db.Collection("profiles")), Accounts: auth.get})
	s.Wallet.NewReferralCode = func() string { return pool[rand.IntN(len(pool))] }
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
	n, err := db.Collection("referrals").CountDocuments(ctx, bson.M{})
	if err != nil || n != users {
		t.Fatalf("%d claims (%v), want %d: losers keep codes they do not use", n, err, users)
	}
}

// FerretDB has no update isolation, so counting once rests on the unique
// insert alone: the same posting delivered many times at once, by the
// stream and by ops, counts once; distinct postings at once all count.
func TestConcurrentPostingsCountOnce(t *testing.T) {
	db := storetest.FerretDB(t)
	auth := &fakeAuth{accounts: map[int64]contract.Account{5: {ID: 5, UUID: "u-5"}}}
	s := withWallet(db, &app.Service{Profiles: adapters.NewVersionedProfiles(db.Collection("profiles")), Accounts: auth.get})
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
			if err := s.Wallet.HandlePosting(ctx, contract.Event{ID: fmt.Sprint("env-", i), Type: contract.EventWalletPosted, Time: time.Now(), Data: ev}); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			r, err := s.Wallet.PostWallet(ctx, dup)
			if err != nil {
				t.Error(err)
			} else if !r.Duplicate {
				fresh.Store(i, true)
			}
		})
		wg.Go(func() {
			w := contract.WalletPosted{ID: fmt.Sprint("own-", i), UserID: 5, Balance: contract.BalanceCashback, Entry: contract.EntryCredit, Amount: 1}
			if _, err := s.Wallet.PostWallet(ctx, w); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f, err := s.AccountProfile(ctx, 5, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Cashback; got != 1000+16 {
		t.Fatalf("cashback %d, want %d", got, 1000+16)
	}
	n := 0
	fresh.Range(func(any, any) bool { n++; return true })
	if n > 1 {
		t.Fatalf("%d admin posts of the same id were told they were the first", n)
	}
}
