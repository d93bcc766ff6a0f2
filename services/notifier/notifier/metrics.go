package notifier

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/dossapp/backend/services/notifier/internal/domain"
)

var sends = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "doss_notifier_sends_total",
	Help: "Delivery attempts by channel (email, sms, push) and outcome (ok, failed, unregistered: a push token the provider declared dead).",
}, []string{"channel", "outcome"})

// countSends wraps each channel's sender so every attempt is counted; a
// retried message counts once per attempt.
func countSends(senders map[string]domain.Sender) map[string]domain.Sender {
	counted := make(map[string]domain.Sender, len(senders))
	for channel, s := range senders {
		counted[channel] = domain.SenderFunc(func(ctx context.Context, m domain.Message) error {
			err := s.Send(ctx, m)
			outcome := "ok"
			switch {
			case errors.Is(err, domain.ErrUnregistered):
				outcome = "unregistered"
			case err != nil:
				outcome = "failed"
			}
			sends.WithLabelValues(channel, outcome).Inc()
			return err
		})
	}
	return counted
}
