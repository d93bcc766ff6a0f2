// Package storetest holds one contract suite per store interface of
// auth's app, for every implementation to run (see adapters' tests).
package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/auth/internal/app"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// Claims runs the ClaimStore contract against the stores open returns,
// each empty.
func Claims(t *testing.T, open func(t *testing.T) app.ClaimStore) {
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	t.Run("the first insert owns the key", func(t *testing.T) {
		s := open(t)
		if _, err := s.Find(ctx, "email:a@example.com"); !errors.Is(err, mongox.ErrNotFound) {
			t.Fatalf("find before any insert: %v", err)
		}
		if err := s.Insert(ctx, domain.Claim{Key: "email:a@example.com", Owner: "u1", At: at}); err != nil {
			t.Fatal(err)
		}
		if err := s.Insert(ctx, domain.Claim{Key: "email:a@example.com", Owner: "u2", At: at}); !errors.Is(err, domain.ErrClaimHeld) {
			t.Fatalf("a second insert: %v, want ErrClaimHeld", err)
		}
		got, err := s.Find(ctx, "email:a@example.com")
		if err != nil || got != (domain.Claim{Key: "email:a@example.com", Owner: "u1", At: at}) {
			t.Fatalf("find: %+v %v", got, err)
		}
	})
	t.Run("one winner among many at once", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := map[string]bool{}
		for _, owner := range []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.Insert(ctx, domain.Claim{Key: "phone:+14155550100", Owner: owner})
				if err != nil && !errors.Is(err, domain.ErrClaimHeld) {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				won[owner] = err == nil
			}()
		}
		wg.Wait()
		winners := 0
		for owner, ok := range won {
			if ok {
				winners++
				if got, err := s.Find(ctx, "phone:+14155550100"); err != nil || got.Owner != owner {
					t.Fatalf("the winner %s, the claim %+v %v", owner, got, err)
				}
			}
		}
		if winners != 1 {
			t.Fatalf("%d winners: %v", winners, won)
		}
	})
	t.Run("only the owner releases", func(t *testing.T) {
		s := open(t)
		for _, k := range []string{"uid:1", "email:b@example.com", "phone:+14155550101"} {
			if err := s.Insert(ctx, domain.Claim{Key: k, Owner: "u1"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Release(ctx, "u2", "uid:1"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Find(ctx, "uid:1"); err != nil || got.Owner != "u1" {
			t.Fatalf("released by another: %+v %v", got, err)
		}
		if err := s.Release(ctx, "u1", "uid:1"); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(ctx, "u1", "email:b@example.com", "phone:+14155550101", "never:held"); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"uid:1", "email:b@example.com", "phone:+14155550101"} {
			if _, err := s.Find(ctx, k); !errors.Is(err, mongox.ErrNotFound) {
				t.Fatalf("%s after its release: %v", k, err)
			}
		}
		if err := s.Insert(ctx, domain.Claim{Key: "uid:1", Owner: "u2"}); err != nil {
			t.Fatalf("a released key taken again: %v", err)
		}
		if err := s.Release(ctx, "u1"); err != nil {
			t.Fatalf("releasing nothing: %v", err)
		}
	})
}
