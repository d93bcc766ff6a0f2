// Package natsx is the request-reply plumbing every service shares: typed
// micro endpoints on the server side, a typed call on the client side, and
// the error and header conventions between the two.
package natsx

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/logx"
	"github.com/dossapp/backend/pkg/obs"
)

// Service is one micro service instance: every replica of it joins the
// same queue group, so adding replicas splits the load with no change.
type Service struct {
	svc micro.Service
	// own is the connection the requests arrive on, the service's alone:
	// Stop drains it to the end, which tells when every request the
	// server routed here has reached a handler, while the caller's
	// connection stays whole for the calls and events of the requests
	// still running.
	own     *nats.Conn
	closed  chan struct{} // closed when own is
	log     *zap.Logger
	slots   chan struct{}
	queued  chan struct{} // requests taken and not finished: queueFactor × slots
	timeout time.Duration
	running sync.WaitGroup
	name    string
	outcome func(subject, code string)
	// trusted are the keys whose assertions name a caller, with the tokens
	// checked against them.
	trusted *checkedTokens
}

// ServiceConfig names a service and bounds its work.
type ServiceConfig struct {
	Name        string
	Version     string
	Description string
	// Concurrency is how many requests this replica handles at once;
	// micro delivers an endpoint's requests one at a time, so handlers run
	// on their own goroutines up to this bound. 0 means 8 per CPU.
	Concurrency int
	// Timeout bounds one handler; 0 means 15s.
	Timeout time.Duration
	// Outcome, when set, hears every answered request's subject and code
	// (obs.CodeOK or the error code), for a service's own counters.
	Outcome func(subject, code string)
}

// queueFactor bounds the requests a replica has taken but not started, as
// a multiple of its concurrency.
const queueFactor = 4

// NewService registers a micro service on a connection of its own, made
// with nc's options (servers, credentials, reconnecting); Stop closes it,
// on every path.
func NewService(nc *nats.Conn, log *zap.Logger, cfg ServiceConfig) (*Service, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8 * runtime.GOMAXPROCS(0)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	closed := make(chan struct{})
	opts := nc.Opts
	opts.Name = cfg.Name + " requests"
	opts.DisconnectedErrCB, opts.ReconnectedCB, opts.DisconnectedCB = nil, nil, nil
	opts.ClosedCB = func(*nats.Conn) { close(closed) }
	own, err := opts.Connect()
	if err != nil {
		return nil, fmt.Errorf("nats connection for %s: %w", cfg.Name, err)
	}
	svc, err := micro.AddService(own, micro.Config{
		Name:        cfg.Name,
		Version:     cfg.Version,
		Description: cfg.Description,
		QueueGroup:  cfg.Name + contract.QueueGroupSuffix,
	})
	if err == nil {
		err = settle(own) // $SRV.PING from other connections finds it once this returns
	}
	if err != nil {
		own.Close()
		return nil, fmt.Errorf("add micro service %s: %w", cfg.Name, err)
	}
	return &Service{svc: svc, own: own, closed: closed, log: log, slots: make(chan struct{}, cfg.Concurrency),
		queued: make(chan struct{}, queueFactor*cfg.Concurrency), timeout: cfg.Timeout,
		name: cfg.Name, outcome: cfg.Outcome, trusted: newCheckedTokens(keysOf(nc).Verify)}, nil
}

// Stop stops taking requests and waits for those in flight to finish, so
// the caller may close the stores after it.
//
// Unsubscribing alone did not do that: a request the server routed here
// before it saw the unsubscribe was still queued in the client, and its
// handler ran after Stop had returned and the stores were closed (a 503
// while another replica was up). Draining the service's connection ends
// only when every such request has been handed over.
//
// Draining the whole connection was not enough either: it closes the
// connection once the last queued request reached its handler, but the
// handlers run on goroutines of their own, and one still running then
// could not send its answer (the caller waited out its timeout; found by
// the rolling restart in the cluster fault test). So the subscriptions
// are drained (micro's Stop), the handlers awaited, and only then is the
// connection flushed and closed.
func (s *Service) Stop() error {
	err := s.svc.Stop()
	// A drained subscription leaves the connection's list once every
	// message queued for it has been handed to its handler.
	for deadline := time.Now().Add(s.timeout); s.own.NumSubscriptions() > 0 && !s.own.IsClosed() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	s.running.Wait()
	if s.own.IsConnected() {
		_ = s.own.FlushTimeout(2 * time.Second) // the last answers
	}
	s.own.Close()
	<-s.closed
	return err
}

// Micro exposes the underlying service (stats, info) for tests and ops.
func (s *Service) Micro() micro.Service { return s.svc }

// Handler is a typed endpoint function.
type Handler[Req, Resp any] func(ctx context.Context, req Req) (Resp, error)

// Handle registers fn on subject, e.g. "auth.v1.login" becomes endpoint
// "login" in the service, reachable on that exact subject.
func Handle[Req, Resp any](s *Service, subject string, fn Handler[Req, Resp]) error {
	return s.add(subject, func(ctx context.Context, data []byte) (any, error) {
		var req Req
		if len(data) > 0 {
			if err := json.Unmarshal(data, &req); err != nil {
				return nil, &contract.Error{Code: contract.Invalid, Message: "The request could not be read.", Err: err}
			}
		}
		return fn(ctx, req)
	})
}

// HandleRaw registers an endpoint that takes the request body as bytes
// (images, files) and replies JSON.
func HandleRaw[Resp any](s *Service, subject string, fn func(ctx context.Context, body []byte) (Resp, error)) error {
	return s.add(subject, func(ctx context.Context, data []byte) (any, error) { return fn(ctx, data) })
}

// add registers call on subject; each request runs on its own goroutine,
// within the service's concurrency bound, and Stop waits for it. It does
// not wait for the server to have the subscription (a round trip per
// endpoint slowed every start): Registered tells when all of them are.
func (s *Service) add(subject string, call func(context.Context, []byte) (any, error)) error {
	name := subject[strings.LastIndexByte(subject, '.')+1:]
	return s.svc.AddEndpoint(name, micro.HandlerFunc(func(r micro.Request) {
		if !sentByCaller(r, subject) {
			s.log.Warn("refused a request no caller sent", zap.String("subject", subject),
				zap.String("delivered_as", r.Subject()), zap.String("reply", r.Reply()))
			s.refused(subject)
			return
		}
		if r.Headers().Get(contract.HeaderReceipt) != "" {
			// Before waiting for a slot: the caller only needs to know the
			// request is here, so it does not send it again (receipt.go).
			receipt := &nats.Msg{Subject: r.Reply(), Header: nats.Header{contract.HeaderReceipt: []string{"1"}}}
			_ = s.own.PublishMsg(receipt)
		}
		// micro hands an endpoint's requests over one at a time: waiting
		// here for a slot would hold back the next request's receipt for
		// as long as a handler runs, and its caller would send it again.
		// So a request waits for its slot on its own goroutine, and only
		// a backlog of queueFactor × the concurrency holds the next ones.
		s.queued <- struct{}{}
		s.running.Add(1)
		go func() {
			defer func() { <-s.queued; s.running.Done() }()
			s.slots <- struct{}{}
			defer func() { <-s.slots }()
			s.serve(r, call)
		}()
	}), micro.WithEndpointSubject(subject))
}

// sentByCaller tells a request a caller published on the command's own
// subject, with its inbox to answer to, from anything else the server
// hands the subscription.
//
// The server does not hold a push consumer's deliver subject to its
// creator's rights: a bus user that may create consumers on a stream (the
// documents service on EVENTS) could have the stream deliver messages it
// emitted there, headers and all, to a command subject it may not publish
// (seen: profile.v1.update-name ran for a victim). Such a delivery keeps
// its stream subject and has a $JS.ACK reply; a stream's republish has
// none. Every real call is published on the command's subject and waits
// on an inbox, so both are refused before the assertion is read.
func sentByCaller(r micro.Request, subject string) bool {
	return r.Subject() == subject && strings.HasPrefix(r.Reply(), contract.InboxRoot)
}

// settle waits until the server has the subscriptions made so far. A
// connection that is not up yet (a service may start before NATS, and
// retry) sends them when it connects.
func settle(nc *nats.Conn) error {
	if !nc.IsConnected() {
		return nil
	}
	if err := nc.Flush(); err != nil && nc.IsConnected() {
		return err
	}
	return nil
}

func (s *Service) serve(r micro.Request, call func(context.Context, []byte) (any, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	h := r.Headers()
	ctx = logx.With(ctx, s.log, h.Get(contract.HeaderCorrelationID))
	caller, err := verifiedCaller(s.trusted, nats.Header(h), r.Subject())
	ctx = withReplyHeaders(withCaller(ctx, caller))
	ctx, done := s.observe(ctx, r)
	code := obs.CodeOK
	defer func() { done(code) }()
	if err != nil {
		code = replyError(ctx, r, err)
		return
	}

	resp, err := func() (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = &contract.Error{Code: contract.Internal, Message: "Something went wrong. Please try again.", Err: fmt.Errorf("panic: %v", p)}
			}
		}()
		return call(ctx, r.Data())
	}()
	if err != nil {
		code = replyError(ctx, r, err)
		return
	}
	body, err := json.Marshal(resp)
	if err != nil {
		code = replyError(ctx, r, fmt.Errorf("encode reply: %w", err))
		return
	}
	if err := r.Respond(body, replyOptions(ctx)...); err != nil {
		logx.From(ctx).Warn("reply failed", zap.String("subject", r.Subject()), zap.Error(err))
	}
}

// replyError answers with err's code and message and returns the code.
func replyError(ctx context.Context, r micro.Request, err error) string {
	e := contract.AsError(err)
	log := logx.From(ctx)
	if e.Code == contract.Internal || e.Code == contract.Unavailable {
		log.Error("request failed", zap.String("subject", r.Subject()), zap.String("code", string(e.Code)), zap.Error(err))
	} else {
		log.Debug("request refused", zap.String("subject", r.Subject()), zap.String("code", string(e.Code)), zap.String("reason", e.Error()))
	}
	body, _ := json.Marshal(e)
	if rerr := r.Error(string(e.Code), e.Message, body, replyOptions(ctx)...); rerr != nil {
		log.Warn("error reply failed", zap.Error(rerr))
	}
	return string(e.Code)
}

// Caller is what a handler knows of who called: the authenticated account
// (zero when the route is public) and the client's unspoofable address.
type Caller struct {
	contract.Principal
	contract.Client
	// Call is the request's contract.HeaderCall: the same in every copy
	// of one call, as its caller's own natsx sent them. Anyone who may
	// send on the subject may set it, so it only tells a copy from a new
	// request: it vouches for nothing.
	Call string
}

type callerKey struct{}

func withCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller whose assertion the request carried (the
// principal is zero without one), or the one given to WithCaller.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// WithCaller lets the gateway (and tests) say who is calling; Call signs
// it into the request when its connection holds a signing key.
func WithCaller(ctx context.Context, c Caller) context.Context { return withCaller(ctx, c) }

// setHeaders puts the client's fields into h; who the caller is travels
// only in the assertion (assert).
func (c Caller) setHeaders(h nats.Header) {
	setIf(h, contract.HeaderClientIP, c.IP)
	setIf(h, contract.HeaderUserAgent, c.UserAgent)
	setIf(h, contract.HeaderLocale, c.Locale)
}

func setIf(h nats.Header, k, v string) {
	if v != "" {
		h.Set(k, v)
	}
}

// RequireAdmin returns the operator the gateway's admin API vouched for
// in the request's assertion, or Forbidden.
func RequireAdmin(ctx context.Context) (Caller, error) {
	c := CallerFrom(ctx)
	if c.Admin == "" {
		return c, contract.Errorf(contract.Forbidden, "This action is for administrators.")
	}
	return c, nil
}

// RequireUser returns the caller the request's assertion vouched for, or
// Unauthenticated.
func RequireUser(ctx context.Context) (Caller, error) {
	c := CallerFrom(ctx)
	if c.UserID == 0 {
		return c, contract.Errorf(contract.Unauthenticated, "Unauthenticated.")
	}
	return c, nil
}
