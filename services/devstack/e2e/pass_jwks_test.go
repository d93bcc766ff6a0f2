package e2e

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// A verifier offline: the JWKS alone, and nothing of the server's code,
// checks a pass's signature (crypto/ed25519 over RFC 7515's signing input).
func TestIdentityPassVerifiesOfflineWithTheJWKS(t *testing.T) {
	e := start(t, nil)
	_, token := e.register("offline@example.com", "+18685550191", "4829")
	r := e.do("POST", "/api/v2/identity/pass", token, `{"fields":["first_name"]}`)
	expect(t, r, 200)
	pass := r.str("token")
	k := e.do("GET", "/.well-known/jwks.json", "", "")
	expect(t, k, 200)
	var set struct {
		Keys []struct{ Kty, Crv, X, Kid, Alg string } `json:"keys"`
	}
	if err := json.Unmarshal([]byte(k.raw), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("%v %s", err, k.raw)
	}
	parts := strings.Split(pass, ".")
	var header struct{ Alg, Kid, Typ string }
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(raw, &header); err != nil || header.Alg != "EdDSA" || header.Typ != "doss-pass+jwt" {
		t.Fatalf("header %s", raw)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	check := func(p string) bool {
		for _, key := range set.Keys {
			x, _ := base64.RawURLEncoding.DecodeString(key.X)
			if key.Kid == header.Kid && key.Kty == "OKP" && key.Crv == "Ed25519" && len(x) == ed25519.PublicKeySize &&
				ed25519.Verify(ed25519.PublicKey(x), []byte(parts[0]+"."+p), sig) {
				return true
			}
		}
		return false
	}
	if !check(parts[1]) {
		t.Fatal("the JWKS does not verify the pass")
	}
	// And with a plain JOSE library, as a third-party verifier would.
	var keys jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(k.raw), &keys); err != nil {
		t.Fatal(err)
	}
	found := keys.Key(header.Kid)
	if len(found) != 1 {
		t.Fatalf("the JWKS holds %d keys named %q", len(found), header.Kid)
	}
	jws, err := jose.ParseSigned(pass, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify(found[0])
	if err != nil {
		t.Fatalf("go-jose does not verify the pass with the JWKS: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims["jti"] == nil || fmt.Sprint(claims["aud"]) != "[doss-pass]" {
		t.Fatalf("verified payload %s (%v)", payload, err)
	}
	if _, err := jose.ParseSigned(pass, []jose.SignatureAlgorithm{jose.HS256}); err == nil {
		t.Fatal("go-jose accepted the pass under another algorithm")
	}
	forged, _ := json.Marshal(map[string]any{"first_name": "Mallory"})
	if check(base64.RawURLEncoding.EncodeToString(forged)) {
		t.Fatal("the JWKS verifies a forged payload")
	}
}
