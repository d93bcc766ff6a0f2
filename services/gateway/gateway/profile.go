package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
)

// getProfile answers GET /v2/profile with the profile as a top-level
// object, the shape the app parses, from the profile cache when it can.
func (g *Gateway) getProfile(c echo.Context) error {
	body, err := cachedCall(g, c, g.cache, true, contract.ProfileGet, contract.ProfileGetRequest{}, func(p contract.Profile) ([]byte, error) {
		return json.Marshal(p)
	})
	if err != nil {
		return err
	}
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
