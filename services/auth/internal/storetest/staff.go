package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/auth/internal/app"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// StaffAccounts runs the StaffAccounts contract against the stores open
// returns, each empty.
func StaffAccounts(t *testing.T, open func(t *testing.T) app.StaffAccounts) {
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	t.Run("a name is created once and read back", func(t *testing.T) {
		s := open(t)
		if _, err := s.Get(ctx, "sam"); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("before its create: %v", err)
		}
		a := domain.StaffAccount{Name: "sam", Role: contract.RoleAdmin, PasswordHash: "h", TOTPSealed: []byte("sealed"), CreatedAt: at, CreatedBy: "root"}
		if err := s.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, domain.StaffAccount{Name: "sam", Role: contract.RoleReviewer}); !errors.Is(err, contract.ErrExists) {
			t.Fatalf("a second create: %v, want ErrExists", err)
		}
		got, err := s.Get(ctx, "sam")
		if err != nil || got.Role != contract.RoleAdmin || string(got.TOTPSealed) != "sealed" || !got.CreatedAt.Equal(at) || got.CreatedBy != "root" {
			t.Fatalf("get: %+v %v", got, err)
		}
	})
	t.Run("a replace is what the next read sees", func(t *testing.T) {
		s := open(t)
		a := domain.StaffAccount{Name: "sam", Role: contract.RoleSupport, CreatedAt: at}
		if err := s.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
		a.Disabled, a.Epoch = true, 1
		if err := s.Replace(ctx, a); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ctx, "sam"); err != nil || !got.Disabled || got.Epoch != 1 {
			t.Fatalf("after the replace: %+v %v", got, err)
		}
	})
	t.Run("the list is every account by name", func(t *testing.T) {
		s := open(t)
		for _, n := range []string{"zoe", "ada", "max"} {
			if err := s.Create(ctx, domain.StaffAccount{Name: n, Role: contract.RoleReviewer}); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.List(ctx)
		if err != nil || len(all) != 3 || all[0].Name != "ada" || all[1].Name != "max" || all[2].Name != "zoe" {
			t.Fatalf("list: %+v %v", all, err)
		}
	})
}

// StaffSessions runs the StaffSessions contract against the stores open
// returns, each empty.
func StaffSessions(t *testing.T, open func(t *testing.T) app.StaffSessions) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	t.Run("a session is read back, touched and ended", func(t *testing.T) {
		s := open(t)
		ss := domain.StaffSession{ID: "d1", Name: "sam", Epoch: 2, CSRF: "csrf", CreatedAt: now, LastSeen: now, IP: "10.0.0.1"}
		if err := s.Insert(ctx, ss); err != nil {
			t.Fatal(err)
		}
		if err := s.Touch(ctx, "d1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "d1")
		if err != nil || got.Name != "sam" || got.Epoch != 2 || got.CSRF != "csrf" || !got.LastSeen.Equal(now.Add(time.Minute)) || !got.CreatedAt.Equal(now) {
			t.Fatalf("get: %+v %v", got, err)
		}
		for range 2 {
			if err := s.Delete(ctx, "d1"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Get(ctx, "d1"); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("an ended session: %v", err)
		}
	})
	t.Run("a sweep takes the sessions begun before its age only", func(t *testing.T) {
		s := open(t)
		for id, begun := range map[string]time.Time{"old": now.Add(-25 * time.Hour), "new": now.Add(-time.Hour)} {
			if err := s.Insert(ctx, domain.StaffSession{ID: id, Name: "sam", CreatedAt: begun, LastSeen: begun}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Sweep(ctx, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "old"); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("a session past the age: %v", err)
		}
		if _, err := s.Get(ctx, "new"); err != nil {
			t.Fatalf("a session within the age: %v", err)
		}
	})
}

// UsedCodes runs the UsedCodes contract against the stores open returns,
// each empty.
func UsedCodes(t *testing.T, open func(t *testing.T) app.UsedCodes) {
	ctx := context.Background()
	now := time.Now().UTC()
	t.Run("of many uses at once, one is the first", func(t *testing.T) {
		s := open(t)
		var firsts atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first, err := s.Use(ctx, "sam#123", now)
				if err != nil {
					t.Error(err)
				}
				if first {
					firsts.Add(1)
				}
			}()
		}
		wg.Wait()
		if firsts.Load() != 1 {
			t.Fatalf("%d first uses", firsts.Load())
		}
		if first, err := s.Use(ctx, "sam#124", now); err != nil || !first {
			t.Fatalf("the next step: %v %v", first, err)
		}
	})
	t.Run("a swept use is forgotten, a young one is not", func(t *testing.T) {
		s := open(t)
		for key, at := range map[string]time.Time{"old": now.Add(-25 * time.Hour), "new": now.Add(-time.Hour)} {
			if _, err := s.Use(ctx, key, at); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Sweep(ctx, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if first, err := s.Use(ctx, "old", now); err != nil || !first {
			t.Fatalf("a swept use: %v %v", first, err)
		}
		if first, err := s.Use(ctx, "new", now); err != nil || first {
			t.Fatalf("a young use: %v %v", first, err)
		}
	})
}

// AuditTrail runs the AuditTrail contract against the stores open
// returns, each empty.
func AuditTrail(t *testing.T, open func(t *testing.T) app.AuditTrail) {
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	entry := func(id, admin string, userID int64, minute int) contract.AuditEntry {
		return contract.AuditEntry{ID: id, AdminAudited: contract.AdminAudited{Admin: admin, UserID: userID, Method: "POST", Path: "/p/" + id, At: at.Add(time.Duration(minute) * time.Minute)}}
	}
	ids := func(es []contract.AuditEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	add := func(t *testing.T, s app.AuditTrail, es ...contract.AuditEntry) {
		t.Helper()
		for _, e := range es {
			if err := s.Add(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("an id is stored once", func(t *testing.T) {
		s := open(t)
		add(t, s, entry("e1", "sam", 7, 0))
		again := entry("e1", "eve", 7, 5)
		add(t, s, again)
		got, err := s.About(ctx, 7)
		if err != nil || len(got) != 1 || got[0].Admin != "sam" || got[0].Path != "/p/e1" {
			t.Fatalf("after a second add: %+v %v", got, err)
		}
	})
	t.Run("about a user, oldest first", func(t *testing.T) {
		s := open(t)
		add(t, s, entry("b", "sam", 7, 2), entry("a", "eve", 7, 1), entry("x", "sam", 8, 0))
		got, err := s.About(ctx, 7)
		if err != nil || !same(ids(got), []string{"a", "b"}) {
			t.Fatalf("about 7: %v %v", ids(got), err)
		}
	})
	t.Run("found by admin, user and time, newest first, up to the limit", func(t *testing.T) {
		s := open(t)
		add(t, s, entry("e0", "sam", 7, 0), entry("e1", "sam", 8, 1), entry("e2", "eve", 7, 2), entry("e3", "sam", 7, 3), entry("e4", "sam", 7, 4))
		for _, c := range []struct {
			name  string
			f     domain.AuditFilter
			limit int
			want  []string
		}{
			{"everything", domain.AuditFilter{}, 10, []string{"e4", "e3", "e2", "e1", "e0"}},
			{"the limit", domain.AuditFilter{}, 2, []string{"e4", "e3"}},
			{"an admin", domain.AuditFilter{Admin: "sam"}, 10, []string{"e4", "e3", "e1", "e0"}},
			{"a user", domain.AuditFilter{UserID: 7}, 10, []string{"e4", "e3", "e2", "e0"}},
			{"since inclusive, until exclusive", domain.AuditFilter{Since: at.Add(time.Minute), Until: at.Add(3 * time.Minute)}, 10, []string{"e2", "e1"}},
			{"all at once", domain.AuditFilter{Admin: "sam", UserID: 7, Since: at.Add(time.Minute)}, 10, []string{"e4", "e3"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.Find(ctx, c.f, c.limit)
				if err != nil || !same(ids(got), c.want) {
					t.Fatalf("find: %v %v, want %v", ids(got), err, c.want)
				}
			})
		}
	})
}
