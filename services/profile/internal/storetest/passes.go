package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/profile/internal/app"
)

// PassStore is the contract of app.PassStore.
func PassStore(t *testing.T, newStore func(t *testing.T) app.PassStore) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	yes := true
	pass := func(jti string, userID int64, at time.Time) app.IssuedPass {
		return app.IssuedPass{ID: jti, UserID: userID, IssuedAt: at, ExpiresAt: at.Add(time.Minute), Fields: []string{contract.PassFirstName, contract.PassIdentityStatus},
			Claims: contract.PassClaims{FirstName: "Jane", LastName: "Doe", Photo: "digest", IdentityStatus: contract.IdentityVerified, VerifiedDocuments: []string{contract.DocNationalID}, AgeOver18: &yes}}
	}
	t.Run("a pass is read back by its id", func(t *testing.T) {
		s := newStore(t)
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
		s := newStore(t)
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
		s := newStore(t)
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
	t.Run("erased: no names, no verifications; the pass still reads as revoked", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Record(ctx, pass("j1", 1, t0)))
		must(t, s.Record(ctx, pass("j2", 2, t0)))
		must(t, s.Seen(ctx, 1, contract.PassVerification{At: t0}))
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
	})
}
