package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// getProfile answers GET /v2/profile with the profile as a top-level
// object, the shape the app parses.
func (g *Gateway) getProfile(c echo.Context) error {
	p, err := natsx.Call[contract.ProfileGetRequest, contract.Profile](g.callCtx(c), g.nc, contract.ProfileGet, contract.ProfileGetRequest{})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
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
