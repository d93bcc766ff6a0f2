package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dossapp/backend/services/auth/internal/app"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

var errFull = errors.New("full")

func kind(k string) func(domain.Tail, time.Time) (string, error) {
	return func(domain.Tail, time.Time) (string, error) { return k, nil }
}

func kinds(t *testing.T, c app.Counters, key string) []string {
	t.Helper()
	tail, err := c.Tail(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	as, err := tail.First(domain.RecentAttempts)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Kind)
	}
	return out
}

func same(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Counters runs the Counters contract. open returns, for an empty store,
// a function that opens another replica's Counters on it.
func Counters(t *testing.T, open func(t *testing.T) func() app.Counters) {
	ctx := context.Background()
	t.Run("appends are numbered and read newest first", func(t *testing.T) {
		c := open(t)()
		if tail, err := c.Tail(ctx, "k"); err != nil || !tail.Empty() {
			t.Fatalf("a new counter: %v", err)
		}
		for i, k := range []string{"a", "b", "c"} {
			a, err := c.Append(ctx, "k", kind(k))
			if err != nil || a.Seq != int64(i+1) || a.Kind != k || a.Key != "k" {
				t.Fatalf("append %s: %+v %v", k, a, err)
			}
		}
		if got := kinds(t, c, "k"); !same(got, []string{"c", "b", "a"}) {
			t.Fatalf("tail %v", got)
		}
		tail, err := c.Recalled(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if a, ok, err := tail.At(0); err != nil || !ok || a.Seq != 3 {
			t.Fatalf("recalled newest %+v %v %v", a, ok, err)
		}
		if _, ok, err := tail.At(3); err != nil || ok {
			t.Fatalf("an attempt past the oldest: %v %v", ok, err)
		}
	})
	t.Run("a refusal stores nothing", func(t *testing.T) {
		c := open(t)()
		if _, err := c.Append(ctx, "k", kind("a")); err != nil {
			t.Fatal(err)
		}
		_, err := c.AppendAll(ctx, domain.Appending{Key: "k", Decide: kind("b")}, domain.Appending{Key: "other", Decide: func(domain.Tail, time.Time) (string, error) { return "", errFull }})
		if !errors.Is(err, errFull) {
			t.Fatalf("append all: %v, want the refusal", err)
		}
		if got := kinds(t, c, "k"); !same(got, []string{"a"}) {
			t.Fatalf("after a refusal: %v", got)
		}
	})
	t.Run("append all counts one attempt on each", func(t *testing.T) {
		c := open(t)()
		got, err := c.AppendAllHeadsLater(ctx, domain.Appending{Key: "p", Decide: kind("x")}, domain.Appending{Key: "q", Decide: kind("y")})
		if err != nil || len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 1 {
			t.Fatalf("append all: %+v %v", got, err)
		}
		if _, err := c.AppendAllHeadsLater(ctx, domain.Appending{Key: "p", Decide: kind("z")}); err != nil {
			t.Fatal(err)
		}
		c.MoveHeads(ctx, "p", "q")
		if got := kinds(t, c, "p"); !same(got, []string{"z", "x"}) {
			t.Fatalf("p: %v", got)
		}
		if got := kinds(t, c, "q"); !same(got, []string{"y"}) {
			t.Fatalf("q: %v", got)
		}
	})
	t.Run("a cap holds across replicas at once", func(t *testing.T) {
		replica := open(t)
		cs := []app.Counters{replica(), replica()}
		var won atomic.Int64
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := cs[i%2].Append(ctx, "cap", func(tail domain.Tail, _ time.Time) (string, error) {
					if _, full, err := tail.At(4); err != nil || full {
						return "", errors.Join(err, errFull)
					}
					return "hit", nil
				})
				if err == nil {
					won.Add(1)
				} else if !errors.Is(err, errFull) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 5 {
			t.Fatalf("%d appends under a cap of 5", won.Load())
		}
	})
	t.Run("erase and sweep", func(t *testing.T) {
		c := open(t)()
		for _, k := range []string{"ip:check:10.0.0.1", "ip:check:10.0.0.2", "send:+14155550100"} {
			if _, err := c.Append(ctx, k, kind("hit")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Erase(ctx, `:10\.0\.0\.1$`); err != nil {
			t.Fatal(err)
		}
		if tail, err := c.Tail(ctx, "ip:check:10.0.0.1"); err != nil || !tail.Empty() {
			t.Fatalf("an erased counter: %v", err)
		}
		if got := kinds(t, c, "ip:check:10.0.0.2"); !same(got, []string{"hit"}) {
			t.Fatalf("a counter the pattern does not match: %v", got)
		}
		// An erased counter starts again from 1.
		if a, err := c.Append(ctx, "ip:check:10.0.0.1", kind("hit")); err != nil || a.Seq != 1 {
			t.Fatalf("after its erasure: %+v %v", a, err)
		}
		if _, err := c.Sweep(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		if got := kinds(t, c, "send:+14155550100"); !same(got, []string{"hit"}) {
			t.Fatalf("a young attempt swept: %v", got)
		}
	})
}
