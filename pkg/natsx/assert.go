package natsx

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dossapp/backend/pkg/contract"
)

// Who is calling is never taken from a header on trust: the process that
// knows (the gateway, from the user's token or the admin's; a service, for
// the user whose request it is serving) signs a short-lived assertion for
// the one subject it calls, and the service verifies it before any handler
// runs. A request without a valid assertion carries no identity at all, so
// RequireUser and RequireAdmin refuse it.
//
// The signing key is held by the processes that call on a user's behalf
// (gateway, auth, profile, documents), never by the notifier; what each of
// them can do with it is bounded by the subjects its bus user may publish
// (contract.BusUsers).

// AssertionTTL is how long an assertion is good for: one call and its
// retries, not a session.
const AssertionTTL = 30 * time.Second

// assertionSkew tolerates clocks a little apart between hosts.
const assertionSkew = 5 * time.Second

// assertionContext separates these signatures from any other use of a key.
const assertionContext = "doss-bus-assertion.v1."

// Keys are a process's assertion keys.
type Keys struct {
	// Issuer names the signer in its assertions (for the logs).
	Issuer string
	// Sign vouches for the callers of this process's calls; nil means it
	// vouches for no one (a call then carries no identity).
	Sign ed25519.PrivateKey
	// Verify are the keys a service believes (the current one and, while a
	// key is rotated, the previous); none means it believes no one.
	Verify []ed25519.PublicKey
}

// Assertion is what a signed identity says.
type Assertion struct {
	Subject   string `json:"sub"`
	Issuer    string `json:"iss,omitempty"`
	UserID    int64  `json:"uid,omitempty"`
	UUID      string `json:"uuid,omitempty"`
	SessionID string `json:"sid,omitempty"`
	Admin     string `json:"adm,omitempty"`
	IssuedAt  int64  `json:"iat"` // Unix milliseconds
	Expires   int64  `json:"exp"` // Unix milliseconds
	Request   string `json:"rid,omitempty"`
}

// Principal is who the assertion vouches for.
func (a Assertion) Principal() contract.Principal {
	return contract.Principal{UserID: a.UserID, UUID: a.UUID, SessionID: a.SessionID, Admin: a.Admin}
}

// SignAssertion encodes and signs a: base64url(JSON) "." base64url(sig).
func SignAssertion(key ed25519.PrivateKey, a Assertion) string {
	body, _ := json.Marshal(a) // a struct of strings and integers
	payload := base64.RawURLEncoding.EncodeToString(body)
	sig := ed25519.Sign(key, []byte(assertionContext+payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// NewAssertion is the assertion for p calling subject now.
func NewAssertion(issuer, subject string, p contract.Principal, requestID string, now time.Time) Assertion {
	return Assertion{
		Subject: subject, Issuer: issuer,
		UserID: p.UserID, UUID: p.UUID, SessionID: p.SessionID, Admin: p.Admin,
		IssuedAt: now.UnixMilli(), Expires: now.Add(AssertionTTL).UnixMilli(), Request: requestID,
	}
}

var errAssertion = errors.New("assertion")

// VerifyAssertion checks token's signature against keys, and that it was
// made for subject and is current at now.
func VerifyAssertion(keys []ed25519.PublicKey, token, subject string, now time.Time) (Assertion, error) {
	a, err := verifySignature(keys, token)
	if err != nil {
		return a, err
	}
	return a, a.current(subject, now)
}

// verifySignature checks token's signature against keys and decodes it:
// what is true of the token's bytes whenever they are checked.
func verifySignature(keys []ed25519.PublicKey, token string) (Assertion, error) {
	var a Assertion
	payload, sig64, ok := strings.Cut(token, ".")
	if !ok {
		return a, fmt.Errorf("%w: malformed", errAssertion)
	}
	sig, err := base64.RawURLEncoding.DecodeString(sig64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return a, fmt.Errorf("%w: malformed signature", errAssertion)
	}
	signed := false
	verifications.Add(1)
	for _, k := range keys {
		if ed25519.Verify(k, []byte(assertionContext+payload), sig) {
			signed = true
			break
		}
	}
	if !signed {
		return a, fmt.Errorf("%w: not signed by a trusted key", errAssertion)
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(body, &a) != nil {
		return a, fmt.Errorf("%w: unreadable", errAssertion)
	}
	return a, nil
}

// current checks that a was made for subject and is good at now: what
// must be checked at every use of a token.
func (a Assertion) current(subject string, now time.Time) error {
	if a.Subject != subject {
		return fmt.Errorf("%w: made for %q, not %q", errAssertion, a.Subject, subject)
	}
	ms := now.UnixMilli()
	if a.Expires < ms || a.IssuedAt > ms+assertionSkew.Milliseconds() || a.Expires-a.IssuedAt > AssertionTTL.Milliseconds() {
		return fmt.Errorf("%w: not current (issued %d, expires %d, now %d)", errAssertion, a.IssuedAt, a.Expires, ms)
	}
	return nil
}

// An Ed25519 signature and its check cost a NATS call more CPU than the
// rest of it (measured in `make bench`'s cache miss: 36% of the call's
// CPU outside the store). So a connection signs the assertion of one
// caller for one subject once and sends it again for reuseSigned, and a
// service checks the signature of a token it has not seen and remembers
// the tokens whose signature it checked. Nothing that an assertion
// asserts gets weaker: a token is a bearer token on the bus for its whole
// life either way, every use still checks its subject and its time, and a
// reused one has at least AssertionTTL - reuseSigned to live when sent.

// reuseSigned is how long a signed assertion is sent again for the same
// caller and subject.
const reuseSigned = 5 * time.Second

// maxRemembered bounds each connection's reused assertions and each
// service's checked tokens; past it they are all dropped at once (crude
// but bounded, and refilled by the next calls).
const maxRemembered = 4096

// signatures and verifications count the Ed25519 operations of this
// process (tests).
var signatures, verifications atomic.Int64

// signer is a connection's signing key with the assertions it signed.
type signer struct {
	keys   Keys
	mu     sync.Mutex
	signed map[signedFor]signedToken
}

type signedFor struct {
	subject string
	caller  contract.Principal
}

type signedToken struct {
	token string
	until time.Time // reused until then
}

// sign is the assertion of p calling subject at now: the one signed last
// for them while it is younger than reuseSigned, or a new one.
func (s *signer) sign(subject string, p contract.Principal, now time.Time) string {
	k := signedFor{subject, p}
	s.mu.Lock()
	t, ok := s.signed[k]
	s.mu.Unlock()
	if ok && now.Before(t.until) && !now.Before(t.until.Add(-reuseSigned)) {
		return t.token
	}
	signatures.Add(1)
	token := SignAssertion(s.keys.Sign, NewAssertion(s.keys.Issuer, subject, p, "", now))
	s.mu.Lock()
	if len(s.signed) >= maxRemembered {
		clear(s.signed)
	}
	s.signed[k] = signedToken{token: token, until: now.Add(reuseSigned)}
	s.mu.Unlock()
	return token
}

// checkedTokens are the tokens whose signature a service checked, with
// what they say.
type checkedTokens struct {
	keys []ed25519.PublicKey
	mu   sync.Mutex
	seen map[string]Assertion
}

func newCheckedTokens(keys []ed25519.PublicKey) *checkedTokens {
	return &checkedTokens{keys: keys, seen: map[string]Assertion{}}
}

// verify is VerifyAssertion with the signature checked once per token.
func (c *checkedTokens) verify(token, subject string, now time.Time) (Assertion, error) {
	c.mu.Lock()
	a, ok := c.seen[token]
	c.mu.Unlock()
	if !ok {
		var err error
		if a, err = verifySignature(c.keys, token); err != nil {
			return a, err
		}
		c.mu.Lock()
		if len(c.seen) >= maxRemembered {
			clear(c.seen)
		}
		c.seen[token] = a
		c.mu.Unlock()
	}
	return a, a.current(subject, now)
}

// keyring holds the keys of each connection made by Dial (or given to
// UseKeys): a call on the connection signs with them, a service on it
// verifies with them.
var keyring sync.Map // *nats.Conn → *signer

// UseKeys gives nc's calls and services the assertion keys k: what Dial
// does, for a connection made otherwise (tests).
func UseKeys(nc *nats.Conn, k Keys) {
	keyring.Store(nc, &signer{keys: k, signed: map[signedFor]signedToken{}})
}

func signerOf(nc *nats.Conn) *signer {
	s, _ := keyring.Load(nc)
	signer, _ := s.(*signer)
	return signer
}

func keysOf(nc *nats.Conn) Keys {
	if s := signerOf(nc); s != nil {
		return s.keys
	}
	return Keys{}
}

// assert puts the signed assertion of p calling subject into h, when nc
// may vouch for anyone and p is someone. The call's correlation id goes
// in a header of its own (HeaderCorrelationID), not in the assertion,
// which is reused for the caller's next calls of the subject.
func assert(nc *nats.Conn, h nats.Header, subject string, p contract.Principal) {
	if p.UserID == 0 && p.Admin == "" {
		return
	}
	s := signerOf(nc)
	if s == nil || s.keys.Sign == nil {
		return
	}
	h.Set(contract.HeaderAssertion, s.sign(subject, p, time.Now()))
}

// verifiedCaller is the caller of a request on subject: the client fields
// from the headers, the principal only from a valid assertion. A request
// that carries an assertion that does not verify is refused outright.
func verifiedCaller(trusted *checkedTokens, h nats.Header, subject string) (Caller, error) {
	c := Caller{Client: contract.Client{IP: h.Get(contract.HeaderClientIP), UserAgent: h.Get(contract.HeaderUserAgent), Locale: h.Get(contract.HeaderLocale)}, Call: h.Get(contract.HeaderCall)}
	token := h.Get(contract.HeaderAssertion)
	if token == "" {
		return c, nil
	}
	a, err := trusted.verify(token, subject, time.Now())
	if err != nil {
		return c, &contract.Error{Code: contract.Unauthenticated, Message: "Unauthenticated.", Op: subject, Err: err}
	}
	c.Principal = a.Principal()
	return c, nil
}
