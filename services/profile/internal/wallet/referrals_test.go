package wallet_test

import (
	"context"
	"sync"
	"testing"

	"github.com/dossapp/backend/services/profile/internal/wallet"
)

// codes is an in-process wallet.ReferralCodes.
type codes struct {
	mu    sync.Mutex
	owner map[string]int64
}

func (c *codes) Claim(_ context.Context, code string, userID int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, held := c.owner[code]; held {
		return wallet.ErrExists
	}
	c.owner[code] = userID
	return nil
}

func (c *codes) Release(_ context.Context, code string, userID int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner[code] == userID {
		delete(c.owner, code)
	}
	return nil
}

func (c *codes) EraseUser(context.Context, int64) error { return nil }

// keeper is the profile's side: it keeps the first code offered per user.
type keeper struct {
	mu   sync.Mutex
	kept map[int64]string
}

func (k *keeper) EnsureProfile(context.Context, int64) error { return nil }

func (k *keeper) KeepReferralCode(_ context.Context, userID int64, code string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.kept[userID] == "" {
		k.kept[userID] = code
	}
	return k.kept[userID], nil
}

func TestReferralCode(t *testing.T) {
	ctx := context.Background()
	draws := []string{"TAKEN", "FRESH", "LOSER"}
	store := &codes{owner: map[string]int64{"TAKEN": 9}}
	users := &keeper{kept: map[int64]string{}}
	s := &wallet.Service{Referrals: store, Users: users, NewReferralCode: func() string { c := draws[0]; draws = draws[1:]; return c }}

	got, err := s.ReferralCode(ctx, 1, "")
	if err != nil || got != "FRESH" || store.owner["FRESH"] != 1 || store.owner["TAKEN"] != 9 {
		t.Fatalf("first code %q %v, claims %v: a held code is skipped, a free one claimed", got, err, store.owner)
	}
	// The profile already kept FRESH (another request won): the code drawn
	// now is given back.
	got, err = s.ReferralCode(ctx, 1, "")
	if err != nil || got != "FRESH" {
		t.Fatalf("%q %v", got, err)
	}
	if _, held := store.owner["LOSER"]; held {
		t.Fatal("the losing request kept its claim")
	}
	if got, err := s.ReferralCode(ctx, 1, "MINE"); err != nil || got != "MINE" || len(draws) != 0 {
		t.Fatalf("a user with a code: %q %v, %d draws left", got, err, len(draws))
	}
}
