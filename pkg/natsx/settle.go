package natsx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// JetStreamCallTimeout bounds one attempt of a JetStream API call at start.
// A cluster whose meta leader is not yet elected (or was just lost) drops
// the first requests rather than queueing them: waiting the client's
// default 5 s for an answer that never comes only delays the attempt that
// would succeed, so each attempt has its own short deadline.
const JetStreamCallTimeout = 2 * time.Second

// SettleBudget is how long Settle keeps trying when ctx has no sooner
// deadline: long enough for a three-node cluster to elect its leaders
// after a cold start, short enough that a broken bus fails the start (and
// the orchestrator's restart and logs say so) instead of hanging.
const SettleBudget = 90 * time.Second

// Settle runs call, each attempt with JetStreamCallTimeout, until it
// succeeds, answers something no retry changes (a missing or conflicting
// stream, a bad configuration), or the budget ends. what names the call in
// the error.
func Settle(ctx context.Context, what string, call func(ctx context.Context) error) error {
	return SettleWithin(ctx, what, SettleBudget, retryable, call)
}

// SettleWithin is Settle with its own budget and its own rule of what is
// worth another attempt: on a request path, again only while retry says
// the error is one a leader election causes (uploads.Take: 6 s, and a
// missing object only for a moment); at a service's first connect, every
// error (pkg/service).
func SettleWithin(ctx context.Context, what string, budget time.Duration, retry func(error) bool, call func(ctx context.Context) error) error {
	deadline := time.Now().Add(budget)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	wait := 100 * time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, min(JetStreamCallTimeout, time.Until(deadline)))
		err := call(attempt)
		cancel()
		if err == nil || !retry(err) {
			return err
		}
		if ctx.Err() != nil || time.Until(deadline) <= wait {
			return fmt.Errorf("%s: no answer within %s: %w", what, budget, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// retryable: everything but an answer that means what it says.
func retryable(err error) bool {
	for _, final := range []error{jetstream.ErrBucketNotFound, jetstream.ErrStreamNotFound, jetstream.ErrBucketExists,
		jetstream.ErrStreamNameAlreadyInUse, jetstream.ErrConsumerNotFound, jetstream.ErrInvalidBucketName, jetstream.ErrInvalidStreamName} {
		if errors.Is(err, final) {
			return false
		}
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		// 503: no meta leader or no quorum yet; 408/500: a leader change mid-call.
		return api.Code >= 500 || api.Code == 408
	}
	return true
}
