package gateway

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
)

// A token is one string: its signature's last base64 character written
// another way (bits base64 ignores) is refused, not verified and cached
// as another token. Before, each token came in 16 spellings, each its own
// entry of the verified-token cache.
func TestATokenHasOneSpelling(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(nil, zap.NewNop()) // no bus: the key is known, nothing asks auth
	v.keys["k1"] = pub
	v.refreshed = time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims{UserID: 42, SessionID: "s1", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: contract.TokenIssuer, Subject: "u", Audience: jwt.ClaimStrings{contract.TokenAudience},
		IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
	tok.Header["kid"] = "k1"
	raw, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, raw[len(raw)-1])
	other := raw[:len(raw)-1] + string(alphabet[last^1]) // differs only in bits the decoder drops
	h := v.authenticate(func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	status := func(token string) int {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		if err := h(echo.New().NewContext(req, rec)); err != nil {
			return http.StatusUnauthorized
		}
		return rec.Code
	}
	if got := status(raw); got != http.StatusOK {
		t.Fatalf("the token as signed: %d", got)
	}
	if got := status(other); got == http.StatusOK {
		t.Fatal("the same token spelt another way was accepted")
	}
	if n := len(v.verified.entries); n != 1 {
		t.Fatalf("%d verified-token entries for one token", n)
	}
}
