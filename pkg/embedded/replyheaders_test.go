package embedded_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// What a handler says of its reply reaches the caller, on an error too; a
// profile change made by a call the handler made is passed on to the
// handler's own reply, and a max-age is not (it was said of another
// answer).
func TestReplyHeadersReachTheCaller(t *testing.T) {
	n := startNATS(t)
	nc := connect(t, n.URL)
	serve := func(name string, handlers map[string]natsx.Handler[string, string]) {
		t.Helper()
		ms, err := natsx.NewService(nc, zap.NewNop(), natsx.ServiceConfig{Name: name, Version: "0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ms.Stop() })
		for subject, h := range handlers {
			if err := natsx.Handle(ms, subject, h); err != nil {
				t.Fatal(err)
			}
		}
		if err := natsx.AddHealth(ms, name, nil); err != nil {
			t.Fatal(err)
		}
		if natsx.Registered(nc, name, 300*time.Millisecond) == 0 {
			t.Fatalf("%s not registered", name)
		}
	}
	serve("inner", map[string]natsx.Handler[string, string]{
		"inner.v1.change": func(ctx context.Context, _ string) (string, error) {
			natsx.ProfileChanged(ctx, 7)
			natsx.ProfileChanged(ctx, 7) // once is enough
			natsx.CacheFor(ctx, 90*time.Second+time.Millisecond)
			return "changed", nil
		},
		"inner.v1.read": func(ctx context.Context, _ string) (string, error) {
			natsx.CacheFor(ctx, time.Hour)
			return "read", nil
		},
	})
	serve("outer", map[string]natsx.Handler[string, string]{
		// Changes 8 itself, has inner change 7, then fails.
		"outer.v1.change-then-fail": func(ctx context.Context, _ string) (string, error) {
			natsx.ProfileChanged(ctx, 8)
			if _, err := natsx.Call[string, string](ctx, nc, "inner.v1.change", ""); err != nil {
				return "", err
			}
			return "", contract.Errorf(contract.Internal, "after the write")
		},
		"outer.v1.read": func(ctx context.Context, _ string) (string, error) {
			return natsx.Call[string, string](ctx, nc, "inner.v1.read", "")
		},
		"outer.v1.nothing": func(context.Context, string) (string, error) { return "", nil },
	})

	call := func(t *testing.T, subject string) (nats.Header, error) {
		t.Helper()
		var got nats.Header
		heardOuter, heardInner := false, false
		ctx := natsx.OnReply(context.Background(), func(nats.Header) { heardOuter = true })
		ctx = natsx.OnReply(ctx, func(h nats.Header) { got, heardInner = h, true })
		_, err := natsx.Call[string, string](ctx, nc, subject, "")
		if !heardInner || !heardOuter {
			t.Fatalf("%s: the reply's headers were not heard by every OnReply", subject)
		}
		return got, err
	}
	for _, tc := range []struct {
		subject string
		failed  bool
		changed []int64
		maxAge  time.Duration
	}{
		{"inner.v1.change", false, []int64{7}, 90 * time.Second},
		{"outer.v1.change-then-fail", true, []int64{8, 7}, 0},
		{"outer.v1.read", false, nil, 0},
		{"outer.v1.nothing", false, nil, 0},
	} {
		t.Run(tc.subject, func(t *testing.T) {
			h, err := call(t, tc.subject)
			if (err != nil) != tc.failed {
				t.Fatalf("err %v, want failed %v", err, tc.failed)
			}
			if got := natsx.ChangedProfiles(h); !slices.Equal(got, tc.changed) {
				t.Errorf("changed profiles %v, want %v", got, tc.changed)
			}
			if got := natsx.CacheMaxAge(h); got != tc.maxAge {
				t.Errorf("max-age %v, want %v", got, tc.maxAge)
			}
		})
	}
}
