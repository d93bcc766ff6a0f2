// Package authsvc runs the auth service: config, connections, endpoints,
// relay, and an orderly shutdown.
package authsvc

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/seal"
	"github.com/dossapp/backend/pkg/service"
	"github.com/dossapp/backend/services/auth/internal/adapters"
	"github.com/dossapp/backend/services/auth/internal/app"
)

// devSecret derives a fixed dev-mode secret, so `make run` needs no setup;
// production refuses to start without real ones.
func devSecret(name string) []byte {
	s := sha256.Sum256([]byte("doss-dev-only:" + name))
	return s[:]
}

type settings struct {
	common     config.Common
	codeKey    []byte
	pepper     []byte
	notifyKey  []byte
	signingKey string
	verifyKeys string
	tokenTTL   time.Duration
	argon      app.Argon2
	limits     app.Limits
}

func readSettings(getenv func(string) string) (settings, error) {
	e := config.New(getenv)
	c := e.ReadCommon()
	dev := c.Dev()
	s := settings{
		common:     c,
		codeKey:    e.Secret("DOSS_OTP_SECRET", 32, dev, devSecret("otp")),
		pepper:     e.Secret("DOSS_PIN_PEPPER", 32, dev, devSecret("pepper")),
		notifyKey:  e.Secret("DOSS_NOTIFY_KEY", 32, dev, config.DevNotifyKey),
		signingKey: e.String("DOSS_JWT_SIGNING_KEY", ""),
		verifyKeys: e.String("DOSS_JWT_PREVIOUS_KEYS", ""),
		tokenTTL:   e.Duration("DOSS_TOKEN_TTL", 24*time.Hour),
		argon: app.Argon2{
			MemoryKiB: uint32(e.Int("DOSS_ARGON2_MEMORY_KIB", 19456)),
			Time:      uint32(e.Int("DOSS_ARGON2_TIME", 2)),
			Threads:   1,
		},
		limits: app.DefaultLimits(),
	}
	s.limits.CodeLength = e.Int("DOSS_OTP_LENGTH", 4)
	s.limits.CodeTTL = e.Duration("DOSS_OTP_TTL", s.limits.CodeTTL)
	s.limits.SendGap = e.Duration("DOSS_OTP_SEND_GAP", s.limits.SendGap)
	s.limits.SendsPerHour = e.Int("DOSS_OTP_SENDS_PER_HOUR", s.limits.SendsPerHour)
	s.limits.PINLockBase = e.Duration("DOSS_PIN_LOCK_BASE", s.limits.PINLockBase)
	s.limits.IPSends.Max = e.Int("DOSS_IP_SENDS_PER_HOUR", s.limits.IPSends.Max)
	s.limits.IPChecks.Max = e.Int("DOSS_IP_CHECKS_PER_10MIN", s.limits.IPChecks.Max)
	s.limits.AddressSendsPerHour = e.Int("DOSS_OTP_ADDRESS_SENDS_PER_HOUR", s.limits.AddressSendsPerHour)
	s.limits.FailuresPerDay = e.Int("DOSS_OTP_FAILURES_PER_DAY", s.limits.FailuresPerDay)
	s.limits.ClientFailuresPerDay = e.Int("DOSS_OTP_CLIENT_FAILURES_PER_DAY", s.limits.ClientFailuresPerDay)
	s.limits.SMSPerRegistration = e.Int("DOSS_SMS_PER_REGISTRATION", s.limits.SMSPerRegistration)
	s.limits.SMSPerHour = e.Int("DOSS_SMS_PER_HOUR", s.limits.SMSPerHour)
	s.limits.SMSCountries = countryList(e.String("DOSS_SMS_COUNTRIES", ""))
	s.limits.RevealRegistered = e.Bool("DOSS_REVEAL_REGISTERED", false)
	s.limits.DeletionGrace = e.Duration("DOSS_ACCOUNT_DELETION_GRACE", s.limits.DeletionGrace)
	if s.signingKey == "" && !dev {
		e.Required("DOSS_JWT_SIGNING_KEY")
	}
	if s.limits.DeletionGrace < 0 {
		return s, errors.Join(e.Err(), errors.New("DOSS_ACCOUNT_DELETION_GRACE: must not be negative"))
	}
	if n := s.limits.FailuresPerDay; n < 1 || n > app.MaxFailuresPerDay {
		return s, errors.Join(e.Err(), fmt.Errorf("DOSS_OTP_FAILURES_PER_DAY: must be 1 to %d (what one failure-chain entry can carry)", app.MaxFailuresPerDay))
	}
	return s, e.Err()
}

// countryList reads DOSS_SMS_COUNTRIES: calling codes, "1,44" or "+1 +44";
// empty allows every country.
func countryList(v string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, strings.TrimPrefix(f, "+"))
	}
	return out
}

func signer(s settings) (*app.Signer, error) {
	kid, key := "dev", ed25519.NewKeyFromSeed(devSecret("jwt"))
	if s.signingKey != "" {
		var err error
		if kid, key, err = app.ParseSigningKey(s.signingKey); err != nil {
			return nil, fmt.Errorf("DOSS_JWT_SIGNING_KEY: %w", err)
		}
	}
	sg := &app.Signer{KeyID: kid, Key: key, Issuer: contract.TokenIssuer, Audience: contract.TokenAudience, TTL: s.tokenTTL}
	for _, v := range strings.Split(s.verifyKeys, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		k, err := app.ParseVerifyKey(v)
		if err != nil {
			return nil, fmt.Errorf("DOSS_JWT_PREVIOUS_KEYS: %w", err)
		}
		sg.Previous = append(sg.Previous, k)
	}
	return sg, nil
}

// revocations writes revoked session ids to the KV bucket gateways watch.
type revocations struct{ kv jetstream.KeyValue }

func (r revocations) Revoke(ctx context.Context, sid string) error {
	if _, err := r.kv.Put(ctx, sid, []byte("1")); err != nil {
		return mongox.Wrap("revocation publish", err)
	}
	return nil
}

// Run serves until ctx ends.
func Run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	s, err := readSettings(getenv)
	if err != nil {
		return err
	}
	box, err := seal.New(s.notifyKey)
	if err != nil {
		return err
	}
	sg, err := signer(s)
	if err != nil {
		return err
	}
	return service.Run(ctx, getenv, stdout, s.common, service.Declaration{
		Name: contract.ServiceAuth, Version: "0.1.0", Description: "registration, PIN login, tokens and sessions", Outcome: countOutcome,
		Build: func(ctx context.Context, c service.Conns) (service.Parts, error) { return build(ctx, c, s, box, sg) },
	})
}

// build opens auth's stores and the revocation bucket and lists what the
// service runs.
func build(ctx context.Context, c service.Conns, s settings, box *seal.Box, sg *app.Signer) (service.Parts, error) {
	var kv jetstream.KeyValue
	err := natsx.Settle(ctx, "revocation bucket", func(ctx context.Context) (err error) {
		kv, err = c.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: contract.BucketRevokedSessions, TTL: s.tokenTTL + time.Hour, Storage: jetstream.FileStorage,
			Replicas: s.common.StreamReplicas,
		})
		return err
	})
	if err != nil {
		return service.Parts{}, fmt.Errorf("revocation bucket: %w", err)
	}
	db, log := c.DB, c.Log
	sessions := adapters.NewSessions(db.Collection("auth_sessions"), db.Collection("auth_session_revocations"))
	if err := sessions.FindLegacy(ctx, time.Now()); err != nil {
		return service.Parts{}, err
	}
	accounts := adapters.NewChains[app.Account](db.Collection("auth_accounts"))
	codes := adapters.NewChainedCodes(db.Collection("auth_otps"))
	challenges := adapters.NewChallenges(db.Collection("auth_challenges"))
	names := adapters.NewVersionedNames(db.Collection("auth_names"))
	// The due index holds only deletions in flight: the deletion loop
	// reads all of it.
	deletions := adapters.NewDeletions[app.Deletion](db.Collection("auth_deletions"), db.Collection("auth_deletions_due"))
	svc := &app.Service{
		Accounts:   accounts,
		OTPs:       codes,
		Claims:     adapters.NewClaims(db.Collection("auth_claims")),
		Sessions:   sessions,
		Challenges: challenges,
		Ledger:     adapters.NewCounters(mongox.NewLedger(db.Collection("auth_ledger"), nil)),
		IDs:        adapters.NewCounters(mongox.NewLedger(db.Collection("auth_ids"), nil)),
		Hasher:     app.NewHasher(s.argon, s.pepper),
		CodeKey:    s.codeKey,
		Box:        box,
		Signer:     sg,
		Limits:     s.limits,
		Dev:        s.common.Dev(),
		Now:        time.Now,
		Revoked:    revocations{kv: kv},
		Names:      names,
		Observe:    budgetLog{log: log},
		Deletions:  deletions,
	}
	for _, ix := range []interface{ EnsureIndexes(context.Context) error }{accounts, codes, challenges, svc.Ledger, svc.IDs, deletions, svc.Sessions, names} {
		if err := ix.EnsureIndexes(ctx); err != nil {
			return service.Parts{}, err
		}
	}
	// The names' chains hold no events: the relay only sweeps them.
	relay := mongox.NewRelay(events.NewPublisher(c.JS), log, accounts.Collection(), codes.Collection(), deletions.Collection(), names.Collection())
	accounts.RelayTo(relay)
	codes.RelayTo(relay)
	deletions.RelayTo(relay)
	staff, err := newStaff(db, svc.Hasher, s.codeKey)
	if err != nil {
		return service.Parts{}, err
	}
	return service.Parts{
		Endpoints: routes(svc, staff),
		Consumers: []events.ConsumerConfig{
			// The console's audit page reads the admin.audited events from a
			// collection of auth's own: the stream keeps them for 7 days only.
			{Durable: contract.DurableAuthAudit, Handler: auditHandler(staff)},
			{
				Durable: contract.DurableAuthDeletions, Handler: svc.HandleDeletionEvent,
				// A purge is retried until it is done: a long tail of retries, and
				// the deletion loop asks the services again after that.
				MaxDeliver: 50, Backoff: []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, time.Minute},
			},
			// The names a login answers with, as profile announces them.
			{Durable: contract.DurableAuthNames, Handler: svc.HandleNamesEvent},
		},
		Loops: []func(context.Context){
			relay.Run,
			func(ctx context.Context) {
				sweep(ctx, svc, map[string]expiring{"otp": codes, "challenge": challenges}, staff, log)
			},
			func(ctx context.Context) { republishRevocations(ctx, svc, log) },
			func(ctx context.Context) { deletionLoop(ctx, svc, log) },
		},
	}, nil
}

// deletionLoop starts the purges that come due and asks again for the
// parts of a purge that are late. It reads only the index of deletions in
// flight, every few seconds.
func deletionLoop(ctx context.Context, svc *app.Service, log *zap.Logger) {
	every(ctx, 5*time.Second, func() {
		if err := svc.DeletionsPass(ctx); err != nil {
			log.Warn("deletions pass", zap.Error(err))
		}
	})
}

// every runs fn at each interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// sweep removes ledger entries no limit looks at any more (FerretDB has no
// TTL indexes; on MongoDB this is as cheap as a query).
// republishRevocations retries, every few seconds, telling the gateways
// of revocations whose first attempt failed.
func republishRevocations(ctx context.Context, svc *app.Service, log *zap.Logger) {
	every(ctx, 2*time.Second, func() {
		if n, err := svc.RepublishRevocations(ctx, 2*time.Second); err != nil {
			log.Warn("revocations still pending", zap.Error(err))
		} else if n > 0 {
			log.Info("pending revocations sent to the gateways", zap.Int("sessions", n))
		}
	})
}

// expiring is a store whose records no one reads once they are age old.
type expiring interface {
	Sweep(ctx context.Context, age time.Duration) error
}

func sweep(ctx context.Context, svc *app.Service, expired map[string]expiring, staff *app.Staff, log *zap.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := svc.Ledger.Sweep(ctx, 48*time.Hour); err != nil {
				log.Warn("ledger sweep", zap.Error(err))
			} else if n > 0 {
				log.Info("ledger swept", zap.Int64("entries", n))
			}
			// Codes expire after minutes, challenges with them; neither
			// need outlive a day.
			for name, e := range expired {
				if err := e.Sweep(ctx, 48*time.Hour); err != nil {
					log.Warn(name+" sweep", zap.Error(err))
				}
			}
			// Expired sessions and their revocations are read by nothing; a
			// revocation outlives any token naming its session.
			if err := svc.Sessions.Sweep(ctx, time.Now().Add(-48*time.Hour), time.Now().Add(-48*time.Hour-svc.Signer.TTL)); err != nil {
				log.Warn("session sweep", zap.Error(err))
			}
			// Staff sign-in failures and used TOTP steps no check reads any
			// more, and console sessions past their 8 h.
			if _, err := staff.Ledger.Sweep(ctx, 24*time.Hour); err != nil {
				log.Warn("staff ledger sweep", zap.Error(err))
			}
			for name, e := range map[string]expiring{"staff code": staff.UsedCodes, "staff session": staff.Sessions} {
				if err := e.Sweep(ctx, 24*time.Hour); err != nil {
					log.Warn(name+" sweep", zap.Error(err))
				}
			}
		}
	}
}
