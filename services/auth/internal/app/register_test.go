package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"

	"github.com/dossapp/backend/services/auth/internal/domain"
)

// from is a request context from one client address.
func from(ip string) context.Context {
	return natsx.WithCaller(context.Background(), natsx.Caller{Client: contract.Client{IP: ip, UserAgent: "test"}})
}

// registrar walks one client through the registration steps.
type registrar struct {
	f   *fixture
	ctx context.Context
}

func (f *fixture) as(ip string) registrar { return registrar{f: f, ctx: from(ip)} }

func (r registrar) sendEmail(email string) contract.EmailSendOTPReply {
	r.f.t.Helper()
	rep, err := r.f.svc.EmailSendOTP(r.ctx, contract.EmailSendOTPRequest{Email: email})
	if err != nil {
		r.f.t.Fatalf("email_send_otp %s: %v", email, err)
	}
	return rep
}

func (r registrar) verifyEmail(email, code string) error {
	_, err := r.f.svc.EmailVerifyOTP(r.ctx, contract.EmailVerifyOTPRequest{Email: email, VerificationCode: code})
	return err
}

func (r registrar) sendPhone(email, phone string) (contract.PhoneSendOTPReply, error) {
	return r.f.svc.PhoneSendOTP(r.ctx, contract.PhoneSendOTPRequest{Email: email, Phone: phone})
}

func (r registrar) verifyPhone(id, code string) error {
	_, err := r.f.svc.PhoneVerifyOTP(r.ctx, contract.PhoneVerifyOTPRequest{UUID: id, VerificationCode: code})
	return err
}

func (r registrar) setPIN(id, pin string) error {
	_, err := r.f.svc.SetPIN(r.ctx, contract.SetPINRequest{UUID: id, PIN: pin})
	return err
}

func (r registrar) confirm(id, pin string) (contract.Session, error) {
	return r.f.svc.ConfirmPIN(r.ctx, contract.ConfirmPINRequest{UUID: id, ConfirmPIN: pin}, contract.Client{IP: "192.0.2.1"})
}

// upToPIN takes an attempt through email, phone and set_pin; it returns the
// attempt's uuid.
func (r registrar) upToPIN(email, phone, pin string) string {
	r.f.t.Helper()
	e := r.sendEmail(email)
	if err := r.verifyEmail(email, e.VerificationCode); err != nil {
		r.f.t.Fatalf("email_verify_otp: %v", err)
	}
	p, err := r.sendPhone(email, phone)
	if err != nil {
		r.f.t.Fatalf("phone_send_otp: %v", err)
	}
	if err := r.verifyPhone(e.UUID, p.VerificationCode); err != nil {
		r.f.t.Fatalf("phone_verify_otp: %v", err)
	}
	if err := r.setPIN(e.UUID, pin); err != nil {
		r.f.t.Fatalf("set_pin: %v", err)
	}
	return e.UUID
}

func wrongCode(right string) string {
	if right == "0000" {
		return "1111"
	}
	return "0000"
}

// Issue 15, attack 1(a): the victim verified the email and paused; the
// stranger sends phone_send_otp with the victim's email and their own
// phone. Before, the answer carried the victim's uuid, and the stranger
// finished the registration with the victim's verified email.
func TestStrangerCannotTakeOverAVerifiedEmail(t *testing.T) {
	f := newFixture(t)
	victim, stranger := f.as("198.51.100.1"), f.as("203.0.113.9")
	const email = "victim@example.com"
	v := victim.sendEmail(email)
	if err := victim.verifyEmail(email, v.VerificationCode); err != nil {
		t.Fatal(err)
	}

	p, err := stranger.sendPhone(email, "+18685550100")
	if err != nil {
		t.Fatalf("phone_send_otp: %v", err)
	}
	// Whatever the stranger can get for this email leads nowhere.
	s := stranger.sendEmail(email)
	if s.UUID == v.UUID {
		t.Fatal("email_send_otp answered the victim's uuid to a stranger")
	}
	if err := stranger.verifyPhone(s.UUID, p.VerificationCode); code(err) != contract.Invalid || field(err) != "uuid" {
		t.Fatalf("stranger's phone_verify_otp on their own attempt: %v, want 422 on uuid (its email is not verified)", err)
	}
	if err := stranger.setPIN(s.UUID, "4829"); code(err) != contract.Invalid {
		t.Fatalf("stranger's set_pin: %v", err)
	}
	if _, err := stranger.confirm(s.UUID, "4829"); code(err) != contract.Invalid {
		t.Fatalf("stranger's confirm_pin: %v", err)
	}
	// The victim's code for their own phone is not the stranger's: the
	// stranger's phone never ends up on the victim's attempt either.
	vp, err := victim.sendPhone(email, "+18685550111")
	if err != nil {
		t.Fatal(err)
	}
	if err := victim.verifyPhone(v.UUID, vp.VerificationCode); err != nil {
		t.Fatal(err)
	}
	if err := victim.setPIN(v.UUID, "5830"); err != nil {
		t.Fatal(err)
	}
	sess, err := victim.confirm(v.UUID, "5830")
	if err != nil {
		t.Fatalf("the victim's registration: %v", err)
	}
	if sess.User.Email != email || sess.User.Phone != "+18685550111" {
		t.Fatalf("registered %s %s", sess.User.Email, sess.User.Phone)
	}
	if _, err := f.login("+18685550100", "4829"); code(err) != contract.Unauthenticated {
		t.Fatalf("the stranger's phone logs in: %v", err)
	}
}

// Issue 15, attack 1(b): the victim reached set_pin and paused; the
// stranger's email_send_otp answered the same uuid, and the stranger's
// set_pin + confirm_pin took the account with the victim's contacts.
func TestStrangerCannotHijackAnAttemptAtSetPIN(t *testing.T) {
	f := newFixture(t)
	victim, stranger := f.as("198.51.100.1"), f.as("203.0.113.9")
	const email, phone = "paused@example.com", "+18685550200"
	id := victim.upToPIN(email, phone, "5830")

	s := stranger.sendEmail(email)
	if s.UUID == id {
		t.Fatal("email_send_otp answered the victim's attempt to a stranger")
	}
	if err := stranger.setPIN(s.UUID, "4829"); code(err) != contract.Invalid {
		t.Fatalf("stranger's set_pin: %v", err)
	}
	if _, err := stranger.confirm(s.UUID, "4829"); code(err) != contract.Invalid {
		t.Fatalf("stranger's confirm_pin: %v", err)
	}
	if _, err := victim.confirm(id, "5830"); err != nil {
		t.Fatalf("the victim's confirm_pin: %v", err)
	}
	f.mustLogin(phone, "5830")
	if _, err := f.login(phone, "4829"); code(err) != contract.Unauthenticated {
		t.Fatalf("the stranger's PIN: %v", err)
	}
}

// A code verifies the attempt it was sent for and no other, and every
// email_send_otp is a new attempt.
func TestEachAttemptAdvancesOnlyWithItsOwnCode(t *testing.T) {
	f := newFixture(t)
	c := f.as("198.51.100.1")
	const email = "two@example.com"
	a, b := c.sendEmail(email), c.sendEmail(email)
	if a.UUID == b.UUID {
		t.Fatal("two sends answered one uuid")
	}
	if err := c.verifyEmail(email, a.VerificationCode); err != nil {
		t.Fatal(err)
	}
	p, err := c.sendPhone(email, "+18685550300")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.verifyPhone(b.UUID, p.VerificationCode); code(err) != contract.Invalid || field(err) != "uuid" {
		t.Fatalf("attempt b advanced with a's email code: %v", err)
	}
	if err := c.verifyPhone(a.UUID, p.VerificationCode); err != nil {
		t.Fatal(err)
	}
	// A used code is spent.
	if err := c.verifyEmail(email, a.VerificationCode); code(err) != contract.Invalid {
		t.Fatalf("a's code twice: %v", err)
	}
}

// Several attempts may be pending for one address; the first to confirm
// takes the claims and the others die, also when they confirm at once.
func TestFirstConfirmWinsTheClaims(t *testing.T) {
	f := newFixture(t)
	const email = "first@example.com"
	ids := []string{
		f.as("198.51.100.1").upToPIN(email, "+18685550401", "5830"),
		f.as("198.51.100.2").upToPIN(email, "+18685550402", "5831"),
		f.as("198.51.100.3").upToPIN(email, "+18685550403", "5832"),
	}
	var wg sync.WaitGroup
	var won atomic.Int32
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.as("198.51.100.9").confirm(id, "583"+string(rune('0'+i)))
			switch {
			case err == nil:
				won.Add(1)
			case code(err) == contract.Invalid && field(err) == "email", code(err) == contract.Conflict:
			default:
				t.Errorf("confirm %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d attempts activated for one email, want 1", won.Load())
	}
	active := 0
	for _, id := range ids {
		acc, _, err := f.svc.Accounts.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if acc.Active {
			active++
		}
	}
	if active != 1 {
		t.Fatalf("%d active accounts with the email", active)
	}
	for i, id := range ids {
		if _, err := f.as("198.51.100.9").confirm(id, "583"+string(rune('0'+i))); err == nil {
			t.Fatalf("attempt %d confirmed after the race", i)
		}
	}
}

// messagesTo counts the codes and notices queued for address.
func (f *fixture) messagesTo(address string) int {
	f.t.Helper()
	recs, err := f.sentCodes().Find(context.Background(), bson.M{"state.address": address}, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		for _, ev := range r.Events {
			if ev.Type == contract.EventOTPRequested || ev.Type == contract.EventNotificationWanted {
				n++
			}
		}
	}
	return n
}

// noticesTo lists the templated notices queued for address.
func (f *fixture) noticesTo(address string) []string {
	f.t.Helper()
	recs, err := f.sentCodes().Find(context.Background(), bson.M{"state.address": address}, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		for _, ev := range r.Events {
			if ev.Type != contract.EventNotificationWanted {
				continue
			}
			var n contract.NotificationWanted
			if err := ev.Decode(&n); err != nil {
				f.t.Fatal(err)
			}
			out = append(out, n.Template)
		}
	}
	return out
}

// A registered email or phone is not revealed to whoever sends it: the
// same answer as a new one, no working code, and a notice to the address.
func TestRegisteredAddressesAreNotRevealed(t *testing.T) {
	f := newFixture(t)
	const email, phone = "known@example.com", "+18685550500"
	f.register(email, phone, "5830")
	stranger := f.as("203.0.113.9")

	s := stranger.sendEmail(email)
	if s.UUID == "" || s.Email != email || len(s.VerificationCode) != 4 {
		t.Fatalf("answer for a registered email: %+v", s)
	}
	if err := stranger.verifyEmail(email, s.VerificationCode); code(err) != contract.Invalid || field(err) != "verification_code" {
		t.Fatalf("the answered code worked, or told: %v", err)
	}
	if got := f.noticesTo(email); len(got) != 1 || got[0] != "account_exists" {
		t.Fatalf("notices to the email: %v", got)
	}

	// The phone: asked by someone who verified their own new email.
	other := stranger.sendEmail("other@example.com")
	if err := stranger.verifyEmail("other@example.com", other.VerificationCode); err != nil {
		t.Fatal(err)
	}
	p, err := stranger.sendPhone("other@example.com", phone)
	if err != nil || p.Phone != phone || len(p.VerificationCode) != 4 {
		t.Fatalf("answer for a registered phone: %+v %v", p, err)
	}
	if err := stranger.verifyPhone(other.UUID, p.VerificationCode); code(err) != contract.Invalid {
		t.Fatalf("the answered phone code worked: %v", err)
	}
	if got := f.noticesTo(phone); len(got) != 1 || got[0] != "account_exists" {
		t.Fatalf("notices to the phone: %v", got)
	}

	t.Run("explicit mode", func(t *testing.T) {
		f.svc.Limits.RevealRegistered = true
		defer func() { f.svc.Limits.RevealRegistered = false }()
		if _, err := f.svc.EmailSendOTP(from("203.0.113.10"), contract.EmailSendOTPRequest{Email: email}); code(err) != contract.Invalid || field(err) != "email" {
			t.Fatalf("email: %v", err)
		}
		if _, err := f.svc.PhoneSendOTP(from("203.0.113.10"), contract.PhoneSendOTPRequest{Email: "other@example.com", Phone: phone}); code(err) != contract.Invalid || field(err) != "phone" {
			t.Fatalf("phone: %v", err)
		}
	})
}

// A stranger guessing at an address's codes from one client address meets
// their own cap, and the owner, from theirs, still verifies: the failure
// caps cannot be aimed at the owner by one stranger. One with an IPv6
// line has a /64 to take addresses from: a guess from each new address of
// it is still the one client (counted per address, the stranger was 2^64
// clients and used up the owner's day).
func TestOneStrangerCannotLockTheOwnersCode(t *testing.T) {
	for name, c := range map[string]struct {
		owner    string
		stranger func(guess int) string
	}{
		"one IPv4 address":                    {"198.51.100.1", func(int) string { return "203.0.113.9" }},
		"a new address of one /64 each guess": {"2001:db8:1:1::1", func(i int) string { return fmt.Sprintf("2001:db8:7:1:%x::%x", i, i+1) }},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			victim := f.as(c.owner)
			const email = "owner@example.com"
			v := victim.sendEmail(email)
			wrong := wrongCode(v.VerificationCode)
			lim := f.svc.Limits
			for i := range lim.ClientFailuresPerDay + 3 {
				stranger := f.as(c.stranger(i))
				// New codes keep the guesses compared (a spent code is not).
				stranger.sendEmail(email)
				err := stranger.verifyEmail(email, wrong)
				if i < lim.ClientFailuresPerDay && code(err) != contract.Invalid {
					t.Fatalf("guess %d: %v", i, err)
				}
				if i >= lim.ClientFailuresPerDay && code(err) != contract.RateLimited {
					t.Fatalf("guess %d past the client's cap: %v", i, err)
				}
			}
			// The guesses may have pushed the owner's code out of the live
			// ones or spent its checks (a delay: at worst a resend), never
			// the owner's budget.
			if err := victim.verifyEmail(email, v.VerificationCode); err != nil && code(err) != contract.Invalid {
				t.Fatalf("the owner's right code after a stranger's guesses: %v", err)
			} else if err != nil {
				if err := victim.verifyEmail(email, victim.sendEmail(email).VerificationCode); err != nil {
					t.Fatalf("the owner's resent code after a stranger's guesses: %v", err)
				}
			}
		})
	}
}

// Issue 15, 4(c): 50 + 50 concurrent wrong codes from two clients recorded
// 10 failures where the cap is 9. Every check now takes its failure slot
// before it compares, so no more than the cap are ever checked.
func TestConcurrentWrongCodesStayWithinTheCap(t *testing.T) {
	f := newFixture(t)
	f.svc.Limits.ChecksPerCode = 1000 // the per-address cap is the one under test
	f.svc.Limits.ClientFailuresPerDay = 1000
	const email = "cap@example.com"
	c := f.as("198.51.100.1")
	var codes []string
	for range 3 {
		codes = append(codes, c.sendEmail(email).VerificationCode)
	}
	wrong := "0000"
	for strings.Contains(strings.Join(codes, ","), wrong) {
		wrong = string(rune(wrong[0]+1)) + wrong[1:]
	}
	var wg sync.WaitGroup
	var checked atomic.Int32
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f.as("203.0.113."+string(rune('1'+i%2))).verifyEmail(email, wrong)
			switch code(err) {
			case contract.Invalid:
				checked.Add(1)
			case contract.RateLimited:
			default:
				t.Errorf("guess: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := int(checked.Load()); n > f.svc.Limits.FailuresPerDay {
		t.Fatalf("%d wrong codes checked, cap %d", n, f.svc.Limits.FailuresPerDay)
	}
	tail, err := f.svc.Ledger.Tail(context.Background(), "fail:"+failKey(contract.PurposeRegisterEmail, email))
	if err != nil {
		t.Fatal(err)
	}
	if newest, _, _ := tail.At(0); newest.Seq > int64(f.svc.Limits.FailuresPerDay) {
		t.Fatalf("%d failures recorded, cap %d", newest.Seq, f.svc.Limits.FailuresPerDay)
	}
	// Right codes are refused too now: the cap is for everyone.
	if err := c.verifyEmail(email, codes[0]); code(err) != contract.RateLimited {
		t.Fatalf("right code at the cap: %v", err)
	}
}

// Successes give their failure slot back: an owner verifying many codes
// in a day is never counted as failing.
func TestOnlyFailedChecksCount(t *testing.T) {
	f := newFixture(t)
	c := f.as("198.51.100.1")
	const email = "often@example.com"
	for i := range 2 * f.svc.Limits.FailuresPerDay {
		if err := c.verifyEmail(email, c.sendEmail(email).VerificationCode); err != nil {
			t.Fatalf("verification %d: %v", i, err)
		}
	}
}

type observed struct {
	mu      sync.Mutex
	sent    map[string]int
	tripped []string
}

func (o *observed) SMSSent(country string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent[country]++
}

func (o *observed) BudgetTripped(budget, _ string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tripped = append(o.tripped, budget)
}

// SMS pumping: one verified email could send codes to any number of
// phones. Now each registration, the whole service and the destination
// countries have budgets, and a tripped budget is seen.
func TestSMSBudgets(t *testing.T) {
	f := newFixture(t)
	obs := &observed{sent: map[string]int{}}
	f.svc.Observe = obs
	pumper := f.as("203.0.113.9")
	const email = "pump@example.com"
	e := pumper.sendEmail(email)
	if err := pumper.verifyEmail(email, e.VerificationCode); err != nil {
		t.Fatal(err)
	}
	for i := range f.svc.Limits.SMSPerRegistration {
		if _, err := pumper.sendPhone(email, "+1868555060"+string(rune('0'+i))); err != nil {
			t.Fatalf("sms %d: %v", i, err)
		}
	}
	if _, err := pumper.sendPhone(email, "+18685550699"); code(err) != contract.RateLimited {
		t.Fatalf("past the registration's budget: %v", err)
	}
	if obs.sent["1"] != f.svc.Limits.SMSPerRegistration || len(obs.tripped) != 1 || obs.tripped[0] != "sms_registration" {
		t.Fatalf("observed %+v %v", obs.sent, obs.tripped)
	}
	// The pumper's budget is not the owner's: from another client the
	// registration still gets its texts.
	owner := f.as("198.51.100.1")
	if _, err := owner.sendPhone(email, "+18685550611"); err != nil {
		t.Fatalf("the owner's text after a stranger spent theirs: %v", err)
	}

	t.Run("countries", func(t *testing.T) {
		f.svc.Limits.SMSCountries = []string{"1"}
		defer func() { f.svc.Limits.SMSCountries = nil }()
		r := f.as("198.51.100.7")
		e := r.sendEmail("uk@example.com")
		if err := r.verifyEmail("uk@example.com", e.VerificationCode); err != nil {
			t.Fatal(err)
		}
		if _, err := r.sendPhone("uk@example.com", "+447700900123"); code(err) != contract.Invalid || field(err) != "phone" {
			t.Fatalf("a country not allowed: %v", err)
		}
		if _, err := r.sendPhone("uk@example.com", "+18685550622"); err != nil {
			t.Fatalf("an allowed country: %v", err)
		}
	})
	t.Run("hourly", func(t *testing.T) {
		f.svc.Limits.SMSPerHour = 3 // and the sends above are this hour's
		defer func() { f.svc.Limits.SMSPerHour = DefaultLimits().SMSPerHour }()
		r := f.as("198.51.100.8")
		e := r.sendEmail("hour@example.com")
		if err := r.verifyEmail("hour@example.com", e.VerificationCode); err != nil {
			t.Fatal(err)
		}
		_, err := r.sendPhone("hour@example.com", "+18685550633")
		if code(err) != contract.RateLimited || contract.AsError(err).RetryAfter <= 0 {
			t.Fatalf("past the hourly budget: %v", err)
		}
	})
}

// confirm_pin counts only mismatches: the right PIN sent ten times at once
// is never refused as locked (one of them activates the account, the
// others find it active), and mismatches stop at the attempt's daily cap.
func TestConfirmPINCountsOnlyMismatches(t *testing.T) {
	f := newFixture(t)
	c := f.as("198.51.100.1")
	id := c.upToPIN("confirm@example.com", "+18685550800", "5830")
	var wg sync.WaitGroup
	var won atomic.Int32
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.confirm(id, "5830")
			switch {
			case err == nil:
				won.Add(1)
			case code(err) == contract.RateLimited:
				t.Errorf("the right PIN refused as locked: %v", err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d confirmations activated the account, want 1", won.Load())
	}

	other := c.upToPIN("mismatch@example.com", "+18685550801", "5830")
	checked := 0
	for range 2 * f.svc.Limits.UnknownPINFailures {
		if _, err := c.confirm(other, "1357"); code(err) == contract.Invalid {
			checked++
		}
	}
	if checked != f.svc.Limits.UnknownPINFailures {
		t.Fatalf("%d mismatches checked, want the cap %d", checked, f.svc.Limits.UnknownPINFailures)
	}
}

// A check that compares nothing (every live code's checks spent, or no
// live code) claims a failure slot and gives it back. The failures were
// counted from the chain's newest 256 entries, so about 130 such checks
// from a stranger's many client addresses pushed the day's failures out of
// what was read and reopened the cap: 9 guesses a day became 9 for every
// 130 cheap checks. The count now travels in each entry.
func TestChecksThatCompareNothingDoNotReopenTheFailureCap(t *testing.T) {
	f := newFixture(t)
	const email = "victim@example.com"
	lim := f.svc.Limits
	n := 0
	stranger := func() registrar {
		n++
		return f.as(fmt.Sprintf("203.0.%d.%d", n/200, n%200+1))
	}
	var codes []string
	wrong := func() string {
		for w := 0; ; w++ {
			c := fmt.Sprintf("%04d", w)
			if !slices.Contains(codes, c) {
				return c
			}
		}
	}
	compared := 0
	guess := func() (refused bool) {
		t.Helper()
		err := stranger().verifyEmail(email, wrong())
		switch {
		case code(err) == contract.RateLimited:
			return true
		case contract.AsError(err).Reason == contract.ReasonOTPInvalid:
			compared++
		case contract.AsError(err).Reason != contract.ReasonOTPAttemptsExceeded:
			t.Fatalf("guess: %v", err)
		}
		return false
	}
	codes = append(codes, stranger().sendEmail(email).VerificationCode)
	for range lim.ChecksPerCode {
		guess()
	}
	// The code is spent: these compare nothing.
	for range 3 * domain.RecentAttempts {
		if guess() {
			t.Fatal("a check that compared nothing was refused")
		}
	}
	// New codes, and guesses at them until the cap refuses.
	for round := 0; ; round++ {
		if round == 10 {
			t.Fatalf("%d wrong codes compared in a day and still not refused, cap %d", compared, lim.FailuresPerDay)
		}
		codes = append(codes, stranger().sendEmail(email).VerificationCode)
		refused := false
		for range lim.ChecksPerCode {
			if refused = guess(); refused {
				break
			}
		}
		if refused {
			break
		}
		f.advance(time.Hour) // the address's sends per hour
	}
	if compared > lim.FailuresPerDay {
		t.Fatalf("%d wrong codes compared in a day, cap %d", compared, lim.FailuresPerDay)
	}
}

// answers is what a stranger sees guessing wrong codes at an address for a
// day: a code sent (send), then its checks and one more, then another
// code after the send gap, until the day's failure cap answers.
func (f *fixture) answers(send func() error, check func() error) []string {
	f.t.Helper()
	var out []string
	for round := 0; round < f.svc.Limits.FailuresPerDay; round++ {
		if err := send(); err != nil {
			out = append(out, "send "+string(code(err))+" "+string(reasonOf(err)))
		}
		for range f.svc.Limits.ChecksPerCode + 1 {
			err := check()
			out = append(out, string(code(err))+" "+string(reasonOf(err)))
			if code(err) == contract.RateLimited {
				return out
			}
		}
		f.advance(f.svc.Limits.SendGap)
	}
	return out
}

// A stranger guessing at a registered address met "invalid" for ever (no
// code existed to spend or fail), while a new address's code ran out of
// checks and its failures reached the day's cap: the sixth guess told the
// two apart. A registered email or phone, and a phone with no account at
// a forgotten PIN, now get a code that opens nothing, checked and counted
// as a real one: the same answers, guess for guess.
func TestWrongGuessesAnswerAlikeForAnyAddress(t *testing.T) {
	f := newFixture(t)
	const email, phone = "known@example.com", "+18685550501"
	f.register(email, phone, "5830")
	f.advance(f.svc.Limits.CodeTTL + ExpiredLookback) // registered a while ago
	// Each address is guessed at from a client address of its own: the
	// caps per client address are the same for both.
	clients := 0
	stranger := func() registrar { clients++; return f.as(fmt.Sprintf("203.0.113.%d", clients)) }
	same := func(what string, guesses func(address string) []string, registered, other string) {
		t.Helper()
		known, unknown := guesses(registered), guesses(other)
		if strings.Join(known, ",") != strings.Join(unknown, ",") {
			t.Fatalf("%s guesses:\nregistered %v\nnot        %v", what, known, unknown)
		}
	}
	same("email", func(email string) []string {
		s := stranger()
		return f.answers(func() error { s.sendEmail(email); return nil },
			func() error { return s.verifyEmail(email, "0000") })
	}, email, "new@example.com")

	same("phone", func(phone string) []string {
		// The stranger's own attempt, its email verified.
		s := stranger()
		own := "stranger" + phone + "@example.com"
		attempt := s.sendEmail(own)
		if err := s.verifyEmail(own, attempt.VerificationCode); err != nil {
			t.Fatal(err)
		}
		return f.answers(func() error { _, err := s.sendPhone(own, phone); return err },
			func() error { return s.verifyPhone(attempt.UUID, "0000") })
	}, phone, "+18685550502")

	same("reset", func(phone string) []string {
		s := stranger()
		return f.answers(func() error { return f.svc.ForgotPIN(s.ctx, contract.ForgotPINRequest{Phone: phone}) },
			func() error {
				_, err := f.svc.ResetPIN(s.ctx, contract.ResetPINRequest{Phone: phone, SMSCode: "0000", EmailCode: "0000", PIN: "4829"}, contract.Client{IP: "203.0.113.99"})
				return err
			})
	}, phone, "+18685550503")
}

// calling is a request context from one client address for one call:
// natsx sends every copy of a call with the same id.
func calling(ip, call string) context.Context {
	return natsx.WithCaller(context.Background(), natsx.Caller{Client: contract.Client{IP: ip, UserAgent: "test"}, Call: call})
}

// A phone_send_otp whose replica lost its connection before the receipt
// went out ran there, and its caller, hearing nothing, sent it again: the
// copy met the send gap the first run had just opened, and the app got a
// 429 for a request nobody repeated (seen in CI, a NATS node partitioned).
// A copy of a send is that send: not too soon, and its code opens the
// phone; a new request within the gap still is too soon, and copies count
// against the hourly cap as every send does.
func TestACopyOfASendIsNotTooSoon(t *testing.T) {
	f := newFixture(t)
	def := DefaultLimits()
	f.svc.Limits.SendGap, f.svc.Limits.SendsPerHour = def.SendGap, def.SendsPerHour
	const ip, email, phone = "198.51.100.60", "copy@example.com", "+18685550601"
	r := f.as(ip)
	e := r.sendEmail(email)
	if err := r.verifyEmail(email, e.VerificationCode); err != nil {
		t.Fatal(err)
	}
	send := func(call string) (contract.PhoneSendOTPReply, error) {
		return f.svc.PhoneSendOTP(calling(ip, call), contract.PhoneSendOTPRequest{Email: email, Phone: phone})
	}
	if _, err := send("call-1"); err != nil {
		t.Fatalf("phone_send_otp: %v", err)
	}
	again, err := send("call-1")
	if err != nil {
		t.Fatalf("a copy of the same call: %v; want the send answered", err)
	}
	if _, err := send("call-2"); reasonOf(err) != contract.ReasonOTPSendTooSoon {
		t.Fatalf("a new request within the send gap: %v; want %s", err, contract.ReasonOTPSendTooSoon)
	}
	if _, err := f.svc.PhoneSendOTP(from(ip), contract.PhoneSendOTPRequest{Email: email, Phone: phone}); reasonOf(err) != contract.ReasonOTPSendTooSoon {
		t.Fatalf("a request naming no call within the send gap: %v; want %s", err, contract.ReasonOTPSendTooSoon)
	}
	for copies := 3; err == nil; copies++ {
		if copies > def.SendsPerHour+1 {
			t.Fatalf("%d copies of one call sent; want the caps on sends to count them", copies-1)
		}
		_, err = send("call-1")
	}
	if code(err) != contract.RateLimited {
		t.Fatalf("copies past the caps: %v; want %s", err, contract.RateLimited)
	}
	if err := r.verifyPhone(e.UUID, again.VerificationCode); err != nil {
		t.Fatalf("the copy's code: %v", err)
	}
}

// A registration step whose replica ran it and then lost its connection
// (receipt and answer with it) is sent again by its caller as a copy: the
// copy found the code it had just spent (422 invalid) or the account it
// had just activated (422 no registration). Each step's copy is now
// answered as its first run was; a new request, or a copy past the
// window, still finds the code spent and the account active.
func TestACopyOfARegistrationStepIsAnsweredAsItsFirstRun(t *testing.T) {
	f := newFixture(t)
	const ip, email, phone, pin = "198.51.100.61", "copies@example.com", "+18685550602", "4829"
	twice := func(step string, call func(ctx context.Context) error) {
		t.Helper()
		ctx := calling(ip, "call-"+step)
		if err := call(ctx); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if err := call(ctx); err != nil {
			t.Fatalf("a copy of %s: %v; want it answered as its first run", step, err)
		}
		if err := call(calling(ip, "other-"+step)); err == nil && step != "set_pin" {
			t.Fatalf("a new request repeating %s: answered; want it refused as before", step)
		}
	}
	e, err := f.svc.EmailSendOTP(calling(ip, "send-email"), contract.EmailSendOTPRequest{Email: email})
	if err != nil {
		t.Fatal(err)
	}
	// The copy of the send that started the attempt goes on with it: the
	// caller is answered the first run's uuid, and the code the first run
	// mailed (the one the user reads first) opens it.
	ec, err := f.svc.EmailSendOTP(calling(ip, "send-email"), contract.EmailSendOTPRequest{Email: email})
	if err != nil || ec.UUID != e.UUID {
		t.Fatalf("a copy of email_send_otp: %+v, %v; want the attempt %s", ec, err, e.UUID)
	}
	if n := f.messagesTo(email); n != 1 {
		t.Fatalf("%d mails for one send and its copy; want 1", n)
	}
	if other, err := f.svc.EmailSendOTP(calling("198.51.100.62", "send-email-2"), contract.EmailSendOTPRequest{Email: email}); err != nil || other.UUID == e.UUID {
		t.Fatalf("a new email_send_otp: %+v, %v; want an attempt of its own", other, err)
	}
	twice("email_verify_otp", func(ctx context.Context) error {
		_, err := f.svc.EmailVerifyOTP(ctx, contract.EmailVerifyOTPRequest{Email: email, VerificationCode: e.VerificationCode})
		return err
	})
	p, err := f.svc.PhoneSendOTP(calling(ip, "send-phone"), contract.PhoneSendOTPRequest{Email: email, Phone: phone})
	if err != nil {
		t.Fatal(err)
	}
	twice("phone_verify_otp", func(ctx context.Context) error {
		_, err := f.svc.PhoneVerifyOTP(ctx, contract.PhoneVerifyOTPRequest{UUID: e.UUID, VerificationCode: p.VerificationCode})
		return err
	})
	twice("set_pin", func(ctx context.Context) error {
		_, err := f.svc.SetPIN(ctx, contract.SetPINRequest{UUID: e.UUID, PIN: pin})
		return err
	})
	var users []int64
	twice("confirm_pin", func(ctx context.Context) error {
		s, err := f.svc.ConfirmPIN(ctx, contract.ConfirmPINRequest{UUID: e.UUID, ConfirmPIN: pin}, contract.Client{IP: ip})
		if err == nil {
			if f.principal(s.Token).UserID == 0 {
				t.Fatalf("confirm_pin answered a session that opens nothing")
			}
			users = append(users, f.principal(s.Token).UserID)
		}
		return err
	})
	if len(users) != 2 || users[0] != users[1] {
		t.Fatalf("confirm_pin and its copy answered sessions of users %v; want one account", users)
	}
	if _, err := f.svc.ConfirmPIN(calling(ip, "call-confirm_pin"), contract.ConfirmPINRequest{UUID: e.UUID, ConfirmPIN: "1357"}, contract.Client{IP: ip}); err == nil {
		t.Fatal("a copy of confirm_pin naming another PIN: a session; want it refused")
	}
	f.advance(copyWindow)
	if _, err := f.svc.ConfirmPIN(calling(ip, "call-confirm_pin"), contract.ConfirmPINRequest{UUID: e.UUID, ConfirmPIN: pin}, contract.Client{IP: ip}); err == nil {
		t.Fatal("a copy of confirm_pin past the copy window: a session; want it refused")
	}
	if _, err := f.svc.EmailVerifyOTP(calling(ip, "call-email_verify_otp"), contract.EmailVerifyOTPRequest{Email: email, VerificationCode: e.VerificationCode}); err == nil {
		t.Fatal("a copy of email_verify_otp past the copy window: answered; want the spent code refused")
	}
}

// Strangers who knew an email filled its registration's shared text cap
// from two client addresses in the hour after its owner verified it: the
// owner got no phone code for a day. The client that verified the email
// holds the mailbox; only its own cap holds it, while the strangers are
// held to the shared one.
func TestStrangersCannotSpendTheOwnersRegistrationTexts(t *testing.T) {
	f := newFixture(t)
	const email = "texts@example.com"
	owner := f.as("198.51.100.70")
	e := owner.sendEmail(email)
	if err := owner.verifyEmail(email, e.VerificationCode); err != nil {
		t.Fatal(err)
	}
	cap := f.svc.Limits.SMSPerRegistration
	sent := 0
	for _, ip := range []string{"203.0.113.71", "203.0.113.72", "203.0.113.73"} {
		for i := range cap {
			if _, err := f.as(ip).sendPhone(email, "+186855507"+ip[len(ip)-1:]+string(rune('0'+i))); err == nil {
				sent++
			}
		}
	}
	if sent != 2*cap {
		t.Fatalf("strangers sent %d texts for the registration; want the shared cap %d", sent, 2*cap)
	}
	for i := range cap {
		if _, err := owner.sendPhone(email, "+1868555079"+string(rune('0'+i))); err != nil {
			t.Fatalf("the owner's text %d after strangers filled the shared cap: %v", i+1, err)
		}
	}
	if _, err := owner.sendPhone(email, "+18685550799"); code(err) != contract.RateLimited {
		t.Fatalf("the owner past their own cap: %v; want %s", err, contract.RateLimited)
	}
}

// A copy is a copy only within copyWindow, as at every step: a call id
// seen again later (a bus process replaying one) is a new request, and
// meets the send gap.
func TestALateCopyOfASendIsANewRequest(t *testing.T) {
	f := newFixture(t)
	f.svc.Limits.SendGap = 5 * copyWindow
	const ip, email = "198.51.100.63", "late-copy@example.com"
	send := func() error {
		_, err := f.svc.EmailSendOTP(calling(ip, "call-late"), contract.EmailSendOTPRequest{Email: email})
		return err
	}
	if err := send(); err != nil {
		t.Fatal(err)
	}
	if err := send(); err != nil {
		t.Fatalf("a copy within the window: %v", err)
	}
	f.advance(copyWindow)
	if err := send(); reasonOf(err) != contract.ReasonOTPSendTooSoon {
		t.Fatalf("the same call id past the window: %v; want %s", err, contract.ReasonOTPSendTooSoon)
	}
}

// A stranger filled the day's failure cap of their own number X with
// wrong codes at their own attempt, from two client addresses, then sent
// X a code for the owner's verified email, so X was among the phones the
// owner's check counted against. The check took a slot on the owner's
// phone, met X's cap and stopped there without giving it back: the
// owner's right code got 429, and six of them capped the owner's phone for
// a day from the owner's address. A phone whose cap is full now drops out
// of the check (its codes are not compared, so the cap still holds them)
// and a check keeps no slot of a phone it compared nothing at.
func TestAStrangersCappedPhoneCannotBlockTheOwnersCode(t *testing.T) {
	f := newFixture(t)
	const email, phone = "owner@example.com", "+18685550101"
	const own, capped = "stranger@example.com", "+18685550199"
	lim := f.svc.Limits
	owner := f.as("198.51.100.1")
	s1, s2, s3 := f.as("203.0.113.1"), f.as("203.0.113.2"), f.as("203.0.113.3")

	e := owner.sendEmail(email)
	if err := owner.verifyEmail(email, e.VerificationCode); err != nil {
		t.Fatal(err)
	}
	a := s1.sendEmail(own)
	if err := s1.verifyEmail(own, a.VerificationCode); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, s := range []registrar{s1, s1, s2, s2} {
		p, err := s.sendPhone(own, capped)
		if err != nil {
			t.Fatal(err)
		}
		for range lim.ChecksPerCode {
			if failed == lim.FailuresPerDay || code(s.verifyPhone(a.UUID, wrongCode(p.VerificationCode))) != contract.Invalid {
				break
			}
			failed++
		}
	}
	strangerCapped := func(when string) {
		t.Helper()
		if err := s3.verifyPhone(a.UUID, "0000"); code(err) != contract.RateLimited {
			t.Fatalf("%s: the stranger's check at their capped phone: %v; want %s", when, err, contract.RateLimited)
		}
	}
	strangerCapped(fmt.Sprintf("after %d failures", failed))

	p, err := owner.sendPhone(email, phone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3.sendPhone(email, capped); err != nil {
		t.Fatal(err)
	}
	// The code the stranger got on X for the owner's email opens nothing
	// while X is capped: it is not compared.
	if err := owner.verifyPhone(e.UUID, f.code(contract.PurposeRegisterPhone, capped)); reasonOf(err) != contract.ReasonOTPInvalid {
		t.Fatalf("the capped phone's code: %v; want %s", err, contract.ReasonOTPInvalid)
	}
	if err := owner.verifyPhone(e.UUID, p.VerificationCode); err != nil {
		t.Fatalf("the owner's right code with the stranger's capped phone among the phones: %v", err)
	}
	// Only the owner's own wrong code counts against the owner's phone.
	tail, err := f.svc.Ledger.Tail(context.Background(), "fail:"+failKey(contract.PurposeRegisterPhone, phone))
	if err != nil {
		t.Fatal(err)
	}
	if live, err := currentFailures(tail, f.clock()); err != nil || len(live) != 1 {
		t.Fatalf("the owner's phone counts %d failures (%v); want 1", len(live), err)
	}
	strangerCapped("after the owner's checks")
}
