package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// accountAuthRoutes are the account API's routes that auth answers: the
// second step of a 2FA login (public), sessions and the password change
// (behind authed, whose prefix is /api).
func (g *Gateway) accountAuthRoutes(api, authed *echo.Group) {
	api.POST("/v2/login/verify-otp", forward[contract.LoginVerifyOTPRequest, contract.Session](g, contract.AuthLoginVerifyOTP, func(s contract.Session) any {
		return echo.Map{"response": s} // what a login without 2FA answers
	}))
	authed.GET("/v2/sessions", g.listSessions)
	authed.DELETE("/v2/sessions/:id", g.revokeSession)
	authed.POST("/user/change-password", g.changePassword)
}

func (g *Gateway) listSessions(c echo.Context) error {
	r, err := natsx.Call[contract.SessionsListRequest, contract.SessionsListReply](g.callCtx(c), g.nc, contract.AuthSessionsList, contract.SessionsListRequest{})
	if err != nil {
		return err
	}
	if r.Sessions == nil {
		r.Sessions = []contract.SessionInfo{}
	}
	return c.JSON(http.StatusOK, r.Sessions)
}

func (g *Gateway) revokeSession(c echo.Context) error {
	id := c.Param("id")
	if _, err := natsx.Call[contract.SessionRevokeRequest, struct{}](g.callCtx(c), g.nc, contract.AuthSessionRevoke, contract.SessionRevokeRequest{ID: id}); err != nil {
		return err
	}
	g.verifier.markRevoked(id) // at once here; the other replicas via the bucket
	return c.NoContent(http.StatusNoContent)
}

func (g *Gateway) changePassword(c echo.Context) error {
	var req contract.ChangePasswordRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	r, err := natsx.Call[contract.ChangePasswordRequest, contract.ChangePasswordReply](g.callCtx(c), g.nc, contract.AuthChangePassword, req)
	if err != nil {
		return err
	}
	for _, sid := range r.Revoked {
		g.verifier.markRevoked(sid)
	}
	return c.JSON(http.StatusOK, echo.Map{"msg": "Password Updated"})
}
