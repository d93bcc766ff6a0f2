package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/profile/internal/wallet"
)

func posting(id string, userID, amount int64) wallet.Posting {
	return wallet.Posting{ID: id, UserID: userID, Kind: "wallet", Balance: contract.BalanceCashback, Entry: contract.EntryCredit,
		Amount: amount, At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Received: time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC), Digest: fmt.Sprint(id, amount)}
}

func ids(ps []wallet.Posting) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.ID)
	}
	slices.Sort(out)
	return out
}

// Postings is the contract of wallet.Postings. newStore makes an empty
// store and returns how to open it (each call: one more replica's handle
// on it).
func Postings(t *testing.T, newStore func(t *testing.T) (open func() wallet.Postings)) {
	t.Run("a user's postings, and only theirs", func(t *testing.T) {
		s := newStore(t)()
		if ps, err := s.OfUser(ctx, 1); err != nil || len(ps) != 0 {
			t.Fatalf("%v %v", ps, err)
		}
		for _, p := range []wallet.Posting{posting("wallet:a", 1, 100), posting("wallet:b", 1, 200), posting("wallet:c", 2, 300)} {
			if _, err := s.Add(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		ps, err := s.OfUser(ctx, 1)
		must(t, err)
		if got := ids(ps); !slices.Equal(got, []string{"wallet:a", "wallet:b"}) {
			t.Fatalf("%v", got)
		}
		for _, p := range ps {
			if want := posting(p.ID, 1, p.Amount); !p.At.Equal(want.At) || p.Digest != want.Digest || p.Balance != want.Balance {
				t.Fatalf("read %+v, stored %+v", p, want)
			}
		}
	})
	t.Run("an id is stored once; the second add sees the first", func(t *testing.T) {
		s := newStore(t)()
		_, err := s.Add(ctx, posting("wallet:x", 1, 100))
		must(t, err)
		old, err := s.Add(ctx, posting("wallet:x", 1, 999))
		wantErr(t, err, wallet.ErrExists)
		if old.Amount != 100 || old.Digest != posting("wallet:x", 1, 100).Digest {
			t.Fatalf("returned %+v, want the first posting", old)
		}
		ps, err := s.OfUser(ctx, 1)
		must(t, err)
		if len(ps) != 1 || ps[0].Amount != 100 {
			t.Fatalf("%+v", ps)
		}
	})
	t.Run("the same id at once: one add stores it", func(t *testing.T) {
		open := newStore(t)
		replicas := []wallet.Postings{open(), open(), open()}
		stored := wins(t, 10, wallet.ErrExists, func(i int) error {
			_, err := replicas[i%len(replicas)].Add(ctx, posting("wallet:same", 3, 1))
			return err
		})
		ps, err := open().OfUser(ctx, 3)
		must(t, err)
		if stored != 1 || len(ps) != 1 {
			t.Fatalf("%d adds stored, %d postings", stored, len(ps))
		}
	})
	t.Run("concurrent adds of one user's postings from several replicas are all kept", func(t *testing.T) {
		open := newStore(t)
		replicas := []wallet.Postings{open(), open(), open()}
		const n = 12
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("wallet:%02d", i))
		}
		race(n, func(i int) {
			if _, err := replicas[i%len(replicas)].Add(ctx, posting(want[i], 5, int64(i+1))); err != nil {
				t.Error(err)
			}
		})
		ps, err := open().OfUser(ctx, 5)
		must(t, err)
		if got := ids(ps); !slices.Equal(got, want) {
			t.Fatalf("%d of %d postings read back: %v", len(got), n, got)
		}
	})
	t.Run("an id already another user's is not listed as this user's", func(t *testing.T) {
		s := newStore(t)()
		_, err := s.Add(ctx, posting("wallet:taken", 1, 100))
		must(t, err)
		_, err = s.Add(ctx, posting("wallet:taken", 2, 100))
		wantErr(t, err, wallet.ErrExists)
		if ps, err := s.OfUser(ctx, 2); err != nil || len(ps) != 0 {
			t.Fatalf("%+v %v", ps, err)
		}
	})
	t.Run("a shortfall is recorded on the posting", func(t *testing.T) {
		s := newStore(t)()
		_, err := s.Add(ctx, posting("wallet:d", 4, 50))
		must(t, err)
		must(t, s.SetShortfall(ctx, "wallet:d", 20))
		ps, err := s.OfUser(ctx, 4)
		must(t, err)
		if len(ps) != 1 || ps[0].Shortfall != 20 || ps[0].Amount != 50 {
			t.Fatalf("%+v", ps)
		}
		wantErr(t, s.SetShortfall(ctx, "wallet:none", 1), wallet.ErrNotFound)
	})
}

// ReferralCodes is the contract of wallet.ReferralCodes.
func ReferralCodes(t *testing.T, newStore func(t *testing.T) wallet.ReferralCodes) {
	t.Run("a code held is held by one user", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Claim(ctx, "AAAA", 1))
		wantErr(t, s.Claim(ctx, "AAAA", 2), wallet.ErrExists)
		wantErr(t, s.Claim(ctx, "AAAA", 1), wallet.ErrExists)
		must(t, s.Release(ctx, "AAAA", 2)) // not theirs: nothing happens
		wantErr(t, s.Claim(ctx, "AAAA", 2), wallet.ErrExists)
		must(t, s.Release(ctx, "AAAA", 1))
		must(t, s.Claim(ctx, "AAAA", 2))
	})
	t.Run("erasing a user frees their codes only", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Claim(ctx, "A1", 1))
		must(t, s.Claim(ctx, "A2", 1))
		must(t, s.Claim(ctx, "B1", 2))
		must(t, s.EraseUser(ctx, 1))
		must(t, s.EraseUser(ctx, 1))
		must(t, s.Claim(ctx, "A1", 3))
		must(t, s.Claim(ctx, "A2", 3))
		wantErr(t, s.Claim(ctx, "B1", 3), wallet.ErrExists)
	})
	t.Run("the same code at once: one claim wins", func(t *testing.T) {
		s := newStore(t)
		if won := wins(t, 10, wallet.ErrExists, func(i int) error { return s.Claim(ctx, "RACE", int64(i+1)) }); won != 1 {
			t.Fatalf("%d claims won", won)
		}
	})
}
