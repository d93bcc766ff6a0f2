package profilesvc

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// callHeard is call as user, returning the reply's headers too.
func callHeard[Req, Resp any](h *harness, user int64, subject string, req Req) (Resp, nats.Header, error) {
	var heard nats.Header
	ctx := natsx.WithCaller(context.Background(), natsx.Caller{Principal: contract.Principal{UserID: user}})
	ctx = natsx.OnReply(ctx, func(hd nats.Header) { heard = hd })
	resp, err := natsx.Call[Req, Resp](ctx, h.nc, subject, req)
	return resp, heard, err
}

// A profile read says how long it may be kept: the shortest life of the
// links the service signs, less the margin for a phone to fetch them.
func TestProfileReadSaysHowLongItMayBeKept(t *testing.T) {
	h := startProfileWith(t, map[string]string{"DOSS_IMAGE_LINK_TTL": "30m", "DOSS_DOCUMENT_LINK_TTL": "10m"})
	h.auth.add(contract.Account{ID: 11, UUID: "u-11", Email: "eleven@example.com", Phone: "+18681230011"})
	_, hd, err := callHeard[contract.ProfileGetRequest, contract.Profile](h, 11, contract.ProfileGet, contract.ProfileGetRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := natsx.CacheMaxAge(hd); got != 8*time.Minute {
		t.Fatalf("max-age %v (%q), want 10m less 2m", got, hd.Get(contract.HeaderCacheMaxAge))
	}
}

// Every command that stores a change of the caller's profile says so in
// its reply, a failure after the write included (its caller drops its
// copy at once), and so does one whose change the store already held (an
// event's consumer may have written it first); a refused one and a plain
// read say nothing.
func TestProfileChangesAreSaidInTheReply(t *testing.T) {
	h := startProfile(t)
	const uid = 12
	h.auth.add(contract.Account{ID: uid, UUID: "u-12", Email: "twelve@example.com", Phone: "+18681230012"})
	twoFA := contract.FlexBool(true)
	snap := contract.DocumentsSnapshot{UserID: uid, Version: 1, Documents: []contract.DocumentRef{{ID: 1, TypeID: 1, Status: contract.DocumentPending, Key: "documents/12/a.jpg"}}}
	type step struct {
		name    string
		call    func() (nats.Header, error)
		failed  bool
		changed bool
	}
	do := func(subject string, req any) func() (nats.Header, error) {
		return func() (nats.Header, error) {
			_, hd, err := callHeard[any, any](h, uid, subject, req)
			return hd, err
		}
	}
	for _, s := range []step{
		{"the first read creates the profile, no change", do(contract.ProfileGet, contract.ProfileGetRequest{}), false, false},
		{"update_name", do(contract.ProfileUpdateName, contract.UpdateNameRequest{FirstName: "Ada", LastName: "Byron"}), false, true},
		{"update_name refused", do(contract.ProfileUpdateName, contract.UpdateNameRequest{}), true, false},
		{"update_phone", do(contract.ProfileUpdatePhone, contract.UpdatePhoneRequest{OldPhone: "+18681230012", NewPhone: "+18681230120"}), false, true},
		{"verify_contact", do(contract.ProfileVerifyContact, contract.VerifyContactRequest{Channel: "phone", VerificationCode: fakeCode[:4]}), false, true},
		{"update_email", do(contract.ProfileUpdateEmail, contract.UpdateEmailRequest{LastEmail: "twelve@example.com", NewEmail: "owner12@example.com"}), false, true},
		{"verify_contact refused after the profile dropped the change", func() (nats.Header, error) {
			h.auth.mu.Lock()
			h.auth.taken["owner12@example.com"] = true
			h.auth.mu.Unlock()
			return do(contract.ProfileVerifyContact, contract.VerifyContactRequest{Channel: "email", VerificationCode: fakeCode[:4]})()
		}, true, true},
		{"user/profile", do(contract.AccountUpdate, update("Eve", "+18681230120")), false, true},
		{"user/profile with a new telephone saves the rest", do(contract.AccountUpdate, update("Fay", "+18681230121")), false, true},
		{"user/profile/verify-otp", do(contract.AccountVerifyOTP, contract.AccountVerifyOTPRequest{Telephone: "+18681230121", OTP: fakeCode}), false, true},
		{"user/profile/2fa", func() (nats.Header, error) {
			r := update("Gus", "+18681230121")
			r.IsTwoFA = &twoFA
			return do(contract.AccountUpdate2FA, r)()
		}, false, true},
		{"apply-documents (a document added)", do(contract.ProfileApplyDocuments, snap), false, true},
		// The snapshot's event may have brought it first: still a change
		// the documents' command made.
		{"apply-documents again", do(contract.ProfileApplyDocuments, snap), false, true},
	} {
		t.Run(s.name, func(t *testing.T) {
			hd, err := s.call()
			if (err != nil) != s.failed {
				t.Fatalf("err %v, want failed %v", err, s.failed)
			}
			var want []int64
			if s.changed {
				want = []int64{uid}
			}
			if got := natsx.ChangedProfiles(hd); !slices.Equal(got, want) {
				t.Fatalf("the reply names %v, want %v", got, want)
			}
		})
	}
}
