package gateway

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v3"

	"github.com/dossapp/backend/pkg/contract"
)

func getDocs(t *testing.T, path string) *httptest.ResponseRecorder {
	t.Helper()
	e := echo.New()
	(&Gateway{verifier: &verifier{}, cache: &profileCache{}, documents: &documentsCache{}}).routes(e)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestOpenAPIServedAndDocsViewer(t *testing.T) {
	rec := getDocs(t, "/openapi.yaml")
	if rec.Code != 200 || rec.Body.String() != string(openapiYAML) || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/yaml") {
		t.Fatalf("/openapi.yaml: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}

	rec = getDocs(t, "/docs")
	page := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("/docs: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if csp := rec.Header().Get("Content-Security-Policy"); csp != docsCSP {
		t.Errorf("/docs CSP %q", csp)
	}
	// Everything the page loads is served here, with its type and the same CSP.
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("/docs loads %v", refs)
	}
	for _, r := range refs {
		ref := r[1]
		if !strings.HasPrefix(ref, "/docs/") {
			t.Errorf("/docs loads %q from elsewhere", ref)
			continue
		}
		a := getDocs(t, ref)
		if a.Code != 200 || a.Body.Len() == 0 || a.Header().Get("Content-Security-Policy") != docsCSP {
			t.Errorf("%s: %d, %d bytes, CSP %q", ref, a.Code, a.Body.Len(), a.Header().Get("Content-Security-Policy"))
		}
		if strings.HasSuffix(ref, ".js") && !strings.HasPrefix(a.Header().Get("Content-Type"), "text/javascript") {
			t.Errorf("%s: %q", ref, a.Header().Get("Content-Type"))
		}
	}
	if !strings.Contains(page, `src="/docs/swagger-ui-bundle.js"`) || strings.Contains(page, "<script>") {
		t.Errorf("/docs is not Swagger UI with an external start-up script:\n%s", page)
	}
	// The viewer reads this document and calls nothing outside.
	init := getDocs(t, "/docs/init.js").Body.String()
	if !strings.Contains(init, `url: "/openapi.yaml"`) || !strings.Contains(init, "validatorUrl: null") || strings.Contains(init, "//"+"petstore") {
		t.Errorf("init.js:\n%s", init)
	}
	// Only the listed assets: no source maps, no directory walk.
	for _, p := range []string{"/docs/swagger-ui-bundle.js.map", "/docs/index.html", "/docs/..%2fopenapi.go", "/docs/oauth2-redirect.html"} {
		if rec := getDocs(t, p); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
}

// flow is the order of the app's screens, which the document keeps: its
// tags in this order, and its paths grouped by tag in the same order.
var flow = []string{"registration", "login", "profile", "documents", "sessions", "account", "identity", "admin", "console", "ops", "dev"}

func TestOpenAPIPathsInFlowOrder(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		t.Fatal(err)
	}
	var tags []string
	var paths *yaml.Node
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "tags":
			for _, tg := range root.Content[i+1].Content {
				var v struct{ Name string }
				if err := tg.Decode(&v); err != nil {
					t.Fatal(err)
				}
				tags = append(tags, v.Name)
			}
		case "paths":
			paths = root.Content[i+1]
		}
	}
	if !slices.Equal(tags, flow) {
		t.Errorf("tags %v, want the flow order %v", tags, flow)
	}
	last, lastPath := 0, ""
	for i := 0; i+1 < len(paths.Content); i += 2 {
		path := paths.Content[i].Value
		var ops map[string]yaml.Node
		if err := paths.Content[i+1].Decode(&ops); err != nil {
			t.Fatal(err)
		}
		for method, node := range ops {
			if method == "parameters" {
				continue
			}
			var op struct{ Tags []string }
			if err := node.Decode(&op); err != nil {
				t.Fatal(err)
			}
			if len(op.Tags) != 1 || !slices.Contains(flow, op.Tags[0]) {
				t.Errorf("%s %s: tags %v, want one of %v", method, path, op.Tags, flow)
				continue
			}
			at := slices.Index(flow, op.Tags[0])
			if at < last {
				t.Errorf("%s (%s) comes after %s (%s): keep the paths in flow order %v", path, op.Tags[0], lastPath, flow[last], flow)
			}
			if at >= last {
				last, lastPath = at, path
			}
		}
	}
}

// TestErrorCodesDocumented holds the closed set of codes in pkg/contract,
// the ErrorCode enum of the document and docs/errors.md equal, so neither
// can drift: every code a service or the gateway can put in a body (the
// gateway only ever writes a code of that set, see PublicReason and
// statusReason) is documented.
func TestErrorCodesDocumented(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Enum []string
			}
		}
	}
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range contract.Reasons() {
		want = append(want, string(r))
	}
	if got := doc.Components.Schemas["ErrorCode"].Enum; !slices.Equal(got, want) {
		t.Errorf("ErrorCode enum\n %v\nwant contract.Reasons()\n %v", got, want)
	}
	table, err := os.ReadFile("../../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range want {
		if !strings.Contains(string(table), "| `"+r+"` |") {
			t.Errorf("docs/errors.md has no row for %s", r)
		}
		if !strings.Contains(string(openapiYAML), "| `"+r+"` |") {
			t.Errorf("the ErrorCode description has no row for %s", r)
		}
	}
	for st := 400; st < 600; st++ {
		if r := statusReason(st); !slices.Contains(want, string(r)) {
			t.Errorf("statusReason(%d) = %q, not in the set", st, r)
		}
	}
}

func TestRoutesListsEveryRegisteredRoute(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Routes() {
		seen[r.Method+" "+r.Path] = true
	}
	// One of each kind: public, authenticated, admin, dev, this document.
	for _, want := range []string{"POST /api/v2/new-login", "GET /api/v2/profile", "GET /admin/v1/whoami", "GET /dev/outbox", "GET /docs", "GET /docs/:asset", "DELETE /api/v2/my/documents/:documentId"} {
		if !seen[want] {
			t.Errorf("Routes() lacks %s: %v", want, seen)
		}
	}
}
