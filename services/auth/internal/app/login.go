package app

// A login: phone and PIN in (the PIN checked in credentials.go), a session
// out. The session and its signed token are opened here for every flow
// that ends signed in: a login, its second factor, a registration's PIN,
// a PIN reset.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

func badLogin() error {
	return &contract.Error{Code: contract.Unauthenticated, Message: "The phone number or PIN is incorrect.", Reason: contract.ReasonInvalidCredentials}
}

// Login checks phone + PIN under the lockout of the device it comes from
// (see checkSecret). An unknown phone costs the same hash and the same
// lockout as a wrong PIN, so neither timing nor answers tell them apart.
func (s *Service) Login(ctx context.Context, req contract.LoginRequest, client contract.Client) (contract.LoginReply, error) {
	var v contract.Validation
	phone, err := NormalizePhone("phone", req.Phone)
	if err != nil {
		v.Add("phone", contract.AsError(err).Message)
	}
	if req.Password == "" {
		v.Add("password", "The password field is required.")
	} else if len(req.Password) > 4*maxPasswordLen || utf8.RuneCountInString(req.Password) > maxPasswordLen {
		v.Add("password", "The password may not be greater than 72 characters.")
	}
	if err := v.Err(); err != nil {
		return contract.LoginReply{}, err
	}
	// The address's hit is appended with the PIN check's turn.
	var hits []domain.Appending
	if hit, ok := s.ipHit(ctx, "check", s.Limits.IPChecks); ok {
		if err := s.ipRefused(ctx, hit); err != nil {
			return contract.LoginReply{}, err
		}
		hits = append(hits, hit)
	}
	found, err := s.activeByPhone(ctx, phone)
	var acc *Account
	if err == nil {
		acc = &found
	} else if !errors.Is(err, contract.ErrNotFound) {
		return contract.LoginReply{}, err
	}
	right, err := s.checkSecret(ctx, acc, phone, req.DeviceToken, "phone", func() bool {
		if acc == nil {
			s.Hasher.Burn(req.Password)
			return false
		}
		return s.Hasher.Verify(acc.PINHash, req.Password)
	}, hits...)
	if err != nil {
		return contract.LoginReply{}, err
	}
	if !right {
		return contract.LoginReply{}, badLogin()
	}
	// Told only to whoever knows the PIN: a stranger with the number
	// learns nothing from a deletion.
	if acc.Deletion != nil {
		return contract.LoginReply{}, errDeleting()
	}
	if acc.TwoFA {
		id, err := s.startLogin2FA(ctx, *acc, req.DeviceToken)
		if err != nil {
			return contract.LoginReply{}, err
		}
		return contract.LoginReply{Challenge: id}, nil
	}
	sess, err := s.loggedIn(ctx, *acc, req.DeviceToken, client)
	if err != nil {
		return contract.LoginReply{}, err
	}
	return contract.LoginReply{Session: &sess}, nil
}

// loggedIn opens a session for an account whose secrets were all checked,
// remembering the device it logged in from, which the account trusts
// from now on.
func (s *Service) loggedIn(ctx context.Context, acc Account, device string, client contract.Client) (contract.Session, error) {
	mac := s.deviceMAC(acc.UUID, device)
	if device != "" && (device != acc.DeviceToken || !acc.trusts(mac)) {
		newly := !acc.trusts(mac)
		if updated, err := s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
			a.DeviceToken = device
			a.trust(mac, s.Limits.TrustedDevices)
			return nil, nil
		}); err == nil && updated.PINHash == acc.PINHash {
			acc = updated
			if newly {
				// The success that earned the trust opens the device's own
				// count, so that its next check starts from a chain that
				// exists; one that exists already is left as it is.
				_, _ = s.Ledger.Append(context.WithoutCancel(ctx), trustedDevice(acc.UUID, mac).failures(), func(tail domain.Tail, _ time.Time) (string, error) {
					if !tail.Empty() {
						return "", errOpened
					}
					return pinOK, nil
				})
			}
		}
	}
	return s.newSession(ctx, acc, device, client)
}

// errOpened: the device's count exists already.
var errOpened = errors.New("opened")

// activeByPhone finds the active account on phone through the phone's
// claim. The account the claim named when this process last read it is
// tried first, without reading the claim: an account active on the phone
// holds its claim (no one takes over a claim in use, see takeClaim), so
// only when it no longer is (the number moved, the account went) is the
// claim read again.
func (s *Service) activeByPhone(ctx context.Context, phone string) (Account, error) {
	key := "phone:" + phone
	owner, cached := s.phoneOwners.get(key)
	for {
		if !cached {
			c, err := s.Claims.Find(ctx, key)
			if err != nil {
				return Account{}, err
			}
			owner = c.Owner
		}
		acc, ver, err := s.Accounts.Get(ctx, owner)
		acc.version = ver
		switch {
		case err == nil && activeOn(acc, phone):
			if !cached {
				s.phoneOwners.put(key, owner)
			}
			return acc, nil
		case err != nil && !errors.Is(err, contract.ErrNotFound):
			return Account{}, err
		case !cached:
			return Account{}, contract.ErrNotFound
		}
		s.phoneOwners.forget(key)
		cached = false
	}
}

func activeOn(acc Account, phone string) bool {
	return acc.Active && acc.Phone == phone && acc.PINHash != ""
}

// owners remembers claim holders this process read, up to maxOwners of
// them (past it, it starts over).
type owners struct {
	mu sync.Mutex
	m  map[string]string
}

const maxOwners = 50_000

func (o *owners) get(key string) (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.m[key]
	return v, ok
}

func (o *owners) put(key, owner string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil || len(o.m) >= maxOwners {
		o.m = map[string]string{}
	}
	o.m[key] = owner
}

func (o *owners) forget(key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, key)
}

// secretStamp names the account's current secret without holding it: a
// login or a 2FA challenge remembers the stamp it was granted under, and
// is refused if the secret changed in between.
func secretStamp(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(sum[:8])
}

// newSession records a session for acc and signs its token. acc must be
// the state whose secret the caller just checked: if the secret changed
// meanwhile (a password change that may be revoking every other session
// right now), the session is revoked again and the login refused. A
// change lists sessions after storing the new secret, and this reads the
// secret after storing the session, so one of the two always sees the
// other.
func (s *Service) newSession(ctx context.Context, acc Account, device string, client contract.Client) (contract.Session, error) {
	now := s.now()
	sess, err := s.Sessions.Create(ctx, domain.Session{
		UserID: acc.UserID, UUID: acc.UUID, Device: device,
		UserAgent: client.UserAgent, IP: client.IP, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.Signer.TTL),
	})
	if err != nil {
		return contract.Session{}, err
	}
	// acc was read before the session was stored: unless a version was
	// stored since (one lookup, which sees a version whose head is not
	// moved yet), it is the state as of now.
	fresh := acc
	changed := true
	if acc.version > 0 {
		if changed, err = s.Accounts.Changed(ctx, acc.UUID, acc.version); err != nil {
			return contract.Session{}, err
		}
	}
	if changed {
		if fresh, _, err = s.Accounts.Latest(ctx, acc.UUID); err != nil {
			return contract.Session{}, err
		}
	}
	if !fresh.Active || fresh.PINHash != acc.PINHash || fresh.Deletion != nil {
		if err := s.revoke(ctx, acc.UserID, sess.ID, false); err != nil {
			return contract.Session{}, err
		}
		if fresh.Deletion != nil {
			return contract.Session{}, errDeleting()
		}
		return contract.Session{}, contract.Errorf(contract.Unauthenticated, "Your PIN was just changed. Please log in again.").Because(contract.ReasonSessionExpired)
	}
	tok, err := s.Signer.Sign(acc.UUID, acc.UserID, sess.ID, now)
	if err != nil {
		return contract.Session{}, err
	}
	user := contract.User{ID: acc.UserID, UUID: acc.UUID, Email: acc.Email, Phone: acc.Phone}
	user.FirstName, user.LastName = s.names(ctx, acc)
	return contract.Session{
		Token: tok, TokenType: "Bearer", ExpiresIn: int64(s.Signer.TTL / time.Second), User: user,
	}, nil
}

// names are the user's names for a login's answer: auth's copy in the
// account, which trails profile by the delivery of its event, so a login
// reads nothing more for them. A login never fails for want of them.
func (s *Service) names(ctx context.Context, acc Account) (string, string) {
	if acc.NamesIn || s.Names == nil {
		return acc.Names.FirstName, acc.Names.LastName
	}
	n, err := s.Names.Get(ctx, acc.UUID)
	if err != nil {
		slog.WarnContext(ctx, "login answered without the names", "err", err)
		return "", ""
	}
	return n.FirstName, n.LastName
}

// Claims are what a DOSS access token says.
type Claims struct {
	UserID    int64  `json:"uid"`
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// Signer issues EdDSA tokens under the current key; older keys stay listed
// for verification until their tokens have expired (rotation).
type Signer struct {
	KeyID    string
	Key      ed25519.PrivateKey
	Previous []contract.VerificationKey
	Issuer   string
	Audience string
	TTL      time.Duration
}

func (s *Signer) Sign(uuid string, userID int64, sessionID string, now time.Time) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, Claims{
		UserID:    userID,
		SessionID: sessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.Issuer,
			Subject:   uuid,
			Audience:  jwt.ClaimStrings{s.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.TTL)),
			ID:        randomID(),
		},
	})
	tok.Header["kid"] = s.KeyID
	return tok.SignedString(s.Key)
}

// Keys lists every key a token may be checked with.
func (s *Signer) Keys() contract.KeysReply {
	keys := append([]contract.VerificationKey{{KeyID: s.KeyID, Algorithm: "EdDSA", PublicKey: s.Key.Public().(ed25519.PublicKey)}}, s.Previous...)
	return contract.KeysReply{Issuer: s.Issuer, Audience: s.Audience, Keys: keys}
}

// ParseSigningKey reads "kid:base64(ed25519 seed)".
func ParseSigningKey(v string) (string, ed25519.PrivateKey, error) {
	kid, b64, ok := cut(v)
	if !ok {
		return "", nil, errors.New("want kid:base64seed")
	}
	seed, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(seed) != ed25519.SeedSize {
		return "", nil, fmt.Errorf("key %s: want a base64 32-byte ed25519 seed", kid)
	}
	return kid, ed25519.NewKeyFromSeed(seed), nil
}

// ParseVerifyKey reads "kid:base64(ed25519 public key)".
func ParseVerifyKey(v string) (contract.VerificationKey, error) {
	kid, b64, ok := cut(v)
	if !ok {
		return contract.VerificationKey{}, errors.New("want kid:base64publickey")
	}
	pub, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return contract.VerificationKey{}, fmt.Errorf("key %s: want a base64 32-byte ed25519 public key", kid)
	}
	return contract.VerificationKey{KeyID: kid, Algorithm: "EdDSA", PublicKey: pub}, nil
}

func cut(v string) (string, string, bool) {
	for i := 0; i < len(v); i++ {
		if v[i] == ':' {
			return v[:i], v[i+1:], i > 0 && i < len(v)-1
		}
	}
	return "", "", false
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
