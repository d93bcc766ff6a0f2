package profilesvc

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/profile/internal/app"
)

// readPassKeys reads DOSS_PASS_SIGNING_KEY ("kid:base64 ed25519 seed") and
// DOSS_PASS_PREVIOUS_KEYS ("kid:base64 public key", comma-separated). Dev
// mode without a key uses one derived from a fixed name, never production.
func readPassKeys(signing, previous string, dev bool) (app.PassKeys, error) {
	if signing == "" {
		if !dev {
			return app.PassKeys{}, fmt.Errorf("DOSS_PASS_SIGNING_KEY is required")
		}
		seed := sha256.Sum256([]byte("doss-dev-only:pass"))
		return app.PassKeys{KeyID: "dev-pass", Key: ed25519.NewKeyFromSeed(seed[:])}, nil
	}
	kid, b64, ok := strings.Cut(signing, ":")
	seed, err := base64.StdEncoding.DecodeString(b64)
	if !ok || kid == "" || err != nil || len(seed) != ed25519.SeedSize {
		return app.PassKeys{}, fmt.Errorf("DOSS_PASS_SIGNING_KEY: want kid:base64 32-byte ed25519 seed")
	}
	keys := app.PassKeys{KeyID: kid, Key: ed25519.NewKeyFromSeed(seed)}
	for _, v := range strings.Split(previous, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		kid, b64, ok := strings.Cut(v, ":")
		pub, err := base64.StdEncoding.DecodeString(b64)
		if !ok || kid == "" || err != nil || len(pub) != ed25519.PublicKeySize {
			return app.PassKeys{}, fmt.Errorf("DOSS_PASS_PREVIOUS_KEYS: want kid:base64 32-byte ed25519 public key")
		}
		keys.Previous = append(keys.Previous, contract.VerificationKey{KeyID: kid, Algorithm: "EdDSA", PublicKey: pub})
	}
	return keys, nil
}
