// Package service runs any service from its declaration: it opens the
// connections, lets the service build its parts on them, serves its
// endpoint table with each row's caller check, and stops in reverse order
// of opening, so that nothing still working finds a store already closed.
package service

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/logx"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/obs"
)

// Declaration is a service: its name on the bus and how it builds its
// parts once the connections are open.
type Declaration struct {
	Name        string
	Version     string
	Description string
	// Outcome, when set, hears every answered request (natsx.ServiceConfig).
	Outcome func(subject, code string)
	// FirstConnect, when set, is how long Run keeps trying a Mongo or a
	// NATS that does not answer at start: a service that may start before
	// them (the notifier, scheduled with no ordering) waits for them
	// instead of exiting. Zero gives up at the first failure, so that a
	// service whose orchestrator starts it after its stores says at once
	// that they are gone.
	FirstConnect time.Duration
	// Build opens the service's stores and buckets on the connections and
	// returns what it serves; an error stops the start-up.
	Build func(ctx context.Context, c Conns) (Parts, error)
}

// Conns are the connections Run opened for Build.
type Conns struct {
	NC     *nats.Conn
	JS     jetstream.JetStream
	Client *mongo.Client
	DB     *mongo.Database
	Log    *zap.Logger
	Common config.Common
}

// Parts are what a service built: its endpoint table, the JetStream
// consumers that feed it, and its background loops (the event relay, the
// sweepers). Checks join the store ping in the health endpoint.
type Parts struct {
	Endpoints []Endpoint
	Consumers []events.ConsumerConfig
	Loops     []func(ctx context.Context)
	Checks    map[string]natsx.Check
}

// Run serves decl until ctx ends. The stop runs in reverse of the start:
// consumers and endpoints stop taking work (and finish what they took),
// the loops end, NATS drains (its subscriptions' handlers in flight
// finish), and only then does Mongo disconnect.
func Run(ctx context.Context, getenv func(string) string, stdout io.Writer, common config.Common, decl Declaration) (err error) {
	log := logx.New(stdout, common.Dev(), decl.Name)
	defer func() { _ = log.Sync() }()
	var undo []func()
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()

	var client *mongo.Client
	var db *mongo.Database
	err = firstConnect(ctx, log, "mongo", decl.FirstConnect, func(ctx context.Context) (err error) {
		client, db, err = mongox.Connect(ctx, common.MongoURI, common.MongoDB)
		return err
	})
	if err != nil {
		return err
	}
	undo = append(undo, func() { _ = client.Disconnect(context.Background()) })

	var nc *nats.Conn
	var js jetstream.JetStream
	var closed chan struct{}
	err = firstConnect(ctx, log, "nats", decl.FirstConnect, func(context.Context) (err error) {
		// Each attempt its own channel: the drain waits for the close of
		// the connection that was made.
		closed = make(chan struct{})
		done := closed
		nc, js, err = natsx.Dial(common.Bus, decl.Name, log, nats.ClosedHandler(func(*nats.Conn) { close(done) }))
		return err
	})
	if err != nil {
		return err
	}
	undo = append(undo, func() {
		if nc.Drain() != nil {
			nc.Close()
		}
		<-closed
	})
	ops, err := obs.Start(getenv, decl.Name, obs.NATSReady(nc))
	if err != nil {
		return err
	}
	undo = append(undo, ops.Stop)
	if err := events.EnsureStreams(ctx, js, common.StreamReplicas); err != nil {
		return err
	}
	parts, err := decl.Build(ctx, Conns{NC: nc, JS: js, Client: client, DB: db, Log: log, Common: common})
	if err != nil {
		return err
	}

	lctx, stopLoops := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	for _, loop := range parts.Loops {
		loops.Go(func() { loop(lctx) })
	}
	undo = append(undo, func() { stopLoops(); loops.Wait() })

	ms, err := natsx.NewService(nc, log, natsx.ServiceConfig{Name: decl.Name, Version: decl.Version, Description: decl.Description, Outcome: decl.Outcome})
	if err != nil {
		return err
	}
	undo = append(undo, func() { _ = ms.Stop() })
	if err := mount(ms, parts.Endpoints); err != nil {
		return err
	}
	checks := map[string]natsx.Check{"store": mongox.Pinger(client)}
	for name, c := range parts.Checks {
		checks[name] = c
	}
	if err := natsx.AddHealth(ms, decl.Name, checks); err != nil {
		return err
	}
	for _, cfg := range parts.Consumers {
		c, err := events.Consume(ctx, js, log, cfg)
		if err != nil {
			return err
		}
		undo = append(undo, c.Stop)
	}

	log.Info(decl.Name + " ready")
	<-ctx.Done()
	log.Info(decl.Name + " stopping")
	return nil
}

// firstConnect makes one attempt, or, given patience, attempts until one
// succeeds or the patience ends, saying once in the log that it waits.
// Every error is tried again: from here a server not yet listening and
// one refusing look alike, and the patience bounds a setting that is
// simply wrong.
func firstConnect(ctx context.Context, log *zap.Logger, what string, patience time.Duration, connect func(context.Context) error) error {
	err := connect(ctx)
	if err == nil || patience <= 0 {
		return err
	}
	log.Warn(what+" does not answer yet; waiting for it", zap.Duration("patience", patience), zap.Error(err))
	return natsx.SettleWithin(ctx, what, patience, func(error) bool { return true }, connect)
}

// Role says who may call an endpoint.
type Role string

const (
	// Public endpoints serve anyone the gateway lets through (sign-up,
	// login); the caller's client fields still come along.
	Public Role = "public"
	// User endpoints need the user a verified assertion names.
	User Role = "user"
	// Admin endpoints need the operator the admin API vouched for.
	Admin Role = "admin"
	// Peer endpoints are for other services: the bus's per-service publish
	// permissions decide who reaches them, not an assertion.
	Peer Role = "peer"
)

// admit returns the caller if the role lets them in.
func (r Role) admit(ctx context.Context) (natsx.Caller, error) {
	switch r {
	case User:
		return natsx.RequireUser(ctx)
	case Admin:
		return natsx.RequireAdmin(ctx)
	case Public, Peer:
		return natsx.CallerFrom(ctx), nil
	}
	return natsx.CallerFrom(ctx), contract.Errorf(contract.Internal, "endpoint has no role")
}

// Endpoint is one row of a service's table.
type Endpoint struct {
	Subject string
	Role    Role
	add     func(ms *natsx.Service) error
}

// On is a row serving JSON requests to the callers role admits; fn gets
// the admitted caller.
func On[Req, Resp any](role Role, subject string, fn func(ctx context.Context, c natsx.Caller, req Req) (Resp, error)) Endpoint {
	return Endpoint{Subject: subject, Role: role, add: func(ms *natsx.Service) error {
		return natsx.Handle(ms, subject, func(ctx context.Context, req Req) (Resp, error) {
			c, err := role.admit(ctx)
			if err != nil {
				var zero Resp
				return zero, err
			}
			return fn(ctx, c, req)
		})
	}}
}

// OnRaw is a row whose request body is not JSON (an upload's name).
func OnRaw[Resp any](role Role, subject string, fn func(ctx context.Context, c natsx.Caller, body []byte) (Resp, error)) Endpoint {
	return Endpoint{Subject: subject, Role: role, add: func(ms *natsx.Service) error {
		return natsx.HandleRaw(ms, subject, func(ctx context.Context, body []byte) (Resp, error) {
			c, err := role.admit(ctx)
			if err != nil {
				var zero Resp
				return zero, err
			}
			return fn(ctx, c, body)
		})
	}}
}

// Admit returns the caller if role lets them in, for a check a row makes
// beyond its own role (a staff role looked up in a store).
func Admit(ctx context.Context, role Role) (natsx.Caller, error) { return role.admit(ctx) }

func mount(ms *natsx.Service, table []Endpoint) error {
	var errs []error
	for _, e := range table {
		if e.add == nil {
			errs = append(errs, errors.New(e.Subject+": endpoint built without On or OnRaw"))
			continue
		}
		errs = append(errs, e.add(ms))
	}
	return errors.Join(errs...)
}

// AsPrincipal adapts a handler that acts on the caller's principal (most
// user commands) to a table row.
func AsPrincipal[Req, Resp any](fn func(ctx context.Context, p contract.Principal, req Req) (Resp, error)) func(context.Context, natsx.Caller, Req) (Resp, error) {
	return func(ctx context.Context, c natsx.Caller, req Req) (Resp, error) { return fn(ctx, c.Principal, req) }
}

// Plain adapts a handler that needs nothing of its caller to a table row.
func Plain[Req, Resp any](fn func(ctx context.Context, req Req) (Resp, error)) func(context.Context, natsx.Caller, Req) (Resp, error) {
	return func(ctx context.Context, _ natsx.Caller, req Req) (Resp, error) { return fn(ctx, req) }
}
