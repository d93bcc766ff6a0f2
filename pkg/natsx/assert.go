package natsx

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
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
	if a.Subject != subject {
		return a, fmt.Errorf("%w: made for %q, not %q", errAssertion, a.Subject, subject)
	}
	ms := now.UnixMilli()
	if a.Expires < ms || a.IssuedAt > ms+assertionSkew.Milliseconds() || a.Expires-a.IssuedAt > AssertionTTL.Milliseconds() {
		return a, fmt.Errorf("%w: not current (issued %d, expires %d, now %d)", errAssertion, a.IssuedAt, a.Expires, ms)
	}
	return a, nil
}

// keyring holds the keys of each connection made by Dial (or given to
// UseKeys): a call on the connection signs with them, a service on it
// verifies with them.
var keyring sync.Map // *nats.Conn → Keys

// UseKeys gives nc's calls and services the assertion keys k: what Dial
// does, for a connection made otherwise (tests).
func UseKeys(nc *nats.Conn, k Keys) { keyring.Store(nc, k) }

func keysOf(nc *nats.Conn) Keys {
	k, _ := keyring.Load(nc)
	keys, _ := k.(Keys)
	return keys
}

// assert puts the signed assertion of p calling subject into h, when nc
// may vouch for anyone and p is someone.
func assert(nc *nats.Conn, h nats.Header, subject string, p contract.Principal, requestID string) {
	if p.UserID == 0 && p.Admin == "" {
		return
	}
	k := keysOf(nc)
	if k.Sign == nil {
		return
	}
	h.Set(contract.HeaderAssertion, SignAssertion(k.Sign, NewAssertion(k.Issuer, subject, p, requestID, time.Now())))
}

// verifiedCaller is the caller of a request on subject: the client fields
// from the headers, the principal only from a valid assertion. A request
// that carries an assertion that does not verify is refused outright.
func verifiedCaller(keys []ed25519.PublicKey, h nats.Header, subject string) (Caller, error) {
	c := Caller{Client: contract.Client{IP: h.Get(contract.HeaderClientIP), UserAgent: h.Get(contract.HeaderUserAgent), Locale: h.Get(contract.HeaderLocale)}}
	token := h.Get(contract.HeaderAssertion)
	if token == "" {
		return c, nil
	}
	a, err := VerifyAssertion(keys, token, subject, time.Now())
	if err != nil {
		return c, &contract.Error{Code: contract.Unauthenticated, Message: "Unauthenticated.", Op: subject, Err: err}
	}
	c.Principal = a.Principal()
	return c, nil
}
