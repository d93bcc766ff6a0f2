package natsx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/logx"
)

// DefaultTimeout bounds a call whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// Call sends req to subject and decodes the reply into Resp. A service
// error comes back as the *contract.Error it was; no responder, a timeout or
// a closed connection become Unavailable with a Retry-After.
func Call[Req, Resp any](ctx context.Context, nc *nats.Conn, subject string, req Req) (Resp, error) {
	var resp Resp
	body, err := json.Marshal(req)
	if err != nil {
		return resp, fmt.Errorf("encode %s request: %w", subject, err)
	}
	data, err := CallRaw(ctx, nc, subject, body)
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return resp, fmt.Errorf("decode %s reply: %w", subject, err)
	}
	return resp, nil
}

// CallRaw is Call with the body already encoded and the reply undecoded.
func CallRaw(ctx context.Context, nc *nats.Conn, subject string, body []byte) (_ []byte, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	msg := nats.NewMsg(subject)
	msg.Data = body
	if cid := logx.CorrelationID(ctx); cid != "" {
		msg.Header.Set(contract.HeaderCorrelationID, cid)
	}
	c := CallerFrom(ctx)
	c.setHeaders(msg.Header)
	assert(nc, msg.Header, subject, c.Principal)
	ctx, span := traceCall(ctx, msg)
	defer func() { endCall(span, err) }()

	if !nc.IsConnected() {
		return nil, unavailable(subject, nats.ErrConnectionReconnecting)
	}
	reply, err := request(ctx, nc, msg)
	if err != nil {
		return nil, unavailable(subject, err)
	}
	heard(ctx, reply.Header)
	if code := reply.Header.Get(micro.ErrorCodeHeader); code != "" {
		return nil, decodeError(code, reply)
	}
	return reply.Data, nil
}

func unavailable(subject string, err error) error {
	retry := 1
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		retry = 2
	}
	if errors.Is(err, context.Canceled) {
		return &contract.Error{Code: contract.Unavailable, Message: "The request was cancelled.", RetryAfter: 1, Op: subject, Err: err}
	}
	return &contract.Error{
		Code:       contract.Unavailable,
		Message:    "The service is temporarily unavailable. Please try again shortly.",
		RetryAfter: retry,
		Op:         subject,
		Err:        err,
	}
}

func decodeError(code string, reply *nats.Msg) error {
	var e contract.Error
	if len(reply.Data) > 0 && json.Unmarshal(reply.Data, &e) == nil && e.Code != "" {
		return &e
	}
	return &contract.Error{Code: contract.Code(code), Message: reply.Header.Get(micro.ErrorHeader)}
}

// Connect connects to NATS at url with no bus credentials (what a dev
// server's URL may carry itself); see Dial.
func Connect(url, name string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	return Dial(config.Bus{URL: url}, name, nil, opts...)
}

// Dial connects a service to NATS as the bus user name, with bus's seed
// and assertion keys: it reconnects forever, so a NATS restart heals by
// itself, and returns the JetStream handle too. Replies come to the user's
// own inbox prefix, the only one its permissions let it read. A subject the
// server refuses is logged on log (nil: not logged).
func Dial(bus config.Bus, name string, log *zap.Logger, opts ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	base, err := BusOptions(bus, name, log)
	if err != nil {
		return nil, nil, err
	}
	// A node cut off the network says nothing: a client on it notices by
	// its pings alone (nats.go's default: one in 2 min), and meanwhile its
	// calls time out one by one. Every 2 s, two unanswered: a cut node is
	// left within about 6 s, for another.
	base = append(base, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.PingInterval(2*time.Second), nats.MaxPingsOutstanding(2))
	nc, err := nats.Connect(bus.URL, append(base, opts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("nats %s: %w", redact(bus.URL), err)
	}
	watch(nc)
	UseKeys(nc, Keys{Issuer: name, Sign: bus.SigningKey, Verify: bus.VerifyKeys})
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// BusOptions are the options that join the bus as user name: its nkey,
// its own inbox prefix, and a log line for every subject the server
// refuses (log may be nil).
func BusOptions(bus config.Bus, name string, log *zap.Logger) ([]nats.Option, error) {
	var opts []nats.Option
	if bus.Seed != "" {
		auth, err := nkeyOption(bus.Seed)
		if err != nil {
			return nil, fmt.Errorf("DOSS_NATS_SEED: %w", err)
		}
		opts = append(opts, auth, nats.CustomInboxPrefix(contract.InboxPrefix(name)))
	}
	if log != nil {
		opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				if strings.Contains(err.Error(), `Publish to "`+contract.InboxRoot) {
					// A receipt or answer is allowed only on the connection
					// its request came in on: this one came on a connection
					// since lost, and its caller sends the call again.
					log.Warn("an answer to a request heard before a reconnect was refused; its caller sends it again", zap.Error(err))
					return
				}
				if strings.Contains(err.Error(), `Publish to "$JS.API.STREAM.CREATE.`) {
					// Expected at a first start on an empty bus: the stream
					// has one creator, and the start asks again until it
					// has made it (events.EnsureStreams).
					log.Warn("a stream this service does not create is missing; waiting for its creator (contract.BusUser.Creates)", zap.Error(err))
					return
				}
				log.Error("the bus refused a subject: see contract.BusUsers", zap.Error(err))
				return
			}
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("nats", zap.String("subscription", subject), zap.Error(err))
		}))
	}
	return opts, nil
}

// nkeyOption authenticates as the nkey user whose seed is seed.
func nkeyOption(seed string) (nats.Option, error) {
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		return nil, errors.New("not an nkey seed")
	}
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return nil, errors.New("not an nkey user seed")
	}
	return nats.Nkey(pub, kp.Sign), nil
}

// redact drops a password from a URL for an error message.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
