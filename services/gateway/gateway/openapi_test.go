package gateway

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestOpenAPIServedAndDocsSelfContained(t *testing.T) {
	e := echo.New()
	(&Gateway{}).openapiRoutes(e)

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	if rec.Code != 200 || rec.Body.String() != string(openapiYAML) || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/yaml") {
		t.Fatalf("/openapi.yaml: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}

	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/docs", nil))
	page := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("/docs: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	// Every route has its section, with its schemas linked.
	for _, r := range Routes() {
		path := regexp.MustCompile(`:(\w+)`).ReplaceAllString(r.Path, "{$1}")
		if !strings.Contains(page, `<span class="m `+r.Method+`">`+r.Method+`</span> <span class="path">`+path+`</span>`) {
			t.Errorf("/docs lacks %s %s", r.Method, path)
		}
	}
	for _, want := range []string{`id="schema-Profile"`, `href="#schema-Profile"`, `<code>next_Tss_Money_To_Expire</code>`, `<code>referal_code</code>`, "Retry-After"} {
		if !strings.Contains(page, want) {
			t.Errorf("/docs lacks %s", want)
		}
	}
	// Nothing is loaded from anywhere: no script, no external link or source.
	if m := regexp.MustCompile(`(?i)<script|<link|src=|@import|(href|url)\(?=?"?(https?:)?//`).FindString(page); m != "" {
		t.Errorf("/docs refers to something external: %q", m)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
}

func TestRoutesListsEveryRegisteredRoute(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Routes() {
		seen[r.Method+" "+r.Path] = true
	}
	// One of each kind: public, authenticated, admin, dev, this document.
	for _, want := range []string{"POST /api/v2/new-login", "GET /api/v2/profile", "GET /admin/v1/whoami", "GET /dev/outbox", "GET /docs", "DELETE /api/v2/my/documents/:documentId"} {
		if !seen[want] {
			t.Errorf("Routes() lacks %s: %v", want, seen)
		}
	}
}

func TestDocsMarkupIsEscaped(t *testing.T) {
	if got := string(md("<b>`a<i>`</b> & `c`")); got != "&lt;b&gt;<code>a&lt;i&gt;</code>&lt;/b&gt; &amp; <code>c</code>" {
		t.Fatalf("md = %q", got)
	}
}
