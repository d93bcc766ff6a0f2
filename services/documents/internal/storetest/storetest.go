// Package storetest holds the contract of each store the documents app
// declares: one suite per interface, taking a constructor of a fresh,
// empty store, run by every implementation's tests (the FerretDB v1
// adapters' today, a MongoDB-native one's later).
package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// Documents is the contract of app.Documents.
func Documents(t *testing.T, newStore func(t *testing.T) app.Documents) {
	ctx := context.Background()
	add := func(id int64) func(*app.Docs, int64) ([]contract.Event, error) {
		return func(d *app.Docs, _ int64) ([]contract.Event, error) {
			d.Items = append(slices.Clone(d.Items), app.Doc{ID: id, TypeID: 1, Status: contract.DocumentPending, Key: "k"})
			return nil, nil
		}
	}
	ids := func(d app.Docs) []int64 {
		var out []int64
		for _, it := range d.Items {
			out = append(out, it.ID)
		}
		slices.Sort(out)
		return out
	}

	t.Run("a user with none has an empty set at version 0", func(t *testing.T) {
		d, ver, err := newStore(t).Get(ctx, 7)
		if err != nil || ver != 0 || d.UserID != 7 || len(d.Items) != 0 {
			t.Fatalf("%+v %d %v", d, ver, err)
		}
	})
	t.Run("an update is stored as the version it was told", func(t *testing.T) {
		s := newStore(t)
		for want := int64(1); want <= 3; want++ {
			var told int64
			d, ver, err := s.Update(ctx, 7, func(d *app.Docs, version int64) ([]contract.Event, error) {
				told = version
				return add(want)(d, version)
			})
			if err != nil || ver != want || told != want || len(d.Items) != int(want) {
				t.Fatalf("update %d: %+v version %d (told %d) %v", want, d, ver, told, err)
			}
			got, gotVer, err := s.Get(ctx, 7)
			if err != nil || gotVer != want || !slices.Equal(ids(got), ids(d)) || got.UserID != 7 {
				t.Fatalf("read back %d: %+v %d %v", want, got, gotVer, err)
			}
		}
		if other, ver, err := s.Get(ctx, 8); err != nil || ver != 0 || len(other.Items) != 0 {
			t.Fatalf("another user sees %+v %d %v", other, ver, err)
		}
	})
	t.Run("a refused change stores nothing and its error comes back", func(t *testing.T) {
		s := newStore(t)
		if _, _, err := s.Update(ctx, 7, add(1)); err != nil {
			t.Fatal(err)
		}
		refused := contract.DocumentNotFound()
		_, _, err := s.Update(ctx, 7, func(d *app.Docs, v int64) ([]contract.Event, error) {
			_, _ = add(2)(d, v)
			return nil, refused
		})
		if !errors.Is(err, refused) {
			t.Fatalf("error %v, want %v", err, refused)
		}
		if d, ver, err := s.Get(ctx, 7); err != nil || ver != 1 || !slices.Equal(ids(d), []int64{1}) {
			t.Fatalf("after a refused change: %+v %d %v", d, ver, err)
		}
	})
	t.Run("racing updates all land, each on the one before", func(t *testing.T) {
		s := newStore(t)
		const writers, each = 3, 4
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					if _, _, err := s.Update(ctx, 7, add(int64(w*each+i+1))); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		d, ver, err := s.Get(ctx, 7)
		if err != nil || ver != writers*each || len(d.Items) != writers*each {
			t.Fatalf("%d items at version %d, want %d: %v", len(d.Items), ver, writers*each, err)
		}
	})
	t.Run("an erased set reads as none, and erasing again is a no-op", func(t *testing.T) {
		s := newStore(t)
		for _, user := range []int64{7, 8} {
			if _, _, err := s.Update(ctx, user, add(user)); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			if err := s.Erase(ctx, 7); err != nil {
				t.Fatal(err)
			}
		}
		if d, ver, err := s.Get(ctx, 7); err != nil || ver != 0 || len(d.Items) != 0 {
			t.Fatalf("erased: %+v %d %v", d, ver, err)
		}
		if d, ver, err := s.Get(ctx, 8); err != nil || ver != 1 || len(d.Items) != 1 {
			t.Fatalf("the other user's: %+v %d %v", d, ver, err)
		}
		if _, ver, err := s.Update(ctx, 7, add(9)); err != nil || ver != 1 {
			t.Fatalf("a set after erasure starts over: version %d %v", ver, err)
		}
	})
}

// ReviewQueue is the contract of app.ReviewQueue.
func ReviewQueue(t *testing.T, newStore func(t *testing.T) app.ReviewQueue) {
	ctx := context.Background()
	awaiting := func(t *testing.T, q app.ReviewQueue, limit int) []app.QueueMark {
		t.Helper()
		marks, err := q.Awaiting(ctx, limit)
		if err != nil {
			t.Fatal(err)
		}
		return marks
	}

	t.Run("an unknown document has no owner", func(t *testing.T) {
		_, err := newStore(t).Owner(ctx, 42)
		if contract.ErrorCode(err) != contract.NotFound {
			t.Fatalf("%v, want not_found", err)
		}
	})
	t.Run("added documents await review oldest first, within the limit", func(t *testing.T) {
		q := newStore(t)
		for _, m := range []app.QueueMark{{ID: 3, UserID: 7}, {ID: 1, UserID: 8}, {ID: 2, UserID: 7}} {
			if err := q.Add(ctx, m.ID, m.UserID); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := awaiting(t, q, 10), []app.QueueMark{{ID: 1, UserID: 8}, {ID: 2, UserID: 7}, {ID: 3, UserID: 7}}; !slices.Equal(got, want) {
			t.Fatalf("%v, want %v", got, want)
		}
		if got := awaiting(t, q, 2); len(got) != 2 || got[0].ID != 1 {
			t.Fatalf("limit 2: %v", got)
		}
		if owner, err := q.Owner(ctx, 3); err != nil || owner != 7 {
			t.Fatalf("owner of 3: %d %v", owner, err)
		}
	})
	t.Run("the queue orders ids as numbers", func(t *testing.T) {
		q := newStore(t)
		for _, id := range []int64{10, 9, 100} {
			if err := q.Add(ctx, id, 7); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := awaiting(t, q, 10), []app.QueueMark{{ID: 9, UserID: 7}, {ID: 10, UserID: 7}, {ID: 100, UserID: 7}}; !slices.Equal(got, want) {
			t.Fatalf("%v, want %v", got, want)
		}
	})
	t.Run("a settled document leaves the queue and keeps its owner", func(t *testing.T) {
		q := newStore(t)
		for id := int64(1); id <= 2; id++ {
			if err := q.Add(ctx, id, 7); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 { // settling twice is harmless
			if err := q.Settle(ctx, 1); err != nil {
				t.Fatal(err)
			}
		}
		if got := awaiting(t, q, 10); !slices.Equal(got, []app.QueueMark{{ID: 2, UserID: 7}}) {
			t.Fatalf("%v, want only 2", got)
		}
		if owner, err := q.Owner(ctx, 1); err != nil || owner != 7 {
			t.Fatalf("owner of settled 1: %d %v", owner, err)
		}
	})
	t.Run("an erased user's documents are forgotten, nobody else's", func(t *testing.T) {
		q := newStore(t)
		for _, m := range []app.QueueMark{{ID: 1, UserID: 7}, {ID: 2, UserID: 8}, {ID: 3, UserID: 7}} {
			if err := q.Add(ctx, m.ID, m.UserID); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			if err := q.EraseUser(ctx, 7); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := q.Owner(ctx, 1); contract.ErrorCode(err) != contract.NotFound {
			t.Fatalf("erased 1: %v", err)
		}
		if got := awaiting(t, q, 10); !slices.Equal(got, []app.QueueMark{{ID: 2, UserID: 8}}) {
			t.Fatalf("%v, want only 8's", got)
		}
	})
}

// IDs is the contract of app.IDs.
func IDs(t *testing.T, newStore func(t *testing.T) app.IDs) {
	ctx := context.Background()
	t.Run("each id is larger than the one before", func(t *testing.T) {
		s := newStore(t)
		var last int64
		for range 5 {
			id, err := s.Next(ctx)
			if err != nil || id <= last {
				t.Fatalf("%d after %d: %v", id, last, err)
			}
			last = id
		}
	})
	t.Run("racing callers never get the same id", func(t *testing.T) {
		s := newStore(t)
		const callers, each = 3, 5
		var mu sync.Mutex
		seen := map[int64]bool{}
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				for range each {
					id, err := s.Next(ctx)
					mu.Lock()
					if err != nil || seen[id] {
						t.Errorf("id %d: %v (given before: %v)", id, err, seen[id])
					}
					seen[id] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != callers*each {
			t.Fatalf("%d distinct ids, want %d", len(seen), callers*each)
		}
	})
}
