// Package storetest holds one contract suite per store the profile
// service declares: what any adapter must do, whatever it runs on. Each
// suite takes a constructor returning an empty store.
package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/profile/internal/app"
)

// race runs f n times at once and waits for all of them.
func race(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// wins runs try n times at once and counts the calls that succeeded; an
// error other than lost fails the test.
func wins(t *testing.T, n int, lost error, try func(i int) error) int {
	t.Helper()
	var won atomic.Int32
	race(n, func(i int) {
		err := try(i)
		if err == nil {
			won.Add(1)
		} else if !errors.Is(err, lost) {
			t.Error(err)
		}
	})
	return int(won.Load())
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err %v, want %v", err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var ctx = context.Background()

// Profiles is the contract of app.Profiles. newStore makes an empty store
// and returns how to open it (each call: one more replica's handle on it).
func Profiles(t *testing.T, newStore func(t *testing.T) (open func() app.Profiles)) {
	t.Run("a profile never created is not found", func(t *testing.T) {
		s := newStore(t)()
		_, err := s.Get(ctx, 1)
		wantErr(t, err, app.ErrNotFound)
		_, err = s.Update(ctx, 1, func(*app.Profile) ([]contract.Event, error) { return nil, nil })
		wantErr(t, err, app.ErrNotFound)
	})
	t.Run("created once, read back", func(t *testing.T) {
		s := newStore(t)()
		img := "profiles/7/a.jpg"
		p := app.Profile{UserID: 7, UUID: "u-7", FirstName: "Jane", Email: "j@example.com", Image: &img, VerifiedDocuments: []string{"national_id"}}
		must(t, s.Create(ctx, p))
		wantErr(t, s.Create(ctx, app.Profile{UserID: 7, UUID: "other"}), app.ErrExists)
		got, err := s.Get(ctx, 7)
		must(t, err)
		if got.UUID != "u-7" || got.FirstName != "Jane" || got.Image == nil || *got.Image != img || len(got.VerifiedDocuments) != 1 {
			t.Fatalf("%+v", got)
		}
		if _, err := s.Get(ctx, 8); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("another user's profile: %v", err)
		}
	})
	t.Run("an update is read back and returned", func(t *testing.T) {
		s := newStore(t)()
		must(t, s.Create(ctx, app.Profile{UserID: 3, FirstName: "A"}))
		for _, name := range []string{"B", "C"} {
			got, err := s.Update(ctx, 3, func(p *app.Profile) ([]contract.Event, error) { p.FirstName = name; return nil, nil })
			must(t, err)
			if got.FirstName != name {
				t.Fatalf("returned %q, want %q", got.FirstName, name)
			}
		}
		got, err := s.Get(ctx, 3)
		must(t, err)
		if got.FirstName != "C" {
			t.Fatalf("read %q, want C", got.FirstName)
		}
	})
	t.Run("a refused change stores nothing", func(t *testing.T) {
		s := newStore(t)()
		must(t, s.Create(ctx, app.Profile{UserID: 4, FirstName: "A"}))
		no := errors.New("no")
		_, err := s.Update(ctx, 4, func(p *app.Profile) ([]contract.Event, error) { p.FirstName = "B"; return nil, no })
		wantErr(t, err, no)
		got, err := s.Get(ctx, 4)
		must(t, err)
		if got.FirstName != "A" {
			t.Fatalf("read %q after a refused change", got.FirstName)
		}
	})
	t.Run("concurrent updates are not lost", func(t *testing.T) {
		open := newStore(t)
		replicas := []app.Profiles{open(), open(), open()}
		must(t, replicas[0].Create(ctx, app.Profile{UserID: 5}))
		const n = 12
		race(n, func(i int) {
			if _, err := replicas[i%len(replicas)].Update(ctx, 5, func(p *app.Profile) ([]contract.Event, error) { p.DocumentsVersion++; return nil, nil }); err != nil {
				t.Error(err)
			}
		})
		got, err := open().Get(ctx, 5)
		must(t, err)
		if got.DocumentsVersion != n {
			t.Fatalf("%d of %d updates kept", got.DocumentsVersion, n)
		}
	})
	t.Run("concurrent creates: one wins", func(t *testing.T) {
		open := newStore(t)
		replicas := []app.Profiles{open(), open()}
		won := wins(t, 8, app.ErrExists, func(i int) error { return replicas[i%2].Create(ctx, app.Profile{UserID: 6}) })
		if won != 1 {
			t.Fatalf("%d creates succeeded", won)
		}
	})
	t.Run("erased, it reads as never created", func(t *testing.T) {
		s := newStore(t)()
		must(t, s.Create(ctx, app.Profile{UserID: 9, FirstName: "A"}))
		must(t, s.Create(ctx, app.Profile{UserID: 10, FirstName: "Kept"}))
		_, err := s.Update(ctx, 9, func(p *app.Profile) ([]contract.Event, error) { p.FirstName = "B"; return nil, nil })
		must(t, err)
		must(t, s.Erase(ctx, 9))
		_, err = s.Get(ctx, 9)
		wantErr(t, err, app.ErrNotFound)
		must(t, s.Erase(ctx, 9))
		must(t, s.Create(ctx, app.Profile{UserID: 9, FirstName: "New"}))
		got, err := s.Get(ctx, 9)
		must(t, err)
		if got.FirstName != "New" {
			t.Fatalf("recreated profile reads %q", got.FirstName)
		}
		if other, err := s.Get(ctx, 10); err != nil || other.FirstName != "Kept" {
			t.Fatalf("another profile after an erase: %+v %v", other, err)
		}
	})
}
