package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"

	"github.com/dossapp/backend/services/auth/internal/domain"

	"github.com/dossapp/backend/services/auth/internal/adapters"
)

func chain(kinds string, last time.Time) []domain.Attempt {
	// kinds oldest first: f = fail, o = ok; returned newest first.
	out := make([]domain.Attempt, len(kinds))
	for i := range kinds {
		k := "fail"
		if kinds[i] == 'o' {
			k = "ok"
		}
		out[len(kinds)-1-i] = domain.Attempt{Kind: k, At: last}
	}
	return out
}

func TestLockoutEscalates(t *testing.T) {
	lim := DefaultLimits()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		kinds string
		ago   time.Duration
		wait  time.Duration
	}{
		{"four failures", "ffff", 0, 0},
		{"five failures", "fffff", 0, time.Minute},
		{"five, lock over", "fffff", 2 * time.Minute, 0},
		{"a success resets", "fffffofff", 0, 0},
		{"ten failures", "ffffffffff", 0, 2 * time.Minute},
		{"fifteen failures", "fffffffffffffff", time.Minute, 3 * time.Minute},
		{"sixty failures hit the cap", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", 0, 24 * time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, wait := lockout(chain(c.kinds, now.Add(-c.ago)), now, lim)
			if wait != c.wait {
				t.Fatalf("wait %v, want %v", wait, c.wait)
			}
		})
	}
}

// loginFrom logs in as the app does, with the device's push token.
func (f *fixture) loginFrom(svc *Service, device, phone, secret string) (contract.LoginReply, error) {
	return svc.Login(context.Background(), contract.LoginRequest{Phone: phone, Password: secret, DeviceToken: device}, contract.Client{UserAgent: "test"})
}

// countChecks counts the PIN hashes computed from now on (a check, or the
// same work for an unknown phone).
func (f *fixture) countChecks() *atomic.Int64 {
	var n atomic.Int64
	derive := f.svc.Hasher.derive
	f.svc.Hasher.derive = func(secret, salt []byte, t, m uint32, p uint8, l uint32) []byte {
		n.Add(1)
		return derive(secret, salt, t, m, p, l)
	}
	return &n
}

// replica is a second auth process on the same store: its own ledger
// memory and its own queue of turns.
func (f *fixture) replica() *Service {
	s := f.svc
	return &Service{
		Accounts: s.Accounts, OTPs: s.OTPs, Claims: s.Claims, Sessions: s.Sessions,
		Challenges: s.Challenges,
		Ledger:     adapters.NewCounters(mongox.NewLedger(f.db.Collection("auth_ledger"), f.clock)),
		IDs:        s.IDs, Hasher: s.Hasher, CodeKey: s.CodeKey, Box: s.Box, Signer: s.Signer, Limits: s.Limits,
		Dev: s.Dev, Now: s.Now, Revoked: s.Revoked,
	}
}

// parallel runs fn n times at once, half on each replica, and counts the
// answers by error code ("" for success).
func parallel(n int, svcs []*Service, fn func(i int, svc *Service) error) map[contract.Code]int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	out := map[contract.Code]int{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn(i, svcs[i%len(svcs)])
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				out[""]++
				return
			}
			out[code(err)]++
		}()
	}
	wg.Wait()
	return out
}

// ownerWithDevice registers account 1 on phone with PIN 4829 and logs it
// in once from "owner-fcm", which it trusts from then on.
func (f *fixture) ownerWithDevice(phone string) {
	f.t.Helper()
	f.account(1, phone, "4829")
	f.mustLoginFrom(f.svc, "owner-fcm", phone, "4829")
}

// wrongPINs sends n wrong PINs one after the other, each answered 401.
func (f *fixture) wrongPINs(n int, device, phone string) {
	f.t.Helper()
	for range n {
		if _, err := f.loginFrom(f.svc, device, phone, "1357"); code(err) != contract.Unauthenticated {
			f.t.Fatalf("wrong PIN from %q: %v", device, err)
		}
	}
}

func (f *fixture) mustLoginFrom(svc *Service, device, phone, secret string) {
	f.t.Helper()
	if r, err := f.loginFrom(svc, device, phone, secret); err != nil || r.Session == nil {
		f.t.Fatalf("login from %q: %+v %v", device, r, err)
	}
}

// The attack: a stranger who knows only the phone number sends 50 wrong
// PINs from devices the account never saw (tokens made up, or none), all
// at once and spread over two replicas. The owner's phone, which logged
// in before, still logs in with the right PIN; the stranger checked at
// most the unknown-device cap.
func TestStrangerCannotLockOutTheOwnersDevice(t *testing.T) {
	f := newFixture(t)
	const phone = "+18681239101"
	f.ownerWithDevice(phone)
	checks := f.countChecks()
	svcs := []*Service{f.svc, f.replica()}
	got := parallel(50, svcs, func(i int, svc *Service) error {
		device := ""
		if i%2 == 0 {
			device = "made-up-" + itoa(i)
		}
		_, err := f.loginFrom(svc, device, phone, "1357")
		return err
	})
	if got[contract.Unauthenticated] > f.svc.Limits.UnknownPINFailures || checks.Load() > int64(f.svc.Limits.UnknownPINFailures) {
		t.Fatalf("%d wrong PINs checked (%d hashes), cap %d: %v", got[contract.Unauthenticated], checks.Load(), f.svc.Limits.UnknownPINFailures, got)
	}
	if got[contract.Unauthenticated]+got[contract.RateLimited] != 50 {
		t.Fatalf("answers %v", got)
	}
	for _, svc := range svcs {
		f.mustLoginFrom(svc, "owner-fcm", phone, "4829")
	}
	// The trade-off: a new device of the owner waits out the day.
	if _, err := f.loginFrom(f.svc, "owners-new-phone", phone, "4829"); code(err) != contract.RateLimited {
		t.Fatalf("a new device after the stranger's guesses: %v", err)
	}
	f.advance(24 * time.Hour)
	f.mustLoginFrom(f.svc, "owners-new-phone", phone, "4829")
}

// Over a whole day of guessing, waiting out every lock, unknown devices
// check at most UnknownPINFailures PINs per phone (9 of ~9,900: < 0.1%).
func TestUnknownDevicesShareADailyCap(t *testing.T) {
	f := newFixture(t)
	const phone = "+18681239102"
	f.account(1, phone, "4829")
	checks := f.countChecks()
	svcs := []*Service{f.svc, f.replica()}
	checked := 0
	for range 48 {
		got := parallel(50, svcs, func(i int, svc *Service) error {
			_, err := f.loginFrom(svc, "bot-"+itoa(i), phone, itoa(1000+i))
			return err
		})
		checked += got[contract.Unauthenticated]
		f.advance(30 * time.Minute)
	}
	if limit := f.svc.Limits.UnknownPINFailures; checked > limit || checks.Load() > int64(limit) {
		t.Fatalf("%d PINs checked (%d hashes) in a day, cap %d", checked, checks.Load(), limit)
	}
	// An unknown phone is locked the same way, with the same answers.
	const nobody = "+18681239199"
	f.wrongPINs(f.svc.Limits.UnknownPINFailures, "", nobody)
	if _, err := f.loginFrom(f.svc, "", nobody, "1357"); code(err) != contract.RateLimited {
		t.Fatalf("unknown phone after the cap: %v", err)
	}
}

// The owner's successes, however many in a day, neither hide a
// stranger's failures from the cap nor count as failures.
func TestUnknownCapHoldsAfterManySuccesses(t *testing.T) {
	f := newFixture(t)
	const phone = "+18681239104"
	f.account(1, phone, "4829")
	for range 40 {
		f.mustLoginFrom(f.svc, "", phone, "4829")
	}
	f.wrongPINs(f.svc.Limits.UnknownPINFailures-1, "", phone)
	for range 40 {
		f.mustLoginFrom(f.svc, "", phone, "4829")
	}
	f.wrongPINs(1, "", phone)
	if _, err := f.loginFrom(f.replica(), "", phone, "4829"); code(err) != contract.RateLimited {
		t.Fatalf("after the cap, from another replica: %v", err)
	}
}

// Only failures count: many logins with the right PIN at once, from an
// unknown device, from none, or from the trusted one, all get in.
func TestParallelRightPINsAllSucceed(t *testing.T) {
	f := newFixture(t)
	const phone = "+18681239103"
	f.ownerWithDevice(phone)
	svcs := []*Service{f.svc, f.replica()}
	for _, device := range []string{"", "owner-fcm", "another-phone"} {
		got := parallel(50, svcs, func(_ int, svc *Service) error {
			r, err := f.loginFrom(svc, device, phone, "4829")
			if err == nil && r.Session == nil {
				return errors.New("no session")
			}
			if err != nil && code(err) != contract.RateLimited {
				t.Log(err)
			}
			return err
		})
		if got[""] != 50 {
			t.Fatalf("device %q: 50 right PINs at once: %v", device, got)
		}
	}
	// And they left no failure behind: the cap is whole.
	f.wrongPINs(f.svc.Limits.UnknownPINFailures, "", phone)
}

// A trusted device that guesses is locked itself, and after
// DeviceUntrustAfter failures in a row it shares the unknown-device cap:
// a stolen phone cannot guess for ever.
func TestTrustedDeviceThatGuessesIsLocked(t *testing.T) {
	f := newFixture(t)
	const phone = "+18681239104"
	f.ownerWithDevice(phone)
	lim := f.svc.Limits
	checks := f.countChecks()
	wrong := func() error { _, err := f.loginFrom(f.svc, "owner-fcm", phone, "1357"); return err }
	f.wrongPINs(lim.PINFailures, "owner-fcm", phone)
	if _, err := f.loginFrom(f.svc, "owner-fcm", phone, "4829"); code(err) != contract.RateLimited {
		t.Fatalf("the right PIN during the device's lock: %v", err)
	}
	// Another trusted device of the owner is not affected.
	f.mustLoginFrom(f.svc, "", phone, "4829")
	f.advance(lim.PINLockBase)
	// Guessing on: the device locks again and then loses its trust; its
	// guesses then count against the phone's shared cap, so over any time
	// it checks at most DeviceUntrustAfter + UnknownPINFailures PINs in a
	// day.
	for range 20 {
		_ = wrong()
		f.advance(time.Hour)
	}
	if n, limit := checks.Load(), int64(lim.DeviceUntrustAfter+lim.UnknownPINFailures+1); n > limit {
		t.Fatalf("a guessing trusted device checked %d PINs, want at most %d", n, limit)
	}
	// The right PIN (the cap's day over) gives it its trust back.
	f.advance(24 * time.Hour)
	f.mustLoginFrom(f.svc, "owner-fcm", phone, "4829")
	for range lim.PINFailures - 1 {
		_ = wrong()
	}
	f.mustLoginFrom(f.svc, "owner-fcm", phone, "4829")
}

// A token the account never logged in with is an unknown device, however
// often a stranger sends it; so is a device of another account.
func TestAStrangersTokenIsNotTrusted(t *testing.T) {
	f := newFixture(t)
	const phone, other = "+18681239105", "+18681239106"
	f.account(1, phone, "4829")
	f.account(2, other, "5820")
	f.mustLoginFrom(f.svc, "owner-fcm", phone, "4829")
	f.mustLoginFrom(f.svc, "strangers-own-fcm", other, "5820")
	for _, device := range []string{"strangers-own-fcm", "guessed-fcm"} {
		for range 3 {
			_, _ = f.loginFrom(f.svc, device, phone, "1357")
		}
	}
	got := 0
	for range 20 {
		if _, err := f.loginFrom(f.svc, "strangers-own-fcm", phone, "1357"); code(err) == contract.Unauthenticated {
			got++
		}
	}
	if got > f.svc.Limits.UnknownPINFailures-6 {
		t.Fatalf("the stranger's token checked %d more PINs: it is trusted", got)
	}
	acc, _, err := f.svc.Accounts.Get(context.Background(), f.account1UUID())
	if err != nil || len(acc.TrustedDevices) != 1 || acc.trusts(f.svc.deviceMAC(acc.UUID, "strangers-own-fcm")) {
		t.Fatalf("trusted devices %v %v", acc.TrustedDevices, err)
	}
	f.mustLoginFrom(f.svc, "owner-fcm", phone, "4829")
}

func (f *fixture) account1UUID() string { return "00000000-0000-4000-8000-000000000001" }

// What the store keeps of a device is a keyed hash, bound to the account:
// the token is in no trusted-device record, ledger chain or lock.
func TestDeviceRecordHoldsNoRawToken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const phone, token = "+18681239107", "fcm-raw-token-Zq81x"
	f.account(1, phone, "4829")
	f.mustLoginFrom(f.svc, token, phone, "4829")
	for range 3 {
		_, _ = f.loginFrom(f.svc, token, phone, "1357")
		_, _ = f.loginFrom(f.svc, token+"-other", phone, "1357")
	}
	acc, _, err := f.svc.Accounts.Get(ctx, f.account1UUID())
	if err != nil || len(acc.TrustedDevices) != 1 {
		t.Fatalf("trusted devices %v %v", acc.TrustedDevices, err)
	}
	for _, mac := range acc.TrustedDevices {
		if strings.Contains(mac, "fcm") || mac == f.svc.deviceMAC("00000000-0000-4000-8000-000000000002", token) {
			t.Fatalf("device record %q", mac)
		}
	}
	db := f.db
	for _, c := range []string{"auth_ledger", "auth_ledger_heads"} {
		cur, err := db.Collection(c).Find(ctx, bson.M{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.Raw
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			if strings.Contains(d.String(), "raw-token") {
				t.Fatalf("%s holds the token: %s", c, d)
			}
		}
	}
	// The stored versions of the account hold it only as the push target.
	cur, err := db.Collection("auth_accounts").Find(ctx, bson.M{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if st, ok := d["state"].(bson.M); ok {
			if strings.Contains(fmt.Sprint(st["trusted_devices"]), "raw-token") {
				t.Fatalf("trusted_devices holds the token: %v", st)
			}
		}
	}
}

// An account trusts its newest TrustedDevices devices.
func TestTrustedDevicesAreBounded(t *testing.T) {
	f := newFixture(t)
	const phone = "+18681239108"
	f.account(1, phone, "4829")
	n := f.svc.Limits.TrustedDevices
	for i := range n + 2 {
		f.mustLoginFrom(f.svc, "device-"+itoa(i), phone, "4829")
	}
	acc, _, err := f.svc.Accounts.Get(context.Background(), f.account1UUID())
	if err != nil || len(acc.TrustedDevices) != n {
		t.Fatalf("%d trusted devices, want %d: %v", len(acc.TrustedDevices), n, err)
	}
	if acc.trusts(f.svc.deviceMAC(acc.UUID, "device-0")) || !acc.trusts(f.svc.deviceMAC(acc.UUID, "device-"+itoa(n+1))) {
		t.Fatal("not the newest devices")
	}
}

// With 2FA on, the right PIN alone does not make a device trusted: only
// the completed login does.
func TestTrustNeedsTheSecondFactor(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const phone = "+18681239110"
	acc := f.account(1, phone, "4829")
	f.twoFAOn(acc)
	trusted := func() bool {
		a, _, err := f.svc.Accounts.Get(ctx, acc.UUID)
		if err != nil {
			t.Fatal(err)
		}
		return a.trusts(f.svc.deviceMAC(acc.UUID, "new-fcm"))
	}
	r, err := f.loginFrom(f.svc, "new-fcm", phone, "4829")
	if err != nil || r.Challenge == "" {
		t.Fatalf("login: %+v %v", r, err)
	}
	if trusted() {
		t.Fatal("trusted before the second factor")
	}
	if _, err := f.svc.LoginVerifyOTP(ctx, contract.LoginVerifyOTPRequest{Challenge: r.Challenge, OTP: f.code(contract.PurposeLogin2FA, phone)}, contract.Client{}); err != nil {
		t.Fatal(err)
	}
	if !trusted() {
		t.Fatal("not trusted after the completed login")
	}
}

// A phone the owner had logged in from is stolen; the owner resets the
// PIN from their new phone. The stolen phone knew only the old PIN, and
// the reset takes its trust away: its guesses at the new one count in
// the phone number's shared cap of unknown devices, not in a fresh count
// of its own (before, the reset wrote every trusted device's count back
// to zero, so each reset gave the thief 10 more guesses).
func TestAResetTakesTheTrustOfTheOldDevices(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const phone = "+18681239111"
	acc := f.account(1, phone, "4829")
	f.mustLoginFrom(f.svc, "stolen-fcm", phone, "4829")
	f.resetPIN(acc, "6813", "new-fcm")
	after, err := f.svc.account(ctx, acc.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.TrustedDevices) != 1 || !after.trusts(f.svc.deviceMAC(acc.UUID, "new-fcm")) {
		t.Fatalf("trusted after the reset: %d devices, the resetting one trusted: %v", len(after.TrustedDevices), after.trusts(f.svc.deviceMAC(acc.UUID, "new-fcm")))
	}
	f.wrongPINs(f.svc.Limits.UnknownPINFailures, "stolen-fcm", phone)
	if _, err := f.loginFrom(f.svc, "another-new-phone", phone, "6813"); code(err) != contract.RateLimited {
		t.Fatalf("the stolen phone's guesses did not count in the shared cap: a new device then got %v", err)
	}
	// The device that reset the PIN keeps logging in.
	f.mustLoginFrom(f.svc, "new-fcm", phone, "6813")
}

// The owner locked their own phone with wrong PINs and resets from it:
// the reset that takes the old trust still opens that phone's count
// afresh, so it logs in with the new PIN at once.
func TestAResetFromALockedDeviceUnlocksIt(t *testing.T) {
	f := newFixture(t)
	const phone = "+18681239112"
	acc := f.account(1, phone, "4829")
	f.mustLoginFrom(f.svc, "owner-fcm", phone, "4829")
	f.wrongPINs(f.svc.Limits.PINFailures, "owner-fcm", phone)
	if _, err := f.loginFrom(f.svc, "owner-fcm", phone, "4829"); code(err) != contract.RateLimited {
		t.Fatalf("after %d wrong PINs: %v", f.svc.Limits.PINFailures, err)
	}
	f.resetPIN(acc, "6813", "owner-fcm")
	f.mustLoginFrom(f.svc, "owner-fcm", phone, "6813")
}

// resetPIN takes acc through forgot_pin and reset_pin to pin, from device.
func (f *fixture) resetPIN(acc Account, pin, device string) {
	f.t.Helper()
	if err := f.svc.ForgotPIN(from("198.51.100.3"), contract.ForgotPINRequest{Phone: acc.Phone}); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.svc.ResetPIN(from("198.51.100.3"), contract.ResetPINRequest{
		Phone: acc.Phone, PIN: pin, DeviceToken: device,
		SMSCode: f.code(contract.PurposeForgotPINSMS, acc.Phone), EmailCode: f.code(contract.PurposeForgotPINEmail, acc.Email),
	}, contract.Client{}); err != nil {
		f.t.Fatal(err)
	}
}
