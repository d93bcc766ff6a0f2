package profilesvc

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/natsx"
)

// fakeAuth answers auth's account and 2FA commands over NATS as the
// contract says, so the profile service is tested against the contract
// (not auth's implementation) until both meet in the e2e suite.
type fakeAuth struct {
	mu       sync.Mutex
	accounts map[int64]*contract.Account
	taken    map[string]bool
	pending  map[int64]contract.TwoFAStartRequest
	code     string
}

const fakeCode = "482913"

func startFakeAuth(t *testing.T, nc *nats.Conn) *fakeAuth {
	t.Helper()
	f := &fakeAuth{accounts: map[int64]*contract.Account{}, taken: map[string]bool{}, pending: map[int64]contract.TwoFAStartRequest{}, code: fakeCode}
	ms, err := natsx.NewService(nc, zap.NewNop(), natsx.ServiceConfig{Name: contract.ServiceAuth, Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Stop() })
	for _, err := range []error{
		natsx.Handle(ms, contract.AuthAccountGet, func(_ context.Context, r contract.AccountGetRequest) (contract.Account, error) {
			return f.account(r.UserID)
		}),
		natsx.Handle(ms, contract.AuthChangePhone, func(_ context.Context, r contract.ChangePhoneRequest) (contract.Account, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.taken[r.NewPhone] {
				return contract.Account{}, contract.FieldError("new_phone", "The new phone has already been taken.")
			}
			a := f.accounts[r.UserID]
			a.PhoneChange = &contract.PendingContact{To: r.NewPhone, Until: time.Now().Add(10 * time.Minute)}
			return *a, nil
		}),
		natsx.Handle(ms, contract.AuthChangeEmail, func(_ context.Context, r contract.ChangeEmailRequest) (contract.Account, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			a := f.accounts[r.UserID]
			a.EmailChange = &contract.PendingContact{To: r.NewEmail, Until: time.Now().Add(10 * time.Minute)}
			return *a, nil
		}),
		natsx.Handle(ms, contract.AuthVerifyContact, func(_ context.Context, r contract.ContactVerifyRequest) (contract.Account, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			a := f.accounts[r.UserID]
			value, at, pending := &a.Email, &a.EmailVerifiedAt, &a.EmailChange
			if r.Channel == contract.ContactPhone {
				value, at, pending = &a.Phone, &a.PhoneVerifiedAt, &a.PhoneChange
			}
			if *pending == nil || r.VerificationCode != f.code[:4] {
				return contract.Account{}, contract.FieldError("verification_code", "The verification code is invalid or has expired.")
			}
			if f.taken[(*pending).To] {
				*pending = nil
				return contract.Account{}, contract.FieldError(r.Channel, "This "+r.Channel+" now belongs to another account, so the change was dropped.")
			}
			now := time.Now()
			*value, *at, *pending = (*pending).To, &now, nil
			return *a, nil
		}),
		natsx.Handle(ms, contract.AuthTwoFAStart, func(_ context.Context, r contract.TwoFAStartRequest) (contract.TwoFAStartReply, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			a := f.accounts[r.UserID]
			to := a.Phone
			if f.taken[r.Telephone] {
				return contract.TwoFAStartReply{}, contract.FieldError("telephone", "The telephone has already been taken.")
			}
			if r.Telephone != "" && r.Telephone != a.Phone {
				to = r.Telephone
			} else if r.IsTwoFA == nil || *r.IsTwoFA == a.TwoFA {
				return contract.TwoFAStartReply{Telephone: a.Phone}, nil
			}
			f.pending[r.UserID] = r
			return contract.TwoFAStartReply{Telephone: to, OTPSent: true, VerificationCode: f.code}, nil
		}),
		natsx.Handle(ms, contract.AuthTwoFAVerify, func(_ context.Context, r contract.TwoFAVerifyRequest) (contract.TwoFAVerifyReply, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			p, ok := f.pending[r.UserID]
			if !ok || r.OTP != f.code {
				return contract.TwoFAVerifyReply{}, contract.FieldError("otp", "The otp is invalid.")
			}
			delete(f.pending, r.UserID)
			a := f.accounts[r.UserID]
			var s *contract.Session
			if p.Telephone != "" {
				a.Phone = p.Telephone
				s = &contract.Session{Token: "token-for-" + p.Telephone}
			}
			if p.IsTwoFA != nil {
				a.TwoFA = *p.IsTwoFA
			}
			return contract.TwoFAVerifyReply{Account: *a, Session: s}, nil
		}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fakeAuth) account(id int64) (contract.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.accounts[id]
	if !ok {
		return contract.Account{}, contract.Errorf(contract.NotFound, "No such account.")
	}
	return *a, nil
}

func (f *fakeAuth) add(a contract.Account) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[a.ID] = &a
}

type harness struct {
	t    *testing.T
	nc   *nats.Conn
	auth *fakeAuth
}

// startProfile runs the real profile service (Run) against embedded NATS,
// FerretDB and S3 and the fake auth.
func startProfile(t *testing.T) *harness {
	t.Helper()
	return startProfileWith(t, nil)
}

// startProfileWith is startProfile with extra settings.
func startProfileWith(t *testing.T, extra map[string]string) *harness {
	t.Helper()
	ks := testkit.Start(t)
	nc, err := nats.Connect(ks.NATS.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	// The test vouches for its callers as the gateway would, and the fake
	// auth believes profile's assertions.
	key := ks.NATS.Credentials.AssertionKey()
	natsx.UseKeys(nc, natsx.Keys{Issuer: "test", Sign: key, Verify: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
	auth := startFakeAuth(t, nc)
	testkit.EventStreams(t, ks.NATS) // auth's part, as the fake stands in for its commands
	env := map[string]string{
		"DOSS_ENV": "dev", "DOSS_MONGO_URI": ks.Mongo.URI, "DOSS_MONGO_DB": "profile",
		"DOSS_S3_ENDPOINT": ks.S3.Endpoint, "DOSS_S3_ACCESS_KEY": testkit.S3AccessKey, "DOSS_S3_SECRET_KEY": testkit.S3SecretKey,
		"DOSS_S3_BUCKET": "profile-account-test",
	}
	for k, v := range ks.NATS.ServiceEnv() {
		env[k] = v
	}
	env["DOSS_NATS_SEED"] = env[embedded.SeedVar(contract.ServiceProfile)] // profile's own bus user
	for k, v := range extra {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, func(k string) string { return env[k] }, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("profile: %v", err)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if natsx.Registered(nc, contract.ServiceProfile, 200*time.Millisecond) > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("profile stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("profile never answered")
		}
	}
	return &harness{t: t, nc: nc, auth: auth}
}

// call sends a profile command as user (or as an admin when admin is set).
func call[Req, Resp any](h *harness, user int64, admin, subject string, req Req) (Resp, error) {
	ctx := natsx.WithCaller(context.Background(), natsx.Caller{Principal: contract.Principal{UserID: user, Admin: admin}})
	return natsx.Call[Req, Resp](ctx, h.nc, subject, req)
}

func wantFieldErr(t *testing.T, err error, field string) {
	t.Helper()
	e := contract.AsError(err)
	if err == nil || e.Code != contract.Invalid || len(e.Fields[field]) == 0 {
		t.Fatalf("err %v, want a 422 naming %s", err, field)
	}
}

func update(first, phone string) contract.AccountUpdateRequest {
	return contract.AccountUpdateRequest{FirstName: first, LastName: "Doe", Gender: "male", Birthdate: "0000-00-00", Telephone: phone}
}

func TestAccountUpdateAndTwoFAAgainstTheContract(t *testing.T) {
	h := startProfile(t)
	h.auth.add(contract.Account{ID: 7, UUID: "u-7", Email: "seven@example.com", Phone: "+18681230007", HasPassword: true, ValidTokenCount: 2})
	h.auth.add(contract.Account{ID: 8, UUID: "u-8", Email: "eight@example.com", Phone: "+18681230008", HasPassword: true, TwoFA: true})
	h.auth.taken["+18681239999"] = true

	get := func(t *testing.T, user int64) contract.AccountProfile {
		t.Helper()
		p, err := call[contract.AccountProfileRequest, contract.AccountProfile](h, user, "", contract.AccountGet, contract.AccountProfileRequest{Platform: "mobile"})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("2FA off: a telephone change waits for the code too, a taken one is refused", func(t *testing.T) {
		r, err := call[contract.AccountUpdateRequest, contract.AccountUpdateReply](h, 7, "", contract.AccountUpdate, update("Ann", "+18681230070"))
		if err != nil || r.OTPSent == nil || r.OTPSent.Telephone != "+18681230070" {
			t.Fatalf("%+v %v", r, err)
		}
		if p := get(t, 7); p.FirstName != "Ann" || p.Telephone != "+18681230007" {
			t.Fatalf("before the code: %+v", p)
		}
		v, err := call[contract.AccountVerifyOTPRequest, contract.AccountVerified](h, 7, "", contract.AccountVerifyOTP, contract.AccountVerifyOTPRequest{Telephone: "+18681230070", OTP: fakeCode})
		if err != nil || v.Telephone != "+18681230070" || v.ValidTokenCount != 2 {
			t.Fatalf("%+v %v", v, err)
		}
		_, err = call[contract.AccountUpdateRequest, contract.AccountUpdateReply](h, 7, "", contract.AccountUpdate, update("Bob", "+18681239999"))
		wantFieldErr(t, err, "telephone")
		if p := get(t, 7); p.FirstName != "Ann" || p.Telephone != "+18681230070" {
			t.Fatalf("a refused update changed the profile: %+v", p)
		}
	})

	t.Run("2FA on: a telephone change waits for the code, the rest is saved", func(t *testing.T) {
		r, err := call[contract.AccountUpdateRequest, contract.AccountUpdateReply](h, 8, "", contract.AccountUpdate, update("Eve", "+18681230080"))
		if err != nil || r.OTPSent == nil || !r.OTPSent.IsOTPSent || r.OTPSent.Telephone != "+18681230080" || r.OTPSent.Message != "OTP Sent successfully!" {
			t.Fatalf("%+v %v", r, err)
		}
		p := get(t, 8)
		if p.FirstName != "Eve" || p.Telephone != "+18681230008" || p.IsTwoFA != 1 {
			t.Fatalf("before the code: %+v", p)
		}
		_, err = call[contract.AccountVerifyOTPRequest, contract.AccountVerified](h, 8, "", contract.AccountVerifyOTP, contract.AccountVerifyOTPRequest{Telephone: "+18681230080", OTP: "000000"})
		wantFieldErr(t, err, "otp")
		v, err := call[contract.AccountVerifyOTPRequest, contract.AccountVerified](h, 8, "", contract.AccountVerifyOTP, contract.AccountVerifyOTPRequest{Telephone: "+18681230080", OTP: fakeCode})
		if err != nil || v.Telephone != "+18681230080" || v.AccessToken != "token-for-+18681230080" || v.IsTwoFA != 1 || v.FirstName != "Eve" {
			t.Fatalf("%+v %v", v, err)
		}
		if p := get(t, 8); p.Telephone != "+18681230080" {
			t.Fatalf("the new telephone was not recorded: %+v", p)
		}
	})

	t.Run("/2fa: turning 2FA on sends a code to the current number; no token after", func(t *testing.T) {
		on := contract.FlexBool(true)
		req := update("Ann", "+18681230070")
		req.IsTwoFA = &on
		r, err := call[contract.AccountUpdateRequest, contract.AccountUpdateReply](h, 7, "", contract.AccountUpdate2FA, req)
		if err != nil || r.OTPSent == nil || r.OTPSent.Telephone != "+18681230070" {
			t.Fatalf("%+v %v", r, err)
		}
		v, err := call[contract.AccountVerifyOTPRequest, contract.AccountVerified](h, 7, "", contract.AccountVerifyOTP, contract.AccountVerifyOTPRequest{Telephone: "+18681230070", OTP: fakeCode})
		if err != nil || v.IsTwoFA != 1 || v.AccessToken != "" {
			t.Fatalf("%+v %v", v, err)
		}
		// Nothing changes now: the profile is simply updated.
		r, err = call[contract.AccountUpdateRequest, contract.AccountUpdateReply](h, 7, "", contract.AccountUpdate2FA, req)
		if err != nil || r.Updated == nil || !r.Updated.IsProfileUpdated || r.Updated.IsTwoFA != 1 {
			t.Fatalf("%+v %v", r, err)
		}
	})

	t.Run("the birthdate locks once set", func(t *testing.T) {
		req := update("Ann", "+18681230070")
		req.Birthdate = "1990-05-15"
		r, err := call[contract.AccountUpdateRequest, contract.AccountUpdateReply](h, 7, "", contract.AccountUpdate, req)
		if err != nil || r.Updated == nil || str(r.Updated.Birthdate) != "1990-05-15" || !r.Updated.DisableBirthdate {
			t.Fatalf("%+v %v", r, err)
		}
		req.Birthdate = "1991-01-01"
		_, err = call[contract.AccountUpdateRequest, contract.AccountUpdateReply](h, 7, "", contract.AccountUpdate, req)
		wantFieldErr(t, err, "birthdate")
		for _, same := range []string{"1990-05-15", "0000-00-00"} {
			req.Birthdate = same
			if _, err := call[contract.AccountUpdateRequest, contract.AccountUpdateReply](h, 7, "", contract.AccountUpdate, req); err != nil {
				t.Fatalf("%s: %v", same, err)
			}
		}
		if p := get(t, 7); str(p.Birthdate) != "1990-05-15" {
			t.Fatalf("birthdate %s", str(p.Birthdate))
		}
	})

	t.Run("the email is only set while there is none", func(t *testing.T) {
		req := update("Ann", "+18681230070")
		req.Email = "other@example.com"
		_, err := call[contract.AccountUpdateRequest, contract.AccountUpdateReply](h, 7, "", contract.AccountUpdate, req)
		wantFieldErr(t, err, "email")
		req.Email = "SEVEN@example.com" // the current one, differently cased: no change
		if _, err := call[contract.AccountUpdateRequest, contract.AccountUpdateReply](h, 7, "", contract.AccountUpdate, req); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a bad platform is refused", func(t *testing.T) {
		_, err := call[contract.AccountProfileRequest, contract.AccountProfile](h, 7, "", contract.AccountGet, contract.AccountProfileRequest{Platform: "desktop"})
		wantFieldErr(t, err, "platform")
	})
}

// update_email and update_phone wait for verify_contact: the profile shows
// the new address with a null verify time meanwhile, the account API the
// one in use; a change dropped by auth (its address registered meanwhile)
// leaves the profile.
func TestPendingContactsAgainstTheContract(t *testing.T) {
	h := startProfile(t)
	at := time.Now().UTC().Truncate(time.Second)
	h.auth.add(contract.Account{ID: 9, UUID: "u-9", Email: "nine@example.com", Phone: "+18681230009", EmailVerifiedAt: &at, PhoneVerifiedAt: &at})
	profile := func() contract.Profile {
		t.Helper()
		p, err := call[contract.ProfileGetRequest, contract.Profile](h, 9, "", contract.ProfileGet, contract.ProfileGetRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p, err := call[contract.UpdatePhoneRequest, contract.Profile](h, 9, "", contract.ProfileUpdatePhone, contract.UpdatePhoneRequest{OldPhone: "+18681230009", NewPhone: "+18681230090"})
	if err != nil || p.Phone != "+18681230090" || p.PhoneVerifyAt != nil {
		t.Fatalf("update_phone: %+v %v", p, err)
	}
	if a, _ := call[contract.AccountProfileRequest, contract.AccountProfile](h, 9, "", contract.AccountGet, contract.AccountProfileRequest{}); a.Telephone != "+18681230009" {
		t.Fatalf("the account API shows %q, want the number in use", a.Telephone)
	}
	// The old number and the shown one both name the current phone.
	if _, err := call[contract.UpdatePhoneRequest, contract.Profile](h, 9, "", contract.ProfileUpdatePhone, contract.UpdatePhoneRequest{OldPhone: "+18681230090", NewPhone: "+18681230090"}); err != nil {
		t.Fatal(err)
	}
	_, err = call[contract.VerifyContactRequest, contract.Profile](h, 9, "", contract.ProfileVerifyContact, contract.VerifyContactRequest{Channel: "phone", VerificationCode: "0000"})
	wantFieldErr(t, err, "verification_code")
	p, err = call[contract.VerifyContactRequest, contract.Profile](h, 9, "", contract.ProfileVerifyContact, contract.VerifyContactRequest{Channel: "phone", VerificationCode: fakeCode[:4]})
	if err != nil || p.Phone != "+18681230090" || p.PhoneVerifyAt == nil {
		t.Fatalf("verify: %+v %v", p, err)
	}

	if p, err = call[contract.UpdateEmailRequest, contract.Profile](h, 9, "", contract.ProfileUpdateEmail, contract.UpdateEmailRequest{LastEmail: "nine@example.com", NewEmail: "owner@example.com"}); err != nil || p.Email != "owner@example.com" || p.EmailVerifyAt != nil {
		t.Fatalf("update_email: %+v %v", p, err)
	}
	h.auth.mu.Lock()
	h.auth.taken["owner@example.com"] = true
	h.auth.mu.Unlock()
	_, err = call[contract.VerifyContactRequest, contract.Profile](h, 9, "", contract.ProfileVerifyContact, contract.VerifyContactRequest{Channel: "email", VerificationCode: fakeCode[:4]})
	wantFieldErr(t, err, "email")
	if p := profile(); p.Email != "nine@example.com" || p.EmailVerifyAt == nil {
		t.Fatalf("the dropped change is still shown: %+v", p)
	}
}

// Events from the stream, duplicates and a replay included, count once.
func TestPostingsFromTheStreamCountOnce(t *testing.T) {
	h := startProfile(t)
	h.auth.add(contract.Account{ID: 9, UUID: "u-9", Email: "nine@example.com", Phone: "+18681230009"})
	js, err := jetstream.New(h.nc)
	if err != nil {
		t.Fatal(err)
	}
	pub := events.NewPublisher(js)
	exp := time.Now().Add(72 * time.Hour).UTC()
	send := func(eventID, typ string, data any) {
		t.Helper()
		ev, err := events.New(context.Background(), typ, data)
		if err != nil {
			t.Fatal(err)
		}
		ev.ID = eventID
		if err := pub.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	credit := contract.WalletPosted{ID: "c-1", UserID: 9, Balance: contract.BalanceTSSMoney, Entry: contract.EntryCredit, Amount: 10050, ExpiresAt: &exp}
	send("e-1", contract.EventWalletPosted, credit)
	send("e-2", contract.EventWalletPosted, credit) // another envelope, same posting
	send("e-1", contract.EventWalletPosted, credit) // the same envelope again
	send("e-3", contract.EventOrderPosted, contract.OrderPosted{ID: "o-1", UserID: 9, OrderID: "A", Status: contract.OrderCompleted, Amount: 2500})
	send("e-4", contract.EventOrderPosted, contract.OrderPosted{ID: "o-1", UserID: 9, OrderID: "A", Status: contract.OrderCompleted, Amount: 2500})
	send("e-5", contract.EventWalletPosted, contract.WalletPosted{ID: "", UserID: 9}) // bad: dead-lettered, not counted

	// Wait until the consumers have handled every event.
	deadline := time.Now().Add(10 * time.Second)
	for {
		done := true
		for _, name := range contract.Consumers(contract.DurableProfilePostings) {
			c, err := js.Consumer(context.Background(), contract.StreamEvents, name)
			if err != nil {
				done = false
				break
			}
			if ci, err := c.Info(context.Background()); err != nil || ci.NumPending != 0 || ci.NumAckPending != 0 || ci.Delivered.Stream == 0 {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("postings not consumed")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	// The admin path with the same id is a duplicate too.
	r, err := call[contract.WalletPosted, contract.WalletPostReply](h, 0, "ops", contract.AccountWalletPost, credit)
	if err != nil || !r.Duplicate || r.TSSMoney != 10050 {
		t.Fatalf("%+v %v", r, err)
	}
	// A user cannot post.
	if _, err := call[contract.WalletPosted, contract.WalletPostReply](h, 9, "", contract.AccountWalletPost, credit); contract.ErrorCode(err) != contract.Forbidden {
		t.Fatalf("user posting: %v", err)
	}
	p, err := call[contract.AccountProfileRequest, contract.AccountProfile](h, 9, "", contract.AccountGet, contract.AccountProfileRequest{})
	raw, _ := json.Marshal(p)
	if err != nil || p.TSSMoney != 10050 || p.NextTSSMoneyToExpire != 10050 || str(p.TSSMoneyExpiry) != exp.Format(time.DateOnly) ||
		p.OrderCount != 1 || p.TotalSpending != 2500 || p.SuccessfulOrders != 1 {
		t.Fatalf("%s %v", raw, err)
	}
}

func str(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
