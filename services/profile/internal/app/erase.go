package app

import (
	"context"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
)

// EraseAccount is profile's part of an account's purge: every photo
// object under the user's prefix (the current one and any orphan not yet
// swept), the passes it issued and their verifications, its referral
// code, and the profile itself; every replica and gateway then drops its
// cached copy. Wallet and order postings stay: they are financial records,
// keyed by the user id alone (no name, email or phone), which after the
// purge names no one. Pass revocations stay too (a user id and a time),
// so a pass that outlived the purge still reads as revoked. Idempotent.
func (s *Service) EraseAccount(ctx context.Context, due contract.AccountDeletionDue) error {
	if s.EraseObjects != nil {
		if err := s.EraseObjects(ctx, photoPrefix(due.UserID)); err != nil {
			return err
		}
	}
	if err := s.Passes.Store.Erase(ctx, due.UserID); err != nil {
		return err
	}
	if s.Wallet != nil {
		if err := s.Wallet.Referrals.EraseUser(ctx, due.UserID); err != nil {
			return err
		}
	}
	if err := s.Profiles.Erase(ctx, due.UserID); err != nil {
		return err
	}
	if s.Publish == nil {
		return nil
	}
	ev, err := events.New(ctx, contract.EventProfileUpdated, contract.ProfileUpdated{UserID: due.UserID, UUID: due.UUID})
	if err != nil {
		return err
	}
	return s.Publish(ctx, ev)
}
