package gateway

import (
	"strings"
	"testing"

	"github.com/dossapp/backend/pkg/contract"
)

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
