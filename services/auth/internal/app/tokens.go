package app

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dossapp/backend/pkg/contract"
)

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
