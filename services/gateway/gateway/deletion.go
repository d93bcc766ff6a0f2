package gateway

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

func (g *Gateway) deleteAccount(c echo.Context) error {
	var req contract.AccountDeleteRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	r, err := natsx.Call[contract.AccountDeleteRequest, contract.AccountDeleteReply](g.callCtx(c), g.nc, contract.AuthAccountDelete, req)
	if err != nil {
		return err
	}
	for _, sid := range r.Revoked {
		g.verifier.markRevoked(sid) // at once here; the other replicas via the bucket
	}
	return c.JSON(http.StatusAccepted, echo.Map{"message": contract.AccountDeletionMessage, "deletion": r.Deletion})
}

func (g *Gateway) listDeletions(c echo.Context) error {
	req := contract.DeletionsListRequest{Status: c.QueryParam("status")}
	r, err := natsx.Call[contract.DeletionsListRequest, contract.DeletionsListReply](g.callCtx(c), g.nc, contract.AuthDeletionsList, req)
	if err != nil {
		return err
	}
	if r.Deletions == nil {
		r.Deletions = []contract.AdminDeletion{}
	}
	return c.JSON(http.StatusOK, r.Deletions)
}

func (g *Gateway) cancelDeletion(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return contract.FieldError("id", "The user id must be a positive number.")
	}
	r, err := natsx.Call[contract.DeletionCancelRequest, contract.AdminDeletion](g.callCtx(c), g.nc, contract.AuthDeletionCancel, contract.DeletionCancelRequest{UserID: id})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}
