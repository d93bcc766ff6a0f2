package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/imagex/imagextest"
	"github.com/dossapp/backend/services/auth/authsvc"
	"github.com/dossapp/backend/services/gateway/gateway"
)

// staffMember is a console user of a test: its credentials and the TOTP
// steps it has used (a code signs in once; the next step's is accepted
// early, as an authenticator's clock may run ahead).
type staffMember struct {
	contract.StaffCredentials
	mu    sync.Mutex
	steps int
}

func (e *env) staff(name, role string) *staffMember {
	e.t.Helper()
	c, err := authsvc.CreateStaff(context.Background(), e.getenv, name, role)
	if err != nil {
		e.t.Fatal(err)
	}
	return &staffMember{StaffCredentials: c}
}

func (m *staffMember) nextCode(t *testing.T) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.steps > 1 {
		t.Fatalf("%s signed in more than twice in one 30 s step", m.Name)
	}
	code, err := authsvc.StaffCode(m.TOTPSecret, time.Now(), m.steps)
	if err != nil {
		t.Fatal(err)
	}
	m.steps++
	return code
}

// consoleClient is a browser-like client: cookies kept, redirects not
// followed (the tests look at them), every exchange checked against
// openapi.yaml.
type consoleClient struct {
	e    *env
	c    *http.Client
	csrf string
	// from is the client address a trusted proxy reports (the env started
	// with DOSS_TRUSTED_PROXIES), else the loopback peer.
	from string
}

func (e *env) consoleClient() *consoleClient {
	jar, _ := cookiejar.New(nil)
	return &consoleClient{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status   int
	location string
	header   http.Header
	body     string
}

func (cc *consoleClient) do(t *testing.T, method, path string, form url.Values, accept string) page {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, cc.e.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if accept == "" {
		accept = "text/html"
	}
	req.Header.Set("Accept", accept)
	if cc.from != "" {
		req.Header.Set("X-Forwarded-For", cc.from)
	}
	reqBody := requestBody(t, req)
	res, err := cc.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	checkSpec(t, req, reqBody, res, raw)
	p := page{status: res.StatusCode, location: res.Header.Get("Location"), header: res.Header, body: string(raw)}
	if m := csrfField.FindStringSubmatch(p.body); m != nil {
		cc.csrf = m[1]
	}
	return p
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func (cc *consoleClient) get(t *testing.T, path string) page {
	return cc.do(t, http.MethodGet, path, nil, "")
}

// post sends a form with the page's CSRF token.
func (cc *consoleClient) post(t *testing.T, path string, form url.Values) page {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["_csrf"]; !ok {
		form.Set("_csrf", cc.csrf)
	}
	return cc.do(t, http.MethodPost, path, form, "")
}

func (cc *consoleClient) login(t *testing.T, m *staffMember) page {
	t.Helper()
	p := cc.get(t, "/console/login")
	if p.status != 200 {
		t.Fatalf("sign-in page: %d", p.status)
	}
	return cc.post(t, "/console/login", url.Values{"name": {m.Name}, "password": {m.Password}, "code": {m.nextCode(t)}})
}

func (cc *consoleClient) mustLogin(t *testing.T, m *staffMember) {
	t.Helper()
	if p := cc.login(t, m); p.status != 303 || p.location != "/console/" {
		t.Fatalf("sign in as %s: %d %s %.300s", m.Name, p.status, p.location, p.body)
	}
	if p := cc.get(t, "/console/whoami"); p.status != 200 {
		t.Fatalf("whoami: %d", p.status)
	}
	// Home leads to the role's first page, whose forms carry the
	// session's CSRF token.
	if p := cc.get(t, cc.get(t, "/console/").location); p.status != 200 || cc.csrf == "" {
		t.Fatalf("home: %d", p.status)
	}
}

// concrete fills a route's parameters with ids that exist or not: the
// matrix is about who is let in, not what is found.
func concrete(path string) string {
	r := strings.NewReplacer(":id", "999999", ":name", "nobody", ":file", "console.css")
	return r.Replace(path)
}

// Every console route without a session: a page is sent to sign in, a
// JSON request gets 401; an app's bearer token or an admin API token
// changes nothing. A staff cookie does not open /api either.
func TestConsoleWithoutSession(t *testing.T) {
	e := start(t, map[string]string{"DOSS_ADMIN_TOKENS": "alice:" + adminToken})
	_, appToken := e.register("console-app@example.com", "+14155550181", "7193")
	anon := e.consoleClient()
	for _, r := range gateway.ConsoleRoles() {
		for _, tc := range []struct {
			name, bearer string
		}{{"no session", ""}, {"app token", appToken}, {"admin token", adminToken}} {
			t.Run(r.Method+" "+r.Path+"/"+tc.name, func(t *testing.T) {
				for _, accept := range []string{"text/html", "application/json"} {
					req, _ := http.NewRequest(r.Method, e.base+concrete(r.Path), strings.NewReader(""))
					req.Header.Set("Accept", accept)
					if tc.bearer != "" {
						req.Header.Set("Authorization", "Bearer "+tc.bearer)
					}
					res, err := anon.c.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					raw, _ := io.ReadAll(res.Body)
					res.Body.Close()
					checkSpec(t, req, nil, res, raw)
					if accept == "application/json" {
						if res.StatusCode != 401 || !strings.Contains(string(raw), `"message"`) {
							t.Fatalf("JSON: %d %s", res.StatusCode, raw)
						}
					} else if res.StatusCode != 303 || res.Header.Get("Location") != "/console/login" {
						t.Fatalf("HTML: %d %q", res.StatusCode, res.Header.Get("Location"))
					}
				}
			})
		}
	}
	// A staff session's cookie, or its token as a bearer, opens no /api route.
	admin := e.staff("ops-admin", contract.RoleAdmin)
	cc := e.consoleClient()
	cc.mustLogin(t, admin)
	u, _ := url.Parse(e.base + "/console/")
	var token string
	for _, ck := range cc.c.Jar.Cookies(u) {
		if ck.Name == "doss_console" {
			token = ck.Value
		}
	}
	if token == "" {
		t.Fatal("no session cookie")
	}
	req, _ := http.NewRequest(http.MethodGet, e.base+"/api/v2/profile", nil)
	req.AddCookie(&http.Cookie{Name: "doss_console", Value: token})
	expect(t, e.send(req, ""), 401)
	expect(t, e.do(http.MethodGet, "/api/v2/profile", token, ""), 401)
	expect(t, e.do(http.MethodGet, "/admin/v1/whoami", token, ""), 401)
}

// The role matrix: every console route for every role is let in exactly
// when the route's roles name it (403 otherwise), and the admin API's
// per-key roles likewise.
func TestConsoleRoleMatrix(t *testing.T) {
	e := start(t, map[string]string{"DOSS_ADMIN_TOKENS": strings.Join([]string{
		"rev:reviewer:" + adminToken + "r", "sup:support:" + adminToken + "s", "adm:admin:" + adminToken + "a", "old:" + adminToken + "o"}, ",")})
	routes := gateway.ConsoleRoles()
	// Sign-out last: it ends the session the other rows use.
	slices.SortStableFunc(routes, func(a, b gateway.ConsoleRoute) int {
		return boolInt(a.Path == "/console/logout") - boolInt(b.Path == "/console/logout")
	})
	for _, role := range contract.Roles {
		m := e.staff("matrix-"+role, role)
		cc := e.consoleClient()
		cc.mustLogin(t, m)
		csrf := cc.csrf
		for _, r := range routes {
			t.Run(role+" "+r.Method+" "+r.Path, func(t *testing.T) {
				var p page
				if r.Method == http.MethodPost {
					p = cc.post(t, concrete(r.Path), url.Values{"_csrf": {csrf}})
				} else {
					p = cc.get(t, concrete(r.Path))
				}
				allowed := slices.Contains(r.Roles, role)
				switch {
				case p.location == "/console/login" && r.Path != "/console/logout":
					t.Fatalf("sent to sign in: the session ended")
				case allowed && p.status == 403:
					t.Fatalf("refused a %s: %.300s", role, p.body)
				case !allowed && p.status != 403:
					t.Fatalf("let a %s in: %d", role, p.status)
				}
				for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
					if p.header.Get(h) == "" {
						t.Fatalf("no %s", h)
					}
				}
				if csp := p.header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
					t.Fatalf("CSP %q", csp)
				}
			})
		}
	}
	for _, tc := range []struct {
		token, method, path string
		want                int
	}{
		{adminToken + "r", http.MethodGet, "/admin/v1/documents", 200},
		{adminToken + "r", http.MethodPost, "/admin/v1/users/1/wallet", 403},
		{adminToken + "s", http.MethodGet, "/admin/v1/documents", 403},
		{adminToken + "s", http.MethodPost, "/admin/v1/users/999999/wallet", 422},
		{adminToken + "a", http.MethodGet, "/admin/v1/documents", 200},
		{adminToken + "o", http.MethodGet, "/admin/v1/documents", 200}, // name:token is an admin
		{adminToken + "o", http.MethodGet, "/admin/v1/whoami", 200},
	} {
		t.Run("admin API "+tc.token[len(tc.token)-1:]+" "+tc.method+" "+tc.path, func(t *testing.T) {
			body := ""
			if tc.method == http.MethodPost {
				body = "{}"
			}
			expect(t, e.do(tc.method, tc.path, tc.token, body), tc.want)
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CSRF: a form without its token, or with another session's, is refused
// and does nothing; so is a sign-in without the form's own token.
func TestConsoleCSRF(t *testing.T) {
	e := start(t, nil)
	a, b := e.staff("csrf-a", contract.RoleAdmin), e.staff("csrf-b", contract.RoleAdmin)
	ca, cb := e.consoleClient(), e.consoleClient()
	ca.mustLogin(t, a)
	cb.mustLogin(t, b)
	for name, token := range map[string]string{"none": "", "another session's": cb.csrf, "made up": "x"} {
		t.Run(name, func(t *testing.T) {
			p := ca.do(t, http.MethodPost, "/console/staff", url.Values{"_csrf": {token}, "name": {"csrf-made-" + strings.ReplaceAll(name, " ", "")[:4]}, "role": {"admin"}}, "")
			if p.status != 403 || !strings.Contains(p.body, "did not come from the console") {
				t.Fatalf("%d %.300s", p.status, p.body)
			}
		})
	}
	if p := ca.get(t, "/console/staff"); strings.Contains(p.body, "csrf-made") {
		t.Fatal("a refused form created staff")
	}
	fresh := e.consoleClient()
	fresh.get(t, "/console/login")
	p := fresh.post(t, "/console/login", url.Values{"_csrf": {"forged"}, "name": {a.Name}, "password": {a.Password}, "code": {"000000"}})
	if p.status != 403 {
		t.Fatalf("sign-in without its token: %d", p.status)
	}
}

// Five wrong sign-ins for a name from one address lock that pair, not the
// owner at another address, and the lockout is in the audit trail; an admin creates staff and the
// password and otpauth URI are shown once.
func TestConsoleLockoutAndStaffPage(t *testing.T) {
	e := start(t, map[string]string{"DOSS_TRUSTED_PROXIES": "127.0.0.1/32"})
	victim := e.staff("lock-me", contract.RoleReviewer)
	attacker := e.consoleClient()
	attacker.from = "203.0.113.9"
	for i := range 5 {
		attacker.get(t, "/console/login")
		p := attacker.post(t, "/console/login", url.Values{"name": {victim.Name}, "password": {"guess-" + fmt.Sprint(i)}, "code": {"123456"}})
		if p.status != 422 {
			t.Fatalf("wrong password %d: %d", i, p.status)
		}
	}
	attacker.get(t, "/console/login")
	p := attacker.post(t, "/console/login", url.Values{"name": {victim.Name}, "password": {victim.Password}, "code": {victim.nextCode(t)}})
	if p.status != 429 || p.header.Get("Retry-After") == "" {
		t.Fatalf("locked: %d %q", p.status, p.header.Get("Retry-After"))
	}
	// The owner, at their own address, is not locked out by the stranger.
	owner := e.consoleClient()
	owner.from = "198.51.100.7"
	owner.mustLogin(t, victim)
	admin := e.staff("staff-admin", contract.RoleAdmin)
	cc := e.consoleClient()
	cc.mustLogin(t, admin)
	eventually(t, "the lockout in the audit trail", func() bool {
		return strings.Contains(cc.get(t, "/console/audit?admin=lock-me").body, "locked out")
	})
	csv := cc.get(t, "/console/audit.csv?admin=lock-me")
	if csv.status != 200 || !strings.HasPrefix(csv.body, "at,staff,action") || !strings.Contains(csv.body, "locked out") {
		t.Fatalf("csv: %d %.300s", csv.status, csv.body)
	}
	p = cc.post(t, "/console/staff", url.Values{"name": {"new-reviewer"}, "role": {"reviewer"}})
	if p.status != 200 || !strings.Contains(p.body, "otpauth://totp/DOSS:new-reviewer?") || !strings.Contains(p.body, `id="new-password"`) {
		t.Fatalf("create: %d %.500s", p.status, p.body)
	}
	if p := cc.get(t, "/console/staff"); strings.Contains(p.body, "otpauth://") || !strings.Contains(p.body, "new-reviewer") {
		t.Fatal("the secret is shown again, or the member is not listed")
	}
	if p := cc.post(t, "/console/staff/staff-admin", url.Values{"action": {"disable"}}); p.status != 422 {
		t.Fatalf("an admin disabling themselves: %d", p.status)
	}
	eventually(t, "the creation in the audit trail", func() bool {
		return strings.Contains(cc.get(t, "/console/audit?admin=staff-admin&text=staff").body, "create staff")
	})
}

// Two reviewers open the same document; the first decision stands and the
// second reviewer is told who made it (409), nothing changed by the
// second.
func TestConsoleTwoReviewersCannotBothDecide(t *testing.T) {
	e, _ := startDocuments(t, nil)
	_, token := e.register("two-reviewers@example.com", "+14155550161", "7193")
	doc := decodeDoc(t, e.addDocument(token, "3", "passport.jpg", imagextest.JPEG(64, 48, 1)))
	first, second := e.staff("first-rev", contract.RoleReviewer), e.staff("second-rev", contract.RoleReviewer)
	c1, c2 := e.consoleClient(), e.consoleClient()
	c1.mustLogin(t, first)
	c2.mustLogin(t, second)
	path := fmt.Sprintf("/console/documents/%d", doc.ID)
	for _, cc := range []*consoleClient{c1, c2} {
		if p := cc.get(t, path); p.status != 200 || !strings.Contains(p.body, `id="approve"`) {
			t.Fatalf("review page: %d", p.status)
		}
	}
	if p := c1.post(t, path+"/decide", url.Values{"decision": {"approved"}}); p.status != 303 {
		t.Fatalf("first decision: %d %.300s", p.status, p.body)
	}
	p := c2.post(t, path+"/decide", url.Values{"decision": {"rejected"}, "reason": {"The document has expired."}})
	if p.status != 409 || !strings.Contains(p.body, "already approved by first-rev") || strings.Contains(p.body, `id="approve"`) {
		t.Fatalf("second decision: %d %.500s", p.status, p.body)
	}
	if docs, _ := e.listDocuments(token, ""); len(docs) != 1 || docs[0].Status != "approved" || docs[0].RejectionReason != nil {
		t.Fatalf("the first decision did not stand: %+v", docs)
	}
	// A rejection needs a reason (422, the page kept).
	_, token2 := e.register("no-reason@example.com", "+14155550162", "7193")
	doc2 := decodeDoc(t, e.addDocument(token2, "3", "passport.jpg", imagextest.JPEG(64, 48, 1)))
	p = c1.post(t, fmt.Sprintf("/console/documents/%d/decide", doc2.ID), url.Values{"decision": {"rejected"}, "reason": {""}})
	if p.status != 422 || !strings.Contains(p.body, `id="reject"`) {
		t.Fatalf("reject without a reason: %d", p.status)
	}
}

// doss-admin (make admin) prints the password and the otpauth URI once,
// and the member it made signs in; list shows it, disable ends that.
func TestDossAdminCommand(t *testing.T) {
	e := start(t, nil)
	var out strings.Builder
	if err := authsvc.Admin(context.Background(), []string{"create", "cli-rev", "--role", "reviewer"}, e.getenv, &out); err != nil {
		t.Fatal(err)
	}
	pw := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out.String())
	secret := regexp.MustCompile(`totp:\s+(\S+)`).FindStringSubmatch(out.String())
	if pw == nil || secret == nil || !strings.Contains(out.String(), "otpauth://totp/DOSS:cli-rev?") {
		t.Fatalf("output:\n%s", out.String())
	}
	m := &staffMember{StaffCredentials: contract.StaffCredentials{StaffMember: contract.StaffMember{Name: "cli-rev"}, Password: pw[1], TOTPSecret: secret[1]}}
	cc := e.consoleClient()
	cc.mustLogin(t, m)
	out.Reset()
	if err := authsvc.Admin(context.Background(), []string{"list"}, e.getenv, &out); err != nil || !strings.Contains(out.String(), "cli-rev") || strings.Contains(out.String(), pw[1]) {
		t.Fatalf("list: %v\n%s", err, out.String())
	}
	if err := authsvc.Admin(context.Background(), []string{"disable", "cli-rev"}, e.getenv, io.Discard); err != nil {
		t.Fatal(err)
	}
	if p := cc.get(t, "/console/queue"); p.status != 303 || p.location != "/console/login" {
		t.Fatalf("a disabled member's session: %d %s", p.status, p.location)
	}
	if err := authsvc.Admin(context.Background(), []string{"create", "x", "--role", "root"}, e.getenv, io.Discard); err == nil {
		t.Fatal("a bad name and role were accepted")
	}
}

// An approval vouches for the names the review page showed. The user
// renames themselves "Jane Victim" while a reviewer looks at their own
// name beside the document: the decision is refused (409) and the page
// shows the new name; and an approval that names what it saw (the admin
// API's seen_as) is vouched for beside that name only, however the
// profile changed before the approval arrived. Before, a pass said
// "verified · driving_licence" beside whatever name the profile held when
// the approval landed.
func TestAReviewVouchesForWhatThePageShowed(t *testing.T) {
	e, _ := startDocuments(t, nil)
	_, token := e.register("page-showed@example.com", "+14155550163", "7193")
	rename := func(first, last string) {
		t.Helper()
		expect(t, e.do(http.MethodPost, "/api/v2/update_name", token, js(map[string]string{"first_name": first, "last_name": last})), 200)
	}
	rename("Mallory", "Real")
	front := decodeDoc(t, e.addDocument(token, "5", "licence.jpg", imagextest.JPEG(64, 48, 1)))
	back := decodeDoc(t, e.addDocument(token, "6", "licence.jpg", imagextest.JPEG(64, 48, 2)))
	cc := e.consoleClient()
	cc.mustLogin(t, e.staff("page-rev", contract.RoleReviewer))
	hidden := regexp.MustCompile(`name="(seen_[a-z_]+)" value="([^"]*)"`)
	form := func(body string) url.Values {
		v := url.Values{"decision": {"approved"}}
		for _, m := range hidden.FindAllStringSubmatch(body, -1) {
			v.Set(m[1], m[2])
		}
		return v
	}
	path := fmt.Sprintf("/console/documents/%d", front.ID)
	page := cc.get(t, path)
	if seen := form(page.body); seen.Get("seen_first_name") != "Mallory" || seen.Get("seen_last_name") != "Real" {
		t.Fatalf("the page's names: %v", seen)
	}
	rename("Jane", "Victim")
	p := cc.post(t, path+"/decide", form(page.body))
	if p.status != 409 || !strings.Contains(p.body, "changed while this page was open") || form(p.body).Get("seen_first_name") != "Jane" {
		t.Fatalf("a decision beside a name since changed: %d %.500s", p.status, p.body)
	}
	if docs, _ := e.listDocuments(token, ""); docs[0].Status != "pending" && docs[1].Status != "pending" {
		t.Fatalf("decided all the same: %+v", docs)
	}

	// Past that check (a rename between it and the approval), what the
	// approval names is what is vouched for.
	approve := func(id int64, seen any) resp {
		return e.do(http.MethodPost, fmt.Sprintf("/admin/v1/documents/%d/approve", id), adminToken, js(map[string]any{"seen_as": seen}))
	}
	tooLong := approve(front.ID, map[string]string{"first_name": strings.Repeat("M", 256), "last_name": "Real"})
	expect(t, tooLong, 422)
	if tooLong.body["errors"] == nil {
		t.Fatalf("%s", tooLong.raw)
	}
	for _, id := range []int64{front.ID, back.ID} {
		expect(t, approve(id, map[string]string{"first_name": "Mallory", "last_name": "Real"}), 200)
	}
	eventually(t, "verified", func() bool { return e.profile(token).str("identity_status") == "verified" })
	claim := func() string {
		t.Helper()
		c, raw := passPayload(t, e.issuePass(token, map[string]any{"fields": []string{"first_name", "last_name", "identity_status"}}))
		if c["first_name"] == nil {
			t.Fatalf("%s", raw)
		}
		return fmt.Sprint(c["first_name"], " ", c["identity_status"])
	}
	if got := claim(); got != "Jane unverified" {
		t.Fatalf("a pass beside the name set during the review: %s, want Jane unverified", got)
	}
	rename("Mallory", "Real")
	if got := claim(); got != "Mallory verified" {
		t.Fatalf("a pass beside the name the reviewer saw: %s", got)
	}
}
