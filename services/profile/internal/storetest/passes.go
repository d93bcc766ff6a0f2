package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/profile/internal/app"
)

// PassStore is the contract of app.PassStore. newStore makes an empty
// store and returns how to open it (each call: one more replica's handle
// on it).
func PassStore(t *testing.T, newStore func(t *testing.T) (open func() app.PassStore)) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	yes := true
	pass := func(jti string, userID int64, at time.Time) app.IssuedPass {
		return app.IssuedPass{ID: jti, UserID: userID, IssuedAt: at, ExpiresAt: at.Add(time.Minute), Fields: []string{contract.PassFirstName, contract.PassIdentityStatus},
			Claims: contract.PassClaims{FirstName: "Jane", LastName: "Doe", Photo: "digest", IdentityStatus: contract.IdentityVerified, VerifiedDocuments: []string{contract.DocNationalID}, AgeOver18: &yes}}
	}
	t.Run("a pass is read back by its id", func(t *testing.T) {
		s := newStore(t)()
		_, err := s.Issued(ctx, "none")
		wantErr(t, err, app.ErrNotFound)
		want := pass("j1", 1, t0)
		must(t, s.Record(ctx, want))
		got, err := s.Issued(ctx, "j1")
		must(t, err)
		if got.UserID != 1 || !got.IssuedAt.Equal(t0) || !got.ExpiresAt.Equal(want.ExpiresAt) || !slices.Equal(got.Fields, want.Fields) ||
			got.Claims.FirstName != "Jane" || got.Claims.AgeOver18 == nil || !slices.Equal(got.Claims.VerifiedDocuments, want.Claims.VerifiedDocuments) {
			t.Fatalf("%+v", got)
		}
		if s.Record(ctx, pass("j1", 2, t0)) == nil {
			t.Fatal("a second pass under the same jti was stored")
		}
	})
	t.Run("a revocation kills the user's passes issued before it, only theirs", func(t *testing.T) {
		s := newStore(t)()
		must(t, s.Revoke(ctx, 1, t0.Add(time.Second)))
		for _, tc := range []struct {
			user   int64
			issued time.Time
			want   bool
		}{{1, t0, true}, {1, t0.Add(time.Second), true}, {1, t0.Add(2 * time.Second), false}, {2, t0, false}} {
			got, err := s.RevokedAfter(ctx, tc.user, tc.issued)
			must(t, err)
			if got != tc.want {
				t.Errorf("user %d issued %v: revoked %v, want %v", tc.user, tc.issued, got, tc.want)
			}
		}
	})
	t.Run("verifications, newest first, at most limit", func(t *testing.T) {
		s := newStore(t)()
		for i, at := range []time.Time{t0.Add(time.Minute), t0, t0.Add(2 * time.Minute)} {
			must(t, s.Seen(ctx, 1, contract.PassVerification{At: at, Fields: []string{contract.PassFields[i%len(contract.PassFields)]}}))
		}
		must(t, s.Seen(ctx, 2, contract.PassVerification{At: t0.Add(time.Hour)}))
		got, err := s.Verifications(ctx, 1, 2)
		must(t, err)
		if len(got) != 2 || !got[0].At.Equal(t0.Add(2*time.Minute)) || !got[1].At.Equal(t0.Add(time.Minute)) || len(got[0].Fields) != 1 {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("the latest of concurrent revocations from several replicas counts", func(t *testing.T) {
		open := newStore(t)
		replicas := []app.PassStore{open(), open(), open()}
		const n = 9
		race(n, func(i int) {
			if err := replicas[i%len(replicas)].Revoke(ctx, 3, t0.Add(time.Duration(i)*time.Second)); err != nil {
				t.Error(err)
			}
		})
		s := open()
		for _, tc := range []struct {
			issued time.Time
			want   bool
		}{{t0.Add((n - 1) * time.Second), true}, {t0.Add(n * time.Second), false}} {
			if got, err := s.RevokedAfter(ctx, 3, tc.issued); err != nil || got != tc.want {
				t.Errorf("issued %v: revoked %v (%v), want %v", tc.issued, got, err, tc.want)
			}
		}
	})
	t.Run("concurrent verifications from several replicas are all kept, newest first", func(t *testing.T) {
		open := newStore(t)
		replicas := []app.PassStore{open(), open(), open()}
		const n = 12
		race(n, func(i int) {
			if err := replicas[i%len(replicas)].Seen(ctx, 4, contract.PassVerification{At: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
				t.Error(err)
			}
		})
		got, err := open().Verifications(ctx, 4, n+5)
		must(t, err)
		if len(got) != n {
			t.Fatalf("%d of %d verifications kept", len(got), n)
		}
		for i, v := range got {
			if want := t0.Add(time.Duration(n-1-i) * time.Minute); !v.At.Equal(want) {
				t.Fatalf("verification %d at %v, want %v", i, v.At, want)
			}
		}
	})
	t.Run("erased: no names, no verifications; the pass still reads as revoked", func(t *testing.T) {
		s := newStore(t)()
		must(t, s.Record(ctx, pass("j1", 1, t0)))
		must(t, s.Record(ctx, pass("j2", 2, t0)))
		must(t, s.Seen(ctx, 1, contract.PassVerification{At: t0}))
		must(t, s.Seen(ctx, 2, contract.PassVerification{At: t0}))
		must(t, s.Revoke(ctx, 1, t0.Add(time.Second)))
		must(t, s.Erase(ctx, 1))
		must(t, s.Erase(ctx, 1))
		got, err := s.Issued(ctx, "j1")
		must(t, err)
		if c := got.Claims; c.FirstName != "" || c.LastName != "" || c.Photo != "" || c.AgeOver18 != nil || got.UserID != 1 || c.IdentityStatus != contract.IdentityVerified {
			t.Fatalf("after the erase: %+v", got)
		}
		if revoked, err := s.RevokedAfter(ctx, 1, got.IssuedAt); err != nil || !revoked {
			t.Fatalf("revoked %v %v", revoked, err)
		}
		if v, err := s.Verifications(ctx, 1, 10); err != nil || len(v) != 0 {
			t.Fatalf("%+v %v", v, err)
		}
		if other, err := s.Issued(ctx, "j2"); err != nil || other.Claims.FirstName != "Jane" {
			t.Fatalf("another user's pass: %+v %v", other, err)
		}
		if v, err := s.Verifications(ctx, 2, 10); err != nil || len(v) != 1 {
			t.Fatalf("another user's verifications: %+v %v", v, err)
		}
		// Seen again after the erase: only the new one.
		must(t, s.Seen(ctx, 1, contract.PassVerification{At: t0.Add(time.Hour)}))
		if v, err := s.Verifications(ctx, 1, 10); err != nil || len(v) != 1 || !v[0].At.Equal(t0.Add(time.Hour)) {
			t.Fatalf("after the erase: %+v %v", v, err)
		}
	})
}
