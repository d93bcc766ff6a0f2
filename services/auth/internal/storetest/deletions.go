package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/auth/internal/app"
)

// Deletions runs the Deletions contract against the stores open returns,
// each empty.
func Deletions(t *testing.T, open func(t *testing.T) app.Deletions) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	pending := func(uuid string, userID int64) app.Deletion {
		return app.Deletion{UUID: uuid, UserID: userID, Status: contract.DeletionPending, RequestedAt: at, PurgeAt: at.Add(time.Hour)}
	}
	t.Run("a deletion never stored is not found", func(t *testing.T) {
		s := open(t)
		if _, _, err := s.Get(ctx, "u1"); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("get: %v", err)
		}
	})
	t.Run("each step is the version after the one it was decided on", func(t *testing.T) {
		s := open(t)
		if err := s.Put(ctx, "u1", 0, pending("u1", 1), nil); err != nil {
			t.Fatal(err)
		}
		d, v1, err := s.Get(ctx, "u1")
		if err != nil || d.Status != contract.DeletionPending || d.UserID != 1 || !d.PurgeAt.Equal(at.Add(time.Hour)) {
			t.Fatalf("get: %+v %v", d, err)
		}
		// Of a cancel and a purge decided on the same version, one wins.
		cancelled, purging := d, d
		cancelled.Status, cancelled.CancelledBy = contract.DeletionCancelled, "alice"
		purging.Status, purging.Parts = contract.DeletionPurging, map[string]time.Time{contract.ServiceAuth: at}
		if err := s.Put(ctx, "u1", v1, cancelled, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "u1", v1, purging, nil); !errors.Is(err, contract.ErrExists) {
			t.Fatalf("the step that lost the race: %v, want ErrExists", err)
		}
		if err := s.Put(ctx, "u1", 0, pending("u1", 1), nil); !errors.Is(err, contract.ErrExists) {
			t.Fatalf("a second first version: %v, want ErrExists", err)
		}
		d, v2, err := s.Get(ctx, "u1")
		if err != nil || v2 <= v1 || d.Status != contract.DeletionCancelled || d.CancelledBy != "alice" {
			t.Fatalf("after the race: %+v v%d %v", d, v2, err)
		}
	})
	t.Run("all lists each deletion once, at its newest", func(t *testing.T) {
		s := open(t)
		for i, uuid := range []string{"u1", "u2", "u3"} {
			if err := s.Put(ctx, uuid, 0, pending(uuid, int64(i+1)), nil); err != nil {
				t.Fatal(err)
			}
		}
		_, v, err := s.Get(ctx, "u2")
		if err != nil {
			t.Fatal(err)
		}
		purged := pending("u2", 2)
		purged.Status = contract.DeletionPurged
		if err := s.Put(ctx, "u2", v, purged, nil); err != nil {
			t.Fatal(err)
		}
		all, err := s.All(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, d := range all {
			if _, twice := got[d.UUID]; twice {
				t.Fatalf("%s listed twice: %+v", d.UUID, all)
			}
			got[d.UUID] = d.Status
		}
		want := map[string]string{"u1": contract.DeletionPending, "u2": contract.DeletionPurged, "u3": contract.DeletionPending}
		if len(got) != len(want) || got["u1"] != want["u1"] || got["u2"] != want["u2"] || got["u3"] != want["u3"] {
			t.Fatalf("all: %v, want %v", got, want)
		}
	})
	t.Run("the due index holds what is marked and not settled", func(t *testing.T) {
		s := open(t)
		due := func() []string {
			t.Helper()
			ids, err := s.Due(ctx)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(ids)
			return ids
		}
		if got := due(); len(got) != 0 {
			t.Fatalf("empty store: %q", got)
		}
		for _, uuid := range []string{"u1", "u2", "u1"} { // marked twice: a redelivered request
			if err := s.MarkDue(ctx, uuid, at); err != nil {
				t.Fatal(err)
			}
		}
		if got := due(); !slices.Equal(got, []string{"u1", "u2"}) {
			t.Fatalf("due: %q", got)
		}
		for _, uuid := range []string{"u1", "u1", "u9"} { // settled twice, and one never marked
			if err := s.Settle(ctx, uuid); err != nil {
				t.Fatal(err)
			}
		}
		if got := due(); !slices.Equal(got, []string{"u2"}) {
			t.Fatalf("after settling u1: %q", got)
		}
	})
}
