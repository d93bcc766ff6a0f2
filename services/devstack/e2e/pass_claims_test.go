package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/imagex/imagextest"
)

// passPayload decodes a pass's claims as any holder of the token can: no
// key needed, so whatever is in it is shown to every verifier.
func passPayload(t *testing.T, token string) (map[string]any, string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m, string(raw)
}

func (e *env) issuePass(token string, body any) string {
	e.t.Helper()
	r := e.do(http.MethodPost, "/api/v2/identity/pass", token, js(body))
	expect(e.t, r, http.StatusOK)
	return r.str("token")
}

func (e *env) verifyPass(pass string) resp {
	e.t.Helper()
	r := e.post("/api/v2/identity/verify", js(map[string]string{"token": pass}))
	expect(e.t, r, http.StatusOK)
	return r
}

// setAccount posts the seed's account form (names, birthdate; the same
// phone, so no phone change starts).
func (e *env) setAccount(token, phone, first, last, birthdate string) {
	e.t.Helper()
	body := map[string]string{"firstname": first, "lastname": last, "gender": "female", "birthdate": birthdate, "telephone": phone}
	r := e.do(http.MethodPost, "/api/user/profile", token, js(body))
	expect(e.t, r, http.StatusOK)
}

var imgSrc = regexp.MustCompile(`<img src="([^"]+)"`)

// noRedirect is a phone's browser one step at a time: the test sees the
// redirect to the photo before following it.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// passPhoto GETs the page's photo link as the verifier's browser would:
// the gateway's redirect (checked against openapi.yaml), then the link.
func (e *env) passPhoto(t *testing.T, src string) (status int, link string, body []byte) {
	t.Helper()
	u, err := url.Parse(e.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := url.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, u.ResolveReference(ref).String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	checkSpec(t, req, nil, res, raw)
	if res.StatusCode != http.StatusFound {
		return res.StatusCode, "", nil
	}
	link = res.Header.Get("Location")
	body, ct, st := fetch(t, link)
	if st != http.StatusOK || !strings.HasPrefix(ct, "image/") {
		t.Fatalf("the photo link answers %d %s", st, ct)
	}
	return res.StatusCode, link, body
}

// The gaps of issue 19 the first pass tests left: the photo on the HTML
// page, age_over_18 from the birthdate, a pass dying with the document
// that verified it (rejected, or deleted) on every gateway.
func TestIdentityPassClaims(t *testing.T) {
	e, _ := startDocuments(t, map[string]string{"DOSS_PASS_VERIFY_PER_MIN": "1000"})
	other := e.secondGateway()

	t.Run("the HTML page shows the user's own photo", func(t *testing.T) {
		const phone = "+18685550201"
		_, token := e.register("pass-photo@example.com", phone, "4829")
		e.setAccount(token, phone, "Ann", "Lee", "0000-00-00")
		up := e.upload(token, "me.jpg", imagextest.JPEG(24, 24, 0))
		expect(t, up, http.StatusOK)
		own, _, st := fetch(t, up.str("image"))
		if st != http.StatusOK || len(own) == 0 {
			t.Fatalf("the profile's own photo link: %d", st)
		}

		pass := e.issuePass(token, map[string]any{})
		page := e.do(http.MethodGet, "/v/"+pass, "", "")
		expect(t, page, http.StatusOK)
		for _, want := range []string{`class="verdict valid"`, "Valid: DOSS vouches for this pass", "<h1>Ann Lee</h1>", "Identity: unverified", "Expires "} {
			if !strings.Contains(page.raw, want) {
				t.Fatalf("the page lacks %q:\n%s", want, page.raw)
			}
		}
		m := imgSrc.FindStringSubmatch(page.raw)
		if m == nil {
			t.Fatalf("no <img> on the page:\n%s", page.raw)
		}
		status, link, photo := e.passPhoto(t, m[1])
		if status != http.StatusFound || !bytes.Equal(photo, own) {
			t.Fatalf("the page's photo: %d, %d bytes; want 302 to the user's %d bytes", status, len(photo), len(own))
		}
		// A fresh, short link: it lives no longer than a pass does.
		if exp, err := strconv.Atoi(mustQuery(t, link).Get("X-Amz-Expires")); err != nil || exp > 120 {
			t.Fatalf("the photo link lives %d s, want at most 120 (%v)", exp, err)
		}
		if payload, raw := passPayload(t, pass); payload["photo"] == "" || strings.Contains(raw, "http") || strings.Contains(raw, ".jpg") {
			t.Fatalf("the token should name the photo by digest only: %s", raw)
		}

		// No photo chosen: none on the page, and none through the link.
		named := e.issuePass(token, map[string]any{"fields": []string{"first_name"}})
		page = e.do(http.MethodGet, "/v/"+named, "", "")
		if !strings.Contains(page.raw, `class="verdict valid"`) || imgSrc.MatchString(page.raw) {
			t.Fatalf("a pass without the photo shows one:\n%s", page.raw)
		}
		if status, _, _ := e.passPhoto(t, "/v/"+named+"/photo"); status != http.StatusNotFound {
			t.Fatalf("photo of a pass that shows none: %d", status)
		}
		// A forged token gets no photo, and neither does an old pass once
		// the user changed their photo (it would show someone else's face
		// under the old claims).
		if status, _, _ := e.passPhoto(t, "/v/"+pass[:len(pass)-4]+"AAAA/photo"); status != http.StatusNotFound {
			t.Fatalf("photo of a forged pass: %d", status)
		}
		expect(t, e.upload(token, "new.jpg", imagextest.JPEG(32, 32, 0)), http.StatusOK)
		if status, _, _ := e.passPhoto(t, "/v/"+pass+"/photo"); status != http.StatusNotFound {
			t.Fatalf("an old pass still shows the new photo: %d", status)
		}
		// And the old pass is dead: a green page with no face would vouch
		// for a name anyone could stand behind.
		if v := e.verifyPass(pass); v.body["valid"] != false || v.str("reason") != "revoked" {
			t.Fatalf("a pass whose photo was replaced: %s", v.raw)
		}
		if page := e.do(http.MethodGet, "/v/"+pass, "", ""); !strings.Contains(page.raw, `class="verdict invalid"`) {
			t.Fatalf("a pass whose photo was replaced, page:\n%s", page.raw)
		}
		alive := e.issuePass(token, map[string]any{"fields": []string{"first_name"}})
		expect(t, e.upload(token, "third.jpg", imagextest.JPEG(40, 40, 0)), http.StatusOK)
		if v := e.verifyPass(alive); v.body["valid"] != true {
			t.Fatalf("a pass that shows no photo died with a photo change: %s", v.raw)
		}
	})

	t.Run("age_over_18 is derived from the birthdate, which stays out of the token", func(t *testing.T) {
		today := time.Now().UTC()
		cases := []struct {
			name, birthdate string
			over            bool
		}{
			{"an adult", "1990-05-15", true},
			{"18 today", today.AddDate(-18, 0, 0).Format(time.DateOnly), true},
			{"18 tomorrow", today.AddDate(-18, 0, 1).Format(time.DateOnly), false},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				phone := fmt.Sprintf("+1868555021%d", i)
				_, token := e.register(fmt.Sprintf("pass-age-%d@example.com", i), phone, "4829")
				e.setAccount(token, phone, "Bo", "Age", tc.birthdate)
				pass := e.issuePass(token, map[string]any{"fields": []string{"first_name", "age_over_18"}})
				payload, raw := passPayload(t, pass)
				if payload["age_over_18"] != tc.over {
					t.Fatalf("age_over_18 = %v, want %v: %s", payload["age_over_18"], tc.over, raw)
				}
				year := tc.birthdate[:4]
				if _, ok := payload["birthdate"]; ok || strings.Contains(raw, tc.birthdate) || strings.Contains(raw, `"`+year) {
					t.Fatalf("the birthdate is in the token: %s", raw)
				}
				v := e.verifyPass(pass)
				if v.body["valid"] != true {
					t.Fatalf("%s", v.raw)
				}
				if claims, _ := v.body["claims"].(map[string]any); claims["age_over_18"] != tc.over || claims["birthdate"] != nil {
					t.Fatalf("verified claims: %s", v.raw)
				}
				want := map[bool]string{true: "Over 18: yes", false: "Over 18: no"}[tc.over]
				if page := e.do(http.MethodGet, "/v/"+pass, "", ""); !strings.Contains(page.raw, want) || strings.Contains(page.raw, tc.birthdate) {
					t.Fatalf("the page should say %q and not the date:\n%s", want, page.raw)
				}
			})
		}
		t.Run("no birthdate, no claim", func(t *testing.T) {
			const phone = "+18685550219"
			_, token := e.register("pass-age-none@example.com", phone, "4829")
			r := e.do(http.MethodPost, "/api/v2/identity/pass", token, js(map[string]any{"fields": []string{"age_over_18"}}))
			expect(t, r, http.StatusUnprocessableEntity)
			if errs, _ := r.body["errors"].(map[string]any); errs["fields"] == nil {
				t.Fatalf("%s", r.raw)
			}
		})
	})

	// dead asks every gateway; each must say the pass is revoked.
	dead := func(t *testing.T, what, pass string) {
		t.Helper()
		for name, gw := range map[string]*env{"first gateway": e, "second gateway": other} {
			v := gw.post("/api/v2/identity/verify", js(map[string]string{"token": pass}))
			if v.status != http.StatusOK || v.body["valid"] != false || v.str("reason") != "revoked" {
				t.Fatalf("%s, %s: %s, want {valid: false, reason: revoked}", what, name, v.raw)
			}
			if page := gw.do(http.MethodGet, "/v/"+pass, "", ""); !strings.Contains(page.raw, `class="verdict invalid"`) || !strings.Contains(page.raw, "revoked") {
				t.Fatalf("%s, %s page:\n%s", what, name, page.raw)
			}
		}
	}
	alive := func(t *testing.T, what, pass, status string) {
		t.Helper()
		for name, gw := range map[string]*env{"first gateway": e, "second gateway": other} {
			v := gw.post("/api/v2/identity/verify", js(map[string]string{"token": pass}))
			if v.body["valid"] != true || v.str("claims", "identity_status") != status {
				t.Fatalf("%s, %s: %s, want valid and %s", what, name, v.raw, status)
			}
		}
	}
	review := func(t *testing.T, id int64, decision string) {
		t.Helper()
		body := ""
		if decision == "reject" {
			body = js(map[string]string{"reason": "The photo is blurred."})
		}
		expect(t, e.do(http.MethodPost, fmt.Sprintf("/admin/v1/documents/%d/%s", id, decision), adminToken, body), http.StatusOK)
	}
	add := func(t *testing.T, token, typeID string) int64 {
		t.Helper()
		r := e.addDocument(token, typeID, "doc.jpg", imagextest.JPEG(8, 8, 0))
		expect(t, r, http.StatusCreated)
		return decodeDoc(t, r).ID
	}
	status := func(token, want string) func() bool {
		return func() bool { return e.profile(token).str("identity_status") == want }
	}
	verify := func(t *testing.T, token, front, back string) (int64, int64) {
		t.Helper()
		f, b := add(t, token, front), add(t, token, back)
		review(t, f, "approve")
		review(t, b, "approve")
		eventually(t, "verified", status(token, "verified"))
		return f, b
	}

	t.Run("a rejected document kills the passes it no longer backs, on every gateway", func(t *testing.T) {
		const phone = "+18685550221"
		_, token := e.register("pass-reject@example.com", phone, "4829")
		verify(t, token, "3", "4") // both sides of a passport
		verified := e.issuePass(token, map[string]any{"fields": []string{"first_name", "identity_status"}})
		if p, raw := passPayload(t, verified); p["identity_status"] != "verified" || !strings.Contains(raw, `"verified_documents":["passport"]`) {
			t.Fatalf("%s", raw)
		}
		alive(t, "before", verified, "verified")

		// A new passport back waits for review: the passport is no longer
		// wholly approved, and a pass made now says pending.
		replacement := add(t, token, "4")
		eventually(t, "pending", status(token, "pending"))
		dead(t, "after the replacement upload", verified)
		pending := e.issuePass(token, map[string]any{"fields": []string{"identity_status"}})
		alive(t, "a pending pass", pending, "pending")

		review(t, replacement, "reject")
		// The front is still approved, so not every type is rejected: the
		// identity is unverified (IdentityStatus), and no longer pending.
		eventually(t, "unverified", status(token, "unverified"))
		dead(t, "the verified pass after the rejection", verified)
		dead(t, "the pending pass after the rejection", pending)
		if r := e.do(http.MethodPost, "/api/v2/identity/pass", token, js(map[string]any{"fields": []string{"identity_status"}})); r.status != http.StatusOK {
			t.Fatalf("%s", r.raw)
		} else if p, _ := passPayload(t, r.str("token")); p["identity_status"] != "unverified" {
			t.Fatalf("a new pass claims %v, want unverified", p["identity_status"])
		}
	})

	t.Run("deleting the document that verified the identity kills the pass, on every gateway", func(t *testing.T) {
		const phone = "+18685550222"
		_, token := e.register("pass-delete@example.com", phone, "4829")
		front, _ := verify(t, token, "1", "2") // a national ID
		pass := e.issuePass(token, map[string]any{})
		alive(t, "before", pass, "verified")
		expect(t, e.do(http.MethodDelete, fmt.Sprintf("/api/v2/my/documents/%d", front), token, ""), http.StatusNoContent)
		dead(t, "after the delete", pass) // at once: the delete answers after the profile changed
		// A pass that claims no identity status is not tied to documents.
		named := e.issuePass(token, map[string]any{"fields": []string{"first_name"}})
		alive(t, "a pass without identity_status", named, "")
	})

	t.Run("a pass opens no app route, an app token is no pass", func(t *testing.T) {
		const phone = "+18685550223"
		_, token := e.register("pass-bearer@example.com", phone, "4829")
		pass := e.issuePass(token, map[string]any{})
		for _, route := range []struct{ method, path, body string }{
			{http.MethodGet, "/api/v2/profile", ""},
			{http.MethodPost, "/api/v2/identity/pass", "{}"},
			{http.MethodPost, "/api/v2/identity/pass/revoke", ""},
			{http.MethodGet, "/api/v2/identity/verifications", ""},
			{http.MethodGet, "/api/v2/sessions", ""},
		} {
			expect(t, e.do(route.method, route.path, pass, route.body), http.StatusUnauthorized)
		}
		if v := e.verifyPass(token); v.body["valid"] != false || v.str("reason") != "invalid" {
			t.Fatalf("an app token as a pass: %s", v.raw)
		}
		if page := e.do(http.MethodGet, "/v/"+token, "", ""); !strings.Contains(page.raw, `class="verdict invalid"`) {
			t.Fatalf("an app token on the page:\n%s", page.raw)
		}
		alive(t, "the pass itself still", pass, "unverified")
	})
}
