package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

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
