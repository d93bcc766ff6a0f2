// Package notifier runs the notifier service: it consumes OTPRequested and
// NotificationWanted events and delivers them by email, SMS or push.
package notifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/logx"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/obs"
	"github.com/dossapp/backend/pkg/seal"
	"github.com/dossapp/backend/services/notifier/internal/adapters"
	"github.com/dossapp/backend/services/notifier/internal/app"
	"github.com/dossapp/backend/services/notifier/internal/domain"
	"github.com/dossapp/backend/services/notifier/internal/ports"
	"github.com/dossapp/backend/services/notifier/internal/templates"
)

// Version is what the micro service reports.
const Version = "0.1.0"

// devNotifyKey lets `make run` work with no setup; auth uses the same one.
var devNotifyKey = config.DevNotifyKey // shared with auth

type settings struct {
	common     config.Common
	notifyKey  []byte
	smtpURL    string
	mailFrom   string
	sms        adapters.SMSConfig
	fcmKeyFile string
	fcmBaseURL string
	replicas   int
	maxDeliver int
}

func readSettings(getenv func(string) string) (settings, error) {
	env := config.New(getenv)
	s := settings{common: env.ReadCommon()}
	var problems []error
	s.notifyKey = env.Secret("DOSS_NOTIFY_KEY", 32, s.common.Dev(), devNotifyKey)
	if len(s.notifyKey) > 32 {
		// seal wants exactly 32 bytes; Secret only checks the minimum.
		problems = append(problems, errors.New("DOSS_NOTIFY_KEY: must be exactly 32 bytes"))
	}
	s.smtpURL = env.String("DOSS_SMTP_URL", "")
	s.mailFrom = env.String("DOSS_MAIL_FROM", "DOSS <no-reply@doss.local>")
	s.sms = adapters.SMSConfig{
		URL:        env.String("DOSS_SMS_URL", ""),
		AccountSID: env.String("DOSS_SMS_ACCOUNT_SID", ""),
		AuthToken:  env.String("DOSS_SMS_AUTH_TOKEN", ""),
		From:       env.String("DOSS_SMS_FROM", ""),
	}
	if s.sms.URL != "" && (s.sms.AccountSID == "" || s.sms.AuthToken == "" || s.sms.From == "") {
		problems = append(problems, errors.New("DOSS_SMS_URL: needs DOSS_SMS_ACCOUNT_SID, DOSS_SMS_AUTH_TOKEN and DOSS_SMS_FROM"))
	}
	s.fcmKeyFile = env.String("DOSS_FCM_CREDENTIALS_FILE", "")
	s.fcmBaseURL = env.String("DOSS_FCM_BASE_URL", adapters.FCMBaseURL)
	for _, gone := range []string{"DOSS_FCM_TOKEN", "DOSS_FCM_URL"} {
		// A static bearer stops working within the hour FCM grants it;
		// refusing the old settings beats a push that silently dies.
		if getenv(gone) != "" {
			problems = append(problems, fmt.Errorf("%s: no longer read; give the service-account key in DOSS_FCM_CREDENTIALS_FILE", gone))
		}
	}
	s.replicas = env.Int("DOSS_NATS_REPLICAS", 1)
	s.maxDeliver = env.Int("DOSS_NOTIFY_MAX_DELIVER", 6)
	return s, errors.Join(append([]error{env.Err()}, problems...)...)
}

// Run reads the configuration, connects to NATS and Mongo, and serves until
// ctx is done.
func Run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	s, err := readSettings(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := logx.New(stdout, s.common.Dev(), contract.ServiceNotifier)
	defer func() { _ = log.Sync() }()

	// Mongo opens first so that it closes last: draining NATS lets the
	// handlers in flight finish their writes.
	client, err := mongo.Connect(options.Client().ApplyURI(s.common.MongoURI).SetMonitor(obs.MongoMonitor()))
	if err != nil {
		return fmt.Errorf("mongo: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Disconnect(dctx)
	}()
	closed := make(chan struct{})
	bus, err := natsx.BusOptions(s.common.Bus, contract.ServiceNotifier, log)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(s.common.Bus.URL, append(bus,
		nats.Name(contract.ServiceNotifier),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats reconnected") }),
	)...)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer func() {
		if err := nc.Drain(); err != nil {
			nc.Close()
		}
		<-closed
	}()
	// It vouches for no one (no signing key), but believes the gateway's
	// assertion of who asks for their own export.
	natsx.UseKeys(nc, natsx.Keys{Issuer: contract.ServiceNotifier, Verify: s.common.Bus.VerifyKeys})

	ops, err := obs.Start(getenv, contract.ServiceNotifier, obs.NATSReady(nc))
	if err != nil {
		return err
	}
	defer ops.Stop()
	db := client.Database(s.common.MongoDB)

	senders, err := buildSenders(s, adapters.NewOutbox(db))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	svc, err := start(ctx, deps{
		nc: nc, db: db, log: log, dev: s.common.Dev(), key: s.notifyKey, senders: senders,
		replicas: s.replicas, maxDeliver: s.maxDeliver,
	})
	if err != nil {
		return err
	}
	log.Info("notifier started", zap.String("env", s.common.Env))
	<-ctx.Done()
	log.Info("notifier stopping")
	svc.stop()
	return nil
}

// buildSenders picks a provider per channel: the configured one, else the
// dev sender in dev mode, else one that always fails.
func buildSenders(s settings, outbox *adapters.Outbox) (map[string]domain.Sender, error) {
	httpClient := &http.Client{Timeout: 20 * time.Second}
	fallback := func(channel string) domain.Sender {
		if s.common.Dev() {
			return adapters.NewDevSender(outbox)
		}
		return adapters.Unconfigured(channel)
	}
	senders := map[string]domain.Sender{
		contract.ChannelEmail: fallback(contract.ChannelEmail),
		contract.ChannelSMS:   fallback(contract.ChannelSMS),
		contract.ChannelPush:  fallback(contract.ChannelPush),
	}
	if s.smtpURL != "" {
		smtpSender, err := adapters.NewSMTPSender(s.smtpURL, s.mailFrom)
		if err != nil {
			return nil, fmt.Errorf("DOSS_SMTP_URL: %w", err)
		}
		senders[contract.ChannelEmail] = smtpSender
	}
	if s.sms.URL != "" {
		senders[contract.ChannelSMS] = adapters.NewSMSSender(s.sms, httpClient)
	}
	if s.fcmKeyFile != "" {
		push, err := fcmSender(s.fcmKeyFile, s.fcmBaseURL, httpClient)
		if err != nil {
			return nil, fmt.Errorf("DOSS_FCM_CREDENTIALS_FILE: %w", err)
		}
		senders[contract.ChannelPush] = push
	}
	return senders, nil
}

// fcmSender reads the service-account key once; its access tokens are
// minted on first use and replaced before they expire.
func fcmSender(keyFile, baseURL string, client *http.Client) (*adapters.FCMSender, error) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	key, err := adapters.ParseFCMKey(data)
	if err != nil {
		return nil, err
	}
	return adapters.NewFCMSender(baseURL, key, adapters.NewAccessTokens(key, client, time.Now), client)
}

// deps is everything start needs; tests build it with fake senders and
// tiny backoffs.
type deps struct {
	nc       *nats.Conn
	db       *mongo.Database
	log      *zap.Logger
	dev      bool
	key      []byte
	senders  map[string]domain.Sender
	replicas int
	// maxDeliver and backoff bound the retries of a failing send before
	// the event is dead-lettered; zero values mean the events defaults.
	maxDeliver int
	backoff    []time.Duration
}

type running struct {
	consumer *events.Consumer
	erasure  *events.Consumer
	service  *natsx.Service
}

// stop stops reading events, then stops answering requests; handlers in
// flight finish.
func (r *running) stop() {
	r.consumer.Stop()
	r.erasure.Stop()
	_ = r.service.Stop()
}

// eraseAccount is the notifier's part of a purge: the messages kept for
// the account's addresses, and what its delivery records say about the
// account (recipient, template, text). It keeps no device tokens (a push
// names its token in the event); a dropped token's fingerprint names no
// one and stays, so a dead token is never retried.
func eraseAccount(outbox *adapters.Outbox, deliveries *adapters.Deliveries) func(context.Context, contract.AccountDeletionDue) error {
	return func(ctx context.Context, due contract.AccountDeletionDue) error {
		var addrs []string
		for _, a := range []string{due.Email, due.Phone} {
			if a != "" {
				addrs = append(addrs, a)
			}
		}
		if err := deliveries.Forget(ctx, due.UserID, due.UUID, addrs); err != nil {
			return err
		}
		return outbox.Erase(ctx, addrs)
	}
}

func start(ctx context.Context, d deps) (*running, error) {
	box, err := seal.New(d.key)
	if err != nil {
		return nil, fmt.Errorf("DOSS_NOTIFY_KEY: %w", err)
	}
	tpl, err := templates.Load()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(d.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := events.EnsureStreams(ctx, js, d.replicas); err != nil {
		return nil, err
	}
	svc, err := natsx.NewService(d.nc, d.log, natsx.ServiceConfig{Name: contract.ServiceNotifier, Version: Version})
	if err != nil {
		return nil, err
	}
	var outbox ports.OutboxLister
	if d.dev {
		outbox = adapters.NewOutbox(d.db)
	}
	if err := natsx.AddHealth(svc, contract.ServiceNotifier, map[string]natsx.Check{"store": func(ctx context.Context) error { return d.db.Client().Ping(ctx, nil) }}); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	if err := ports.Register(svc, outbox, adapters.NewDeliveries(d.db)); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	n := app.New(box, tpl, countSends(d.senders), adapters.NewDeliveries(d.db), adapters.NewDroppedDevices(d.db))
	consumer, err := events.Consume(ctx, js, d.log, events.ConsumerConfig{
		Durable:    contract.DurableNotifier,
		Subjects:   []string{contract.EventOTPRequested, contract.EventNotificationWanted},
		MaxDeliver: d.maxDeliver,
		Backoff:    d.backoff,
		Handler:    n.HandleEvent,
	})
	if err != nil {
		_ = svc.Stop()
		return nil, err
	}
	erasure, err := events.Consume(ctx, js, d.log, events.ConsumerConfig{
		Durable: contract.DurableNotifierErasure, Subjects: []string{contract.EventAccountDeletionDue}, MaxDeliver: 50,
		Handler: events.Erasure(events.NewPublisher(js), contract.ServiceNotifier, eraseAccount(adapters.NewOutbox(d.db), adapters.NewDeliveries(d.db))),
	})
	if err != nil {
		consumer.Stop()
		_ = svc.Stop()
		return nil, err
	}
	return &running{consumer: consumer, erasure: erasure, service: svc}, nil
}
