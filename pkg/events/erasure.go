package events

import (
	"context"
	"errors"

	"github.com/dossapp/backend/pkg/contract"
)

// Erasure is a service's consumer of auth.account_deletion_due: it erases
// the service's part of the account, then reports it with the service's
// own account_erased event. erase must be idempotent: the event comes
// again after a crash, a failed report, or auth asking once more.
func Erasure(pub *Publisher, service string, erase func(context.Context, contract.AccountDeletionDue) error) func(context.Context, contract.Event) error {
	return func(ctx context.Context, ev contract.Event) error {
		var due contract.AccountDeletionDue
		if err := ev.Decode(&due); err != nil || due.UserID == 0 || due.UUID == "" {
			return errors.Join(ErrPermanent, err, errors.New("deletion without an account"))
		}
		if err := erase(ctx, due); err != nil {
			return err
		}
		done, err := New(ctx, contract.ErasedEvent(service), contract.AccountPartErased{UserID: due.UserID, UUID: due.UUID, Service: service})
		if err != nil {
			return errors.Join(ErrPermanent, err)
		}
		// A fresh id: a second erasure (auth asked again) is reported again.
		return pub.Publish(ctx, done)
	}
}
