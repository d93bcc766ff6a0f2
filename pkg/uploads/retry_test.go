package uploads

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
)

// A call a leader election leaves unanswered is asked again, each attempt
// with a deadline of its own; anything else is answered at once.
func TestRetryAsksAgainOnlyWhileALeaderIsElected(t *testing.T) {
	calls := 0
	err := retry(context.Background(), func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("an attempt without a deadline of its own")
		}
		if calls++; calls < 3 {
			return jetstream.ErrNoStreamResponse
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("retry = %v after %d calls; want success on the third", err, calls)
	}

	calls = 0
	tooBig := &contract.Error{Code: contract.TooLarge, Message: "The file is too large."}
	if err := retry(context.Background(), func(context.Context) error { calls++; return tooBig }); !isTooLarge(err) || calls != 1 {
		t.Fatalf("retry = %v after %d calls; want the refusal at once", err, calls)
	}

	// Nothing answers: bounded by the caller's deadline, not the budget.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = retry(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("retry = %v after %s; want the deadline, soon", err, time.Since(start))
	}
}

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{jetstream.ErrNoStreamResponse, true},
		{context.DeadlineExceeded, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{jetstream.ErrObjectNotFound, false},
		{&jetstream.APIError{Code: 400, Description: "bad request"}, false},
		{errors.New("other"), false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v; want %v", c.err, got, c.want)
		}
	}
}
