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

func ids(ss []domain.Session) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

// Sessions runs the Sessions contract. open returns, for an empty store,
// a function that opens another replica's Sessions on it.
func Sessions(t *testing.T, open func(t *testing.T) func() app.Sessions) {
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	const ttl = 24 * time.Hour
	login := func(t *testing.T, s app.Sessions, userID int64, at time.Time) domain.Session {
		t.Helper()
		got, err := s.Create(ctx, domain.Session{
			UserID: userID, UUID: "u", Device: "fcm", UserAgent: "ua", IP: "10.0.0.1",
			CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(ttl),
		})
		if err != nil || got.ID == "" {
			t.Fatalf("create: %+v %v", got, err)
		}
		return got
	}
	live := func(t *testing.T, s app.Sessions, userID int64, at time.Time) []string {
		t.Helper()
		got, err := s.Live(ctx, userID, at.Add(-ttl), at)
		if err != nil {
			t.Fatal(err)
		}
		return ids(got)
	}

	t.Run("a created session is read back by its id and listed", func(t *testing.T) {
		s := open(t)()
		want := login(t, s, 1, now)
		got, err := s.Get(ctx, want.ID)
		if err != nil || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
			got.UserID != 1 || got.UUID != "u" || got.Device != "fcm" || got.UserAgent != "ua" || got.IP != "10.0.0.1" {
			t.Fatalf("get: %+v %v, want %+v", got, err, want)
		}
		if _, err := s.Get(ctx, "never-issued"); !errors.Is(err, mongox.ErrNotFound) {
			t.Fatalf("an unknown id: %v", err)
		}
		if got := live(t, s, 1, now.Add(time.Minute)); !same(got, []string{want.ID}) {
			t.Fatalf("live %v", got)
		}
	})
	t.Run("a user's list holds their open sessions only, oldest first", func(t *testing.T) {
		s := open(t)()
		// Opened the day before, still open: found across midnight.
		yesterday := login(t, s, 1, now.Add(-20*time.Hour))
		expired := login(t, s, 1, now.Add(-ttl-time.Minute))
		first := login(t, s, 1, now)
		revoked := login(t, s, 1, now.Add(time.Second))
		other := login(t, s, 2, now.Add(2*time.Second))
		last := login(t, s, 1, now.Add(3*time.Second))
		if err := s.Revoke(ctx, domain.Revocation{SessionID: revoked.ID, UserID: 1, At: now}); err != nil {
			t.Fatal(err)
		}
		if got := live(t, s, 1, now.Add(time.Minute)); !same(got, []string{yesterday.ID, first.ID, last.ID}) {
			t.Fatalf("live %v; want %v (not %s expired, %s revoked)", got, []string{yesterday.ID, first.ID, last.ID}, expired.ID, revoked.ID)
		}
		if got := live(t, s, 2, now.Add(time.Minute)); !same(got, []string{other.ID}) {
			t.Fatalf("the other user's %v", got)
		}
		if got := live(t, s, 1, now.Add(ttl+4*time.Second)); len(got) != 0 {
			t.Fatalf("after they expired: %v", got)
		}
	})
	t.Run("logins at once on several replicas get distinct sessions, all listed", func(t *testing.T) {
		replica := open(t)
		// A replica that has seen the user's day: its memory of it goes stale.
		warm := replica()
		login(t, warm, 1, now)
		stores := []app.Sessions{warm, replica(), replica()}
		var wg sync.WaitGroup
		var mu sync.Mutex
		made := map[string]bool{}
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := stores[i%len(stores)].Create(ctx, domain.Session{UserID: 1, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(ttl)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if made[got.ID] {
					t.Errorf("%s given twice", got.ID)
				}
				made[got.ID] = true
			}()
		}
		wg.Wait()
		for _, s := range stores {
			got := live(t, s, 1, now.Add(time.Minute))
			if len(got) != 13 {
				t.Fatalf("%d listed, want 13: %v", len(got), got)
			}
			for _, id := range got[1:] {
				if !made[id] {
					t.Fatalf("listed %s, never made", id)
				}
			}
		}
		// A login after them all, on the replica that saw only the first.
		if got := live(t, warm, 1, now.Add(time.Minute)); len(got) != 13 {
			t.Fatal(got)
		}
		login(t, warm, 1, now.Add(time.Minute))
		if got := live(t, replica(), 1, now.Add(2*time.Minute)); len(got) != 14 {
			t.Fatalf("%d listed after one more, want 14", len(got))
		}
	})
	t.Run("the last-seen time moves forward only, once an interval, and only for the owner", func(t *testing.T) {
		s := open(t)()
		ss := login(t, s, 1, now)
		seen := func() time.Time {
			t.Helper()
			got, err := s.Get(ctx, ss.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.LastSeenAt
		}
		if err := s.Touch(ctx, 1, ss.ID, now.Add(10*time.Minute), now.Add(5*time.Minute)); err != nil || !seen().Equal(now.Add(10*time.Minute)) {
			t.Fatalf("touched: %v %v", seen(), err)
		}
		// Another replica's write within the interval, or a slower one.
		if err := s.Touch(ctx, 1, ss.ID, now.Add(12*time.Minute), now.Add(7*time.Minute)); err != nil || !seen().Equal(now.Add(10*time.Minute)) {
			t.Fatalf("moved within the interval: %v %v", seen(), err)
		}
		if err := s.Touch(ctx, 1, ss.ID, now.Add(5*time.Minute), now.Add(time.Hour)); err != nil || !seen().Equal(now.Add(10*time.Minute)) {
			t.Fatalf("moved back: %v %v", seen(), err)
		}
		if err := s.Touch(ctx, 2, ss.ID, now.Add(20*time.Minute), now.Add(time.Hour)); err != nil || !seen().Equal(now.Add(10*time.Minute)) {
			t.Fatalf("touched by another user: %v %v", seen(), err)
		}
		if err := s.Touch(ctx, 1, "never-issued", now, now); err != nil {
			t.Fatalf("an unknown session: %v", err)
		}
	})
	t.Run("a revocation is pending until propagated, and a second one changes nothing", func(t *testing.T) {
		s := open(t)()
		a, b := login(t, s, 1, now), login(t, s, 1, now)
		if err := s.Revoke(ctx, domain.Revocation{SessionID: a.ID, UserID: 1, At: now, Pending: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.Revoke(ctx, domain.Revocation{SessionID: b.ID, UserID: 1, At: now}); err != nil {
			t.Fatal(err)
		}
		// b's end needed no broadcast: revoking it again does not make it pending.
		if err := s.Revoke(ctx, domain.Revocation{SessionID: b.ID, UserID: 1, At: now, Pending: true}); err != nil {
			t.Fatal(err)
		}
		pending := func(before time.Time) []string {
			t.Helper()
			rs, err := s.Pending(ctx, before)
			if err != nil {
				t.Fatal(err)
			}
			out := []string{}
			for _, r := range rs {
				out = append(out, r.SessionID)
			}
			return out
		}
		if got := pending(now); len(got) != 0 {
			t.Fatalf("pending before their time: %v", got)
		}
		if got := pending(now.Add(time.Second)); !same(got, []string{a.ID}) {
			t.Fatalf("pending %v, want [%s]", got, a.ID)
		}
		if err := s.Propagated(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if got := pending(now.Add(time.Second)); len(got) != 0 {
			t.Fatalf("pending once propagated: %v", got)
		}
		if got := live(t, s, 1, now); len(got) != 0 {
			t.Fatalf("revoked sessions listed: %v", got)
		}
	})
	t.Run("erasing a user deletes their sessions only, and they may log in again", func(t *testing.T) {
		s := open(t)()
		mine, theirs := login(t, s, 1, now), login(t, s, 2, now)
		if err := s.Erase(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, mine.ID); !errors.Is(err, mongox.ErrNotFound) {
			t.Fatalf("an erased session: %v", err)
		}
		if got := live(t, s, 2, now); !same(got, []string{theirs.ID}) {
			t.Fatalf("the other user's: %v", got)
		}
		again := login(t, s, 1, now)
		if got := live(t, s, 1, now); !same(got, []string{again.ID}) {
			t.Fatalf("after the erasure: %v, want [%s]", got, again.ID)
		}
	})
	t.Run("the sweep deletes what expired and old revocations", func(t *testing.T) {
		s := open(t)()
		old, kept := login(t, s, 1, now.Add(-3*ttl)), login(t, s, 1, now)
		for _, r := range []domain.Revocation{{SessionID: old.ID, UserID: 1, At: now.Add(-3 * ttl), Pending: true}, {SessionID: "recent", UserID: 1, At: now, Pending: true}} {
			if err := s.Revoke(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Sweep(ctx, now.Add(-ttl), now.Add(-ttl)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, old.ID); !errors.Is(err, mongox.ErrNotFound) {
			t.Fatalf("an expired session kept: %v", err)
		}
		if _, err := s.Get(ctx, kept.ID); err != nil {
			t.Fatalf("an open session swept: %v", err)
		}
		rs, err := s.Pending(ctx, now.Add(time.Second))
		if err != nil || len(rs) != 1 || rs[0].SessionID != "recent" {
			t.Fatalf("revocations after the sweep: %+v %v", rs, err)
		}
	})
}
