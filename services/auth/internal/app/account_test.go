package app

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/pkg/seal"
	"github.com/dossapp/backend/services/auth/internal/adapters"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// fakeRevocations records what would go to the gateways' bucket.
type fakeRevocations struct {
	mu   sync.Mutex
	ids  []string
	down bool // the list cannot be reached
}

func (f *fakeRevocations) Revoke(_ context.Context, sid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return &contract.Error{Code: contract.Unavailable, Message: "revocation list down"}
	}
	f.ids = append(f.ids, sid)
	return nil
}

func (f *fakeRevocations) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeRevocations) has(sid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range f.ids {
		if id == sid {
			return true
		}
	}
	return false
}

type fixture struct {
	t       *testing.T
	uri     string
	db      *mongo.Database
	svc     *Service
	revoked *fakeRevocations
	now     time.Time
	mu      sync.Mutex
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ks := testkit.Start(t)
	ctx := context.Background()
	client, db, err := mongox.Connect(ctx, ks.Mongo.URI, "authtest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	box, err := seal.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, uri: ks.Mongo.URI, db: db, revoked: &fakeRevocations{}, now: time.Now().UTC()}
	lim := DefaultLimits()
	lim.SendGap = 0
	lim.SendsPerHour = 1000
	lim.AddressSendsPerHour = 1000
	f.svc = &Service{
		Accounts:   adapters.NewChains[Account](db.Collection("auth_accounts")),
		OTPs:       adapters.NewChainedCodes(db.Collection("auth_otps")),
		Claims:     adapters.NewClaims(db.Collection("auth_claims")),
		Sessions:   adapters.NewSessions(db.Collection("auth_sessions"), db.Collection("auth_session_revocations")),
		Challenges: adapters.NewChallenges(db.Collection("auth_challenges")),
		Ledger:     adapters.NewCounters(mongox.NewLedger(db.Collection("auth_ledger"), f.clock)),
		IDs:        adapters.NewCounters(mongox.NewLedger(db.Collection("auth_ids"), f.clock)),
		Hasher:     NewHasher(Argon2{MemoryKiB: 64, Time: 1, Threads: 1}, []byte("pepper")),
		CodeKey:    []byte("code key"),
		Box:        box,
		Signer:     &Signer{KeyID: "t", Key: ed25519.NewKeyFromSeed(make([]byte, 32)), Issuer: "i", Audience: "a", TTL: time.Hour},
		Limits:     lim,
		Dev:        true,
		Now:        f.clock,
		Revoked:    f.revoked,
	}
	return f
}

// account registers an active account directly in the store.
func (f *fixture) account(id int64, phone, pin string) Account {
	f.t.Helper()
	ctx := context.Background()
	at := f.now
	acc := Account{
		UUID: "00000000-0000-4000-8000-" + strings.Repeat("0", 11) + string(rune('0'+id)), UserID: id,
		Email: phone[1:] + "@example.com", Phone: phone, PhoneVerifiedAt: &at, EmailVerifiedAt: &at,
		PINHash: f.svc.Hasher.Hash(pin), Active: true, CreatedAt: at, NamesIn: true,
	}
	if err := f.svc.Accounts.Create(ctx, acc.UUID, acc); err != nil {
		f.t.Fatal(err)
	}
	for _, k := range []string{"phone:" + phone, "uid:" + itoa(int(id))} {
		if err := f.svc.Claims.Insert(ctx, domain.Claim{Key: k, Owner: acc.UUID}); err != nil {
			f.t.Fatal(err)
		}
	}
	return acc
}

func (f *fixture) login(phone, secret string) (contract.LoginReply, error) {
	return f.svc.Login(context.Background(), contract.LoginRequest{Phone: phone, Password: secret}, contract.Client{IP: "10.0.0.1", UserAgent: "test"})
}

func (f *fixture) mustLogin(phone, secret string) contract.Principal {
	f.t.Helper()
	r, err := f.login(phone, secret)
	if err != nil || r.Session == nil {
		f.t.Fatalf("login: %+v %v", r, err)
	}
	return f.principal(r.Session.Token)
}

func (f *fixture) principal(token string) contract.Principal {
	f.t.Helper()
	var c Claims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		f.t.Fatalf("token %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		f.t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		f.t.Fatal(err)
	}
	return contract.Principal{UserID: c.UserID, UUID: c.Subject, SessionID: c.SessionID}
}

// sentCodes are the stored codes with the events waiting in them, as the
// relay reads them.
func (f *fixture) sentCodes() *mongox.Versioned[domain.OTP] {
	return mongox.NewVersioned[domain.OTP](f.db.Collection("auth_otps"))
}

// code is the last code sent to address for purpose, read back from the
// sealed event the notifier would get.
func (f *fixture) code(purpose, address string) string {
	f.t.Helper()
	recs, err := f.sentCodes().Find(context.Background(), bson.M{"state.purpose": purpose, "state.address": address}, 1)
	if err != nil || len(recs) == 0 {
		f.t.Fatalf("no code for %s %s: %v", purpose, address, err)
	}
	var ev contract.OTPRequested
	if err := recs[0].Events[0].Decode(&ev); err != nil {
		f.t.Fatal(err)
	}
	code, err := f.svc.Box.Open(ev.SealedCode, []byte(purpose+":"+address))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(code)
}

func code(err error) contract.Code { return contract.ErrorCode(err) }

func field(err error) string {
	for k := range contract.AsError(err).Fields {
		return k
	}
	return ""
}

func TestValidateSecret(t *testing.T) {
	for _, c := range []struct {
		in       string
		password bool
		ok       bool
	}{
		{"4829", false, true},
		{"1234", false, false},
		{"0000", false, false},
		{"12ab", false, false},
		{"", false, false},
		{"1234567", false, false},
		{"12345678", true, true},
		{"correct horse", true, true},
		{strings.Repeat("é", 72), true, true},
		{strings.Repeat("é", 73), false, false},
		{"bad\x00password", false, false},
		{"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", false, false},
	} {
		t.Run(c.in, func(t *testing.T) {
			pw, err := ValidateSecret("password", c.in)
			if (err == nil) != c.ok || (c.ok && pw != c.password) {
				t.Fatalf("password %v err %v", pw, err)
			}
			if err != nil && field(err) != "password" {
				t.Fatalf("field %q", field(err))
			}
		})
	}
}

func TestChangePasswordRevokesOthersAndChecksOld(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.account(1, "+18681239001", "4829")
	a := f.mustLogin("+18681239001", "4829")
	b := f.mustLogin("+18681239001", "4829")
	c := f.mustLogin("+18681239001", "4829")

	_, err := f.svc.ChangePassword(ctx, a, contract.ChangePasswordRequest{OldPassword: "1357", Password: "a long password"})
	if code(err) != contract.Invalid || field(err) != "old_password" {
		t.Fatalf("wrong old: %v", err)
	}
	r, err := f.svc.ChangePassword(ctx, a, contract.ChangePasswordRequest{OldPassword: "4829", Password: "a long password"})
	if err != nil || len(r.Revoked) != 2 {
		t.Fatalf("change: %+v %v", r, err)
	}
	if !f.revoked.has(b.SessionID) || !f.revoked.has(c.SessionID) || f.revoked.has(a.SessionID) {
		t.Fatalf("revoked %v", f.revoked.ids)
	}
	acc, err := f.svc.AccountGet(ctx, contract.AccountGetRequest{UserID: 1})
	if err != nil || !acc.HasPassword || acc.ValidTokenCount != 1 {
		t.Fatalf("account %+v %v", acc, err)
	}
	if _, err := f.login("+18681239001", "4829"); code(err) != contract.Unauthenticated {
		t.Fatalf("old PIN: %v", err)
	}
	f.mustLogin("+18681239001", "a long password")
	// Back to a PIN: has_password follows the secret.
	if _, err := f.svc.ChangePassword(ctx, a, contract.ChangePasswordRequest{OldPassword: "a long password", Password: "5820"}); err != nil {
		t.Fatal(err)
	}
	if acc, _ := f.svc.AccountGet(ctx, contract.AccountGetRequest{UserID: 1}); acc.HasPassword {
		t.Fatal("has_password after going back to a PIN")
	}
}

// A wrong old password is a wrong PIN from the session's device (here an
// unknown one): the phone's cap of them, through this route or logins,
// locks both.
func TestChangePasswordSharesTheLockout(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.account(1, "+18681239002", "4829")
	a := f.mustLogin("+18681239002", "4829")
	var wg sync.WaitGroup
	var mu sync.Mutex
	checked := 0
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.ChangePassword(ctx, a, contract.ChangePasswordRequest{OldPassword: "1357", Password: "5820"})
			if code(err) == contract.Invalid {
				mu.Lock()
				checked++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if checked > f.svc.Limits.UnknownPINFailures {
		t.Fatalf("%d wrong old passwords checked, want at most %d", checked, f.svc.Limits.UnknownPINFailures)
	}
	if _, err := f.login("+18681239002", "4829"); code(err) != contract.RateLimited {
		t.Fatalf("login after lockout: %v", err)
	}
	if _, err := f.svc.ChangePassword(ctx, a, contract.ChangePasswordRequest{OldPassword: "4829", Password: "5820"}); code(err) != contract.RateLimited {
		t.Fatalf("change after lockout: %v", err)
	}
}

// A login that checked the old PIN while the password changed does not
// survive the change, whichever finishes first.
func TestLoginRacingAPasswordChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acc := f.account(1, "+18681239003", "4829")
	a := f.mustLogin("+18681239003", "4829")
	if _, err := f.svc.ChangePassword(ctx, a, contract.ChangePasswordRequest{OldPassword: "4829", Password: "5820"}); err != nil {
		t.Fatal(err)
	}
	// acc is the state a login read before the change.
	if _, err := f.svc.newSession(ctx, acc, "", contract.Client{}); code(err) != contract.Unauthenticated {
		t.Fatalf("stale login: %v", err)
	}
	if n, _ := f.svc.sessionCount(ctx, 1); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
}

func TestLogin2FAChallenge(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acc := f.account(1, "+18681239004", "4829")
	f.twoFAOn(acc)
	start := func() (string, string) {
		t.Helper()
		r, err := f.login("+18681239004", "4829")
		if err != nil || r.Session != nil || r.Challenge == "" {
			t.Fatalf("login: %+v %v", r, err)
		}
		c := f.code(contract.PurposeLogin2FA, "+18681239004")
		if len(c) != 6 {
			t.Fatalf("code %q", c)
		}
		return r.Challenge, c
	}
	verify := func(ch, otp string) error {
		_, err := f.svc.LoginVerifyOTP(ctx, contract.LoginVerifyOTPRequest{Challenge: ch, OTP: otp}, contract.Client{})
		return err
	}
	wrongFor := func(c string) string {
		if c == "000000" {
			return "111111"
		}
		return "000000"
	}

	t.Run("a wrong PIN sends no code", func(t *testing.T) {
		if _, err := f.login("+18681239004", "1357"); code(err) != contract.Unauthenticated {
			t.Fatal(err)
		}
	})
	t.Run("five wrong codes kill the challenge", func(t *testing.T) {
		ch, c := start()
		for range 5 {
			if err := verify(ch, wrongFor(c)); field(err) != "otp" {
				t.Fatal(err)
			}
		}
		if err := verify(ch, c); err == nil {
			t.Fatal("the right code worked after five wrong ones")
		}
	})
	t.Run("an older challenge is not answered by a newer code", func(t *testing.T) {
		old, _ := start()
		_, c := start()
		if err := verify(old, c); err == nil {
			t.Fatal("old challenge accepted the new code")
		}
	})
	t.Run("expired", func(t *testing.T) {
		ch, c := start()
		f.advance(f.svc.Limits.CodeTTL)
		if err := verify(ch, c); field(err) != "challenge" {
			t.Fatal(err)
		}
	})
	t.Run("single use", func(t *testing.T) {
		ch, c := start()
		s, err := f.svc.LoginVerifyOTP(ctx, contract.LoginVerifyOTPRequest{Challenge: ch, OTP: c}, contract.Client{})
		if err != nil || s.Token == "" {
			t.Fatalf("%+v %v", s, err)
		}
		if err := verify(ch, c); err == nil {
			t.Fatal("challenge used twice")
		}
	})
	t.Run("dead once the PIN changed", func(t *testing.T) {
		ch, c := start()
		p := f.mustSession(acc)
		if _, err := f.svc.ChangePassword(ctx, p, contract.ChangePasswordRequest{OldPassword: "4829", Password: "5820"}); err != nil {
			t.Fatal(err)
		}
		if err := verify(ch, c); field(err) != "challenge" {
			t.Fatal(err)
		}
	})
}

// mustSession opens a session without the login (which 2FA would stop).
func (f *fixture) mustSession(acc Account) contract.Principal {
	f.t.Helper()
	fresh, err := f.svc.account(context.Background(), acc.UUID)
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := f.svc.newSession(context.Background(), fresh, "", contract.Client{})
	if err != nil {
		f.t.Fatal(err)
	}
	return f.principal(s.Token)
}

func TestTwoFAStartAndVerify(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acc := f.account(1, "+18681239005", "4829")
	f.account(2, "+18681239006", "5820")
	p := f.mustSession(acc)
	on := true
	startReq := func(req contract.TwoFAStartRequest) (contract.TwoFAStartReply, error) {
		return f.svc.TwoFAStart(ctx, p, req)
	}
	if _, err := startReq(contract.TwoFAStartRequest{Telephone: "+18681239006"}); field(err) != "telephone" {
		t.Fatalf("taken: %v", err)
	}
	if _, err := f.svc.TwoFAStart(ctx, p, contract.TwoFAStartRequest{UserID: 2, IsTwoFA: &on}); code(err) != contract.Forbidden {
		t.Fatalf("other account: %v", err)
	}
	if r, err := startReq(contract.TwoFAStartRequest{Telephone: "+1 868 123 9005"}); err != nil || r.OTPSent {
		t.Fatalf("no change: %+v %v", r, err)
	}
	r, err := startReq(contract.TwoFAStartRequest{Telephone: "+18681239007", IsTwoFA: &on})
	if err != nil || !r.OTPSent || r.Telephone != "+18681239007" || r.VerificationCode != f.code(contract.PurposeProfile2FA, "+18681239007") {
		t.Fatalf("start: %+v %v", r, err)
	}
	verify := func(phone, otp string) (contract.TwoFAVerifyReply, error) {
		return f.svc.TwoFAVerify(ctx, p, contract.TwoFAVerifyRequest{Telephone: phone, OTP: otp})
	}
	wrong := "000000"
	if r.VerificationCode == wrong {
		wrong = "111111"
	}
	if _, err := verify("+18681239007", wrong); field(err) != "otp" {
		t.Fatalf("wrong: %v", err)
	}
	if _, err := verify("+18681239005", r.VerificationCode); field(err) != "telephone" {
		t.Fatalf("other number: %v", err)
	}
	v, err := verify("+18681239007", r.VerificationCode)
	if err != nil || v.Session == nil || !v.Account.TwoFA || v.Account.Phone != "+18681239007" || v.Account.ValidTokenCount != 2 {
		t.Fatalf("verify: %+v %v", v, err)
	}
	if _, err := verify("+18681239007", r.VerificationCode); code(err) != contract.Invalid {
		t.Fatalf("reused: %v", err)
	}
	// The old number is free for others, the new one is the account's.
	if owner, _ := f.svc.claimOwner(ctx, "phone:+18681239007"); owner != acc.UUID {
		t.Fatalf("new number owned by %q", owner)
	}
	if _, err := f.svc.claimOwner(ctx, "phone:+18681239005"); err == nil {
		t.Fatal("old number still claimed")
	}
	// Attempts are capped and codes expire.
	r, err = startReq(contract.TwoFAStartRequest{IsTwoFA: new(bool)})
	if err != nil || r.Telephone != "+18681239007" {
		t.Fatalf("start off: %+v %v", r, err)
	}
	for range 5 {
		_, _ = verify("+18681239007", wrong)
	}
	if _, err := verify("+18681239007", r.VerificationCode); err == nil {
		t.Fatal("right code accepted after five wrong ones")
	}
	r, _ = startReq(contract.TwoFAStartRequest{IsTwoFA: new(bool)})
	f.advance(f.svc.Limits.CodeTTL)
	if _, err := verify("+18681239007", r.VerificationCode); field(err) != "otp" {
		t.Fatalf("expired: %v", err)
	}
}

func TestSessionsListRevokeAndLastSeen(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.account(1, "+18681239008", "4829")
	f.account(2, "+18681239009", "5820")
	a := f.mustLogin("+18681239008", "4829")
	b := f.mustLogin("+18681239008", "4829")
	x := f.mustLogin("+18681239009", "5820")

	if err := f.svc.SessionRevoke(ctx, x, contract.SessionRevokeRequest{ID: b.SessionID}); code(err) != contract.NotFound {
		t.Fatalf("other's session: %v", err)
	}
	if f.revoked.has(b.SessionID) {
		t.Fatal("another account revoked the session")
	}
	created := f.now
	f.advance(time.Minute)
	l, err := f.svc.SessionsList(ctx, a, contract.SessionsListRequest{})
	if err != nil || len(l.Sessions) != 2 {
		t.Fatalf("list: %+v %v", l, err)
	}
	for _, s := range l.Sessions {
		if !s.LastSeenAt.Equal(created.Truncate(time.Millisecond)) && !s.LastSeenAt.Equal(created) {
			t.Fatalf("last seen moved within LastSeenEvery: %v vs %v", s.LastSeenAt, created)
		}
	}
	f.advance(f.svc.Limits.LastSeenEvery)
	l, _ = f.svc.SessionsList(ctx, a, contract.SessionsListRequest{})
	for _, s := range l.Sessions {
		if s.Current != (s.ID == a.SessionID) || (s.Current && !s.LastSeenAt.After(created)) {
			t.Fatalf("session %+v", s)
		}
	}
	if err := f.svc.SessionRevoke(ctx, a, contract.SessionRevokeRequest{ID: b.SessionID}); err != nil || !f.revoked.has(b.SessionID) {
		t.Fatalf("revoke: %v", err)
	}
	if err := f.svc.SessionRevoke(ctx, a, contract.SessionRevokeRequest{ID: b.SessionID}); code(err) != contract.NotFound {
		t.Fatalf("revoked twice: %v", err)
	}
	if n, _ := f.svc.sessionCount(ctx, 1); n != 1 {
		t.Fatalf("%d sessions", n)
	}
	// Expired sessions are not active.
	f.advance(f.svc.Signer.TTL)
	if n, _ := f.svc.sessionCount(ctx, 1); n != 0 {
		t.Fatalf("%d sessions after expiry", n)
	}
}

func TestLastWritesThrottlesAndForgets(t *testing.T) {
	var w lastWrites
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	every := 5 * time.Minute
	if !w.due("a", t0, every) || w.due("a", t0.Add(time.Minute), every) || !w.due("b", t0.Add(time.Minute), every) {
		t.Fatal("throttle")
	}
	if !w.due("a", t0.Add(every), every) {
		t.Fatal("not due after the interval")
	}
	// Once an interval, what was written an interval ago is forgotten.
	w.due("c", t0.Add(2*every-time.Second), every)
	if len(w.at) != 3 {
		t.Fatalf("pruned too early: %v", w.at)
	}
	w.due("c", t0.Add(2*every), every)
	if _, ok := w.at["c"]; !ok || len(w.at) != 1 {
		t.Fatalf("kept %v", w.at)
	}
}

// A logout whose revocation list write fails is refused to the caller, but
// the revocation is durable: it reaches the gateways once the list is back,
// without anyone asking again.
func TestFailedRevocationIsRepublished(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.account(1, "+14155550101", "7193")
	p := f.mustLogin("+14155550101", "7193")

	f.revoked.setDown(true)
	if err := f.svc.Logout(ctx, p); err == nil {
		t.Fatal("logout reported success though the gateways were not told")
	}
	f.advance(time.Second)
	if n, err := f.svc.RepublishRevocations(ctx, 0); err == nil || n != 0 {
		t.Fatalf("republished %d while the list is down (err %v)", n, err)
	}
	f.revoked.setDown(false)
	if n, err := f.svc.RepublishRevocations(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("within the grace period: %d, %v", n, err)
	}
	if n, err := f.svc.RepublishRevocations(ctx, 0); err != nil || n != 1 {
		t.Fatalf("republished %d, %v; want 1", n, err)
	}
	if !f.revoked.has(p.SessionID) {
		t.Fatal("the gateways never heard of the revocation")
	}
	if n, _ := f.svc.RepublishRevocations(ctx, 0); n != 0 {
		t.Fatalf("republished %d again", n)
	}
	// A revocation that reached the list at once is not pending.
	p2 := f.mustLogin("+14155550101", "7193")
	if err := f.svc.Logout(ctx, p2); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Second)
	if n, _ := f.svc.RepublishRevocations(ctx, 0); n != 0 {
		t.Fatalf("republished %d revocations that had been delivered", n)
	}
}

// A stranger who knows only the number fills its sends of the hour from
// two client addresses (forgot_pin, 5 each). The owner's 2FA login, which
// only the PIN can ask for, still gets its code: sends behind a secret
// are counted apart from the ones anyone can ask for.
func TestStrangersSendsDoNotStopTheOwners2FALogin(t *testing.T) {
	f := newFixture(t)
	const phone = "+18681239044"
	acc := f.account(1, phone, "4829")
	f.twoFAOn(acc)
	def := DefaultLimits()
	f.svc.Limits.SendGap, f.svc.Limits.SendsPerHour, f.svc.Limits.AddressSendsPerHour = def.SendGap, def.SendsPerHour, def.AddressSendsPerHour
	lim := f.svc.Limits
	for i := range lim.AddressSendsPerHour + 1 {
		err := f.svc.ForgotPIN(from("203.0.113."+itoa(1+i%2)), contract.ForgotPINRequest{Phone: phone})
		if i < lim.AddressSendsPerHour && err != nil {
			t.Fatalf("forgot_pin %d: %v", i, err)
		}
		if i == lim.AddressSendsPerHour && code(err) != contract.RateLimited {
			t.Fatalf("forgot_pin past the address's cap: %v", err)
		}
		if i%2 == 1 {
			f.advance(lim.SendGap)
		}
	}
	r, err := f.svc.Login(from("198.51.100.50"), contract.LoginRequest{Phone: phone, Password: "4829"}, contract.Client{IP: "198.51.100.50"})
	if err != nil || r.Challenge == "" {
		t.Fatalf("the owner's 2FA login after a stranger's sends: %+v %v", r, err)
	}
}

// twoFAOn turns 2FA on for acc, as a completed 2FA setup does.
func (f *fixture) twoFAOn(acc Account) {
	f.t.Helper()
	if _, err := f.svc.Accounts.Update(context.Background(), acc.UUID, func(a *Account) ([]contract.Event, error) { a.TwoFA = true; return nil, nil }); err != nil {
		f.t.Fatal(err)
	}
}
