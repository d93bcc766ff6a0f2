package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/dossapp/backend/services/gateway/gateway"
)

// The gateway's OpenAPI document, loaded once for the whole suite: every
// request env.send makes and the answer it gets are checked against it, so
// the document and the behaviour cannot drift apart.
var spec = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(gateway.OpenAPI())
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	return doc, nil
})

var specRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := spec()
	if err != nil {
		return nil, err
	}
	return gorillamux.NewRouter(doc)
})

// specOptions: a response's status must be documented; a secured operation
// needs a bearer token (its validity is the gateway's business).
var specOptions = &openapi3filter.Options{
	IncludeResponseStatus: true,
	MultiError:            true,
	AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
		if in.SecuritySchemeName == "console" {
			return nil // without the cookie the documented answer is a 303 to sign in (or 401 for JSON)
		}
		if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
			return errors.New("no bearer token")
		}
		return nil
	},
}

// requestBody reads req's body for the check and leaves req able to send it.
func requestBody(t *testing.T, req *http.Request) []byte {
	t.Helper()
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	if req.GetBody != nil {
		b, err := req.GetBody()
		if err == nil {
			defer b.Close()
			data, err := io.ReadAll(b)
			if err == nil {
				return data
			}
		}
	}
	data, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = io.NopCloser(bytes.NewReader(data))
	return data
}

// checkSpec fails t when the exchange is not one the document describes:
// an undocumented route, method or status, a body or a required header
// that does not match, or a request the document refuses that the gateway
// accepted (a 2xx or 3xx). A request the document refuses that the gateway
// also refused (4xx) is the test probing bad input, as it should.
func checkSpec(t reporter, req *http.Request, body []byte, res *http.Response, raw []byte) {
	t.Helper()
	router, err := specRouter()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	ctx := context.Background()
	vreq := req.Clone(ctx)
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	what := req.Method + " " + req.URL.RequestURI()
	route, params, err := router.FindRoute(vreq)
	if err != nil {
		// What the document says of any other path or method: 404 (or
		// 405), or 401 under /api for want of a token, with the Error body
		// and that status's code.
		doc, _ := spec()
		var body any
		schema := "NotFoundError"
		if res.StatusCode == 401 {
			schema = "UnauthenticatedError"
		}
		switch {
		case res.StatusCode != 404 && res.StatusCode != 405 && (res.StatusCode != 401 || !strings.HasPrefix(req.URL.Path, "/api/")):
		case json.Unmarshal(raw, &body) != nil:
		case doc.Components.Schemas[schema].Value.VisitJSON(body, openapi3.EnableJSONSchema2020()) != nil:
		default:
			return
		}
		t.Errorf("openapi: %s → %d is not documented (%v): %s", what, res.StatusCode, err, clip(raw))
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: specOptions}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && res.StatusCode < 400 {
		t.Errorf("openapi: %s: the document refuses the request, the gateway answered %d: %v", what, res.StatusCode, err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header, Options: specOptions}
	out.SetBodyBytes(raw)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("openapi: %s → %d does not match the document: %v\nbody: %s", what, res.StatusCode, err, clip(raw))
	}
}

// reporter is what checkSpec reports to: a *testing.T, or a recorder in
// the test of the check itself.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

type recorder struct{ msgs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

var echoParam = regexp.MustCompile(`:(\w+)`)

// TestOpenAPICoversEveryRoute: every route the gateway registers is in the
// document, and every operation of the document is a route, but for the
// ones marked x-doss-pending (built on a branch not merged yet; the mark
// must go when the route arrives).
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc, err := spec()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	served := map[string]bool{}
	for _, r := range gateway.Routes() {
		path := echoParam.ReplaceAllString(r.Path, "{$1}")
		served[r.Method+" "+path] = true
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(r.Method) == nil {
			t.Errorf("%s %s is served but not in openapi.yaml", r.Method, path)
		}
	}
	if len(served) < 20 {
		t.Fatalf("only %d routes: %v", len(served), served)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if served[method+" "+path] {
				if p, ok := op.Extensions["x-doss-pending"]; ok {
					t.Errorf("%s %s is served now: drop its x-doss-pending (%v)", method, path, p)
				}
				continue
			}
			if _, ok := op.Extensions["x-doss-pending"]; !ok {
				t.Errorf("%s %s is in openapi.yaml but not served", method, path)
			}
		}
	}
}

// TestOpenAPIDocumentServed: the gateway serves the document it embeds and
// the viewer reading it (every exchange checked like any other), under the
// viewer's CSP, while the API keeps its own headers.
func TestOpenAPIDocumentServed(t *testing.T) {
	e := start(t, nil)
	r := e.do(http.MethodGet, "/openapi.yaml", "", "")
	expect(t, r, 200)
	if r.raw != string(gateway.OpenAPI()) {
		t.Fatal("/openapi.yaml is not the embedded document")
	}
	r = e.do(http.MethodGet, "/docs", "", "")
	expect(t, r, 200)
	if !strings.Contains(r.raw, `<div id="swagger-ui">`) || !strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("/docs: %v %.500s", r.header, r.raw)
	}
	for _, asset := range []string{"swagger-ui-bundle.js", "swagger-ui.css", "init.js"} {
		r := e.do(http.MethodGet, "/docs/"+asset, "", "")
		if r.status != 200 || len(r.raw) == 0 {
			t.Errorf("/docs/%s: %d", asset, r.status)
		}
	}
	if r := e.do(http.MethodGet, "/docs/swagger-ui-bundle.js.map", "", ""); r.status != 404 || r.str("code") != "not_found" {
		t.Errorf("a file the viewer does not load: %d %s", r.status, r.raw)
	}
	if r := e.do(http.MethodGet, "/healthz", "", ""); r.header.Get("Content-Security-Policy") != "" {
		t.Errorf("the viewer's CSP leaked onto the API: %q", r.header.Get("Content-Security-Policy"))
	}
}

// TestSpecCheckCatchesDrift: the check itself fails on an undocumented
// route, an undocumented status, a body of the wrong shape, a missing
// Retry-After, and a request the document refuses that was accepted.
func TestSpecCheckCatchesDrift(t *testing.T) {
	jsonRes := func(status int, body string, h ...string) (*http.Response, []byte) {
		hdr := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(h); i += 2 {
			hdr.Set(h[i], h[i+1])
		}
		return &http.Response{StatusCode: status, Header: hdr}, []byte(body)
	}
	req := func(method, path, body string) (*http.Request, []byte) {
		r, _ := http.NewRequest(method, "http://127.0.0.1:8080"+path, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		r.Header.Set("Authorization", "Bearer x")
		return r, []byte(body)
	}
	profile := `{"id":1,"first_name":"A","last_name":"B","email":"a@b.co","phone":"+18681234567","image":null,"uuid":"u",` +
		`"id_proof_front":null,"id_proof_back":null,"passport_img_front":null,"passport_img_back":null,` +
		`"driving_license_front":null,"driving_license_back":null,"email_verify_at":null,"phone_verify_at":null,"identity_status":"unverified"}`
	document := `{"id":7,"typeId":1,"type":"National ID","side":"front","status":"pending","rejection_reason":null,` +
		`"file":"http://s3.local/k?sig=1","content_type":"image/jpeg","size":10,"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`
	cases := []struct {
		name             string
		method, path, in string
		status           int
		out              string
		headers          []string
		ok               bool
	}{
		{"documented", "GET", "/api/v2/profile", "", 200, profile, nil, true},
		{"validation error", "POST", "/api/v2/update_name", `{"first_name":""}`, 422, `{"message":"m","errors":{"first_name":["m"]},"code":"validation_failed"}`, nil, true},
		{"validation error without a code", "POST", "/api/v2/update_name", `{"first_name":""}`, 422, `{"message":"m","errors":{"first_name":["m"]}}`, nil, false},
		{"validation error with a 429's code", "POST", "/api/v2/update_name", `{"first_name":""}`, 422, `{"message":"m","errors":{"first_name":["m"]},"code":"pin_locked"}`, nil, false},
		{"undocumented route", "GET", "/api/v2/nothing", "", 200, `{}`, nil, false},
		{"unknown route, 404", "GET", "/api/v2/nothing", "", 404, `{"message":"Not found.","code":"not_found"}`, nil, true},
		{"unknown route, 404 with another code", "GET", "/api/v2/nothing", "", 404, `{"message":"Not found.","code":"conflict"}`, nil, false},
		{"unknown code", "GET", "/api/v2/profile", "", 401, `{"message":"m","code":"nope"}`, nil, false},
		{"unknown route, 404 of another shape", "GET", "/nothing", "", 404, `{"error":"Not found."}`, nil, false},
		{"undocumented method", "DELETE", "/api/v2/profile", "", 204, ``, nil, false},
		{"undocumented status", "GET", "/api/v2/profile", "", 500, `{"message":"m"}`, nil, false},
		{"renamed field", "GET", "/api/v2/profile", "", 200, strings.Replace(profile, `"first_name"`, `"firstName"`, 1), nil, false},
		{"extra field", "GET", "/api/v2/profile", "", 200, strings.Replace(profile, `{"id":1`, `{"id":1,"x":1`, 1), nil, false},
		{"422 without errors", "POST", "/api/v2/update_name", `{}`, 422, `{"message":"m","code":"validation_failed"}`, nil, false},
		{"503 without Retry-After", "GET", "/api/v2/profile", "", 503, `{"message":"m","code":"service_unavailable"}`, nil, false},
		{"503 with Retry-After", "GET", "/api/v2/profile", "", 503, `{"message":"m","code":"service_unavailable"}`, []string{"Retry-After", "1"}, true},
		{"503 with another status's code", "GET", "/api/v2/profile", "", 503, `{"message":"m","code":"internal"}`, []string{"Retry-After", "1"}, false},
		{"document", "GET", "/api/v2/my/documents/7", "", 200, document, nil, true},
		{"document with an owner", "GET", "/api/v2/my/documents/7", "", 200, strings.Replace(document, `{"id":7`, `{"id":7,"user_id":3`, 1), nil, false},
		{"list without X-Total-Count", "GET", "/api/v2/my/documents", "", 200, `[` + document + `]`, nil, false},
		{"list", "GET", "/api/v2/my/documents?limit=10", "", 200, `[` + document + `]`, []string{"X-Total-Count", "1"}, true},
		{"refused request accepted", "POST", "/api/v2/update_name", `{"first_name":1}`, 200, profile, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{}
			r, in := req(c.method, c.path, c.in)
			res, out := jsonRes(c.status, c.out, c.headers...)
			checkSpec(rec, r, in, res, out)
			if failed := len(rec.msgs) > 0; failed == c.ok {
				t.Errorf("check failed = %v, want %v: %v", failed, !c.ok, rec.msgs)
			}
		})
	}
}
