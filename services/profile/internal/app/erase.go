package app

import (
	"context"
	"errors"
	"time"

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

// OnDeletionRequested revokes the passes of an account whose owner asked
// for its deletion (auth's account_deletion_requested): from then on none
// verifies. They are revoked as of the request or now, whichever is later,
// so a clock behind auth's spares no pass issued before the request; a
// redelivered event finds them revoked since the request and does nothing.
func (s *Service) OnDeletionRequested(ctx context.Context, ev contract.Event) error {
	var d contract.AccountDeletionRequested
	if err := ev.Decode(&d); err != nil {
		return errors.Join(events.ErrPermanent, err)
	}
	if d.UserID == 0 {
		return nil
	}
	done, err := s.Passes.Store.RevokedAfter(ctx, d.UserID, d.RequestedAt)
	if err != nil || done {
		return err
	}
	return s.Passes.Store.Revoke(ctx, d.UserID, later(d.RequestedAt, s.now()))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
