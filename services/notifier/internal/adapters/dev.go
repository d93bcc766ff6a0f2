package adapters

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/logx"
	"github.com/dossapp/backend/services/notifier/internal/domain"
)

// DevSender stands in for a channel with no provider in dev mode: it logs
// that a message went out (never its body, which holds the code) and keeps
// it in the outbox.
type DevSender struct{ outbox *Outbox }

func NewDevSender(outbox *Outbox) *DevSender { return &DevSender{outbox: outbox} }

func (s *DevSender) Send(ctx context.Context, m domain.Message) error {
	if err := s.outbox.Add(ctx, m, time.Now()); err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	logx.From(ctx).Info("dev sender: message kept in the outbox",
		zap.String("channel", m.Channel), zap.String("to", m.To), zap.String("subject", m.Subject))
	return nil
}

// Unconfigured fails every send: production with no provider for a channel
// must not pretend to deliver.
func Unconfigured(channel string) domain.Sender {
	return domain.SenderFunc(func(context.Context, domain.Message) error {
		return fmt.Errorf("no provider configured for channel %s", channel)
	})
}
