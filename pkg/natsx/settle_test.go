package natsx

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestSettle: an attempt that goes unanswered (no meta leader yet) is cut
// at JetStreamCallTimeout and sent again; an answer that means what it
// says is returned at once; a cancelled start stops trying.
func TestSettle(t *testing.T) {
	noLeader := &jetstream.APIError{Code: 503, Description: "JetStream system temporarily unavailable"}
	for _, tc := range []struct {
		name     string
		answers  []error // one per attempt; the last repeats
		wantErr  error
		attempts int
	}{
		{"answered at once", []error{nil}, nil, 1},
		{"unanswered twice then answered", []error{context.DeadlineExceeded, nats.ErrNoResponders, nil}, nil, 3},
		{"no meta leader then answered", []error{noLeader, nil}, nil, 2},
		{"a missing bucket is an answer", []error{jetstream.ErrBucketNotFound}, jetstream.ErrBucketNotFound, 1},
		{"a bad request is an answer", []error{&jetstream.APIError{Code: 400, Description: "bad"}}, &jetstream.APIError{Code: 400, Description: "bad"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			err := Settle(context.Background(), "test", func(ctx context.Context) error {
				d, ok := ctx.Deadline()
				if !ok || time.Until(d) > JetStreamCallTimeout {
					t.Errorf("attempt %d has no deadline of its own (%v, %v)", n+1, d, ok)
				}
				a := tc.answers[min(n, len(tc.answers)-1)]
				n++
				return a
			})
			if n != tc.attempts {
				t.Errorf("%d attempts, want %d", n, tc.attempts)
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && (err == nil || err.Error() != tc.wantErr.Error()) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	t.Run("cancelled start stops", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		err := Settle(ctx, "test", func(context.Context) error {
			n++
			if n == 2 {
				cancel()
			}
			return context.DeadlineExceeded
		})
		if err == nil || n > 3 {
			t.Fatalf("err = %v after %d attempts; want an error soon after cancel", err, n)
		}
	})
	t.Run("a start deadline bounds the attempts", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := Settle(ctx, "test", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		if err == nil || time.Since(start) > time.Second {
			t.Fatalf("err = %v after %s; want an error by the deadline", err, time.Since(start))
		}
	})
}
