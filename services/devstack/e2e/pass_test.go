package e2e

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The identity pass end to end: the QR a phone camera reads, the verdict
// anyone sees, a revocation refused on another gateway within 1 s.
func TestIdentityPass(t *testing.T) {
	e := start(t, map[string]string{"DOSS_PUBLIC_URL": "https://verify.test"})
	_, token := e.register("pass@example.com", "+18685550190", "4829")

	r := e.do("POST", "/api/v2/identity/pass", token, `{}`)
	expect(t, r, 200)
	pass := r.str("token")
	if r.str("qr_text") != "https://verify.test/v/"+pass {
		t.Fatalf("qr_text %q", r.str("qr_text"))
	}
	t.Run("the QR decodes to the URL", func(t *testing.T) {
		zbar, err := exec.LookPath("zbarimg")
		if err != nil {
			t.Skip("zbarimg is not installed (Debian: apt-get install zbar-tools); the QR is not checked")
		}
		png, err := base64.StdEncoding.DecodeString(r.str("qr_png"))
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "qr.png")
		if err := os.WriteFile(f, png, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(zbar, "--quiet", "--raw", f).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != r.str("qr_text") {
			t.Fatalf("the QR says %q", got)
		}
	})

	v := e.post("/api/v2/identity/verify", js(map[string]string{"token": pass}))
	expect(t, v, 200)
	if v.body["valid"] != true || v.str("claims", "identity_status") != "unverified" {
		t.Fatalf("%s", v.raw)
	}
	t.Run("a pass is no bearer token, and an app token no pass", func(t *testing.T) {
		expect(t, e.do("GET", "/api/v2/profile", pass, ""), 401)
		v := e.post("/api/v2/identity/verify", js(map[string]string{"token": token}))
		if v.body["valid"] != false || v.str("reason") != "invalid" {
			t.Fatalf("%s", v.raw)
		}
	})
	t.Run("the HTML page is green for a valid pass, red for a forged one", func(t *testing.T) {
		page := e.do("GET", "/v/"+pass, "", "")
		expect(t, page, 200)
		if !strings.Contains(page.raw, `class="verdict valid"`) || strings.Contains(page.raw, "<script") {
			t.Fatalf("%s", page.raw)
		}
		bad := e.do("GET", "/v/"+pass[:len(pass)-4]+"AAAA", "", "")
		if !strings.Contains(bad.raw, `class="verdict invalid"`) {
			t.Fatalf("%s", bad.raw)
		}
	})

	other := e.secondGateway()
	expect(t, other.post("/api/v2/identity/verify", js(map[string]string{"token": pass})), 200)
	expect(t, e.do("POST", "/api/v2/identity/pass/revoke", token, ""), 204)
	revokedAt := time.Now()
	for {
		v := other.post("/api/v2/identity/verify", js(map[string]string{"token": pass}))
		if v.body["valid"] == false && v.str("reason") == "revoked" {
			break
		}
		if time.Since(revokedAt) > time.Second {
			t.Fatalf("still accepted on the second gateway 1 s after the revocation: %s", v.raw)
		}
	}
	t.Logf("revoked on the second gateway after %v", time.Since(revokedAt))

	l := e.do("GET", "/api/v2/identity/verifications", token, "")
	expect(t, l, 200)
	if list, _ := l.body["verifications"].([]any); len(list) < 2 {
		t.Fatalf("%s", l.raw)
	}
}
