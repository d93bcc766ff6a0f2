package gateway

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

const callerKey = "doss.caller"

// callCtx carries the request's correlation id, client and principal into
// the NATS headers, and has the profile cache hear every reply: it is the
// one way the gateway calls a service.
func (g *Gateway) callCtx(c echo.Context) context.Context {
	p, _ := c.Get(callerKey).(contract.Principal)
	ctx := natsx.WithCaller(c.Request().Context(), natsx.Caller{
		Principal: p,
		Client:    contract.Client{IP: c.RealIP(), UserAgent: userAgent(c.Request()), Locale: language(c.Request().Header.Get("Accept-Language"))},
	})
	return natsx.OnReply(ctx, g.heard)
}

// heard has each cache hear a reply: the users it names as changed lose
// their entries.
func (g *Gateway) heard(h nats.Header) {
	g.cache.heard(h)
	g.documents.heard(h)
}

// maxUserAgent bounds the user agent passed on in the NATS headers and
// stored with a session: more says nothing more, and a 1 MB one does not
// fit in a NATS message at all.
const maxUserAgent = 512

func userAgent(r *http.Request) string {
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	return ua
}

// forward binds Req, calls subject, and renders the reply through shape:
// a 200, or the status a shape's withStatus names.
func forward[Req, Resp any](g *Gateway, subject string, shape func(Resp) any) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req Req
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		resp, err := natsx.Call[Req, Resp](g.callCtx(c), g.nc, subject, req)
		if err != nil {
			return err
		}
		out := shape(resp)
		if s, ok := out.(withStatus); ok {
			return c.JSON(s.status, s.body)
		}
		return c.JSON(http.StatusOK, out)
	}
}

// withStatus is a shape's answer with a status other than 200.
type withStatus struct {
	status int
	body   any
}

// otpSent is the answer to a code request: the user object, with the code
// itself only in dev mode (the seed's examples show it; production never).
func (g *Gateway) otpSent(message string, user echo.Map, code string) any {
	if g.dev && code != "" {
		user["verification_code"] = code
	}
	return echo.Map{"message": message, "response": echo.Map{"user": user}}
}

func (g *Gateway) logout(c echo.Context) error {
	if _, err := natsx.Call[contract.LogoutRequest, struct{}](g.callCtx(c), g.nc, contract.AuthLogout, contract.LogoutRequest{}); err != nil {
		return err
	}
	// This replica refuses the token at once; the others learn it from the
	// revocation bucket within moments.
	g.verifier.markRevoked(c.Get(callerKey).(contract.Principal).SessionID)
	return c.NoContent(http.StatusNoContent)
}

func (g *Gateway) devOutbox(c echo.Context) error {
	to := c.QueryParam("to")
	if to == "" {
		return contract.FieldError("to", "The to field is required.")
	}
	msgs, err := natsx.Call[contract.OutboxRequest, []contract.OutboxMessage](g.callCtx(c), g.nc, contract.NotifierOutbox, contract.OutboxRequest{To: to})
	if err != nil {
		return err
	}
	if msgs == nil {
		msgs = []contract.OutboxMessage{}
	}
	return c.JSON(http.StatusOK, msgs)
}

func (g *Gateway) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, echo.Map{"status": "ok"})
}

// readyz answers 200 when NATS is connected and every service the gateway
// needs has a replica that answers its health command: running, and able
// to reach its store.
func (g *Gateway) readyz(c echo.Context) error {
	if g.draining.Load() {
		c.Response().Header().Set("Retry-After", "1")
		return c.JSON(http.StatusServiceUnavailable, echo.Map{"ready": false, "draining": true, "checks": echo.Map{"nats": g.nc.IsConnected()}})
	}
	checks := echo.Map{"nats": g.nc.IsConnected()}
	ready := g.nc.IsConnected()
	for _, svc := range g.needs {
		ok := false
		if ready {
			ctx, cancel := context.WithTimeout(c.Request().Context(), 500*time.Millisecond)
			_, err := natsx.CallRaw(ctx, g.nc, contract.HealthSubject(svc), nil)
			cancel()
			ok = err == nil
		}
		checks[svc] = ok
		ready = ready && ok
	}
	st := http.StatusOK
	if !ready {
		st = http.StatusServiceUnavailable
		c.Response().Header().Set("Retry-After", "1")
	}
	return c.JSON(st, echo.Map{"ready": ready, "checks": checks})
}

// language is the first tag of an Accept-Language header, reduced to a
// short lower-case language code ("fr-CA;q=0.9" → "fr-ca"), or "".
func language(h string) string {
	tag := strings.TrimSpace(strings.SplitN(strings.SplitN(h, ",", 2)[0], ";", 2)[0])
	if len(tag) < 2 || len(tag) > 12 || strings.Trim(strings.ToLower(tag), "abcdefghijklmnopqrstuvwxyz-") != "" {
		return ""
	}
	return strings.ToLower(tag)
}
