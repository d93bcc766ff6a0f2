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

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/seal"
	"github.com/dossapp/backend/pkg/service"
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
	s.maxDeliver = env.Int("DOSS_NOTIFY_MAX_DELIVER", 6)
	return s, errors.Join(append([]error{env.Err()}, problems...)...)
}

// Run reads the configuration and serves the notifier's declaration until
// ctx ends. Everything a setting can get wrong (the key, a provider's key
// file) is read before any connection, so a bad one stops the start at once.
func Run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	s, err := readSettings(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	box, err := seal.New(s.notifyKey)
	if err != nil {
		return fmt.Errorf("config: DOSS_NOTIFY_KEY: %w", err)
	}
	providers, err := buildProviders(s)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return service.Run(ctx, getenv, stdout, s.common, declaration(wiring{box: box, providers: providers, maxDeliver: s.maxDeliver}))
}

// wiring is what the declaration needs besides its connections; tests
// give it their own providers and tiny backoffs.
type wiring struct {
	box *seal.Box
	// providers are the configured senders by channel; a channel with
	// none gets withFallbacks' sender.
	providers map[string]domain.Sender
	// maxDeliver and backoff bound the retries of a failing send before
	// the event is dead-lettered; zero values mean the events defaults.
	maxDeliver int
	backoff    []time.Duration
}

func declaration(w wiring) service.Declaration {
	return service.Declaration{
		Name: contract.ServiceNotifier, Version: Version, Description: "delivers one-time codes and notifications by email, SMS and push",
		// Nothing waits for the notifier, and it may be scheduled before
		// its bus and store: it waits for them rather than crash-looping.
		FirstConnect: natsx.SettleBudget,
		Build:        func(_ context.Context, c service.Conns) (service.Parts, error) { return build(c, w) },
	}
}

// build lists what the notifier runs: its two endpoints, the consumer of
// the events it delivers and the consumer of the purges it takes part in.
func build(c service.Conns, w wiring) (service.Parts, error) {
	tpl, err := templates.Load()
	if err != nil {
		return service.Parts{}, err
	}
	outbox, deliveries := adapters.NewOutbox(c.DB), adapters.NewDeliveries(c.DB)
	n := app.New(w.box, tpl, countSends(withFallbacks(w.providers, c.Common.Dev(), outbox)), deliveries, adapters.NewDroppedDevices(c.DB))
	var listed ports.OutboxLister
	if c.Common.Dev() {
		listed = outbox
	}
	return service.Parts{
		Endpoints: ports.Routes(listed, deliveries),
		Consumers: []events.ConsumerConfig{
			{
				Durable:    contract.DurableNotifier,
				MaxDeliver: w.maxDeliver, Backoff: w.backoff, Handler: n.HandleEvent,
			},
			{
				Durable: contract.DurableNotifierErasure, MaxDeliver: 50,
				Handler: events.Erasure(events.NewPublisher(c.JS), contract.ServiceNotifier, eraseAccount(outbox, deliveries)),
			},
		},
	}, nil
}

// buildProviders returns the sender of each channel that has a provider
// configured.
func buildProviders(s settings) (map[string]domain.Sender, error) {
	httpClient := &http.Client{Timeout: 20 * time.Second}
	providers := map[string]domain.Sender{}
	if s.smtpURL != "" {
		smtpSender, err := adapters.NewSMTPSender(s.smtpURL, s.mailFrom)
		if err != nil {
			return nil, fmt.Errorf("DOSS_SMTP_URL: %w", err)
		}
		providers[contract.ChannelEmail] = smtpSender
	}
	if s.sms.URL != "" {
		providers[contract.ChannelSMS] = adapters.NewSMSSender(s.sms, httpClient)
	}
	if s.fcmKeyFile != "" {
		push, err := fcmSender(s.fcmKeyFile, s.fcmBaseURL, httpClient)
		if err != nil {
			return nil, fmt.Errorf("DOSS_FCM_CREDENTIALS_FILE: %w", err)
		}
		providers[contract.ChannelPush] = push
	}
	return providers, nil
}

// withFallbacks gives every channel its provider, else the dev sender in
// dev mode, else one that always fails: in prod nothing pretends to
// deliver.
func withFallbacks(providers map[string]domain.Sender, dev bool, outbox *adapters.Outbox) map[string]domain.Sender {
	senders := map[string]domain.Sender{}
	for _, channel := range []string{contract.ChannelEmail, contract.ChannelSMS, contract.ChannelPush} {
		switch p, ok := providers[channel]; {
		case ok:
			senders[channel] = p
		case dev:
			senders[channel] = adapters.NewDevSender(outbox)
		default:
			senders[channel] = adapters.Unconfigured(channel)
		}
	}
	return senders
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
