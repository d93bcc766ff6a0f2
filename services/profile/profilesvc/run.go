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

	"github.com/dossapp/backend/pkg/blob"
	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/service"
	"github.com/dossapp/backend/pkg/uploads"
	"github.com/dossapp/backend/services/profile/internal/adapters"
	"github.com/dossapp/backend/services/profile/internal/app"
	"github.com/dossapp/backend/services/profile/internal/wallet"
)

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

func (a authContacts) VerifyContact(ctx context.Context, req contract.ContactVerifyRequest) (contract.Account, error) {
	return natsx.Call[contract.ContactVerifyRequest, contract.Account](ctx, a.nc, contract.AuthVerifyContact, req)
}

func (a authContacts) TwoFAStart(ctx context.Context, req contract.TwoFAStartRequest) (contract.TwoFAStartReply, error) {
	return natsx.Call[contract.TwoFAStartRequest, contract.TwoFAStartReply](ctx, a.nc, contract.AuthTwoFAStart, req)
}

func (a authContacts) TwoFAVerify(ctx context.Context, req contract.TwoFAVerifyRequest) (contract.TwoFAVerifyReply, error) {
	return natsx.Call[contract.TwoFAVerifyRequest, contract.TwoFAVerifyReply](ctx, a.nc, contract.AuthTwoFAVerify, req)
}

// Run serves until ctx ends.
func Run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	e := config.New(getenv)
	common := e.ReadCommon()
	e.RequireBusSigner(common) // it changes a user's contacts in auth
	s3 := blob.ReadConfig(e)
	photoTTL := e.Duration("DOSS_IMAGE_LINK_TTL", time.Hour)
	docTTL := min(e.Duration("DOSS_DOCUMENT_LINK_TTL", 15*time.Minute), 15*time.Minute)
	passKeys, passKeysErr := readPassKeys(e.String("DOSS_PASS_SIGNING_KEY", ""), e.String("DOSS_PASS_PREVIOUS_KEYS", ""), common.Dev())
	verifyPerMin := e.Int("DOSS_PASS_VERIFY_PER_MIN", 60)
	issuesPerHour := e.Int("DOSS_PASS_ISSUES_PER_HOUR", 60)
	if err := errors.Join(e.Err(), passKeysErr); err != nil {
		return err
	}
	if photoTTL < time.Second || docTTL < time.Second {
		return fmt.Errorf("DOSS_IMAGE_LINK_TTL and DOSS_DOCUMENT_LINK_TTL must be at least 1s")
	}
	store, err := blob.New(s3)
	if err != nil {
		return err
	}
	return service.Run(ctx, getenv, stdout, common, service.Declaration{
		Name: contract.ServiceProfile, Version: "0.1.0", Description: "the user's profile",
		Build: func(ctx context.Context, c service.Conns) (service.Parts, error) {
			return build(ctx, c, store, photoTTL, docTTL, passKeys, verifyPerMin, issuesPerHour)
		},
	})
}

// build opens the profile stores and lists what the service runs.
func build(ctx context.Context, c service.Conns, store *blob.Store, photoTTL, docTTL time.Duration, passKeys app.PassKeys, verifyPerMin, issuesPerHour int) (service.Parts, error) {
	db, nc, js := c.DB, c.NC, c.JS
	lists := db.Collection("profile_user_lists") // each user's postings, revocations, verifications
	passStore := adapters.NewPasses(db.Collection("profile_passes"), db.Collection("profile_pass_revocations"), db.Collection("profile_pass_verifications"), lists)
	profiles, postings, limits := adapters.NewVersionedProfiles(db.Collection("profile_profiles")), adapters.NewPostings(db.Collection("profile_postings"), lists), mongox.NewLedgerLimits(db.Collection("profile_pass_limits"), nil)
	svc := &app.Service{
		Profiles: profiles,
		Accounts: accountsFrom(nc),
		Contacts: authContacts{nc: nc},
		Photos:   adapters.Images{Store: store, TTL: photoTTL},
		// Document images live in the same private bucket (the documents
		// service writes them; the snapshot in its events names the keys).
		DocumentLinks: adapters.Images{Store: store, TTL: docTTL},
		MaxAge:        app.MaxAgeFor(photoTTL, docTTL),
		TwoFA:         authContacts{nc: nc},

		Publish: events.NewPublisher(js).Publish,
		Passes: app.Passes{
			Keys:          passKeys,
			Store:         passStore,
			Photos:        adapters.Images{Store: store, TTL: contract.PassDefaultTTL},
			Limits:        limits,
			VerifyPerMin:  verifyPerMin,
			IssuesPerHour: issuesPerHour,
		},
		EraseObjects: func(ctx context.Context, prefix string) error {
			// Everything under the prefix, whenever it was written.
			_, err := store.DeleteOlder(ctx, prefix, time.Now().Add(24*time.Hour))
			return err
		},
	}
	svc.Wallet = &wallet.Service{Postings: postings, Referrals: adapters.ReferralCodes{C: db.Collection("profile_referral_codes")}, Users: svc, Publish: svc.Publish}
	if err := errors.Join(profiles.EnsureIndexes(ctx), passStore.EnsureIndexes(ctx), limits.EnsureIndexes(ctx), postings.EnsureIndexes(ctx)); err != nil {
		return service.Parts{}, err
	}
	if _, err := uploads.Store(ctx, js, uploads.ProfileBucket, c.Common.StreamReplicas); err != nil {
		return service.Parts{}, fmt.Errorf("uploads store: %w", err)
	}
	relay := mongox.NewRelay(events.NewPublisher(js), c.Log, profiles.Collection(), lists)
	profiles.RelayTo(relay)
	// Names set before their changes were announced reach auth once.
	if err := profiles.AnnounceNamesOnce(ctx, app.AnnounceStoredNames); err != nil {
		return service.Parts{}, err
	}
	return service.Parts{
		Endpoints: routes(svc, js),
		Consumers: []events.ConsumerConfig{
			{Durable: contract.DurableProfileAccounts, Handler: svc.HandleEvent},
			{Durable: contract.DurableProfileDocuments, Handler: svc.OnDocumentChanged},
			{Durable: contract.DurableProfileObjects, Handler: blob.DeleteOrphans(store.Delete), MaxDeliver: 20},
			{Durable: contract.DurableProfilePostings, Handler: svc.Wallet.HandlePosting},
			// A deletion request kills the passes at once, days before the
			// purge; auth does not ask for it.
			{Durable: contract.DurableProfileDeletions, Handler: svc.OnDeletionRequested, MaxDeliver: 50},
			{Durable: contract.DurableProfileErasure, Handler: events.Erasure(events.NewPublisher(js), contract.ServiceProfile, svc.EraseAccount), MaxDeliver: 50},
		},
		Loops: []func(context.Context){relay.Run},
	}, nil
}
