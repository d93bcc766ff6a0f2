package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/auth/internal/app"
)

const someUUID = "00000000-0000-4000-8000-000000000001"

// Accounts runs the Accounts contract. open returns, for an empty store,
// a function that opens another replica's Accounts on it.
func Accounts(t *testing.T, open func(t *testing.T) func() app.Accounts) {
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	first := app.Account{UUID: someUUID, Email: "a@example.com", CreatedAt: at}
	t.Run("an account that was never created is not found", func(t *testing.T) {
		s := open(t)()
		if _, _, err := s.Get(ctx, someUUID); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("get: %v", err)
		}
		if _, _, err := s.Latest(ctx, someUUID); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("latest: %v", err)
		}
		if _, err := s.Update(ctx, someUUID, func(*app.Account) ([]contract.Event, error) { return nil, nil }); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("update: %v", err)
		}
	})
	t.Run("created once, read back as stored", func(t *testing.T) {
		s := open(t)()
		if err := s.Create(ctx, someUUID, first); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, someUUID, app.Account{UUID: someUUID, Email: "b@example.com"}); !errors.Is(err, contract.ErrExists) {
			t.Fatalf("a second create: %v, want ErrExists", err)
		}
		got, ver, err := s.Get(ctx, someUUID)
		if err != nil || got.Email != first.Email || !got.CreatedAt.Equal(at) || ver == 0 {
			t.Fatalf("get: %+v %d %v", got, ver, err)
		}
	})
	t.Run("an update is seen at once and moves the version on", func(t *testing.T) {
		s := open(t)()
		if err := s.Create(ctx, someUUID, first); err != nil {
			t.Fatal(err)
		}
		_, v1, err := s.Get(ctx, someUUID)
		if err != nil {
			t.Fatal(err)
		}
		if changed, err := s.Changed(ctx, someUUID, v1); err != nil || changed {
			t.Fatalf("changed before any update: %v %v", changed, err)
		}
		updated, err := s.Update(ctx, someUUID, func(a *app.Account) ([]contract.Event, error) {
			a.Phone, a.Active = "+14155550100", true
			return nil, nil
		})
		if err != nil || updated.Phone != "+14155550100" || updated.Email != first.Email {
			t.Fatalf("update: %+v %v", updated, err)
		}
		if changed, err := s.Changed(ctx, someUUID, v1); err != nil || !changed {
			t.Fatalf("changed after an update: %v %v", changed, err)
		}
		for name, read := range map[string]func(context.Context, string) (app.Account, int64, error){"get": s.Get, "latest": s.Latest} {
			got, v2, err := read(ctx, someUUID)
			if err != nil || !got.Active || got.Phone != "+14155550100" || v2 <= v1 {
				t.Fatalf("%s after the update: %+v %d (was %d) %v", name, got, v2, v1, err)
			}
		}
	})
	t.Run("a refused change stores nothing", func(t *testing.T) {
		s := open(t)()
		if err := s.Create(ctx, someUUID, first); err != nil {
			t.Fatal(err)
		}
		refused := errors.New("refused")
		if _, err := s.Update(ctx, someUUID, func(a *app.Account) ([]contract.Event, error) {
			a.Email = "changed@example.com"
			return nil, refused
		}); !errors.Is(err, refused) {
			t.Fatalf("update: %v, want the refusal", err)
		}
		if got, _, err := s.Latest(ctx, someUUID); err != nil || got.Email != first.Email {
			t.Fatalf("after a refusal: %+v %v", got, err)
		}
	})
	t.Run("concurrent updates on two replicas lose none", func(t *testing.T) {
		replica := open(t)
		ss := []app.Accounts{replica(), replica()}
		if err := ss[0].Create(ctx, someUUID, first); err != nil {
			t.Fatal(err)
		}
		const n = 12
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := ss[i%2].Update(ctx, someUUID, func(a *app.Account) ([]contract.Event, error) {
					a.TrustedDevices = append(a.TrustedDevices, fmt.Sprint("device", i))
					return nil, nil
				}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got, _, err := ss[1].Latest(ctx, someUUID)
		if err != nil || len(got.TrustedDevices) != n {
			t.Fatalf("%d of %d updates kept: %v", len(got.TrustedDevices), n, err)
		}
	})
	t.Run("an erased account is gone, and erasing again is no error", func(t *testing.T) {
		s := open(t)()
		if err := s.Create(ctx, someUUID, first); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, someUUID, func(a *app.Account) ([]contract.Event, error) { a.Active = true; return nil, nil }); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.Erase(ctx, someUUID); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := s.Get(ctx, someUUID); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("get after erase: %v", err)
		}
		if err := s.Create(ctx, someUUID, first); err != nil {
			t.Fatalf("the uuid created again: %v", err)
		}
	})
}
