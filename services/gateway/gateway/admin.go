package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/logx"
)

// adminToken is one operator's credential, kept only as a digest so that
// comparing takes the same time whatever the guess.
type adminToken struct {
	name   string
	role   string
	digest [32]byte
}

// parseAdminTokens reads DOSS_ADMIN_TOKENS: "name:role:token,…", where
// role is reviewer, support or admin; the older "name:token" is an admin.
// An empty value disables the admin API.
func parseAdminTokens(v string) ([]adminToken, error) {
	var out []adminToken
	for _, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, tok, ok := strings.Cut(pair, ":")
		role := contract.RoleAdmin
		if r, rest, cut := strings.Cut(tok, ":"); cut && contract.ValidRole(r) {
			role, tok = r, rest
		}
		if !ok || name == "" || len(tok) < 32 {
			return nil, fmt.Errorf("DOSS_ADMIN_TOKENS: want name:role:token (or name:token, an admin) with tokens of at least 32 characters")
		}
		out = append(out, adminToken{name: name, role: role, digest: sha256.Sum256([]byte(tok))})
	}
	return out, nil
}

// adminName is the operator whose token this is and its role, or "".
func adminName(tokens []adminToken, bearer string) (string, string) {
	d := sha256.Sum256([]byte(bearer))
	name, role := "", ""
	for _, t := range tokens {
		if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
			name, role = t.name, t.role
		}
	}
	return name, role
}

// adminRole is the role of the admin API's caller.
const adminRoleKey = "doss.admin_role"

// adminAllow lets only tokens of the given roles through.
func adminAllow(roles ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			role, _ := c.Get(adminRoleKey).(string)
			for _, r := range roles {
				if r == role {
					return next(c)
				}
			}
			return contract.Errorf(contract.Forbidden, "This token's role (%s) may not call this endpoint.", role)
		}
	}
}

// adminAuth admits a request with an admin token and writes the audit
// record before the call runs; a call that cannot be audited does not run.
func (g *Gateway) adminAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := bearer(c.Request())
		name, role := "", ""
		if ok {
			name, role = adminName(g.adminTokens, strings.TrimSpace(token))
		}
		if name == "" {
			return contract.Errorf(contract.Unauthenticated, "Unauthenticated.")
		}
		c.Set(callerKey, contract.Principal{Admin: name})
		c.Set(adminRoleKey, role)
		ctx := c.Request().Context()
		ev, err := events.New(ctx, contract.EventAdminAudited, contract.AdminAudited{
			Admin: name, Method: c.Request().Method, Path: c.Request().URL.Path, Route: c.Path(),
			ClientIP: c.RealIP(), UserAgent: c.Request().UserAgent(), At: time.Now().UTC(), UserID: auditedUser(c),
		})
		if err == nil {
			err = g.publisher.Publish(ctx, ev)
		}
		if err != nil {
			return &contract.Error{Code: contract.Unavailable, Message: "The admin API is unavailable. Please try again.", RetryAfter: 1, Op: "admin audit", Err: err}
		}
		logx.From(ctx).Info("admin call", zap.String("admin", name), zap.String("method", c.Request().Method), zap.String("path", c.Request().URL.Path))
		return next(c)
	}
}

// auditedUser is the user an admin call is about, when its route names
// one (/admin/v1/users/:id/...), else 0.
func auditedUser(c echo.Context) int64 {
	if !strings.HasPrefix(c.Path(), "/admin/v1/users/:id") {
		return 0
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// adminWhoami names the admin key that called, and its role.
func adminWhoami(c echo.Context) error {
	return c.JSON(http.StatusOK, echo.Map{"admin": c.Get(callerKey).(contract.Principal).Admin, "role": c.Get(adminRoleKey)})
}
