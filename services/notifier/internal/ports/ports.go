// Package ports is the notifier's NATS surface: its one endpoint and its
// event consumer.
package ports

import (
	"context"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// OutboxLister reads the dev outbox.
type OutboxLister interface {
	List(ctx context.Context, to string) ([]contract.OutboxMessage, error)
}

// SentLister reads what was sent to an account.
type SentLister interface {
	Sent(ctx context.Context, userID int64, uuid string) ([]contract.ExportNotification, error)
}

// Register adds the endpoints to svc. outbox is nil outside dev mode,
// where the endpoint answers NotFound.
func Register(svc *natsx.Service, outbox OutboxLister, sent SentLister) error {
	err := natsx.Handle(svc, contract.NotifierExport, func(ctx context.Context, _ contract.ExportRequest) (contract.NotifierExportPart, error) {
		c, err := natsx.RequireUser(ctx)
		if err != nil {
			return contract.NotifierExportPart{}, err
		}
		msgs, err := sent.Sent(ctx, c.UserID, c.UUID)
		return contract.NotifierExportPart{Notifications: msgs}, err
	})
	if err != nil {
		return err
	}
	return natsx.Handle(svc, contract.NotifierOutbox, func(ctx context.Context, req contract.OutboxRequest) ([]contract.OutboxMessage, error) {
		if outbox == nil {
			return nil, contract.Errorf(contract.NotFound, "The outbox exists only in dev mode.")
		}
		msgs, err := outbox.List(ctx, req.To)
		if err != nil {
			return nil, err
		}
		if msgs == nil {
			msgs = []contract.OutboxMessage{}
		}
		return msgs, nil
	})
}
