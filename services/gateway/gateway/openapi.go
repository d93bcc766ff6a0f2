package gateway

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v3"
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
	g := &Gateway{dev: true, adminTokens: []adminToken{{name: "routes"}}, verifier: &verifier{}, cache: &profileCache{}}
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

// openapiRoutes serves the document and a page rendered from it. The page
// is self-contained: no script, style sheet or font from anywhere else.
func (g *Gateway) openapiRoutes(e *echo.Echo) {
	e.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", openapiYAML)
	})
	e.GET("/docs", func(c echo.Context) error {
		page, err := docsPage()
		if err != nil {
			return err
		}
		c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		return c.HTMLBlob(http.StatusOK, page)
	})
}

var docsOnce = sync.OnceValues(func() ([]byte, error) { return renderDocs(openapiYAML) })

func docsPage() ([]byte, error) { return docsOnce() }

// The docs page's view of the document.
type (
	docView struct {
		Title, Version, Description string
		Tags                        []tagView
		Schemas                     []namedSchema
	}
	tagView struct {
		Name, Description string
		Ops               []opView
	}
	opView struct {
		ID, Method, Path, Summary, Description, Pending string
		Security                                        []string
		Params                                          []paramView
		Bodies                                          []bodyView
		Responses                                       []respView
	}
	paramView struct {
		Name, In, Description string
		Required              bool
		Schema                *schemaView
	}
	bodyView struct {
		MediaType string
		Schema    *schemaView
	}
	respView struct {
		Status, Description, Ref string
		Headers                  []string
		Bodies                   []bodyView
	}
	namedSchema struct {
		Name   string
		Schema *schemaView
	}
	schemaView struct {
		Ref, Type, Description, Enum, Format string
		Props                                []propView
		Items, Additional                    *schemaView
		AllOf, OneOf                         []*schemaView
	}
	propView struct {
		Name     string
		Required bool
		Schema   *schemaView
	}
)

var methodOrder = []string{"get", "post", "put", "patch", "delete"}

// renderDocs renders the document into one HTML page.
func renderDocs(doc []byte) ([]byte, error) {
	var d map[string]any
	if err := yaml.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	info := mapOf(d["info"])
	v := docView{Title: str(info["title"]), Version: str(info["version"]), Description: str(info["description"])}
	byTag := map[string]int{}
	for _, t := range listOf(d["tags"]) {
		tm := mapOf(t)
		byTag[str(tm["name"])] = len(v.Tags)
		v.Tags = append(v.Tags, tagView{Name: str(tm["name"]), Description: str(tm["description"])})
	}
	paths := mapOf(d["paths"])
	for _, p := range sortedKeys(paths) {
		item := mapOf(paths[p])
		common := listOf(item["parameters"])
		for _, m := range methodOrder {
			op := mapOf(item[m])
			if op == nil {
				continue
			}
			ov := opView{ID: str(op["operationId"]), Method: strings.ToUpper(m), Path: p, Summary: str(op["summary"]),
				Description: str(op["description"]), Pending: str(op["x-doss-pending"])}
			for _, s := range listOf(op["security"]) {
				ov.Security = append(ov.Security, sortedKeys(mapOf(s))...)
			}
			for _, pr := range append(append([]any{}, common...), listOf(op["parameters"])...) {
				pm := resolve(d, mapOf(pr))
				ov.Params = append(ov.Params, paramView{Name: str(pm["name"]), In: str(pm["in"]), Description: str(pm["description"]),
					Required: pm["required"] == true, Schema: schemaOf(pm["schema"])})
			}
			ov.Bodies = bodies(mapOf(op["requestBody"]))
			resps := mapOf(op["responses"])
			for _, st := range sortedKeys(resps) {
				rm := mapOf(resps[st])
				rv := respView{Status: st, Ref: refName(rm)}
				rm = resolve(d, rm)
				rv.Description = str(rm["description"])
				rv.Headers = sortedKeys(mapOf(rm["headers"]))
				rv.Bodies = bodies(rm)
				ov.Responses = append(ov.Responses, rv)
			}
			tag := ""
			if tags := listOf(op["tags"]); len(tags) > 0 {
				tag = str(tags[0])
			}
			i, ok := byTag[tag]
			if !ok {
				byTag[tag] = len(v.Tags)
				i = len(v.Tags)
				v.Tags = append(v.Tags, tagView{Name: tag})
			}
			v.Tags[i].Ops = append(v.Tags[i].Ops, ov)
		}
	}
	comps := mapOf(d["components"])
	schemas := mapOf(comps["schemas"])
	for _, n := range sortedKeys(schemas) {
		v.Schemas = append(v.Schemas, namedSchema{Name: n, Schema: schemaOf(schemas[n])})
	}
	var buf bytes.Buffer
	if err := docsTemplate.Execute(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func bodies(m map[string]any) []bodyView {
	content := mapOf(m["content"])
	var out []bodyView
	for _, mt := range sortedKeys(content) {
		out = append(out, bodyView{MediaType: mt, Schema: schemaOf(mapOf(content[mt])["schema"])})
	}
	return out
}

// resolve follows a local $ref ("#/components/...") once.
func resolve(d map[string]any, m map[string]any) map[string]any {
	ref, ok := m["$ref"].(string)
	if !ok {
		return m
	}
	var cur any = d
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		cur = mapOf(cur)[part]
	}
	return mapOf(cur)
}

func refName(m map[string]any) string {
	ref, _ := m["$ref"].(string)
	return ref[strings.LastIndex(ref, "/")+1:]
}

// schemaOf is a schema's view: a $ref stays a link to the schema's own
// section rather than being expanded.
func schemaOf(x any) *schemaView {
	m := mapOf(x)
	if m == nil {
		return nil
	}
	s := &schemaView{Ref: refName(m), Description: str(m["description"]), Format: str(m["format"])}
	switch t := m["type"].(type) {
	case string:
		s.Type = t
	case []any:
		var ts []string
		for _, e := range t {
			ts = append(ts, str(e))
		}
		s.Type = strings.Join(ts, " | ")
	}
	if c, ok := m["const"]; ok {
		s.Enum = fmt.Sprintf("%v", c)
	}
	if e := listOf(m["enum"]); len(e) > 0 {
		var vs []string
		for _, x := range e {
			if x == nil {
				x = "null"
			}
			vs = append(vs, fmt.Sprintf("%v", x))
		}
		s.Enum = strings.Join(vs, " | ")
	}
	req := map[string]bool{}
	for _, r := range listOf(m["required"]) {
		req[str(r)] = true
	}
	props := mapOf(m["properties"])
	for _, n := range sortedKeys(props) {
		s.Props = append(s.Props, propView{Name: n, Required: req[n], Schema: schemaOf(props[n])})
	}
	s.Items = schemaOf(m["items"])
	s.Additional = schemaOf(m["additionalProperties"])
	for _, a := range listOf(m["allOf"]) {
		s.AllOf = append(s.AllOf, schemaOf(a))
	}
	for _, a := range listOf(m["oneOf"]) {
		s.OneOf = append(s.OneOf, schemaOf(a))
	}
	return s
}

func mapOf(x any) map[string]any { m, _ := x.(map[string]any); return m }
func listOf(x any) []any         { l, _ := x.([]any); return l }

func str(x any) string {
	if x == nil {
		return ""
	}
	return fmt.Sprintf("%v", x)
}

var backticked = regexp.MustCompile("`([^`]+)`")

// md escapes s and shows its `code` spans as code, the one piece of
// Markdown the document's descriptions use.
func md(s string) template.HTML {
	return template.HTML(backticked.ReplaceAllString(template.HTMLEscapeString(s), "<code>$1</code>")) // escaped first
}

// paras splits a description into its paragraphs.
func paras(s string) []string {
	var out []string
	for _, p := range strings.Split(s, "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

var docsTemplate = template.Must(template.New("docs").Funcs(template.FuncMap{"paras": paras, "md": md}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} — API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 1.5rem;color:#1b1f24}
code,.path{font-family:ui-monospace,monospace}
h2{border-bottom:2px solid #d0d7de;padding-bottom:.2rem;margin-top:2.5rem}
.op{border:1px solid #d0d7de;border-radius:6px;margin:1rem 0;padding:.6rem .9rem}
.m{display:inline-block;min-width:4.2rem;font-weight:700;font-family:ui-monospace,monospace}
.GET{color:#0969da}.POST{color:#1a7f37}.DELETE{color:#cf222e}
.pending{background:#fff8c5;border-radius:4px;padding:0 .3rem;font-size:.85em}
ul.s{margin:.2rem 0;padding-left:1.2rem;list-style:none}
.req{color:#cf222e}.t{color:#57606a}.d{color:#57606a;font-style:italic}
table{border-collapse:collapse}td,th{text-align:left;padding:.15rem .6rem .15rem 0;vertical-align:top}
nav a{margin-right:.8rem}
</style></head><body>
<h1>{{.Title}} <small class="t">v{{.Version}}</small></h1>
<p>The document itself: <a href="openapi.yaml">openapi.yaml</a> (OpenAPI 3.1).</p>
<div>{{range $i, $p := .Description | paras}}<p>{{md $p}}</p>{{end}}</div>
<nav>{{range .Tags}}<a href="#tag-{{.Name}}">{{.Name}}</a>{{end}}<a href="#schemas">schemas</a></nav>
{{range .Tags}}<h2 id="tag-{{.Name}}">{{.Name}}</h2>{{if .Description}}<p>{{md .Description}}</p>{{end}}
{{range .Ops}}<div class="op" id="op-{{.ID}}">
<div><span class="m {{.Method}}">{{.Method}}</span> <span class="path">{{.Path}}</span> — {{md .Summary}}
{{if .Pending}}<span class="pending">pending: {{.Pending}}</span>{{end}}</div>
{{if .Description}}<p>{{md .Description}}</p>{{end}}
{{if .Security}}<p class="t">Authorization: Bearer ({{range $i, $s := .Security}}{{if $i}}, {{end}}{{$s}}{{end}} token)</p>{{end}}
{{if .Params}}<h4>Parameters</h4><table>{{range .Params}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">*</span>{{end}}</td><td class="t">{{.In}}</td><td>{{template "schema" .Schema}}</td><td class="d">{{md .Description}}</td></tr>{{end}}</table>{{end}}
{{range .Bodies}}<h4>Request body <span class="t">{{.MediaType}}</span></h4>{{template "schema" .Schema}}{{end}}
<h4>Responses</h4><table>{{range .Responses}}<tr><td><b>{{.Status}}</b></td><td>{{md .Description}}{{if .Headers}} <span class="t">(headers: {{range $i, $h := .Headers}}{{if $i}}, {{end}}{{$h}}{{end}})</span>{{end}}
{{range .Bodies}}<div><span class="t">{{.MediaType}}</span> {{template "schema" .Schema}}</div>{{end}}</td></tr>{{end}}</table>
</div>{{end}}{{end}}
<h2 id="schemas">Schemas</h2>
{{range .Schemas}}<div class="op" id="schema-{{.Name}}"><b>{{.Name}}</b> {{template "schema" .Schema}}</div>{{end}}
</body></html>
{{define "schema"}}{{if .}}{{if .Ref}}<a href="#schema-{{.Ref}}">{{.Ref}}</a>{{else}}<span class="t">{{.Type}}{{if .Format}} ({{.Format}}){{end}}</span>{{if .Enum}} <code>{{.Enum}}</code>{{end}}{{if .Description}} <span class="d">{{md .Description}}</span>{{end}}
{{if .Items}} of {{template "schema" .Items}}{{end}}
{{if .AllOf}}all of:<ul class="s">{{range .AllOf}}<li>{{template "schema" .}}</li>{{end}}</ul>{{end}}
{{if .OneOf}}one of:<ul class="s">{{range .OneOf}}<li>{{template "schema" .}}</li>{{end}}</ul>{{end}}
{{if .Props}}<ul class="s">{{range .Props}}<li><code>{{.Name}}</code>{{if .Required}} <span class="req">*</span>{{end}}: {{template "schema" .Schema}}</li>{{end}}</ul>{{end}}
{{if .Additional}}<ul class="s"><li><i>any name</i>: {{template "schema" .Additional}}</li></ul>{{end}}{{end}}{{end}}{{end}}`))
