// Package ports is the notifier's NATS surface: its endpoint table.
package ports

import (
	"context"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/service"
)

// OutboxLister reads the dev outbox.
type OutboxLister interface {
	List(ctx context.Context, to string) ([]contract.OutboxMessage, error)
}

// SentLister reads what was sent to an account.
type SentLister interface {
	Sent(ctx context.Context, userID int64, uuid string) ([]contract.ExportNotification, error)
}

// Routes lists the notifier's endpoints and who may call each: a user's
// export is theirs alone; the outbox is the dev app's and the end-to-end
// tests' way to read codes, through the gateway. outbox is nil outside dev
// mode, where the endpoint answers NotFound.
func Routes(outbox OutboxLister, sent SentLister) []service.Endpoint {
	return []service.Endpoint{
		service.On(service.User, contract.NotifierExport, func(ctx context.Context, c natsx.Caller, _ contract.ExportRequest) (contract.NotifierExportPart, error) {
			msgs, err := sent.Sent(ctx, c.UserID, c.UUID)
			return contract.NotifierExportPart{Notifications: msgs}, err
		}),
		service.On(service.Public, contract.NotifierOutbox, func(ctx context.Context, _ natsx.Caller, req contract.OutboxRequest) ([]contract.OutboxMessage, error) {
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
		}),
	}
}
