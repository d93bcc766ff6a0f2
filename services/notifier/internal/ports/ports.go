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

// Register adds the endpoints to svc. outbox is nil outside dev mode,
// where the endpoint answers NotFound.
func Register(svc *natsx.Service, outbox OutboxLister) error {
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
