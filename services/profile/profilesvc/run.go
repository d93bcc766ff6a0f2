// Package profilesvc runs the profile service: config, connections,
// endpoints, the account-registered consumer, the event relay, and an
// orderly shutdown.
package profilesvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/logx"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/obs"
	"github.com/dossapp/backend/services/profile/internal/adapters"
	"github.com/dossapp/backend/services/profile/internal/app"
)

// Durable is the consumer that creates profiles as accounts register and
// follows their contact changes.
const Durable = "profile-accounts"

// accountsFrom asks auth for an account over NATS, as the caller.
func accountsFrom(nc *nats.Conn) app.AccountSource {
	return func(ctx context.Context, userID int64) (contract.Account, error) {
		return natsx.Call[contract.AccountGetRequest, contract.Account](ctx, nc, contract.AuthAccountGet, contract.AccountGetRequest{UserID: userID})
	}
}

// authContacts asks auth to change an account's contacts, as the caller.
type authContacts struct{ nc *nats.Conn }

func (a authContacts) ChangeEmail(ctx context.Context, req contract.ChangeEmailRequest) (contract.Account, error) {
	return natsx.Call[contract.ChangeEmailRequest, contract.Account](ctx, a.nc, contract.AuthChangeEmail, req)
}

func (a authContacts) ChangePhone(ctx context.Context, req contract.ChangePhoneRequest) (contract.Account, error) {
	return natsx.Call[contract.ChangePhoneRequest, contract.Account](ctx, a.nc, contract.AuthChangePhone, req)
}

// Run serves until ctx ends.
func Run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	e := config.New(getenv)
	common := e.ReadCommon()
	s3 := adapters.S3Config{
		Endpoint:  e.String("DOSS_S3_ENDPOINT", "http://127.0.0.1:9000"),
		AccessKey: e.String("DOSS_S3_ACCESS_KEY", ""),
		SecretKey: e.String("DOSS_S3_SECRET_KEY", ""),
		Region:    e.String("DOSS_S3_REGION", "us-east-1"),
		Bucket:    e.String("DOSS_S3_BUCKET", "doss-private"),
		LinkTTL:   e.Duration("DOSS_IMAGE_LINK_TTL", time.Hour),
	}
	if err := e.Err(); err != nil {
		return err
	}
	photos, err := adapters.NewPhotos(s3)
	if err != nil {
		return err
	}
	log := logx.New(stdout, common.Dev(), contract.ServiceProfile)
	defer func() { _ = log.Sync() }()

	nc, js, err := natsx.Connect(common.NATSURL, contract.ServiceProfile)
	if err != nil {
		return err
	}
	defer func() { _ = nc.Drain() }()
	ops, err := obs.Start(getenv, contract.ServiceProfile, obs.NATSReady(nc))
	if err != nil {
		return err
	}
	defer ops.Stop()
	if err := events.EnsureStreams(ctx, js, common.StreamReplicas); err != nil {
		return err
	}
	client, db, err := mongox.Connect(ctx, common.MongoURI, common.MongoDB)
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()

	svc := &app.Service{
		Profiles: mongox.NewVersioned[app.Profile](db.Collection("profile_profiles")),
		Accounts: accountsFrom(nc),
		Contacts: authContacts{nc: nc},
		Photos:   photos,
	}
	if err := svc.Profiles.EnsureIndexes(ctx); err != nil {
		return err
	}
	if _, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: UploadsBucket, TTL: time.Hour, Replicas: common.StreamReplicas,
		Description: "profile photo uploads in flight from the gateway"}); err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
		return fmt.Errorf("uploads store: %w", err)
	}
	relay := mongox.NewRelay(events.NewPublisher(js), log, svc.Profiles.Collection())
	svc.Kick = relay.Kick

	ms, err := natsx.NewService(nc, log, natsx.ServiceConfig{Name: contract.ServiceProfile, Version: "0.1.0", Description: "the user's profile"})
	if err != nil {
		return err
	}
	if err := routes(ms, svc, js); err != nil {
		_ = ms.Stop()
		return err
	}
	if err := natsx.AddHealth(ms, contract.ServiceProfile, map[string]natsx.Check{"store": mongox.Pinger(client)}); err != nil {
		_ = ms.Stop()
		return err
	}
	consumer, err := events.Consume(ctx, js, log, events.ConsumerConfig{
		Durable:  Durable,
		Subjects: []string{contract.EventAccountRegistered, contract.EventEmailChanged, contract.EventPhoneChanged},
		Handler:  svc.HandleEvent,
	})
	if err != nil {
		_ = ms.Stop()
		return err
	}
	rctx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); relay.Run(rctx) }()

	log.Info("profile ready")
	<-ctx.Done()
	log.Info("profile stopping")
	consumer.Stop()
	_ = ms.Stop()
	stopRelay()
	<-relayDone
	return nil
}
