// Package events publishes events to JetStream and reads them with durable
// consumers: explicit ack, bounded redelivery with backoff, and a
// dead-letter subject for a message that keeps failing.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/logx"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/obs"
)

// New builds an event with a fresh id, stamped now, carrying the
// correlation id of ctx.
func New(ctx context.Context, eventType string, data any) (contract.Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return contract.Event{}, fmt.Errorf("encode %s: %w", eventType, err)
	}
	return contract.Event{
		ID:            uuid.NewString(),
		Type:          eventType,
		Time:          time.Now().UTC(),
		CorrelationID: logx.CorrelationID(ctx),
		TraceParent:   traceParent(ctx),
		Data:          raw,
	}, nil
}

// EnsureStreams makes sure the event and dead-letter streams exist: it
// creates one that is missing, which on the bus only their one creator may
// (contract.BusUser.Creates: auth); the others' create goes unanswered, and
// they ask again until the creator has made it or the start's budget
// (natsx.SettleBudget) ends.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, replicas int) error {
	if replicas < 1 {
		replicas = 1
	}
	for _, cfg := range []jetstream.StreamConfig{
		{
			Name:       contract.StreamEvents,
			Subjects:   []string{contract.StreamEventsSubject},
			Storage:    jetstream.FileStorage,
			Retention:  jetstream.LimitsPolicy,
			MaxAge:     7 * 24 * time.Hour,
			Duplicates: 10 * time.Minute,
			Replicas:   replicas,
		},
		{
			Name:     contract.StreamDeadLetters,
			Subjects: []string{contract.StreamDeadLetterSubject},
			Storage:  jetstream.FileStorage,
			MaxAge:   30 * 24 * time.Hour,
			Replicas: replicas,
		},
	} {
		// Created when missing, never updated: no service may change a
		// stream's configuration (contract.BusUser.Configures). One made
		// with another (an older release's) stays as it is; changing it is
		// an operator's step (docs/runbook.md).
		err := natsx.Settle(ctx, "stream "+cfg.Name, func(ctx context.Context) error {
			_, err := js.Stream(ctx, cfg.Name)
			if !errors.Is(err, jetstream.ErrStreamNotFound) {
				return err
			}
			_, err = js.CreateStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return nil
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// Publisher publishes events with Nats-Msg-Id = event id, so a relay that
// publishes the same event twice stores it once.
type Publisher struct{ js jetstream.JetStream }

func NewPublisher(js jetstream.JetStream) *Publisher { return &Publisher{js: js} }

func (p *Publisher) Publish(ctx context.Context, ev contract.Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(contract.EventSubject(ev.Type))
	msg.Data = body
	if ev.CorrelationID != "" {
		msg.Header.Set(contract.HeaderCorrelationID, ev.CorrelationID)
	}
	_, err = p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.ID))
	return err
}

// ErrPermanent marks a handler error that no retry can fix: the message
// goes straight to the dead-letter subject.
var ErrPermanent = errors.New("permanent failure")

// ErrTypeNotSubject marks an event whose type is not the one its subject
// names: never handled, always dead-lettered.
var ErrTypeNotSubject = errors.New("the event's type is not its subject's")

// ConsumerConfig describes one reader of the events stream. What it reads
// is the contract's (contract.ReaderEvents), not the caller's to choose:
// the bus lets each of its consumers filter on one event type only.
type ConsumerConfig struct {
	Durable    string // a reader named in the contract (contract.Durable…)
	MaxDeliver int    // 0 means 6
	// Backoff is the delay before redelivery n (the last repeats); nil
	// means 1s, 5s, 30s, 2m, 10m.
	Backoff []time.Duration
	AckWait time.Duration // 0 means 30s
	Handler func(ctx context.Context, ev contract.Event) error
}

// Consumer is a running reader: one durable consumer per event type.
type Consumer struct {
	stops []func()
}

// Stop stops fetching; a handler in flight finishes.
func (c *Consumer) Stop() {
	for _, stop := range c.stops {
		stop()
	}
}

// Consume starts a reader on the events stream: for each event type the
// contract gives it, a durable consumer with that one filter subject.
// nats.go then creates it through the filtered subject
// ($JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>), the only one the
// bus lets a service use, and the server refuses a request whose filter
// differs from that subject's.
func Consume(ctx context.Context, js jetstream.JetStream, log *zap.Logger, cfg ConsumerConfig) (*Consumer, error) {
	types := contract.ReaderEvents(cfg.Durable)
	if len(types) == 0 {
		return nil, fmt.Errorf("consumer %s: the contract names no events for it", cfg.Durable)
	}
	if cfg.MaxDeliver <= 0 {
		cfg.MaxDeliver = 6
	}
	if cfg.Backoff == nil {
		cfg.Backoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	c := &Consumer{}
	for _, t := range types {
		stop, err := consumeOne(ctx, js, log, cfg, contract.ConsumerName(cfg.Durable, t), contract.EventSubject(t))
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.stops = append(c.stops, stop)
	}
	return c, nil
}

func consumeOne(ctx context.Context, js jetstream.JetStream, log *zap.Logger, cfg ConsumerConfig, name, subject string) (func(), error) {
	var cons jetstream.Consumer
	err := natsx.Settle(ctx, "consumer "+name, func(ctx context.Context) (err error) {
		cons, err = js.CreateOrUpdateConsumer(ctx, contract.StreamEvents, jetstream.ConsumerConfig{
			Durable:       name,
			FilterSubject: subject,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       cfg.AckWait,
			MaxDeliver:    cfg.MaxDeliver,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			MaxAckPending: 256,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) { handle(js, log, cfg, msg) })
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", name, err)
	}
	// The lag is read from the server at each scrape (/metrics).
	unwatch := obs.WatchConsumer(contract.StreamEvents, name, func(ctx context.Context) (obs.ConsumerState, error) {
		info, err := cons.Info(ctx)
		if err != nil {
			return obs.ConsumerState{}, err
		}
		return obs.ConsumerState{Pending: info.NumPending, AckPending: info.NumAckPending, Redelivered: info.NumRedelivered}, nil
	})
	return func() { cc.Stop(); unwatch() }, nil
}

func handle(js jetstream.JetStream, log *zap.Logger, cfg ConsumerConfig, msg jetstream.Msg) {
	var ev contract.Event
	err := json.Unmarshal(msg.Data(), &ev)
	switch {
	case err != nil:
		err = fmt.Errorf("%w: undecodable event: %v", ErrPermanent, err)
	case contract.EventSubject(ev.Type) != msg.Subject():
		// The bus holds a subject to its publishers, not a body: the
		// notifier may publish its own report, with any type in it. A
		// handler that switched on the body's type would obey it (an
		// auth.account_deletion_due on events.notifier.account_erased
		// erased any account), so the type must be the subject's.
		err = fmt.Errorf("%w: %w: type %q on %s", ErrPermanent, ErrTypeNotSubject, ev.Type, msg.Subject())
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.AckWait)
	defer cancel()
	ctx = logx.With(ctx, log, ev.CorrelationID)
	ctx, endSpan := consumeSpan(ctx, cfg.Durable, msg.Subject(), ev.TraceParent)
	defer func() { endSpan(err) }()
	l := logx.From(ctx).With(zap.String("consumer", cfg.Durable), zap.String("subject", msg.Subject()), zap.String("event_id", ev.ID))
	if err == nil {
		err = safeCall(ctx, cfg.Handler, ev)
	}
	if err == nil {
		if aerr := msg.Ack(); aerr != nil {
			l.Warn("ack failed", zap.Error(aerr))
		}
		return
	}
	delivered := uint64(1)
	if md, merr := msg.Metadata(); merr == nil {
		delivered = md.NumDelivered
	}
	if errors.Is(err, ErrPermanent) || delivered >= uint64(cfg.MaxDeliver) {
		deadLetter(ctx, js, l, cfg.Durable, msg, err, delivered)
		return
	}
	delay := cfg.Backoff[min(int(delivered)-1, len(cfg.Backoff)-1)]
	l.Warn("event handler failed, will retry", zap.Uint64("delivered", delivered), zap.Duration("retry_in", delay), zap.Error(err))
	_ = msg.NakWithDelay(delay)
}

func safeCall(ctx context.Context, h func(context.Context, contract.Event) error, ev contract.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic: %v", ErrPermanent, p)
		}
	}()
	return h(ctx, ev)
}

// deadLetter parks the message on deadletter.<consumer>.<subject> with the
// reason in headers, then terminates it so it is not redelivered.
func deadLetter(ctx context.Context, js jetstream.JetStream, l *zap.Logger, durable string, msg jetstream.Msg, cause error, delivered uint64) {
	dl := nats.NewMsg(contract.DeadLetterPrefix + durable + "." + msg.Subject())
	dl.Data = msg.Data()
	dl.Header.Set("Doss-Dead-Letter-Reason", cause.Error())
	dl.Header.Set("Doss-Dead-Letter-Deliveries", fmt.Sprint(delivered))
	if _, err := js.PublishMsg(ctx, dl); err != nil {
		// Leave it for redelivery rather than lose it.
		l.Error("dead-letter publish failed", zap.Error(err))
		_ = msg.NakWithDelay(time.Minute)
		return
	}
	l.Error("event dead-lettered", zap.Uint64("delivered", delivered), zap.Error(cause))
	_ = msg.Term()
}
