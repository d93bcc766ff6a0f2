package gateway

import (
	"encoding/base64"
	"html/template"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/skip2/go-qrcode"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

func (g *Gateway) revokePasses(c echo.Context) error {
	if _, err := natsx.Call[struct{}, struct{}](g.callCtx(c), g.nc, contract.ProfilePassRevoke, struct{}{}); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (g *Gateway) passVerifications(c echo.Context) error {
	r, err := natsx.Call[struct{}, contract.PassVerificationsReply](g.callCtx(c), g.nc, contract.ProfilePassVerifications, struct{}{})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// jwks is the pass signing keys, for verifiers offline.
func (g *Gateway) jwks(c echo.Context) error {
	r, err := natsx.Call[struct{}, contract.PassKeysReply](g.callCtx(c), g.nc, contract.ProfilePassKeys, struct{}{})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=60")
	return c.JSON(http.StatusOK, r)
}

func (g *Gateway) issuePass(c echo.Context) error {
	var req contract.PassIssueRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	r, err := natsx.Call[contract.PassIssueRequest, contract.PassIssueReply](g.callCtx(c), g.nc, contract.ProfilePassIssue, req)
	if err != nil {
		return err
	}
	text := g.publicURL + "/v/" + r.Token
	png, err := qrcode.Encode(text, qrcode.Medium, 512)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, echo.Map{"token": r.Token, "qr_png": base64.StdEncoding.EncodeToString(png), "qr_text": text,
		"expires_at": r.ExpiresAt, "fields": r.Fields})
}

var passPage = template.Must(template.New("pass").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>DOSS identity check</title>
<style>body{font-family:sans-serif;margin:2em;text-align:center}.valid{background:#1a7f37;color:#fff}.invalid{background:#cf222e;color:#fff}.verdict{padding:1em;border-radius:.5em;font-size:1.5em}img{max-width:240px;border-radius:.5em}</style>
</head><body>
{{if .Valid}}<div class="verdict valid" id="verdict">Valid: DOSS vouches for this pass</div>
{{with .Claims}}{{if .Photo}}<p><img src="{{$.PhotoURL}}" alt="photo"></p>{{end}}
{{if or .FirstName .LastName}}<h1>{{.FirstName}} {{.LastName}}</h1>{{end}}
{{if .IdentityStatus}}<p>Identity: {{.IdentityStatus}}{{range .VerifiedDocuments}} · {{.}}{{end}}</p>{{end}}
{{end}}{{if .Over18}}<p>Over 18: {{.Over18}}</p>{{end}}
<p>Expires {{.Expires}}</p>
{{else}}<div class="verdict invalid" id="verdict">Not valid ({{.Reason}})</div>{{end}}
</body></html>`))

type passView struct {
	contract.PassVerifyReply
	PhotoURL string
	Expires  string
	Over18   string
}

// passPage is the verdict for a verifier with only a phone camera.
func (g *Gateway) passPage(c echo.Context) error {
	token := c.Param("token")
	r, err := natsx.Call[contract.PassVerifyRequest, contract.PassVerifyReply](g.callCtx(c), g.nc, contract.ProfilePassVerify, contract.PassVerifyRequest{Token: token})
	if err != nil {
		return err
	}
	v := passView{PassVerifyReply: r, PhotoURL: "/v/" + token + "/photo"}
	if r.Claims != nil && r.Claims.AgeOver18 != nil {
		v.Over18 = map[bool]string{true: "yes", false: "no"}[*r.Claims.AgeOver18]
	}
	if r.ExpiresAt != nil {
		v.Expires = r.ExpiresAt.UTC().Format(time.RFC1123)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self' https: http:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(http.StatusOK)
	return passPage.Execute(c.Response(), v)
}

// passPhoto sends a valid pass's photo by a short link.
func (g *Gateway) passPhoto(c echo.Context) error {
	r, err := natsx.Call[contract.PassVerifyRequest, contract.PassPhotoReply](g.callCtx(c), g.nc, contract.ProfilePassPhoto, contract.PassVerifyRequest{Token: c.Param("token")})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	return c.Redirect(http.StatusFound, r.URL)
}
