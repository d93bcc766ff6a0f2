package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/labstack/echo/v4"
)

// An admin call is about a user only when its route names one by id; a
// document's id, a malformed id or another route names no one.
func TestAuditedUser(t *testing.T) {
	e := echo.New()
	var got int64
	record := func(c echo.Context) error { got = auditedUser(c); return nil }
	for _, r := range []string{"/admin/v1/users/:id/wallet", "/admin/v1/users/:id/orders", "/admin/v1/documents/:id/approve", "/admin/v1/whoami"} {
		e.POST(r, record)
	}
	for path, want := range map[string]int64{
		"/admin/v1/users/42/wallet":     42,
		"/admin/v1/users/7/orders":      7,
		"/admin/v1/users/-3/wallet":     0,
		"/admin/v1/users/x/wallet":      0,
		"/admin/v1/documents/9/approve": 0,
		"/admin/v1/whoami":              0,
	} {
		t.Run(path, func(t *testing.T) {
			got = -1
			e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, path, nil))
			if got != want {
				t.Fatalf("auditedUser = %d, want %d", got, want)
			}
		})
	}
}

// DOSS_ADMIN_TOKENS: name:role:token with a role, name:token an admin (the
// old form keeps working); a token with a colon in it stays whole.
func TestParseAdminTokensRoles(t *testing.T) {
	tok := strings.Repeat("t", 32)
	for _, tc := range []struct {
		in, name, role, token string
		bad                   bool
	}{
		{in: "alice:" + tok, name: "alice", role: contract.RoleAdmin, token: tok},
		{in: "rita:reviewer:" + tok, name: "rita", role: contract.RoleReviewer, token: tok},
		{in: "sam:support:" + tok, name: "sam", role: contract.RoleSupport, token: tok},
		{in: "bob:" + tok + ":x", name: "bob", role: contract.RoleAdmin, token: tok + ":x"},
		{in: "eve:root:" + tok, name: "eve", role: contract.RoleAdmin, token: "root:" + tok},
		{in: "short:reviewer:abc", bad: true},
		{in: ":" + tok, bad: true},
	} {
		t.Run(tc.in[:min(len(tc.in), 20)], func(t *testing.T) {
			got, err := parseAdminTokens(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted %q", tc.in)
				}
				return
			}
			if err != nil || len(got) != 1 {
				t.Fatalf("%v %v", got, err)
			}
			if name, role := adminName(got, tc.token); name != tc.name || role != tc.role {
				t.Fatalf("%q → %s/%s, want %s/%s", tc.in, name, role, tc.name, tc.role)
			}
			if name, _ := adminName(got, tok+"0"); name != "" {
				t.Fatal("another token admitted")
			}
		})
	}
}

// Console pages refuse framing and inline script, and allow images only
// from the origins of the links they show.
func TestConsoleCSP(t *testing.T) {
	csp := consoleCSP([]string{origin("http://127.0.0.1:9000/bucket/key?X-Amz-Signature=x"), origin("javascript:alert(1)")})
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "frame-ancestors 'none'", "img-src 'self' http://127.0.0.1:9000 ;"} {
		if !strings.Contains(csp, strings.TrimSuffix(want, " ;")) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "javascript") {
		t.Errorf("CSP %q", csp)
	}
	if csvSafe("=HYPERLINK(1)") != "'=HYPERLINK(1)" || csvSafe("Mozilla") != "Mozilla" {
		t.Error("csvSafe")
	}
}
