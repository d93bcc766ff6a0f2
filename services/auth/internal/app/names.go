package app

import (
	"context"
	"errors"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// NameStore is where auth kept each account's names, by account uuid,
// before they moved into the account (Account.Names): it is read only for
// an account that does not hold them yet (NamesIn), one made before, until
// its next change of names, and erased with the account.
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

// errNamesKept: the account holds these names or newer ones.
var errNamesKept = errors.New("names kept")

// HandleNamesEvent keeps the names of a profile.names_changed event in the
// account, in version order whatever the order of delivery. An account
// that is gone (purged) keeps nothing: its names went with it.
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
	announced := domain.Names{FirstName: d.FirstName, LastName: d.LastName, Version: d.Version}
	_, err := s.Accounts.Update(ctx, d.UUID, func(a *Account) ([]contract.Event, error) {
		held := a.Names
		if !a.NamesIn && s.Names != nil {
			old, err := s.Names.Get(ctx, a.UUID) // kept before the names moved in
			if err != nil {
				return nil, err
			}
			held = old
		}
		switch {
		case held.Version < announced.Version:
			a.Names = announced
		case a.NamesIn:
			return nil, errNamesKept
		default:
			a.Names = held // the older store's are the newer: they move in
		}
		a.NamesIn = true
		return nil, nil
	})
	if errors.Is(err, errNamesKept) || errors.Is(err, contract.ErrNotFound) {
		return nil
	}
	return err
}
