// Package wallet is the profile service's wallet: postings (wallet and
// order events, each counted once), the balances, points and order
// figures projected from them, and referral codes. It keeps its state in
// the stores it declares; adapters implement them.
package wallet

import (
	"context"
	"sort"
	"time"

	"github.com/dossapp/backend/pkg/contract"
)

// ErrNotFound is a store's answer for a key it holds nothing under, and
// ErrExists its refusal to create what it already holds: the pair every
// service's stores share (see contract.ErrNotFound).
var (
	ErrNotFound = contract.ErrNotFound
	ErrExists   = contract.ErrExists
)

// Postings keeps wallet and order postings, each stored once by its id.
type Postings interface {
	// Add stores p; when its id is taken it stores nothing and returns the
	// posting stored under it with ErrExists.
	Add(ctx context.Context, p Posting) (Posting, error)
	// OfUser returns every posting of the user, in no particular order.
	OfUser(ctx context.Context, userID int64) ([]Posting, error)
	// SetShortfall records what a stored debit could not take, or returns
	// ErrNotFound.
	SetShortfall(ctx context.Context, id string, shortfall int64) error
}

// ReferralCodes gives each referral code to at most one user.
type ReferralCodes interface {
	// Claim gives code to the user, or returns ErrExists when it is held.
	Claim(ctx context.Context, code string, userID int64) error
	// Release gives code back if the user holds it.
	Release(ctx context.Context, code string, userID int64) error
	// EraseUser gives back every code the user holds (an account's purge).
	EraseUser(ctx context.Context, userID int64) error
}

// Users is the profile as the wallet needs it.
type Users interface {
	// EnsureProfile makes sure the user has a profile (an admin posting
	// names an existing user).
	EnsureProfile(ctx context.Context, userID int64) error
	// KeepReferralCode makes code the user's unless they have one, and
	// returns the one they keep.
	KeepReferralCode(ctx context.Context, userID int64, code string) (string, error)
}

// Service is the wallet's core.
type Service struct {
	Postings  Postings
	Referrals ReferralCodes
	Users     Users
	// Publish sends the admin API's postings to the stream; nil: not sent.
	Publish         func(ctx context.Context, ev contract.Event) error
	NewReferralCode func() string    // NewReferralCode when nil
	Now             func() time.Time // time.Now when nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// History is every posting of the user as the data export shows it,
// oldest first.
func (s *Service) History(ctx context.Context, userID int64) ([]contract.ExportWallet, []contract.ExportOrder, error) {
	ps, err := s.Postings.OfUser(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].At.Before(ps[j].At) })
	wallet, orders := []contract.ExportWallet{}, []contract.ExportOrder{}
	for _, p := range ps {
		switch p.Kind {
		case postingWallet:
			wallet = append(wallet, contract.ExportWallet{
				ID: p.ID, Balance: p.Balance, Entry: p.Entry, Amount: contract.Amount(p.Amount), ExpiresAt: p.ExpiresAt,
				Reason: p.Reason, At: p.At, Received: p.Received, Shortfall: contract.Amount(p.Shortfall),
			})
		case postingOrder:
			orders = append(orders, contract.ExportOrder{
				ID: p.ID, OrderID: p.OrderID, Status: p.Status, Amount: contract.Amount(p.Amount), At: p.At, Received: p.Received,
			})
		}
	}
	return wallet, orders, nil
}
