package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dossapp/backend/services/profile/internal/app"
)

// clock is a time the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// Limits is the contract of app.Limits. newStore makes an empty store,
// reading the time from now, and returns how to open it (each call: one
// more replica's handle on it).
func Limits(t *testing.T, newStore func(t *testing.T, now func() time.Time) (open func() app.Limits)) {
	hit := func(t *testing.T, s app.Limits, key string) time.Duration {
		t.Helper()
		wait, err := s.Hit(ctx, key, 3, time.Minute)
		must(t, err)
		return wait
	}
	t.Run("the limit counts within the window, per key", func(t *testing.T) {
		c := &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
		s := newStore(t, c.Now)()
		for i := range 3 {
			if w := hit(t, s, "a"); w != 0 {
				t.Fatalf("hit %d refused for %v", i+1, w)
			}
			c.Add(10 * time.Second)
		}
		// The first hit was 30 s ago: it leaves the window in 30 s.
		if w := hit(t, s, "a"); w != 30*time.Second {
			t.Fatalf("fourth hit: wait %v, want 30s", w)
		}
		if w := hit(t, s, "b"); w != 0 {
			t.Fatalf("another key refused for %v", w)
		}
		c.Add(30 * time.Second)
		if w := hit(t, s, "a"); w != 0 {
			t.Fatalf("refused for %v once the first hit left the window", w)
		}
		// A refusal counts nothing: the window holds hits 2, 3 and 5.
		if w := hit(t, s, "a"); w != 10*time.Second {
			t.Fatalf("wait %v, want 10s", w)
		}
	})
	t.Run("concurrent hits admit exactly the limit", func(t *testing.T) {
		c := &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
		open := newStore(t, c.Now)
		replicas := []app.Limits{open(), open(), open()}
		var admitted atomic.Int32
		race(12, func(i int) {
			wait, err := replicas[i%len(replicas)].Hit(ctx, "k", 5, time.Minute)
			if err != nil {
				t.Error(err)
			} else if wait == 0 {
				admitted.Add(1)
			}
		})
		if n := admitted.Load(); n != 5 {
			t.Fatalf("%d hits admitted, want 5", n)
		}
	})
}
