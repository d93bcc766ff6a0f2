package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// getProfile answers GET /v2/profile with the profile as a top-level
// object, the shape the app parses.
// A cached answer is served with no NATS round trip.
func (g *Gateway) getProfile(c echo.Context) error {
	uid := c.Get(callerKey).(contract.Principal).UserID
	if body, ok := g.cache.get(uid); ok {
		return c.JSONBlob(http.StatusOK, body)
	}
	ticket := g.cache.ticket()
	p, err := natsx.Call[contract.ProfileGetRequest, contract.Profile](g.callCtx(c), g.nc, contract.ProfileGet, contract.ProfileGetRequest{})
	if err != nil {
		return err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	g.cache.put(uid, body, ticket)
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
