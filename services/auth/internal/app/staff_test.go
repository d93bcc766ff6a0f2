package app

import (
	"context"
	"encoding/base32"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/pkg/seal"

	"github.com/dossapp/backend/services/auth/internal/adapters"
)

func newStaffFixture(t *testing.T) (*fixture, *Staff) {
	t.Helper()
	f := newFixture(t)
	db := f.db
	box, err := seal.New(StaffBoxKey([]byte("code key")))
	if err != nil {
		t.Fatal(err)
	}
	st := &Staff{Accounts: adapters.NewStaffAccounts(db.Collection("auth_staff")), Sessions: adapters.NewStaffSessions(db.Collection("auth_staff_sessions")),
		UsedCodes: adapters.NewUsedCodes(db.Collection("auth_staff_codes")), Audit: adapters.NewAuditTrail(db.Collection("auth_audit")), Ledger: adapters.NewCounters(mongox.NewLedger(db.Collection("auth_staff_ledger"), f.clock)),
		Hasher: f.svc.Hasher, Box: box, Issuer: "DOSS", Now: f.clock, Limits: DefaultStaffLimits()}
	return f, st
}

func staffCode(t *testing.T, c contract.StaffCredentials, at time.Time) string {
	t.Helper()
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(c.TOTPSecret)
	if err != nil {
		t.Fatal(err)
	}
	return StaffTOTP.Code(secret, StaffTOTP.Counter(at))
}

func ip(a string) contract.Client { return contract.Client{IP: a} }

func (st *Staff) auditActions(t *testing.T, name string) []string {
	t.Helper()
	l, err := st.AuditList(context.Background(), contract.AuditListRequest{Admin: name})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range l.Entries {
		out = append(out, e.Action)
	}
	return out
}

// Five wrong passwords or codes for a name from one address lock that
// pair and leave an audit entry; the owner at another address still signs
// in, so a stranger who knows the name cannot lock its owner out.
func TestStaffLockoutIsPerNameAndAddress(t *testing.T) {
	f, st := newStaffFixture(t)
	ctx := context.Background()
	c, err := st.Create(ctx, "test", contract.StaffCreateRequest{Name: "rita", Role: contract.RoleReviewer})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		wrong := contract.StaffLoginRequest{Name: "rita", Password: c.Password, Code: "000000"}
		if i%2 == 0 {
			wrong = contract.StaffLoginRequest{Name: "rita", Password: "guess", Code: staffCode(t, c, f.clock())}
		}
		if _, err := st.Login(ctx, wrong, ip("203.0.113.9")); code(err) != contract.Invalid {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	f.advance(30 * time.Second) // a fresh code
	right := contract.StaffLoginRequest{Name: "rita", Password: c.Password, Code: staffCode(t, c, f.clock())}
	if _, err := st.Login(ctx, right, ip("203.0.113.9")); code(err) != contract.RateLimited {
		t.Fatalf("the stranger's address: %v, want locked", err)
	}
	if _, err := st.Login(ctx, right, ip("198.51.100.7")); err != nil {
		t.Fatalf("the owner's address: %v", err)
	}
	acts := st.auditActions(t, "rita")
	if len(acts) == 0 || acts[0] != "sign-in" || !contains(acts, "locked out") || !contains(acts, "sign-in failed") {
		t.Fatalf("audit %v", acts)
	}
	f.advance(16 * time.Minute)
	f.advance(30 * time.Second)
	right.Code = staffCode(t, c, f.clock())
	if _, err := st.Login(ctx, right, ip("203.0.113.9")); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// A code signs in once; an unknown name costs a failure like a wrong
// password; a disabled member, a new TOTP secret and idle time end
// sessions; the absolute lifetime ends them too.
func TestStaffSessions(t *testing.T) {
	f, st := newStaffFixture(t)
	ctx := context.Background()
	c, err := st.Create(ctx, "test", contract.StaffCreateRequest{Name: "sam", Role: contract.RoleSupport})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(ctx, "test", contract.StaffCreateRequest{Name: "sam", Role: contract.RoleSupport}); code(err) != contract.Invalid {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := st.Create(ctx, "test", contract.StaffCreateRequest{Name: "x", Role: "root"}); code(err) != contract.Invalid {
		t.Fatalf("bad name and role: %v", err)
	}
	login := func() (contract.StaffSession, error) {
		return st.Login(ctx, contract.StaffLoginRequest{Name: "sam", Password: c.Password, Code: staffCode(t, c, f.clock())}, ip("192.0.2.1"))
	}
	s1, err := login()
	if err != nil || s1.Role != contract.RoleSupport || s1.CSRF == "" {
		t.Fatalf("login %+v %v", s1, err)
	}
	if _, err := login(); code(err) != contract.Invalid {
		t.Fatalf("the same code again: %v", err)
	}
	if _, err := st.Login(ctx, contract.StaffLoginRequest{Name: "nobody", Password: "p", Code: "123456"}, ip("192.0.2.1")); code(err) != contract.Invalid {
		t.Fatalf("unknown name: %v", err)
	}
	got, err := st.Session(ctx, contract.StaffSessionRequest{Token: s1.Token})
	if err != nil || got.Name != "sam" || got.CSRF != s1.CSRF {
		t.Fatalf("session %+v %v", got, err)
	}
	// The role is the member's now, not at sign-in.
	if _, err := st.Update(ctx, "boss", contract.StaffUpdateRequest{Name: "sam", Role: contract.RoleReviewer}); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Session(ctx, contract.StaffSessionRequest{Token: s1.Token}); got.Role != contract.RoleReviewer {
		t.Fatalf("role %q after the change", got.Role)
	}
	for _, tc := range []struct {
		name string
		end  func(token string)
	}{
		{"idle 31 min", func(string) { f.advance(31 * time.Minute) }},
		{"absolute 8 h", func(token string) {
			for range 17 { // kept busy, never idle
				f.advance(29 * time.Minute)
				_, _ = st.Session(ctx, contract.StaffSessionRequest{Token: token})
			}
		}},
		{"disabled", func(string) {
			d := true
			if _, err := st.Update(ctx, "boss", contract.StaffUpdateRequest{Name: "sam", Disabled: &d}); err != nil {
				t.Fatal(err)
			}
		}},
		{"logout", func(token string) { _ = st.Logout(ctx, contract.StaffSessionRequest{Token: token}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := false
			if _, err := st.Update(ctx, "boss", contract.StaffUpdateRequest{Name: "sam", Disabled: &d}); err != nil {
				t.Fatal(err)
			}
			f.advance(31 * time.Second)
			s, err := login()
			if err != nil {
				t.Fatal(err)
			}
			tc.end(s.Token)
			if _, err := st.Session(ctx, contract.StaffSessionRequest{Token: s.Token}); code(err) != contract.Unauthenticated {
				t.Fatalf("session after %s: %v", tc.name, err)
			}
		})
	}
	// A new TOTP secret: the old code no longer signs in.
	d := false
	if _, err := st.Update(ctx, "boss", contract.StaffUpdateRequest{Name: "sam", Disabled: &d}); err != nil {
		t.Fatal(err)
	}
	nc, err := st.Update(ctx, "boss", contract.StaffUpdateRequest{Name: "sam", ResetTOTP: true})
	if err != nil || nc.OTPAuthURI == "" {
		t.Fatalf("reset %+v %v", nc, err)
	}
	f.advance(31 * time.Second)
	if _, err := login(); code(err) != contract.Invalid {
		t.Fatalf("old secret after reset: %v", err)
	}
	c.TOTPSecret = nc.TOTPSecret
	if _, err := login(); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	if _, err := st.Update(ctx, "sam", contract.StaffUpdateRequest{Name: "sam", Role: contract.RoleReviewer}); code(err) != contract.Invalid {
		t.Fatalf("self-demotion: %v", err)
	}
	// Secrets at rest: the password is a hash, the TOTP secret sealed.
	var raw bson.M
	if err := f.db.Collection("auth_staff").FindOne(ctx, bson.M{"_id": "sam"}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for k, v := range raw {
		if s, ok := v.(string); ok && (s == c.Password || s == c.TOTPSecret) {
			t.Fatalf("%s holds a secret in the clear", k)
		}
	}
}
