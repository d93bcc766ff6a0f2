package gateway

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/logx"
	"github.com/dossapp/backend/pkg/natsx"
)

// The staff console (issue 18): server-rendered pages for reviewers,
// support and admins. Its audience is not the app's: it reads only its
// own cookie (path /console, HttpOnly, SameSite=Strict, Secure outside
// dev), never a bearer token, and the cookie is never read under /api.
// Sessions live in auth (8 h absolute, 30 min idle); every form carries
// the session's CSRF token; every answer forbids framing and inline script.

const (
	consoleCookie      = "doss_console"
	consoleLoginCookie = "doss_console_login" // the sign-in form's CSRF pair
	staffKey           = "doss.staff"
)

type consoleRoute struct {
	method, path string
	roles        []string
	audit        string // the action recorded before the handler runs; "" for reads of lists
	handler      func(*Gateway) echo.HandlerFunc
}

var (
	everyone  = []string{contract.RoleReviewer, contract.RoleSupport, contract.RoleAdmin}
	reviewers = []string{contract.RoleReviewer, contract.RoleAdmin}
	support   = []string{contract.RoleSupport, contract.RoleAdmin}
	admins    = []string{contract.RoleAdmin}
)

// ConsoleRoute is one console route and the roles that may open it.
type ConsoleRoute struct {
	Method, Path string
	Roles        []string
}

// ConsoleRoles is the role matrix, for the tests.
func ConsoleRoles() []ConsoleRoute {
	var out []ConsoleRoute
	for _, r := range consoleRoutes {
		out = append(out, ConsoleRoute{Method: r.method, Path: "/console" + r.path, Roles: r.roles})
	}
	return out
}

// consoleHeaders are on every console answer: no framing, no inline or
// foreign script, no referrer (links carry presigned URLs), no caching.
func consoleHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", consoleCSP(nil))
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		err := next(c)
		if err != nil && !wantsJSON(c) && !c.Response().Committed {
			return consoleErrorPage(c, err)
		}
		return err
	}
}

// consoleCSP allows only the console's own files, and images also from
// the given origins (the object store's presigned links on the page).
func consoleCSP(imgOrigins []string) string {
	img := "img-src 'self'"
	for _, o := range imgOrigins {
		img += " " + o
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; " + img + "; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

func wantsJSON(c echo.Context) bool {
	a := c.Request().Header.Get(echo.HeaderAccept)
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (g *Gateway) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/console", MaxAge: maxAge, HttpOnly: true, Secure: !g.dev, SameSite: http.SameSiteStrictMode}
}

func staffOf(c echo.Context) contract.StaffSession {
	s, _ := c.Get(staffKey).(contract.StaffSession)
	return s
}

// consoleSession admits a request with a live session cookie, and a form
// post only with the session's CSRF token. Without one: a page is sent to
// sign in, a JSON request gets 401.
func (g *Gateway) consoleSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(consoleCookie)
		if err != nil || ck.Value == "" {
			return g.toLogin(c)
		}
		s, err := natsx.Call[contract.StaffSessionRequest, contract.StaffSession](g.callCtx(c), g.nc, contract.AuthStaffSession, contract.StaffSessionRequest{Token: ck.Value})
		if contract.ErrorCode(err) == contract.Unauthenticated {
			c.SetCookie(g.cookie(consoleCookie, "", -1))
			return g.toLogin(c)
		}
		if err != nil {
			return err
		}
		s.Token = ck.Value
		c.Set(staffKey, s) // the refusal page below still shows who is signed in
		if c.Request().Method == http.MethodPost {
			sent := c.FormValue("_csrf")
			if sent == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(s.CSRF)) != 1 {
				return contract.Errorf(contract.Forbidden, "This form has expired or did not come from the console. Reload the page and try again.")
			}
		}
		c.Set(callerKey, contract.Principal{Admin: s.Name})
		return next(c)
	}
}

func (g *Gateway) toLogin(c echo.Context) error {
	if wantsJSON(c) {
		return contract.Errorf(contract.Unauthenticated, "Unauthenticated.")
	}
	return c.Redirect(http.StatusSeeOther, "/console/login")
}

// allow lets only the given roles through.
func allow(roles ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			role := staffOf(c).Role
			for _, r := range roles {
				if r == role {
					return next(c)
				}
			}
			return contract.Errorf(contract.Forbidden, "Your role (%s) may not open this page.", role)
		}
	}
}

// consoleAudited records the action as admin.audited before it runs, as
// the admin API does; an action that cannot be recorded does not run.
func (g *Gateway) consoleAudited(action string, next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s := staffOf(c)
		rec := contract.AdminAudited{Admin: s.Name, Method: c.Request().Method, Path: c.Request().URL.Path, Route: c.Path(),
			ClientIP: c.RealIP(), UserAgent: userAgent(c.Request()), At: time.Now().UTC(), Action: action}
		if strings.HasPrefix(c.Path(), "/console/users/:id") {
			rec.UserID, _ = strconv.ParseInt(c.Param("id"), 10, 64)
		}
		if d := c.FormValue("decision"); d != "" && c.Request().Method == http.MethodPost {
			rec.Action = action + ": " + d
		}
		if err := g.audit(c, rec); err != nil {
			return err
		}
		logx.From(c.Request().Context()).Info("console action", zap.String("staff", s.Name), zap.String("action", action), zap.String("path", rec.Path))
		return next(c)
	}
}

func (g *Gateway) audit(c echo.Context, rec contract.AdminAudited) error {
	ctx := c.Request().Context()
	ev, err := events.New(ctx, contract.EventAdminAudited, rec)
	if err == nil {
		err = g.publisher.Publish(ctx, ev)
	}
	if err != nil {
		return &contract.Error{Code: contract.Unavailable, Message: "The audit trail is unavailable, so nothing was done. Please try again.", RetryAfter: 1, Op: "console audit", Err: err}
	}
	return nil
}

func (g *Gateway) consoleLoginPage(c echo.Context) error {
	token := randomString()
	c.SetCookie(g.cookie(consoleLoginCookie, token, 600))
	return render(c, http.StatusOK, "login", consolePage{Title: "Sign in", CSRF: token})
}

// consoleLogin: the form's token must match its cookie (a sign-in posted
// from another site is refused), then auth checks password and code.
func (g *Gateway) consoleLogin(c echo.Context) error {
	ck, err := c.Cookie(consoleLoginCookie)
	sent := c.FormValue("_csrf")
	if err != nil || sent == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(sent)) != 1 {
		return contract.Errorf(contract.Forbidden, "This form has expired or did not come from the console. Reload the page and try again.")
	}
	req := contract.StaffLoginRequest{Name: c.FormValue("name"), Password: c.FormValue("password"), Code: c.FormValue("code")}
	s, err := natsx.Call[contract.StaffLoginRequest, contract.StaffSession](g.callCtx(c), g.nc, contract.AuthStaffLogin, req)
	if err != nil {
		e := contract.AsError(err)
		if e.Code != contract.Invalid && e.Code != contract.RateLimited {
			return err
		}
		token := randomString()
		c.SetCookie(g.cookie(consoleLoginCookie, token, 600))
		if e.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		return render(c, status(e.Code), "login", consolePage{Title: "Sign in", CSRF: token, Error: e.Message, Form: map[string]string{"name": req.Name}})
	}
	c.SetCookie(g.cookie(consoleLoginCookie, "", -1))
	c.SetCookie(g.cookie(consoleCookie, s.Token, int(time.Until(s.ExpiresAt)/time.Second)))
	return c.Redirect(http.StatusSeeOther, "/console/")
}

func (g *Gateway) consoleLogout(c echo.Context) error {
	if _, err := natsx.Call[contract.StaffSessionRequest, struct{}](g.callCtx(c), g.nc, contract.AuthStaffLogout, contract.StaffSessionRequest{Token: staffOf(c).Token}); err != nil {
		return err
	}
	c.SetCookie(g.cookie(consoleCookie, "", -1))
	return c.Redirect(http.StatusSeeOther, "/console/login")
}

func consoleWhoami(c echo.Context) error {
	s := staffOf(c)
	return c.JSON(http.StatusOK, echo.Map{"name": s.Name, "role": s.Role})
}

// consoleHome is the queue for those who review, the user search for
// support.
func (g *Gateway) consoleHome(c echo.Context) error {
	if staffOf(c).Role == contract.RoleSupport {
		return c.Redirect(http.StatusSeeOther, "/console/users")
	}
	return c.Redirect(http.StatusSeeOther, "/console/queue")
}
