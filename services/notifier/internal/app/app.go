// Package app turns events into sent messages, at most once per event.
package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/logx"
	"github.com/dossapp/backend/pkg/seal"
	"github.com/dossapp/backend/services/notifier/internal/domain"
	"github.com/dossapp/backend/services/notifier/internal/templates"
)

// Notifier renders and sends the messages events ask for.
type Notifier struct {
	box        *seal.Box
	templates  *templates.Set
	senders    map[string]domain.Sender
	deliveries domain.Deliveries
	dropped    domain.DroppedDevices
}

// New takes the box that opens sealed codes, the templates, one sender per
// channel, the delivery claims and the push tokens the provider declared
// dead.
func New(box *seal.Box, tpl *templates.Set, senders map[string]domain.Sender, deliveries domain.Deliveries, dropped domain.DroppedDevices) *Notifier {
	return &Notifier{box: box, templates: tpl, senders: senders, deliveries: deliveries, dropped: dropped}
}

// HandleEvent is the events.Consume handler for every event the notifier
// reads.
func (n *Notifier) HandleEvent(ctx context.Context, ev contract.Event) error {
	var (
		m   domain.Message
		err error
	)
	switch ev.Type {
	case contract.EventOTPRequested:
		m, err = n.otpMessage(ev)
	case contract.EventNotificationWanted:
		m, err = n.notificationMessage(ev)
	default:
		err = fmt.Errorf("%w: unexpected event type %q", events.ErrPermanent, ev.Type)
	}
	if errors.Is(err, errExpired) {
		// Late (an outage, or a consumer reading the stream from its
		// start): the code no longer works, and a message with it would
		// only confuse.
		logx.From(ctx).Info("code expired before it could be sent; not sent")
		return nil
	}
	if err != nil {
		return err
	}
	return n.deliverOnce(ctx, ev.ID, m)
}

// errExpired: the event's code expired before it was sent.
var errExpired = errors.New("code expired")

func (n *Notifier) otpMessage(ev contract.Event) (domain.Message, error) {
	var d contract.OTPRequested
	if err := ev.Decode(&d); err != nil {
		return domain.Message{}, fmt.Errorf("%w: decode: %v", events.ErrPermanent, err)
	}
	if !d.ExpiresAt.IsZero() && !time.Now().Before(d.ExpiresAt) {
		return domain.Message{}, errExpired
	}
	code, err := n.box.Open(d.SealedCode, []byte(d.Purpose+":"+d.To))
	if err != nil {
		return domain.Message{}, fmt.Errorf("%w: open sealed code: %v", events.ErrPermanent, err)
	}
	data := map[string]string{"Code": string(code), "Minutes": strconv.Itoa(minutesValid(ev.Time, d.ExpiresAt))}
	subject, body, err := n.templates.Render(d.Purpose, d.Locale, d.Channel, data)
	if err != nil {
		return domain.Message{}, fmt.Errorf("%w: %v", events.ErrPermanent, err)
	}
	// What the export shows: the same template with the code masked, and
	// the code gone from it whatever the template does with it.
	data["Code"] = contract.ExportRedacted
	shownSubject, shownBody, err := n.templates.Render(d.Purpose, d.Locale, d.Channel, data)
	if err != nil {
		return domain.Message{}, fmt.Errorf("%w: %v", events.ErrPermanent, err)
	}
	shown := domain.Shown{Subject: mask(shownSubject, string(code)), Body: mask(shownBody, string(code))}
	return domain.Message{Channel: d.Channel, To: d.To, Subject: subject, Body: body, Code: string(code),
		UserUUID: d.UserUUID, Template: d.Purpose, Shown: shown}, nil
}

// mask removes code from s.
func mask(s, code string) string {
	if code == "" {
		return s
	}
	return strings.ReplaceAll(s, code, contract.ExportRedacted)
}

// minutesValid is measured from when the code was issued, so that a retry
// renders the same text.
func minutesValid(issued, expires time.Time) int {
	if issued.IsZero() {
		issued = time.Now()
	}
	return max(1, int(math.Round(expires.Sub(issued).Minutes()))) // event times are stored to the millisecond
}

func (n *Notifier) notificationMessage(ev contract.Event) (domain.Message, error) {
	var d contract.NotificationWanted
	if err := ev.Decode(&d); err != nil {
		return domain.Message{}, fmt.Errorf("%w: decode: %v", events.ErrPermanent, err)
	}
	subject, body, err := n.templates.Render(d.Template, d.Locale, d.Channel, d.Data)
	if err != nil {
		return domain.Message{}, fmt.Errorf("%w: %v", events.ErrPermanent, err)
	}
	to := d.To
	if d.Channel == contract.ChannelPush && d.DeviceToken != "" {
		to = d.DeviceToken
	}
	return domain.Message{Channel: d.Channel, To: to, Subject: subject, Body: body,
		UserID: d.UserID, Template: d.Template, Shown: domain.Shown{Subject: subject, Body: body}}, nil
}

// deliverOnce claims the event, sends, and marks it sent. A claim that
// exists but is not sent means an earlier delivery died between claim and
// mark: whether the provider got the message is unknown, and a second code
// is worse than none (the user can ask again), so it is skipped and acked.
func (n *Notifier) deliverOnce(ctx context.Context, eventID string, m domain.Message) error {
	log := logx.From(ctx).With(zap.String("channel", m.Channel))
	sender, ok := n.senders[m.Channel]
	if !ok {
		return fmt.Errorf("%w: unknown channel %q", events.ErrPermanent, m.Channel)
	}
	push := m.Channel == contract.ChannelPush
	if push {
		log = log.With(zap.String("device", shortFingerprint(m.To)))
		dead, err := n.dropped.Dropped(ctx, m.To)
		if err != nil {
			return fmt.Errorf("dropped devices: %w", err)
		}
		if dead {
			log.Info("push to a dropped device token skipped")
			return nil
		}
	}
	state, err := n.deliveries.Claim(ctx, eventID, m)
	if errors.Is(err, domain.ErrClaimed) {
		if state == domain.StateSent {
			log.Debug("already sent, skipped")
		} else {
			log.Warn("earlier delivery ended between claim and mark; not resending", zap.String("state", state))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	if err := sender.Send(ctx, m); err != nil {
		if rerr := n.deliveries.Release(context.WithoutCancel(ctx), eventID); rerr != nil {
			// The claim stays: the retry will skip it rather than send twice.
			log.Error("release claim failed", zap.Error(rerr))
		}
		switch {
		case push && errors.Is(err, domain.ErrUnregistered):
			// Retrying cannot help and every later push would fail the
			// same way: remember the token and ack.
			if derr := n.dropped.Drop(ctx, m.To); derr != nil {
				return fmt.Errorf("drop device token: %w", derr)
			}
			log.Warn("device token unregistered at the provider; dropped", zap.Error(err))
			return nil
		case errors.Is(err, domain.ErrRejected):
			return fmt.Errorf("%w: send %s: %v", events.ErrPermanent, m.Channel, err)
		}
		return fmt.Errorf("send %s: %w", m.Channel, err)
	}
	if err := n.deliveries.MarkSent(context.WithoutCancel(ctx), eventID); err != nil {
		// Sent but not marked: a redelivery finds the claim and skips.
		log.Error("mark sent failed", zap.Error(err))
	}
	log.Info("notification sent")
	return nil
}

// shortFingerprint names a device token in the log without revealing it.
func shortFingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:6])
}
