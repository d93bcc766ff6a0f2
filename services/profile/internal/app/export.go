package app

import (
	"context"
	"sort"

	"github.com/dossapp/backend/pkg/contract"
)

// Export is profile's part of the user's data export: the profile and the
// account profile as the app shows them (links signed now), every wallet
// and order posting, oldest first (the staff actions about the user come
// from auth's audit trail). The postings are read by user_id, a scan on FerretDB: an
// export runs at most once an hour per account.
func (s *Service) Export(ctx context.Context, userID int64) (contract.ProfileExportPart, error) {
	var out contract.ProfileExportPart
	var err error
	if out.Profile, err = s.Get(ctx, userID); err != nil {
		return out, err
	}
	if out.AccountProfile, err = s.AccountProfile(ctx, userID, ""); err != nil {
		return out, err
	}
	ps, err := s.Postings.OfUser(ctx, userID)
	if err != nil {
		return out, err
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].At.Before(ps[j].At) })
	out.Wallet, out.Orders = []contract.ExportWallet{}, []contract.ExportOrder{}
	for _, p := range ps {
		switch p.Kind {
		case postingWallet:
			out.Wallet = append(out.Wallet, contract.ExportWallet{
				ID: p.ID, Balance: p.Balance, Entry: p.Entry, Amount: contract.Amount(p.Amount), ExpiresAt: p.ExpiresAt,
				Reason: p.Reason, At: p.At, Received: p.Received, Shortfall: contract.Amount(p.Shortfall),
			})
		case postingOrder:
			out.Orders = append(out.Orders, contract.ExportOrder{
				ID: p.ID, OrderID: p.OrderID, Status: p.Status, Amount: contract.Amount(p.Amount), At: p.At, Received: p.Received,
			})
		}
	}
	return out, nil
}
