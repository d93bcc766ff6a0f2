package app

import (
	"context"

	"github.com/dossapp/backend/pkg/contract"
)

// Export is profile's part of the user's data export: the profile and the
// account profile as the app shows them (links signed now), every wallet
// and order posting, oldest first (the staff actions about the user come
// from auth's audit trail). The postings are read by user_id, a scan on FerretDB v1:
// an export runs at most once an hour per account.
func (s *Service) Export(ctx context.Context, userID int64) (contract.ProfileExportPart, error) {
	var out contract.ProfileExportPart
	var err error
	if out.Profile, err = s.Get(ctx, userID); err != nil {
		return out, err
	}
	if out.AccountProfile, err = s.AccountProfile(ctx, userID, ""); err != nil {
		return out, err
	}
	if out.Wallet, out.Orders, err = s.Wallet.History(ctx, userID); err != nil {
		return out, err
	}
	return out, nil
}
