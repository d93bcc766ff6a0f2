package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// NameStore keeps auth's copy of each account's names, by account uuid,
// so that a login answers with them without calling profile: the calls go
// one way, profile to auth.
type NameStore interface {
	// Get returns uuid's names; the zero Names when none are stored.
	Get(ctx context.Context, uuid string) (domain.Names, error)
	// Keep stores n unless names of the same or a higher version are
	// stored (a redelivery, or an event overtaken by a newer one), and
	// says whether it stored them.
	Keep(ctx context.Context, uuid string, n domain.Names) (bool, error)
	// Erase forgets uuid's names; a later Get finds none. Idempotent.
	Erase(ctx context.Context, uuid string) error
}

// names are the user's names for a login's answer: auth's copy, which
// trails profile by the delivery of its event. A login never fails for
// want of them.
func (s *Service) names(ctx context.Context, acc Account) (string, string) {
	if s.Names == nil {
		return "", ""
	}
	n, err := s.Names.Get(ctx, acc.UUID)
	if err != nil {
		slog.WarnContext(ctx, "login answered without the names", "err", err)
		return "", ""
	}
	return n.FirstName, n.LastName
}

// HandleNamesEvent keeps the names of a profile.names_changed event, in
// version order whatever the order of delivery.
func (s *Service) HandleNamesEvent(ctx context.Context, ev contract.Event) error {
	if ev.Type != contract.EventProfileNamesChanged {
		return nil
	}
	var d contract.ProfileNamesChanged
	if err := ev.Decode(&d); err != nil {
		return errors.Join(events.ErrPermanent, err)
	}
	if d.UUID == "" || d.Version <= 0 {
		return nil // names of no account, or of no change
	}
	if _, err := s.Names.Keep(ctx, d.UUID, domain.Names{FirstName: d.FirstName, LastName: d.LastName, Version: d.Version}); err != nil {
		return err
	}
	// Looked for after the write: a purge that erased the account before
	// it is caught here, one after it erases the names itself.
	if _, err := s.account(ctx, d.UUID); errors.Is(err, contract.ErrNotFound) {
		return s.Names.Erase(ctx, d.UUID)
	} else if err != nil {
		return err
	}
	return nil
}
