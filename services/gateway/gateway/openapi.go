package gateway

import (
	"bytes"
	_ "embed"
	"io/fs"
	"net/http"
	"sort"

	"github.com/labstack/echo/v4"
	swaggerFiles "github.com/swaggo/files/v2"
)

// openapiYAML is the OpenAPI 3.1 document of every route. The end-to-end
// suite checks each response it gets against it, and that it covers every
// route the gateway registers (Routes).
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPI returns the OpenAPI document the gateway serves.
func OpenAPI() []byte { return bytes.Clone(openapiYAML) }

// Route is one method and path the gateway serves, in Echo's syntax
// (":param").
type Route struct{ Method, Path string }

// Routes lists every route the gateway can serve, with the admin API and
// the dev routes on: what the OpenAPI document must cover. Nothing runs;
// the handlers are only registered.
func Routes() []Route {
	g := &Gateway{dev: true, adminTokens: []adminToken{{name: "routes"}}, verifier: &verifier{}, cache: &profileCache{}, documents: &documentsCache{}}
	e := echo.New()
	g.routes(e)
	var out []Route
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		out = append(out, Route{Method: r.Method, Path: r.Path})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Path+" "+out[i].Method < out[j].Path+" "+out[j].Method
	})
	return out
}

// The document, and Swagger UI (the assets of github.com/swaggo/files,
// embedded in the binary) reading it at /docs, with try-it-out against
// this gateway. Nothing is fetched from anywhere else; the page's own
// script is a file, not inline, so the CSP can forbid inline script.
func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", openapiYAML)
}

func serveDocs(c echo.Context) error {
	docsHeaders(c)
	return c.HTMLBlob(http.StatusOK, docsHTML)
}

func serveDocsAsset(c echo.Context) error {
	a, ok := docsAssets[c.Param("asset")]
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	docsHeaders(c)
	c.Response().Header().Set("Cache-Control", "public, max-age=86400")
	return c.Blob(http.StatusOK, a.contentType, a.body)
}

// docsCSP allows what Swagger UI needs and nothing more: its script and
// style sheet from here, the icons its style sheet inlines as data: URLs,
// and requests to this gateway (the document, and try-it-out). React sets
// some styles from script, which a style-src without 'unsafe-inline' also
// allows (they go through the CSSOM, not markup).
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func docsHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", docsCSP)
	h.Set("Referrer-Policy", "no-referrer")
}

//go:embed docs/index.html
var docsHTML []byte

//go:embed docs/init.js
var docsInit []byte

type docsAsset struct {
	contentType string
	body        []byte
}

// docsAssets are the files /docs/:asset serves: the viewer's own start-up
// script and the few files of the Swagger UI distribution the page loads
// (not the source maps, the ES bundles nor the OAuth redirect page).
var docsAssets = func() map[string]docsAsset {
	out := map[string]docsAsset{"init.js": {"text/javascript; charset=utf-8", docsInit}}
	for name, ct := range map[string]string{
		"swagger-ui.css":       "text/css; charset=utf-8",
		"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
		"favicon-32x32.png":    "image/png",
	} {
		b, err := fs.ReadFile(swaggerFiles.FS, name)
		if err != nil {
			panic("swagger ui asset " + name + ": " + err.Error())
		}
		out[name] = docsAsset{ct, b}
	}
	return out
}()
