package gateway

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

func (g *Gateway) accountProfile(c echo.Context) error {
	req := contract.AccountProfileRequest{Platform: c.QueryParam("platform")}
	p, err := natsx.Call[contract.AccountProfileRequest, contract.AccountProfile](g.callCtx(c), g.nc, contract.AccountGet, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// accountUpdate renders the updated profile, or where the code went when
// the change waits for one (the code itself only in dev mode).
func (g *Gateway) accountUpdate(subject string) echo.HandlerFunc {
	return forward[contract.AccountUpdateRequest, contract.AccountUpdateReply](g, subject, func(r contract.AccountUpdateReply) any {
		return accountUpdateBody(g.dev, subject == contract.AccountUpdate2FA, r)
	})
}

// accountUpdateBody is the answer's shape: /profile answers the profile
// as GET does, /profile/2fa adds is_profile_updated and valid_token_count.
func accountUpdateBody(dev, twoFA bool, r contract.AccountUpdateReply) any {
	switch {
	case r.OTPSent != nil:
		sent := *r.OTPSent
		if !dev {
			sent.VerificationCode = ""
		}
		return sent
	case r.Updated == nil:
		return echo.Map{}
	case twoFA:
		return r.Updated
	}
	return r.Updated.AccountProfile
}

// adminPost binds the body, takes the user from the path, and calls.
func adminPost[Req, Resp any](g *Gateway, subject string, setUser func(*Req, int64)) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id <= 0 {
			return contract.FieldError("id", "The user id must be a positive number.")
		}
		var req Req
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		setUser(&req, id)
		resp, err := natsx.Call[Req, Resp](g.callCtx(c), g.nc, subject, req)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, resp)
	}
}
