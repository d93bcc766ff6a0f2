package natsx

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/obs"
)

// A caller's assertion for one subject is signed once and reused for
// reuseSigned; a service checks a token's signature once. The counts are
// the Ed25519 operations, which were a third of a NATS call's CPU.
func TestAssertionsAreSignedAndCheckedOnce(t *testing.T) {
	key := newKey(t)
	s := &signer{keys: Keys{Issuer: "gateway", Sign: key}, signed: map[signedFor]signedToken{}}
	checked := newCheckedTokens([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)})
	alice, bob := contract.Principal{UserID: 1, SessionID: "s-1"}, contract.Principal{UserID: 2, SessionID: "s-2"}
	now := time.Now()

	signed0, verified0 := signatures.Load(), verifications.Load()
	first := s.sign(contract.ProfileGet, alice, now)
	for i := range 100 {
		at := now.Add(time.Duration(i) * reuseSigned / 100)
		token := s.sign(contract.ProfileGet, alice, at)
		if token != first {
			t.Fatalf("call %d signed anew within %s", i, reuseSigned)
		}
		a, err := checked.verify(token, contract.ProfileGet, at)
		if err != nil || a.Principal() != alice {
			t.Fatalf("call %d: %+v, %v", i, a, err)
		}
	}
	if n, m := signatures.Load()-signed0, verifications.Load()-verified0; n != 1 || m != 1 {
		t.Fatalf("100 calls of one caller to one subject: %d signatures and %d checks, want 1 and 1", n, m)
	}

	for name, c := range map[string]struct {
		subject string
		caller  contract.Principal
		at      time.Time
	}{
		"another caller":          {contract.ProfileGet, bob, now},
		"another subject":         {contract.ProfileUpdateName, alice, now},
		"past the reuse":          {contract.ProfileGet, alice, now.Add(reuseSigned)},
		"a clock that went back":  {contract.ProfileGet, alice, now.Add(-time.Second)},
		"another session of hers": {contract.ProfileGet, contract.Principal{UserID: 1, SessionID: "s-9"}, now},
	} {
		t.Run(name, func(t *testing.T) {
			n := signatures.Load()
			token := s.sign(c.subject, c.caller, c.at)
			if signatures.Load() != n+1 || token == first {
				t.Fatal("reused an assertion signed for someone, something or some time else")
			}
			if a, err := checked.verify(token, c.subject, c.at); err != nil || a.Principal() != c.caller {
				t.Fatalf("%+v, %v", a, err)
			}
		})
	}

	// A remembered token is still checked at every use for its subject and
	// its time; a token that failed is not remembered.
	if _, err := checked.verify(first, contract.ProfileUpdateName, now); err == nil {
		t.Fatal("a checked token was accepted for another subject")
	}
	if _, err := checked.verify(first, contract.ProfileGet, now.Add(AssertionTTL+time.Second)); err == nil {
		t.Fatal("a checked token was accepted after it expired")
	}
	forged := SignAssertion(newKey(t), NewAssertion("gateway", contract.ProfileGet, alice, "", now))
	m := verifications.Load()
	for range 2 {
		if _, err := checked.verify(forged, contract.ProfileGet, now); err == nil {
			t.Fatal("a token signed by a stranger was accepted")
		}
	}
	if verifications.Load()-m != 2 {
		t.Fatal("a token that failed its check was remembered")
	}
}

// fakeRequest is a micro request with nothing behind it.
type fakeRequest struct{ h micro.Headers }

func (fakeRequest) Respond([]byte, ...micro.RespondOpt) error               { return nil }
func (fakeRequest) RespondJSON(any, ...micro.RespondOpt) error              { return nil }
func (fakeRequest) Error(string, string, []byte, ...micro.RespondOpt) error { return nil }
func (fakeRequest) Data() []byte                                            { return nil }
func (r fakeRequest) Headers() micro.Headers                                { return r.h }
func (fakeRequest) Subject() string                                         { return contract.ProfileGet }
func (fakeRequest) Reply() string                                           { return "" }

// With no tracer provider, neither side of a call builds a span: otel's
// global tracer allocated one, with its attributes, on both.
func TestNoSpansWithoutATracer(t *testing.T) {
	if obs.Tracing() {
		t.Skip("a tracer provider is installed")
	}
	ctx := context.Background()
	msg := nats.NewMsg(contract.ProfileGet)
	if n := testing.AllocsPerRun(100, func() {
		_, span := traceCall(ctx, msg)
		endCall(span, nil)
	}); n != 0 {
		t.Fatalf("a call's span: %.0f allocations, want 0", n)
	}
	s := &Service{name: "profile"}
	r := fakeRequest{h: micro.Headers{}}
	// What remains is the one closure that records the request's latency.
	if n := testing.AllocsPerRun(100, func() {
		_, done := s.observe(ctx, r)
		done(obs.CodeOK)
	}); n > 1 {
		t.Fatalf("a served request's observation: %.0f allocations, want at most 1", n)
	}
}
