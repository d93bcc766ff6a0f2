// Command baseline is the bench's yardstick: a bare Echo server that checks
// an EdDSA bearer token the way the gateway does and answers a fixed
// profile JSON from memory. The gateway's cache-hit path is measured
// against it.
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
)

func main() {
	if err := run(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run(getenv func(string) string) error {
	pub, err := base64.StdEncoding.DecodeString(getenv("BENCH_PUBLIC_KEY"))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("BENCH_PUBLIC_KEY: want a base64 Ed25519 public key")
	}
	profile, err := os.ReadFile(getenv("BENCH_PROFILE_FILE"))
	if err != nil {
		return err
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(getenv("BENCH_ISSUER")),
		jwt.WithAudience(getenv("BENCH_AUDIENCE")), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	keyFunc := func(*jwt.Token) (any, error) { return ed25519.PublicKey(pub), nil }

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/healthz", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.GET("/api/v2/profile", func(c echo.Context) error {
		raw, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		if !ok {
			return c.JSON(http.StatusUnauthorized, map[string]string{"message": "Unauthenticated."})
		}
		if _, err := parser.Parse(raw, keyFunc); err != nil {
			return c.JSON(http.StatusUnauthorized, map[string]string{"message": "Unauthenticated."})
		}
		return c.JSONBlob(http.StatusOK, profile)
	})
	return e.Start(getenv("BENCH_ADDR"))
}
