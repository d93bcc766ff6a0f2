package gateway

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// getProfile answers GET /v2/profile with the profile as a top-level
// object, the shape the app parses. A cached answer is served with no
// NATS round trip; a fetched one is kept for as long as the profile
// service's reply allows (contract.HeaderCacheMaxAge), at most the TTL.
func (g *Gateway) getProfile(c echo.Context) error {
	uid := c.Get(callerKey).(contract.Principal).UserID
	if body, ok := g.cache.get(uid); ok {
		return c.JSONBlob(http.StatusOK, body)
	}
	ticket := g.cache.ticket()
	var maxAge time.Duration
	ctx := natsx.OnReply(g.callCtx(c), func(h nats.Header) { maxAge = natsx.CacheMaxAge(h) })
	p, err := natsx.Call[contract.ProfileGetRequest, contract.Profile](ctx, g.nc, contract.ProfileGet, contract.ProfileGetRequest{})
	if err != nil {
		return err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	g.cache.put(uid, body, ticket, maxAge)
	return c.JSONBlob(http.StatusOK, body)
}

// updateName answers POST /v2/update_name with the updated profile.
func (g *Gateway) updateName() echo.HandlerFunc {
	return forward[contract.UpdateNameRequest, contract.Profile](g, contract.ProfileUpdateName, func(p contract.Profile) any { return p })
}

// updateEmail answers POST /v2/update_email with the updated profile.
func (g *Gateway) updateEmail() echo.HandlerFunc {
	return forward[contract.UpdateEmailRequest, contract.Profile](g, contract.ProfileUpdateEmail, func(p contract.Profile) any { return p })
}

// updatePhone answers POST /v2/update_phone with the updated profile.
func (g *Gateway) updatePhone() echo.HandlerFunc {
	return forward[contract.UpdatePhoneRequest, contract.Profile](g, contract.ProfileUpdatePhone, func(p contract.Profile) any { return p })
}

// verifyContact answers POST /v2/verify_contact with the profile once the
// pending email or phone is verified.
func (g *Gateway) verifyContact() echo.HandlerFunc {
	return forward[contract.VerifyContactRequest, contract.Profile](g, contract.ProfileVerifyContact, func(p contract.Profile) any { return p })
}
