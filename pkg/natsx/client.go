package natsx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

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
	CallerFrom(ctx).setHeaders(msg.Header)
	ctx, span := traceCall(ctx, msg)
	defer func() { endCall(span, err) }()

	ctx, done, connected := guarded(ctx, nc)
	defer done()
	if !connected {
		return nil, unavailable(subject, nats.ErrConnectionReconnecting)
	}
	reply, err := nc.RequestMsgWithContext(ctx, msg)
	if errors.Is(context.Cause(ctx), errDisconnected) {
		err = errDisconnected
	}
	if err != nil {
		return nil, unavailable(subject, err)
	}
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

// Connect connects a service to NATS: it reconnects forever, so a NATS
// restart heals by itself, and returns the JetStream handle too.
func Connect(url, name string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	opts = append([]nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("nats %s: %w", url, err)
	}
	watch(nc)
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}
