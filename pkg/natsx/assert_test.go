package natsx

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dossapp/backend/pkg/contract"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Every way an assertion can be wrong is refused; only the one signed by
// a trusted key, for this subject, now, names a caller.
func TestVerifyAssertion(t *testing.T) {
	key, other := newKey(t), newKey(t)
	trusted := []ed25519.PublicKey{other.Public().(ed25519.PublicKey), key.Public().(ed25519.PublicKey)}
	now := time.Now()
	victim := contract.Principal{UserID: 1, UUID: "u-1", SessionID: "s-1"}
	good := SignAssertion(key, NewAssertion("gateway", contract.ProfileGet, victim, "req-1", now))

	a, err := VerifyAssertion(trusted, good, contract.ProfileGet, now)
	if err != nil || a.Principal() != victim || a.Request != "req-1" {
		t.Fatalf("the good assertion: %+v, %v", a, err)
	}
	payload, sig, _ := strings.Cut(good, ".")
	tampered := SignAssertion(key, NewAssertion("gateway", contract.ProfileGet, contract.Principal{UserID: 2}, "", now))
	tamperedPayload, _, _ := strings.Cut(tampered, ".")
	long := NewAssertion("gateway", contract.ProfileGet, victim, "", now)
	long.Expires = now.Add(time.Hour).UnixMilli()

	for name, c := range map[string]struct {
		token, subject string
		at             time.Time
	}{
		"another subject":      {good, contract.ProfileUpdateName, now},
		"expired":              {good, contract.ProfileGet, now.Add(AssertionTTL + time.Second)},
		"issued in future":     {good, contract.ProfileGet, now.Add(-time.Minute)},
		"signed by a stranger": {SignAssertion(newKey(t), NewAssertion("gateway", contract.ProfileGet, victim, "", now)), contract.ProfileGet, now},
		"payload swapped":      {tamperedPayload + "." + sig, contract.ProfileGet, now},
		"no signature":         {payload, contract.ProfileGet, now},
		"empty signature":      {payload + ".", contract.ProfileGet, now},
		"lives too long":       {SignAssertion(key, long), contract.ProfileGet, now},
		"garbage":              {"not-an-assertion", contract.ProfileGet, now},
	} {
		t.Run(name, func(t *testing.T) {
			if a, err := VerifyAssertion(trusted, c.token, c.subject, c.at); err == nil {
				t.Fatalf("accepted: %+v", a)
			}
		})
	}
	if _, err := VerifyAssertion(nil, good, contract.ProfileGet, now); err == nil {
		t.Fatal("a service that trusts no key accepted an assertion")
	}
}

// The identity headers of the old bus are ignored: without an assertion a
// request names no one, and a bad assertion is refused outright.
func TestVerifiedCallerIgnoresIdentityHeaders(t *testing.T) {
	key := newKey(t)
	trusted := []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	h := nats.Header{}
	h.Set(contract.HeaderUserID, "1")
	h.Set(contract.HeaderAdmin, "root")
	h.Set(contract.HeaderClientIP, "192.0.2.1")
	c, err := verifiedCaller(newCheckedTokens(trusted), h, contract.ProfileGet)
	if err != nil || c.UserID != 0 || c.Admin != "" || c.IP != "192.0.2.1" {
		t.Fatalf("headers alone: %+v, %v", c, err)
	}
	h.Set(contract.HeaderAssertion, SignAssertion(key, NewAssertion("x", contract.ProfileUpdateName, contract.Principal{UserID: 1}, "", time.Now())))
	if _, err := verifiedCaller(newCheckedTokens(trusted), h, contract.ProfileGet); contract.ErrorCode(err) != contract.Unauthenticated {
		t.Fatalf("an assertion for another subject: %v", err)
	}
	h.Set(contract.HeaderAssertion, SignAssertion(key, NewAssertion("x", contract.ProfileGet, contract.Principal{UserID: 1}, "", time.Now())))
	if c, err := verifiedCaller(newCheckedTokens(trusted), h, contract.ProfileGet); err != nil || c.UserID != 1 {
		t.Fatalf("a good assertion: %+v, %v", c, err)
	}
}

func BenchmarkAssertion(b *testing.B) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	trusted := []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	p := contract.Principal{UserID: 1, UUID: "6f1c2d3e-0000-4000-8000-000000000001", SessionID: "s-1"}
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			SignAssertion(key, NewAssertion("gateway", contract.ProfileGet, p, "req", time.Now()))
		}
	})
	token := SignAssertion(key, NewAssertion("gateway", contract.ProfileGet, p, "req", time.Now()))
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := VerifyAssertion(trusted, token, contract.ProfileGet, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
