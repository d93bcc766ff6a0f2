package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/imagex/imagextest"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/profile/internal/adapters"
	"github.com/dossapp/backend/services/profile/internal/app"
	"github.com/dossapp/backend/services/profile/internal/storetest"
)

type noLinks struct{}

// memPhotos keeps no photo; its links name the key.
type memPhotos struct{ noLinks }

func (memPhotos) Put(context.Context, string, []byte) error { return nil }
func (memPhotos) Delete(context.Context, string) error      { return nil }

func (noLinks) URL(_ context.Context, key string) (string, error) {
	return "https://s3.test/" + key, nil
}

func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestIdentityPass(t *testing.T) {
	db := storetest.FerretDB(t)
	ctx := context.Background()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now().UTC()
	store := adapters.NewPasses(db.Collection("passes"), db.Collection("revocations"), db.Collection("shown"), db.Collection("lists"))
	if err := store.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	s := &app.Service{
		Profiles: adapters.NewVersionedProfiles(db.Collection("profiles")),
		Accounts: func(_ context.Context, id int64) (contract.Account, error) {
			return contract.Account{ID: id, UUID: "uuid-secret", Email: "a@example.com"}, nil
		},
		Photos: nil,
		Passes: app.Passes{Keys: app.PassKeys{KeyID: "p1", Key: key}, Store: store, Photos: noLinks{}},
		Now:    func() time.Time { return now },
	}
	if _, err := s.UpdateName(ctx, 1, contract.UpdateNameRequest{FirstName: "Jane", LastName: "Doe"}); err != nil {
		t.Fatal(err)
	}
	verify := func(tok string) contract.PassVerifyReply {
		t.Helper()
		r, err := s.VerifyPass(ctx, contract.PassVerifyRequest{Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	issue := func(fields ...string) string {
		t.Helper()
		r, err := s.IssuePass(ctx, 1, contract.PassIssueRequest{Fields: fields})
		if err != nil {
			t.Fatal(err)
		}
		return r.Token
	}
	wantReason := func(t *testing.T, r contract.PassVerifyReply, reason string) {
		t.Helper()
		if r.Valid || r.Reason != reason || r.Claims != nil {
			t.Fatalf("got %+v, want invalid with %s", r, reason)
		}
	}

	t.Run("an unverified identity cannot claim verified", func(t *testing.T) {
		tok := issue(contract.PassFirstName, contract.PassIdentityStatus)
		r := verify(tok)
		if !r.Valid || r.Claims.IdentityStatus != contract.IdentityUnverified || len(r.Claims.VerifiedDocuments) != 0 {
			t.Fatalf("%+v", r)
		}
	})
	// seen is what a reviewer opening the page now sees of the profile.
	seen := func() *contract.ReviewedIdentity {
		t.Helper()
		p, err := s.AdminGet(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		id := p.Identity()
		return &id
	}
	apply := func(version int64, docs ...contract.DocumentRef) {
		t.Helper()
		if err := s.ApplyDocuments(ctx, contract.DocumentsSnapshot{UserID: 1, Version: version, Documents: docs}); err != nil {
			t.Fatal(err)
		}
	}
	approved := func(ty int, as *contract.ReviewedIdentity) contract.DocumentRef {
		return contract.DocumentRef{ID: int64(ty), TypeID: ty, Status: contract.DocumentApproved, Key: "doc", ReviewedAs: as}
	}
	// approve approves types beside the profile as it is.
	approve := func(version int64, types ...int) {
		t.Helper()
		as := seen()
		var docs []contract.DocumentRef
		for _, ty := range types {
			docs = append(docs, approved(ty, as))
		}
		apply(version, docs...)
	}
	approve(1, 1, 2)

	t.Run("a verified identity: valid, only the chosen fields, no uuid", func(t *testing.T) {
		tok := issue(contract.PassFirstName, contract.PassIdentityStatus)
		r := verify(tok)
		if !r.Valid || r.Claims.FirstName != "Jane" || r.Claims.IdentityStatus != contract.IdentityVerified ||
			len(r.Claims.VerifiedDocuments) != 1 || r.Claims.VerifiedDocuments[0] != contract.DocNationalID {
			t.Fatalf("%+v", r)
		}
		p := payload(t, tok)
		for _, absent := range []string{"last_name", "photo", "age_over_18", "birthdate", "uid", "uuid"} {
			if _, ok := p[absent]; ok {
				t.Fatalf("%s is in the token: %v", absent, p)
			}
		}
		if strings.Contains(tok, "uuid-secret") || p["sub"] == "uuid-secret" {
			t.Fatal("the uuid is in the token")
		}
		if payload(t, issue(contract.PassFirstName))["sub"] == p["sub"] {
			t.Fatal("two passes share a subject")
		}
	})

	t.Run("forgeries are invalid", func(t *testing.T) {
		tok := issue(contract.PassIdentityStatus)
		parts := strings.Split(tok, ".")
		claims := payload(t, tok)
		claims["identity_status"] = "verified"
		claims["first_name"] = "Mallory"
		raw, _ := json.Marshal(claims)
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]

		_, other, _ := ed25519.GenerateKey(rand.Reader)
		resign := func(method jwt.SigningMethod, k any, header map[string]any, mutate func(jwt.MapClaims)) string {
			mc := jwt.MapClaims(payload(t, tok))
			if mutate != nil {
				mutate(mc)
			}
			nt := jwt.NewWithClaims(method, mc)
			for h, v := range header {
				nt.Header[h] = v
			}
			s, err := nt.SignedString(k)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		passHeader := map[string]any{"kid": "p1", "typ": contract.PassType}
		none := resign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, passHeader, nil)
		hs := resign(jwt.SigningMethodHS256, []byte(base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey))), passHeader, nil)
		appToken := resign(jwt.SigningMethodEdDSA, key, map[string]any{"kid": "p1"}, func(c jwt.MapClaims) { c["aud"] = contract.TokenAudience })
		for name, forged := range map[string]string{
			"tampered claims":               tampered,
			"another key":                   resign(jwt.SigningMethodEdDSA, other, passHeader, nil),
			"another key, unknown kid":      resign(jwt.SigningMethodEdDSA, other, map[string]any{"kid": "x", "typ": contract.PassType}, nil),
			"alg none":                      none,
			"alg HS256 with the public key": hs,
			"an app-shaped token":           appToken,
			"not a token":                   "abc",
		} {
			t.Run(name, func(t *testing.T) { wantReason(t, verify(forged), contract.PassInvalid) })
		}
		if r := verify(tok); !r.Valid {
			t.Fatalf("the original stopped verifying: %+v", r)
		}
	})

	t.Run("expired", func(t *testing.T) {
		tok := issue(contract.PassFirstName)
		was := now
		now = now.Add(contract.PassDefaultTTL + time.Second)
		defer func() { now = was }()
		wantReason(t, verify(tok), contract.PassExpired)
	})

	t.Run("revoked, and a pass made after still works", func(t *testing.T) {
		tok := issue(contract.PassFirstName)
		if err := s.RevokePasses(ctx, 1); err != nil {
			t.Fatal(err)
		}
		wantReason(t, verify(tok), contract.PassRevoked)
		now = now.Add(time.Second)
		if r := verify(issue(contract.PassFirstName)); !r.Valid {
			t.Fatalf("%+v", r)
		}
	})

	t.Run("the identity status changed: a document deleted or replaced", func(t *testing.T) {
		tok := issue(contract.PassIdentityStatus)
		names := issue(contract.PassFirstName) // claims no status: unaffected
		approve(2, 1)                          // the back of the ID is gone
		wantReason(t, verify(tok), contract.PassRevoked)
		if r := verify(names); !r.Valid {
			t.Fatalf("%+v", r)
		}
		approve(3, 1, 2) // verified again, for the tests that follow
	})

	t.Run("fields must be known, at least one, ttl bounded", func(t *testing.T) {
		for name, req := range map[string]contract.PassIssueRequest{
			"unknown field": {Fields: []string{"birthdate"}},
			"empty":         {Fields: []string{}},
			"ttl too long":  {TTL: ptr(601)},
			"ttl too short": {TTL: ptr(1)},
			"no photo":      {Fields: []string{contract.PassPhoto}},
			"no birthdate":  {Fields: []string{contract.PassAgeOver18}},
		} {
			t.Run(name, func(t *testing.T) {
				if _, err := s.IssuePass(ctx, 1, req); contract.ErrorCode(err) != contract.Invalid {
					t.Fatalf("%v", err)
				}
			})
		}
	})

	t.Run("verifications are recorded with their fields", func(t *testing.T) {
		v, err := s.PassVerifications(ctx, 1)
		if err != nil || len(v.Verifications) == 0 {
			t.Fatalf("%+v %v", v, err)
		}
		for _, f := range v.Verifications[0].Fields {
			if f == "" {
				t.Fatal("empty field")
			}
		}
	})

	t.Run("a name or photo set after the review is not vouched for", func(t *testing.T) {
		status := func(tok string) string {
			t.Helper()
			r := verify(tok)
			if !r.Valid {
				t.Fatalf("%+v", r)
			}
			return r.Claims.IdentityStatus
		}
		rename := func(first, last string) {
			t.Helper()
			if _, err := s.UpdateName(ctx, 1, contract.UpdateNameRequest{FirstName: first, LastName: last}); err != nil {
				t.Fatal(err)
			}
		}
		named := issue(contract.PassFirstName, contract.PassLastName, contract.PassIdentityStatus)
		if got := status(named); got != contract.IdentityVerified {
			t.Fatalf("the reviewed names: %s", got)
		}
		rename("Jane", "Victim")
		wantReason(t, verify(named), contract.PassRevoked)
		if got := status(issue(contract.PassFirstName, contract.PassLastName, contract.PassIdentityStatus)); got != contract.IdentityUnverified {
			t.Fatalf("a pass showing the name set after the review says %s; want %s", got, contract.IdentityUnverified)
		}
		if got := status(issue(contract.PassIdentityStatus)); got != contract.IdentityVerified {
			t.Fatalf("a pass showing no name says %s", got)
		}
		rename("Jane", "Doe")
		if got := status(issue(contract.PassFirstName, contract.PassLastName, contract.PassIdentityStatus)); got != contract.IdentityVerified {
			t.Fatalf("back to the reviewed names: %s", got)
		}

		s.Photos = memPhotos{}
		if _, err := s.UpdateImage(ctx, 1, imagextest.JPEG(16, 16, 0)); err != nil {
			t.Fatal(err)
		}
		if got := status(issue(contract.PassPhoto, contract.PassIdentityStatus)); got != contract.IdentityUnverified {
			t.Fatalf("a pass showing a face no reviewer saw says %s", got)
		}
		approve(4, 1, 2, 3, 4) // a passport approved: the reviewer saw this face
		withFace := issue(contract.PassPhoto, contract.PassFirstName, contract.PassIdentityStatus)
		if got := status(withFace); got != contract.IdentityVerified {
			t.Fatalf("the face beside the newest approval: %s", got)
		}
		if _, err := s.UpdateImage(ctx, 1, imagextest.JPEG(16, 16, 0)); err != nil {
			t.Fatal(err)
		}
		wantReason(t, verify(withFace), contract.PassRevoked)
		if got := status(issue(contract.PassPhoto, contract.PassIdentityStatus)); got != contract.IdentityUnverified {
			t.Fatalf("a face set after the newest approval: %s", got)
		}
	})

	// A loop on issue grew the user's pass records without bound, and the
	// account's purge reads every one.
	t.Run("passes a user may make an hour", func(t *testing.T) {
		limits := mongox.NewLedgerLimits(db.Collection("limits"), func() time.Time { return now })
		if err := limits.EnsureIndexes(ctx); err != nil {
			t.Fatal(err)
		}
		s.Passes.Limits, s.Passes.IssuesPerHour = limits, 3
		defer func() { s.Passes.Limits, s.Passes.IssuesPerHour = nil, 0 }()
		for i := range 3 {
			if _, err := s.IssuePass(ctx, 1, contract.PassIssueRequest{Fields: []string{contract.PassFirstName}}); err != nil {
				t.Fatalf("pass %d: %v", i+1, err)
			}
		}
		_, err := s.IssuePass(ctx, 1, contract.PassIssueRequest{Fields: []string{contract.PassFirstName}})
		if contract.ErrorCode(err) != contract.RateLimited {
			t.Fatalf("a 4th pass in the hour: %v; want %s", err, contract.RateLimited)
		}
		// Another user with a profile of their own is given a pass: the
		// limit is the first user's alone.
		if _, err := s.UpdateName(ctx, 2, contract.UpdateNameRequest{FirstName: "Ann", LastName: "Roe"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.IssuePass(ctx, 2, contract.PassIssueRequest{Fields: []string{contract.PassFirstName}}); err != nil {
			t.Fatalf("another user's pass after the first one's limit: %v", err)
		}
		now = now.Add(time.Hour)
		if _, err := s.IssuePass(ctx, 1, contract.PassIssueRequest{Fields: []string{contract.PassFirstName}}); err != nil {
			t.Fatalf("an hour later: %v", err)
		}
	})

	// The review page showed the user's own name; before the reviewer
	// clicked, the user became "Jane Victim". The approval is of what the
	// page showed: beside the new name a pass says unverified. Before, the
	// profile's names when the approval arrived were vouched for.
	t.Run("a rename while the review page was open is not vouched for", func(t *testing.T) {
		rename := func(first, last string) {
			t.Helper()
			if _, err := s.UpdateName(ctx, 1, contract.UpdateNameRequest{FirstName: first, LastName: last}); err != nil {
				t.Fatal(err)
			}
		}
		status := func(fields ...string) string {
			t.Helper()
			r := verify(issue(fields...))
			if !r.Valid {
				t.Fatalf("%+v", r)
			}
			return r.Claims.IdentityStatus
		}
		named := []string{contract.PassFirstName, contract.PassLastName, contract.PassIdentityStatus}
		rename("Mallory", "Real")
		page := seen()
		rename("Jane", "Victim")
		apply(100) // nothing approved
		apply(101, approved(5, page), approved(6, page))
		if got := status(named...); got != contract.IdentityUnverified {
			t.Fatalf("a pass beside the name set while the page was open says %s; want %s", got, contract.IdentityUnverified)
		}
		rename("Mallory", "Real")
		if got := status(named...); got != contract.IdentityVerified {
			t.Fatalf("beside the name the reviewer saw: %s", got)
		}

		// The front approved beside one name, the back beside another:
		// neither is vouched for.
		other := *page
		other.FirstName = "Jane"
		apply(102)
		apply(103, approved(5, page), approved(6, &other))
		if got := status(named...); got != contract.IdentityUnverified {
			t.Fatalf("sides reviewed beside different names: %s", got)
		}
		// Approved with no names seen (the admin API without seen_as):
		// the document is vouched for, no name.
		apply(104)
		apply(105, approved(5, nil), approved(6, nil))
		if got := status(named...); got != contract.IdentityUnverified {
			t.Fatalf("an approval beside no name, a pass with a name: %s", got)
		}
		if got := status(contract.PassIdentityStatus); got != contract.IdentityVerified {
			t.Fatalf("an approval beside no name, a pass without one: %s", got)
		}
	})

	t.Run("the account deleted", func(t *testing.T) {
		tok := issue(contract.PassFirstName)
		if _, err := db.Collection("profiles").DeleteMany(ctx, bson.M{}); err != nil {
			t.Fatal(err)
		}
		wantReason(t, verify(tok), contract.PassRevoked)
	})
}

func ptr(v int) *int { return &v }
