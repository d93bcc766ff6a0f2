package gateway

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

type claims struct {
	UserID    int64  `json:"uid"`
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// verifier checks tokens locally: keys fetched from auth, revocations from
// the KV bucket every replica watches. No request leaves the gateway for
// an authenticated call.
type verifier struct {
	nc  *nats.Conn
	log *zap.Logger

	mu        sync.RWMutex
	keys      map[string]ed25519.PublicKey
	refreshed time.Time

	revoked *revokedSet

	rewatchc chan struct{}
	verified *verifiedTokens
	// replicas is the revocation bucket's replica count, the same as
	// auth's (DOSS_NATS_REPLICAS), so neither start undoes the other's.
	replicas int
}

func newVerifier(nc *nats.Conn, log *zap.Logger) *verifier {
	return &verifier{nc: nc, log: log, keys: map[string]ed25519.PublicKey{}, revoked: newRevokedSet(), rewatchc: make(chan struct{}, 1),
		verified: newVerifiedTokens(50_000)}
}

// refresh reloads the keys, at most once a second (an unknown kid must not
// let clients make the gateway hammer auth).
func (v *verifier) refresh(ctx context.Context) error {
	v.mu.Lock()
	if time.Since(v.refreshed) < time.Second && len(v.keys) > 0 {
		v.mu.Unlock()
		return nil
	}
	v.refreshed = time.Now()
	v.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	reply, err := natsx.Call[struct{}, contract.KeysReply](ctx, v.nc, contract.AuthKeys, struct{}{})
	if err != nil {
		return err
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range reply.Keys {
		if k.Algorithm == "EdDSA" && len(k.PublicKey) == ed25519.PublicKeySize {
			keys[k.KeyID] = ed25519.PublicKey(k.PublicKey)
		}
	}
	v.mu.Lock()
	for kid, k := range v.keys {
		if nk, ok := keys[kid]; !ok || !nk.Equal(k) {
			v.verified.forget() // a key was withdrawn: what it signed must be checked again
			break
		}
	}
	v.keys = keys
	v.mu.Unlock()
	return nil
}

func (v *verifier) key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	for attempt := 0; attempt < 2; attempt++ {
		v.mu.RLock()
		k, ok := v.keys[kid]
		v.mu.RUnlock()
		if ok {
			return k, nil
		}
		if attempt == 0 {
			if err := v.refresh(ctx); err != nil {
				return nil, err
			}
		}
	}
	return nil, errors.New("unknown key")
}

// watchRevocations keeps the revoked set in step with the KV bucket; the
// watcher replays existing keys first, so a fresh replica knows them all.
// After a reconnect the watch starts over (rewatch): the old one may sit on
// a consumer the restarted server no longer has, and the replay brings in
// whatever was revoked while this replica was away.
func (v *verifier) watchRevocations(ctx context.Context, js jetstream.JetStream) error {
	// Auth owns the bucket and sets its TTL from the token lifetime. On
	// the bus only auth may create it (contract.BusUser.Creates): a
	// gateway that starts first asks to, goes unanswered, and looks again
	// until auth has made it. Where it may (a bus without rights, in
	// tests) it creates it with a generous TTL, which auth's next start
	// corrects; it never updates it itself.
	var kv jetstream.KeyValue
	err := natsx.Settle(ctx, "revocation bucket", func(ctx context.Context) (err error) {
		kv, err = js.KeyValue(ctx, contract.BucketRevokedSessions)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contract.BucketRevokedSessions, TTL: 7*24*time.Hour + time.Hour, Storage: jetstream.FileStorage, Replicas: max(1, v.replicas)})
			if errors.Is(err, jetstream.ErrBucketExists) {
				kv, err = js.KeyValue(ctx, contract.BucketRevokedSessions)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	v.keepFor(ctx, kv)
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	// The replay of what is revoked already ends before the replica
	// serves: a token revoked before it started is refused from its first
	// request, not once the replay catches up.
	if err := v.replay(ctx, w); err != nil {
		_ = w.Stop()
		return err
	}
	// The TTL is read and the set pruned on a goroutine of its own: a
	// read that waits out its timeout (JetStream has no leader) must not
	// hold up the revocations the watch delivers meanwhile.
	go func() {
		tick := time.NewTicker(revokedPrune)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				v.keepFor(ctx, kv)
				v.revoked.prune(now)
				// A key auth withdrew stops verifying within a tick,
				// though no token of a new key has come to ask.
				if err := v.refresh(ctx); err != nil {
					v.log.Warn("signing keys not refreshed", zap.Error(err))
				}
			}
		}
	}()
	go func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case <-v.rewatchc:
				nw, err := kv.WatchAll(ctx)
				if err != nil {
					v.log.Warn("revocation watch restart failed; retrying", zap.Error(err))
					time.AfterFunc(time.Second, v.rewatch)
					continue
				}
				_ = w.Stop()
				w = nw
			case e, ok := <-w.Updates():
				if !ok {
					time.AfterFunc(time.Second, v.rewatch)
					w = closedWatcher{}
					continue
				}
				if e == nil {
					continue // end of a rewatch's replay
				}
				v.heard(e)
			}
		}
	}()
	return nil
}

// revokedPrune is how often the revoked set lets go of entries whose
// tokens have all expired, and reads the bucket's TTL again (auth may
// have changed it with the token lifetime).
const revokedPrune = time.Minute

// keepFor has the revoked set keep entries for the bucket's TTL. A TTL it
// cannot read leaves the one it had (at the start, none: every entry is
// kept until the next read).
func (v *verifier) keepFor(ctx context.Context, kv jetstream.KeyValue) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := kv.Status(ctx)
	if err != nil {
		v.log.Warn("revocation bucket: TTL not read; keeping every revocation until it is", zap.Error(err))
		return
	}
	v.revoked.setTTL(st.TTL())
}

// replayTimeout bounds the start's replay of the revocations (one per
// logout over a token's lifetime: thousands a second on one connection).
var replayTimeout = 30 * time.Second

// replay takes in the watch's initial values, up to its end marker.
func (v *verifier) replay(ctx context.Context, w jetstream.KeyWatcher) error {
	timer := time.NewTimer(replayTimeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("revocation bucket: replay not done in %v", replayTimeout)
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("revocation bucket: watch ended during its replay")
			}
			if e == nil {
				return nil
			}
			v.heard(e)
		}
	}
}

// heard takes in one entry of the revocation bucket: a put is a session
// revoked (a delete or purge marker revokes nothing back).
func (v *verifier) heard(e jetstream.KeyValueEntry) {
	if e.Operation() == jetstream.KeyValuePut {
		v.revoked.add(e.Key(), e.Created())
	}
}

// rewatch asks the revocation watch to start over (after a reconnect).
func (v *verifier) rewatch() {
	select {
	case v.rewatchc <- struct{}{}:
	default: // one is already pending
	}
}

// closedWatcher stands in for a watch that ended until the next one starts.
type closedWatcher struct{}

func (closedWatcher) Updates() <-chan jetstream.KeyValueEntry { return nil }
func (closedWatcher) Stop() error                             { return nil }

// markRevoked refuses sid from now on, on this replica (the others hear
// it through the bucket).
func (v *verifier) markRevoked(sid string) {
	v.revoked.add(sid, time.Now())
}

func (v *verifier) isRevoked(sid string) bool { return v.revoked.has(sid) }

// bearer is the request's bearer credential. Two Authorization headers
// are ambiguous (a proxy may have checked the one we would not read), so
// they are no credential at all.
func bearer(r *http.Request) (string, bool) {
	values := r.Header.Values(echo.HeaderAuthorization)
	if len(values) != 1 {
		return "", false
	}
	return strings.CutPrefix(values[0], "Bearer ")
}

var errUnauthenticated = &contract.Error{Code: contract.Unauthenticated, Message: "Unauthenticated."}

// errSessionEnded is for a token that was ours and good once (its signature
// checks) but whose session has ended, by age or by revocation: only its
// holder can tell the two apart from a forged one, so saying so tells a
// stranger nothing, and tells the app to show the log-in screen. The
// message stays the one the app has always had.
var errSessionEnded = &contract.Error{Code: contract.Unauthenticated, Message: "Unauthenticated.", Reason: contract.ReasonSessionExpired}

// authenticate is the middleware of every protected route.
func (v *verifier) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw, ok := bearer(c.Request())
		if !ok || raw == "" || len(raw) > 4096 {
			return errUnauthenticated
		}
		now := time.Now()
		if p, ok := v.verified.get(raw, now); ok {
			if v.isRevoked(p.SessionID) {
				return errSessionEnded
			}
			c.Set(callerKey, p)
			return next(c)
		}
		ctx := c.Request().Context()
		var cl claims
		var keyErr error
		tok, err := jwt.ParseWithClaims(raw, &cl, func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			k, err := v.key(ctx, kid)
			if err != nil {
				keyErr = err
				return nil, err
			}
			return k, nil
		}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithStrictDecoding(),
			jwt.WithIssuer(contract.TokenIssuer), jwt.WithAudience(contract.TokenAudience), jwt.WithLeeway(30*time.Second))
		if err != nil || !tok.Valid || cl.SessionID == "" || cl.UserID == 0 || cl.Subject == "" {
			var ce *contract.Error
			if errors.As(keyErr, &ce) && ce.Code == contract.Unavailable {
				return ce // cannot tell: auth is down and we hold no keys
			}
			if expiredOnly(err, &cl) {
				return errSessionEnded
			}
			return errUnauthenticated
		}
		if v.isRevoked(cl.SessionID) {
			return errSessionEnded
		}
		p := contract.Principal{UserID: cl.UserID, UUID: cl.Subject, SessionID: cl.SessionID}
		if cl.ExpiresAt != nil {
			v.verified.put(raw, p, cl.ExpiresAt.Time)
		}
		c.Set(callerKey, p)
		return next(c)
	}
}

// expiredOnly reports whether err says no more than that a token of ours,
// whose signature was checked (jwt checks it before any claim), is past its
// expiry.
func expiredOnly(err error, cl *claims) bool {
	if !errors.Is(err, jwt.ErrTokenExpired) || cl.SessionID == "" || cl.UserID == 0 || cl.Subject == "" {
		return false
	}
	for _, other := range []error{jwt.ErrTokenSignatureInvalid, jwt.ErrTokenUnverifiable, jwt.ErrTokenMalformed,
		jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience, jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenNotValidYet} {
		if errors.Is(err, other) {
			return false
		}
	}
	return cl.Issuer == contract.TokenIssuer && slices.Contains(cl.Audience, contract.TokenAudience)
}
