package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/imagex/imagextest"
	"github.com/dossapp/backend/pkg/natsx"
)

// attack is one bad request and what must come back. Adding a case for a
// new route is one entry in corpus (or one endpoint in jsonEndpoints,
// which gives it every generic body).
type attack struct {
	name   string
	method string
	path   string
	body   string
	// ct is the Content-Type: "" is application/json when there is a
	// body, noHeader sends none.
	ct string
	// auth is the whole Authorization value: "" is the victim's bearer
	// token, noHeader sends none. header adds more (and may repeat
	// Authorization).
	auth   string
	header http.Header
	// raw, when set, is written to the socket as it is, for framing the
	// Go client refuses to send; {TOKEN} is the victim's token.
	raw    string
	status int    // 0: any 4xx
	field  string // a 422 must name it in errors
	// route names a route another branch adds: while it answers the
	// router's 404 here, its cases skip.
	route string
}

const noHeader = "\x00none"

// Routes another branch adds, probed once: while a probe gets the router's
// own 404 its cases skip, and they run by themselves once it is merged
// (the account API's did). A new route is one entry here.
var pendingRoutes = map[string]attack{
	"account":       {method: http.MethodGet, path: "/api/user/profile"},
	"account-admin": {method: http.MethodPost, path: "/admin/v1/users/999999999/wallet", body: `{}`, auth: "Bearer " + adminToken},
}

// jsonEndpoint is a route that reads a JSON object; fields are its string
// fields, the first the one the generic cases aim at.
type jsonEndpoint struct {
	path   string
	fields []string
	auth   string
	route  string
	// limit is the route's JSON body limit when it has its own.
	limit int
}

// nobodyUser is far beyond any id the test creates, so even a body that
// passed every check would find no account to change.
const nobodyUser = "999999999"

var jsonEndpoints = []jsonEndpoint{
	{path: "/api/v2/email_send_otp", fields: []string{"email"}, auth: noHeader},
	{path: "/api/v2/email_verify_otp", fields: []string{"email", "verification_code"}, auth: noHeader},
	{path: "/api/v2/phone_send_otp", fields: []string{"email", "phone"}, auth: noHeader},
	{path: "/api/v2/phone_verify_otp", fields: []string{"uuid", "verification_code"}, auth: noHeader},
	{path: "/api/v2/set_pin", fields: []string{"uuid", "pin"}, auth: noHeader},
	{path: "/api/v2/confirm_pin", fields: []string{"uuid", "confirm_pin"}, auth: noHeader},
	{path: "/api/v2/new-login", fields: []string{"phone", "password"}, auth: noHeader},
	{path: "/api/v2/login/verify-otp", fields: []string{"challenge", "otp"}, auth: noHeader},
	{path: "/api/v2/update_name", fields: []string{"first_name", "last_name"}},
	{path: "/api/v2/update_email", fields: []string{"last_email", "new_email"}},
	{path: "/api/v2/update_phone", fields: []string{"old_phone", "new_phone"}},
	{path: "/api/v2/verify_contact", fields: []string{"channel", "verification_code"}},
	// Only ever an invalid new password: a wrong old one would count
	// towards the victim's lockout.
	{path: "/api/user/change-password", fields: []string{"password", "old_password"}},
	{path: "/api/v2/my/documents", fields: []string{"file"}, limit: 16 << 10},
	{path: "/admin/v1/documents/1/reject", fields: []string{"reason"}, auth: "Bearer " + adminToken},
	{path: "/api/user/profile", fields: []string{"firstname", "lastname", "gender", "birthdate", "telephone"}, route: "account"},
	{path: "/api/user/profile/2fa", fields: []string{"firstname", "lastname", "telephone"}, route: "account"},
	{path: "/api/user/profile/verify-otp", fields: []string{"telephone", "otp"}, route: "account"},
	{path: "/admin/v1/users/" + nobodyUser + "/wallet", fields: []string{"id", "balance", "entry"}, auth: "Bearer " + adminToken, route: "account-admin"},
	{path: "/admin/v1/users/" + nobodyUser + "/orders", fields: []string{"id", "order_id", "status"}, auth: "Bearer " + adminToken, route: "account-admin"},
}

// genericBodies are the malformed bodies every JSON endpoint gets.
func genericBodies(ep jsonEndpoint) []attack {
	f := ep.fields[0]
	f2 := f
	if len(ep.fields) > 1 {
		f2 = ep.fields[1]
	}
	q := func(s string) string { return `"` + s + `"` }
	over := 64 << 10
	if ep.limit > 0 {
		over = ep.limit
	}
	arrayLen := min(over/2-100, 20000) / 2
	return []attack{
		{name: "truncated object", body: `{` + q(f) + `:`, status: 400},
		{name: "truncated string", body: `{` + q(f) + `:"abc`, status: 400},
		{name: "trailing garbage", body: `{` + q(f) + `:"x"}}`, status: 400},
		{name: "array body", body: `[{` + q(f) + `:"x"}]`, status: 400},
		{name: "string body", body: q(f), status: 400},
		{name: "null body", body: `null`},
		{name: "number for string", body: `{` + q(f) + `:1234}`, status: 422, field: f},
		{name: "huge number for string", body: `{` + q(f) + `:1e400}`, status: 422, field: f},
		{name: "operator $gt", body: `{` + q(f) + `:{"$gt":""}}`, status: 422, field: f},
		{name: "operator $where", body: `{` + q(f) + `:{"$where":"sleep(5000) || true"}}`, status: 422, field: f},
		{name: "array for string", body: `{` + q(f) + `:["a",{"$ne":null}]}`, status: 422, field: f},
		{name: "bool for string", body: `{` + q(f) + `:true}`, status: 422, field: f},
		{name: "null fields", body: `{` + q(f) + `:null,` + q(f2) + `:null}`},
		{name: "1 MB string", body: `{` + q(f) + `:"` + strings.Repeat("A", 1<<20) + `"}`, status: 413},
		{name: "huge array", body: `{` + q(f) + `:[` + strings.TrimSuffix(strings.Repeat("0,", arrayLen), ",") + `]}`, status: 422, field: f},
		{name: "deep nesting", body: `{` + q(f) + `:` + strings.Repeat("[", min(over-100, 12000)), status: 400},
		{name: "dotted and dollar keys", body: `{` + q(f+".$") + `:"x","$where":"1==1",` + q("$set") + `:{` + q(f) + `:"x"},` + q(f) + `:"x"}`},
		// One reading of a body (issue 15): a repeated name or bytes that
		// are not UTF-8 are a 400, and a name in another case is an
		// unknown member, never the field.
		{name: "duplicate key, the last an operator", body: `{` + q(f) + `:"x",` + q(f) + `:{"$gt":""}}`, status: 400},
		{name: "duplicate key, both strings", body: `{` + q(f) + `:"x",` + q(f2) + `:"y",` + q(f) + `:"z"}`, status: 400},
		{name: "duplicate key, the second escaped", body: `{` + q(f) + `:"x",` + q(fmt.Sprintf(`\u%04x`, f[0])+f[1:]) + `:"y"}`, status: 400},
		{name: "duplicate key in a nested object", body: `{` + q(f) + `:"x","extra":{"a":1,"a":2}}`, status: 400},
		{name: "case variant holding an operator", body: `{` + q(strings.ToUpper(f)) + `:{"$gt":""}}`},
		{name: "case variant with Kelvin sign", body: `{` + q(strings.ReplaceAll(f, "k", "K")) + `:{"$gt":""}}`},
		{name: "invalid UTF-8 in a value", body: `{` + q(f) + `:"` + "\xff\xfe" + `@example.com"}`, status: 400},
		{name: "invalid UTF-8 in a name", body: `{` + q(f+"\xc3") + `:"x"}`, status: 400},
		{name: "NUL in values", body: `{` + q(f) + `:"a\u0000b",` + q(f2) + `:"\u0000"}`},
		{name: "lone surrogates", body: `{` + q(f) + `:"\ud800",` + q(f2) + `:"x\udc00"}`, status: 400},
		{name: "overlong UTF-8 bytes", body: `{` + q(f) + `:"` + "\xc0\xaf\xc0\xae\xe0\x80\xaf" + `",` + q(f2) + `:"` + "\xff\xfe" + `"}`, status: 400},
		{name: "RTL override and zero-width", body: `{` + q(f) + `:"\u202e\u200bx\u200d",` + q(f2) + `:"\u2066\ufeff"}`},
		{name: "combining marks", body: `{` + q(f) + `:"` + "Z" + strings.Repeat("\u0336\u0337\u0338", 40) + `",` + q(f2) + `:"` + strings.Repeat("\u0301", 60) + `"}`},
		{name: "byte-order mark before the body", body: "\ufeff{" + q(f) + `:"x"}`, status: 400},
	}
}

// badIDs are path segments no route may take for an id.
var badIDs = []string{
	"..", "..%2F..%2Fprofile", "%2e%2e", "%2e%2e%2f%2e%2e%2fv2%2fprofile", "%252e%252e", "%00", "1%00", "-1", "0",
	"0x1", "1e3", "+1", "%EF%BC%91", "%D9%A1", "99999999999999999999999", strings.Repeat("9", 4000),
	"%7B%22%24gt%22%3A%22%22%7D", "*", "%3E", "a.b.%2A", "1;DROP%20TABLE", "%E2%80%AE1",
}

// tokenKit forges tokens: with the system's own key (bad claims), with
// an attacker's key, or with none.
type tokenKit struct {
	kid      string
	key      ed25519.PrivateKey
	attacker ed25519.PrivateKey
	claims   jwt.MapClaims // the victim's
}

func (k tokenKit) sign(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, mutate func(jwt.MapClaims)) string {
	t.Helper()
	c := jwt.MapClaims{}
	for n, v := range k.claims {
		c[n] = v
	}
	if mutate != nil {
		mutate(c)
	}
	tok := jwt.NewWithClaims(method, c)
	tok.Header["kid"] = k.kid
	for n, v := range header {
		if v == nil {
			delete(tok.Header, n)
		} else {
			tok.Header[n] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tokenAttacks(t *testing.T, k tokenKit, valid string) []attack {
	pub := k.key.Public().(ed25519.PublicKey)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	none := k.sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, nil)
	own := func(mutate func(jwt.MapClaims)) string { return k.sign(t, jwt.SigningMethodEdDSA, k.key, nil, mutate) }
	theirs := func(header map[string]any) string { return k.sign(t, jwt.SigningMethodEdDSA, k.attacker, header, nil) }
	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	mid := len(parts[2]) / 2
	flipped := parts[2][:mid] + string("AB"[boolIndex(parts[2][mid] == 'A')]) + parts[2][mid+1:]
	attackerJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(k.attacker.Public().(ed25519.PublicKey))}
	now := time.Now()
	tokens := []struct{ name, value string }{
		{"alg none", none},
		{"alg none, header says NONE", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"NONE","kid":"`+k.kid+`"}`)) + "." + parts[1] + "."},
		{"alg none with the real signature", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+k.kid+`"}`)) + "." + parts[1] + "." + parts[2]},
		{"HS256 keyed with the public key bytes", k.sign(t, jwt.SigningMethodHS256, []byte(pub), nil, nil)},
		{"HS256 keyed with the public key base64", k.sign(t, jwt.SigningMethodHS256, []byte(base64.StdEncoding.EncodeToString(pub)), nil, nil)},
		{"HS256 keyed with the public key PEM", k.sign(t, jwt.SigningMethodHS256, pemKey, nil, nil)},
		{"attacker key, real kid", theirs(nil)},
		{"attacker key, kid path traversal", theirs(map[string]any{"kid": "../../../../dev/null"})},
		{"attacker key, kid SQL", theirs(map[string]any{"kid": "' OR '1'='1"})},
		{"attacker key, kid operator", theirs(map[string]any{"kid": map[string]any{"$ne": nil}})},
		{"attacker key, kid 3000 chars", theirs(map[string]any{"kid": strings.Repeat("k", 3000)})},
		{"attacker key, kid NUL", theirs(map[string]any{"kid": k.kid + "\x00"})},
		{"attacker key, no kid", theirs(map[string]any{"kid": nil})},
		{"attacker key embedded as jwk", theirs(map[string]any{"jwk": attackerJWK})},
		{"attacker key behind jku", theirs(map[string]any{"jku": "http://127.0.0.1:1/keys.json"})},
		{"attacker key behind x5u", theirs(map[string]any{"x5u": "http://127.0.0.1:1/cert.pem"})},
		{"own key, no exp", own(func(c jwt.MapClaims) { delete(c, "exp") })},
		{"own key, expired an hour ago", own(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })},
		{"own key, issued in an hour", own(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })},
		{"own key, not before an hour", own(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })},
		{"own key, other issuer", own(func(c jwt.MapClaims) { c["iss"] = "evil" })},
		{"own key, other audience", own(func(c jwt.MapClaims) { c["aud"] = []string{"evil"} })},
		{"own key, no uid", own(func(c jwt.MapClaims) { delete(c, "uid") })},
		{"own key, uid as string", own(func(c jwt.MapClaims) { c["uid"] = fmt.Sprint(c["uid"]) })},
		{"own key, uid as operator", own(func(c jwt.MapClaims) { c["uid"] = map[string]any{"$gt": 0} })},
		{"own key, no sid", own(func(c jwt.MapClaims) { delete(c, "sid") })},
		{"own key, no subject", own(func(c jwt.MapClaims) { delete(c, "sub") })},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte(`"uid":`), []byte(`"uid":9`), 1)) + "." + parts[2]},
		{"signature bit flipped", parts[0] + "." + parts[1] + "." + flipped},
		{"truncated signature", valid[:len(valid)-6]},
		{"no signature", parts[0] + "." + parts[1] + "."},
		{"two segments", parts[0] + "." + parts[1]},
		{"extra segment", valid + ".x"},
		{"five segments (JWE shape)", valid + ".a.b"},
		{"padded base64", parts[0] + "==." + parts[1] + "." + parts[2]},
		{"whitespace inside", parts[0] + ". " + parts[1] + "." + parts[2]},
		{"huge", valid + strings.Repeat("A", 5000)},
		{"just over 4096", strings.Repeat("a", 4097)},
		{"non-ASCII", "é.ü.ñ"},
		{"null", "null"},
		{"empty", ""},
	}
	var out []attack
	for _, tk := range tokens {
		out = append(out,
			attack{name: "token " + tk.name, method: http.MethodGet, path: "/api/v2/profile", auth: "Bearer " + tk.value, status: 401},
			attack{name: "token " + tk.name + " (change-password)", method: http.MethodPost, path: "/api/user/change-password", auth: "Bearer " + tk.value,
				body: `{"old_password":"x","password":"short"}`, status: 401})
	}
	return append(out,
		attack{name: "scheme Basic", method: http.MethodGet, path: "/api/v2/profile", auth: "Basic dXNlcjpwYXNz", status: 401},
		attack{name: "scheme repeated", method: http.MethodGet, path: "/api/v2/profile", auth: "Bearer Bearer " + valid, status: 401},
		attack{name: "token without scheme", method: http.MethodGet, path: "/api/v2/profile", auth: valid, status: 401},
		attack{name: "scheme only", method: http.MethodGet, path: "/api/v2/profile", auth: "Bearer", status: 401},
		attack{name: "600 KB Authorization", method: http.MethodGet, path: "/api/v2/profile", auth: "Bearer " + strings.Repeat("A", 600<<10), status: 401},
		attack{name: "token in the query string", method: http.MethodGet, path: "/api/v2/profile?token=" + valid + "&access_token=" + valid, auth: noHeader, status: 401},
		attack{name: "duplicate Authorization, valid first", method: http.MethodGet, path: "/api/v2/profile", header: http.Header{"Authorization": {"Bearer garbage"}}, status: 401},
		attack{name: "duplicate Authorization, valid last", method: http.MethodGet, path: "/api/v2/profile", auth: "Bearer garbage", header: http.Header{"Authorization": {"Bearer " + valid}}, status: 401},
		attack{name: "duplicate Authorization, both valid", method: http.MethodGet, path: "/api/v2/profile", header: http.Header{"Authorization": {"Bearer " + valid}}, status: 401},
		attack{name: "admin token on a user route", method: http.MethodGet, path: "/api/v2/profile", auth: "Bearer " + adminToken, status: 401},
		attack{name: "user token on an admin route", method: http.MethodGet, path: "/admin/v1/whoami", status: 401},
		attack{name: "duplicate Authorization on an admin route", method: http.MethodGet, path: "/admin/v1/whoami", auth: "Bearer " + adminToken, header: http.Header{"Authorization": {"Bearer x"}}, status: 401},
	)
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// part is one multipart part: its headers as written and its content.
type part struct {
	header string // e.g. `Content-Disposition: form-data; name="image"; filename="a.jpg"`
	data   string
}

func formPart(field, filename, data string) part {
	return part{header: `Content-Disposition: form-data; name="` + field + `"; filename="` + filename + `"` + "\r\nContent-Type: image/jpeg", data: data}
}

func multipartBody(boundary string, parts ...part) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("--" + boundary + "\r\n" + p.header + "\r\n\r\n" + p.data + "\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.String()
}

// polyglots are files that are not a photo or a scan, or pretend to be
// two things at once.
func polyglots() []struct{ name, file, data string } {
	zip := "PK\x03\x04\x14\x00\x00\x00\x08\x00" + strings.Repeat("\x00", 20) + "evil.php<?php system($_GET['c']); ?>PK\x05\x06" + strings.Repeat("\x00", 18)
	return []struct{ name, file, data string }{
		{"JPEG header + ZIP", "photo.jpg", "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xfe\x00\x10<?php echo 1;?>" + zip},
		{"SVG with script", "photo.svg", `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(document.cookie)</script></svg>`},
		{"SVG named jpg", "photo.jpg", `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`},
		{"GIF", "photo.gif", "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"},
		{"GIF with script (GIFAR)", "photo.gif", "GIF89a/*\x01\x00\x01\x00\x00\x00\x00;*/=1;alert(1);" + zip},
		{"PDF", "scan.pdf", "%PDF-1.4\n1 0 obj<</Type/Catalog/OpenAction<</S/JavaScript/JS(app.alert(1))>>>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF"},
		{"HTML named jpg", "photo.jpg", "<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"},
		{"PHP named jpg", "shell.php.jpg", "<?php system($_GET['c']); ?>"},
		{"ZIP", "photo.zip", zip},
		{"Windows executable", "photo.jpg", "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + strings.Repeat("\x00", 50) + "This program cannot be run in DOS mode"},
		{"PNG signature then HTML", "photo.png", "\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>"},
		{"PNG bomb", "bomb.png", string(imagextest.PNGBomb(100000, 100000))},
		{"JPEG cut short", "photo.jpg", string(imagextest.JPEG(64, 64, 1)[:200])},
	}
}

func multipartAttacks(path, field string, extra ...part) []attack {
	b := "xBOUNDARYx"
	ct := "multipart/form-data; boundary=" + b
	with := func(parts ...part) string { return multipartBody(b, append(append([]part{}, extra...), parts...)...) }
	jpeg := string(imagextest.JPEG(16, 16, 1))
	nested := multipartBody("inner", formPart(field, "a.jpg", jpeg))
	many := make([]part, 3000)
	for i := range many {
		many[i] = part{header: fmt.Sprintf(`Content-Disposition: form-data; name="f%d"`, i), data: "x"}
	}
	out := []attack{
		{name: "no boundary", ct: "multipart/form-data", body: with(formPart(field, "a.jpg", jpeg)), status: 415},
		{name: "empty boundary", ct: `multipart/form-data; boundary=""`, body: with(formPart(field, "a.jpg", jpeg)), status: 415},
		{name: "multipart/mixed", ct: "multipart/mixed; boundary=" + b, body: with(formPart(field, "a.jpg", jpeg)), status: 415},
		{name: "boundary mismatch", ct: "multipart/form-data; boundary=other", body: with(formPart(field, "a.jpg", jpeg))},
		{name: "wrong field name", ct: ct, body: with(formPart(field+"s", "a.jpg", jpeg)), status: 422},
		{name: "empty file", ct: ct, body: with(formPart(field, "a.jpg", "")), status: 422},
		{name: "no parts", ct: ct, body: "--" + b + "--\r\n", status: 422},
		// One part per field (issue 15): which of two a reader takes is
		// its choice, so no reader gets one.
		{name: "two file parts", ct: ct, body: with(formPart(field, "a.jpg", jpeg), formPart(field, "b.jpg", jpeg)), status: 422, field: field},
		{name: "two file parts, the second empty", ct: ct, body: with(formPart(field, "a.jpg", jpeg), formPart(field, "b.jpg", "")), status: 422, field: field},
		{name: "empty body", ct: ct, body: ""},
		{name: "3000 parts, none the file", ct: ct, body: with(many...), status: 422},
		{name: "huge part header", ct: ct, body: with(part{header: `Content-Disposition: form-data; name="` + field + `"; filename="` + strings.Repeat("A", 60<<10) + `.jpg"`, data: "not an image"})},
		{name: "1 MB of part headers", ct: ct, body: with(part{header: strings.Repeat("X-Pad: "+strings.Repeat("p", 1000)+"\r\n", 1000) + `Content-Disposition: form-data; name="` + field + `"`, data: "x"})},
		{name: "nested multipart", ct: ct, body: with(part{header: `Content-Disposition: form-data; name="` + field + `"` + "\r\nContent-Type: multipart/mixed; boundary=inner", data: nested})},
		{name: "cut off inside the file", ct: ct, body: "--" + b + "\r\n" + formPart(field, "a.jpg", "").header + "\r\n\r\n" + jpeg[:100]},
		{name: "filename traversal with text", ct: ct, body: with(formPart(field, "../../../../etc/passwd.jpg", "root:x:0:0:root:/root:/bin/bash\n"))},
		{name: "charset trick", ct: ct + "; charset=utf-7", body: with(formPart(field, "a.jpg", "+ADw-script+AD4-alert(1)+ADw-/script+AD4-"))},
		{name: "base64 transfer encoding", ct: ct, body: with(part{header: formPart(field, "a.jpg", "").header + "\r\nContent-Transfer-Encoding: base64", data: base64.StdEncoding.EncodeToString([]byte("<html>"))})},
	}
	for _, p := range polyglots() {
		out = append(out, attack{name: "polyglot " + p.name, ct: ct, body: with(formPart(field, p.file, p.data))})
	}
	for i := range out {
		out[i].name, out[i].method, out[i].path = path+" "+out[i].name, http.MethodPost, path
	}
	return out
}

// corpus is every bad request, each with the answer it must get.
func corpus(t *testing.T, k tokenKit, valid string) []attack {
	var out []attack
	for _, ep := range jsonEndpoints {
		for _, a := range genericBodies(ep) {
			a.name = ep.path + " " + a.name
			a.method, a.path, a.auth, a.route = http.MethodPost, ep.path, ep.auth, ep.route
			out = append(out, a)
		}
	}
	// Values with the right type that no endpoint may take.
	out = append(out,
		attack{name: "email with NUL", path: "/api/v2/email_send_otp", body: `{"email":"a\u0000@example.com"}`, auth: noHeader, status: 422, field: "email"},
		attack{name: "email with RTL override", path: "/api/v2/email_send_otp", body: `{"email":"a\u202e@example.com"}`, auth: noHeader, status: 422, field: "email"},
		attack{name: "email with zero-width space", path: "/api/v2/email_send_otp", body: `{"email":"a\u200b@example.com"}`, auth: noHeader, status: 422, field: "email"},
		attack{name: "email with a display name", path: "/api/v2/email_send_otp", body: `{"email":"Eve <eve@example.com>"}`, auth: noHeader, status: 422, field: "email"},
		attack{name: "email with CRLF header injection", path: "/api/v2/email_send_otp", body: `{"email":"a@example.com\r\nBcc: all@example.com"}`, auth: noHeader, status: 422, field: "email"},
		// Look-alikes of another address (issue 15): one script per part.
		attack{name: "email with a Cyrillic a", path: "/api/v2/email_send_otp", body: `{"email":"\u0430lice@example.com"}`, auth: noHeader, status: 422, field: "email"},
		attack{name: "email domain with a Cyrillic a", path: "/api/v2/email_send_otp", body: `{"email":"alice@ex\u0430mple.com"}`, auth: noHeader, status: 422, field: "email"},
		attack{name: "email with a Greek o", path: "/api/v2/phone_send_otp", body: `{"email":"vict\u03bfm@example.com","phone":"+18681239000"}`, auth: noHeader, status: 422, field: "email"},
		attack{name: "email with a fullwidth letter", path: "/api/v2/email_verify_otp", body: `{"email":"\uff56ictim@example.com","verification_code":"1234"}`, auth: noHeader, status: 422, field: "email"},
		attack{name: "new email with a Cyrillic i", path: "/api/v2/update_email", body: `{"last_email":"victim@example.com","new_email":"vict\u0456m@example.com"}`, status: 422, field: "new_email"},
		attack{name: "email 300 chars", path: "/api/v2/email_send_otp", body: `{"email":"` + strings.Repeat("a", 290) + `@example.com"}`, auth: noHeader, status: 422, field: "email"},
		attack{name: "phone with Arabic-Indic digits", path: "/api/v2/phone_send_otp", body: `{"email":"a@example.com","phone":"+١٨٦٨١٢٣٤٥٦٧"}`, auth: noHeader, status: 422, field: "phone"},
		attack{name: "phone with fullwidth digits", path: "/api/v2/new-login", body: `{"phone":"+１８６８１２３４５６７","password":"4829"}`, auth: noHeader, status: 422, field: "phone"},
		attack{name: "phone with zero-width joiner", path: "/api/v2/new-login", body: `{"phone":"+1868\u200d1239000","password":"4829"}`, auth: noHeader, status: 422, field: "phone"},
		attack{name: "phone as a regex", path: "/api/v2/new-login", body: `{"phone":".*","password":"4829"}`, auth: noHeader, status: 422, field: "phone"},
		attack{name: "phone with an extension", path: "/api/v2/new-login", body: `{"phone":"+18681239000;ext=1","password":"4829"}`, auth: noHeader, status: 422, field: "phone"},
		attack{name: "pin with NUL", path: "/api/v2/set_pin", body: `{"uuid":"x","pin":"48\u000029"}`, auth: noHeader, status: 422, field: "pin"},
		attack{name: "pin with Arabic-Indic digits", path: "/api/v2/set_pin", body: `{"uuid":"x","pin":"٤٨٢٩"}`, auth: noHeader, status: 422, field: "pin"},
		attack{name: "code with fullwidth digits", path: "/api/v2/email_verify_otp", body: `{"email":"a@example.com","verification_code":"１２３４"}`, auth: noHeader, status: 422, field: "verification_code"},
		attack{name: "uuid as operator string", path: "/api/v2/set_pin", body: `{"uuid":"{\"$ne\":null}","pin":"4829"}`, auth: noHeader},
		attack{name: "uuid as regex", path: "/api/v2/phone_verify_otp", body: `{"uuid":".*","verification_code":"1234"}`, auth: noHeader},
		attack{name: "name with NUL", path: "/api/v2/update_name", body: `{"first_name":"Ja\u0000ne","last_name":"Doe"}`, status: 422, field: "first_name"},
		attack{name: "name with RTL override", path: "/api/v2/update_name", body: `{"first_name":"Jane","last_name":"\u202eeoD"}`, status: 422, field: "last_name"},
		attack{name: "name of zero-width spaces", path: "/api/v2/update_name", body: `{"first_name":"\u200b\u200b","last_name":"Doe"}`, status: 422, field: "first_name"},
		attack{name: "name with a lone surrogate", path: "/api/v2/update_name", body: `{"first_name":"Ja\ud800ne","last_name":"Doe"}`, status: 400},
		attack{name: "name with markup", path: "/api/v2/update_name", body: `{"first_name":"<script>alert(1)</script>","last_name":"Doe"}`, status: 422, field: "first_name"},
		attack{name: "name of 60 combining marks", path: "/api/v2/update_name", body: `{"first_name":"Z` + strings.Repeat("\u0336", 60) + `","last_name":"Doe"}`, status: 422, field: "first_name"},
		attack{name: "update_email with the wrong current email", path: "/api/v2/update_email", body: `{"last_email":{"$ne":""},"new_email":"new@example.com"}`, status: 422, field: "last_email"},
		attack{name: "update_phone with a regex for the current phone", path: "/api/v2/update_phone", body: `{"old_phone":".*","new_phone":"+18681239999"}`, status: 422, field: "old_phone"},
		attack{name: "new password with a control character", path: "/api/user/change-password", body: `{"old_password":"4829","password":"abc\u0007defgh"}`, status: 422, field: "password"},
		attack{name: "new password over 72 characters", path: "/api/user/change-password", body: `{"old_password":"4829","password":"` + strings.Repeat("é", 73) + `"}`, status: 422, field: "password"},
		attack{name: "old password 10 KB", path: "/api/user/change-password", body: `{"old_password":"` + strings.Repeat("x", 10000) + `","password":"1"}`, status: 422},
		attack{name: "document typeId as string", path: "/api/v2/my/documents", body: `{"file":"k","typeId":"1"}`, status: 422, field: "typeId"},
		attack{name: "document typeId fractional", path: "/api/v2/my/documents", body: `{"file":"k","typeId":1.5}`, status: 422, field: "typeId"},
		attack{name: "document typeId 1e400", path: "/api/v2/my/documents", body: `{"file":"k","typeId":1e400}`, status: 422, field: "typeId"},
		attack{name: "document typeId negative", path: "/api/v2/my/documents", body: `{"file":"k","typeId":-1}`},
		attack{name: "document typeId operator", path: "/api/v2/my/documents", body: `{"file":"k","typeId":{"$gt":0}}`, status: 422, field: "typeId"},
		attack{name: "document key traversal", path: "/api/v2/my/documents", body: `{"file":"../../documents/1/x.jpg","typeId":1}`},
		attack{name: "document key of another user", path: "/api/v2/my/documents", body: `{"file":"uploads/1/../../2/x.jpg","typeId":1}`},
		attack{name: "document key URL", path: "/api/v2/my/documents", body: `{"file":"http://169.254.169.254/latest/meta-data/","typeId":1}`},
		attack{name: "document key with NUL", path: "/api/v2/my/documents", body: `{"file":"a\u0000.jpg","typeId":1}`},
		// Each valid but for one field: if that one were taken, the
		// rest would change the victim's account.
		accountUpdate("firstname with RTL override", "firstname", `\u202eenaJ`, 422, "firstname"),
		accountUpdate("gender with NUL", "gender", `female\u0000`, 422, "gender"),
		accountUpdate("gender raw NUL byte", "gender", "female\x00", 400, ""),
		accountUpdate("birthdate 30 February", "birthdate", "1990-02-30", 422, "birthdate"),
		accountUpdate("birthdate with a time", "birthdate", "1990-05-15T00:00:00Z", 422, "birthdate"),
		accountUpdate("birthdate year 1", "birthdate", "0001-01-01", 422, "birthdate"),
		accountUpdate("birthdate with NUL", "birthdate", `1990-05-15\u0000`, 422, "birthdate"),
		accountUpdate("telephone in Arabic-Indic digits", "telephone", "+١٨٦٨١٢٣٩٠٠٠", 422, "telephone"),
		accountUpdate("email with zero-width space", "email", `a\u200b@example.com`, 422, "email"),
		accountUpdate("email as operator string", "email", `{\"$ne\":null}`, 422, "email"),
		attack{name: "account birthdate operator", path: "/api/user/profile", body: `{"firstname":"J","lastname":"D","gender":"m","birthdate":{"$gt":""},"telephone":"+18681239000"}`, status: 422, field: "birthdate", route: "account"},
		attack{name: "account is_two_fa object", path: "/api/user/profile/2fa", body: `{"firstname":"J","lastname":"D","telephone":"+18681239000","is_two_fa":{"$ne":false}}`, route: "account"},
		attack{name: "wallet amount as string", path: "/admin/v1/users/" + nobodyUser + "/wallet", body: `{"id":"w1","balance":"cashback","entry":"credit","amount":"100"}`, auth: "Bearer " + adminToken, status: 422, field: "amount", route: "account-admin"},
		attack{name: "wallet amount 1e400", path: "/admin/v1/users/" + nobodyUser + "/wallet", body: `{"id":"w1","balance":"cashback","entry":"credit","amount":1e400}`, auth: "Bearer " + adminToken, status: 422, field: "amount", route: "account-admin"},
		attack{name: "order amount operator", path: "/admin/v1/users/" + nobodyUser + "/orders", body: `{"id":"o1","order_id":"1","status":"placed","amount":{"$inc":1}}`, auth: "Bearer " + adminToken, status: 422, field: "amount", route: "account-admin"},
		attack{name: "wallet time not a time", path: "/admin/v1/users/" + nobodyUser + "/wallet", body: `{"id":"w1","balance":"cashback","entry":"credit","amount":1,"at":"yesterday"}`, auth: "Bearer " + adminToken, status: 422, field: "at", route: "account-admin"},
	)

	// Content types, charsets and header abuse.
	login := `{"phone":1}`
	utf16Body := func(s string) string {
		var b bytes.Buffer
		for _, r := range utf16.Encode([]rune(s)) {
			b.WriteByte(byte(r))
			b.WriteByte(byte(r >> 8))
		}
		return b.String()
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"phone":"+18681239000","password":"4829"}`))
	_ = zw.Close()
	for _, h := range []attack{
		{name: "text/plain", ct: "text/plain", body: login, status: 415},
		{name: "form-urlencoded", ct: "application/x-www-form-urlencoded", body: "phone=%2B18681239000&password=4829", status: 415},
		{name: "multipart on a JSON route", ct: "multipart/form-data; boundary=x", body: multipartBody("x", part{header: `Content-Disposition: form-data; name="phone"`, data: "+18681239000"}), status: 415},
		{name: "XML", ct: "application/xml", body: `<phone>+18681239000</phone>`, status: 415},
		{name: "JSON lookalike type", ct: "application/jsonp", body: login, status: 415},
		{name: "two types", ct: "application/json, text/html", body: login, status: 415},
		{name: "broken parameters", ct: "application/json; ;;=", body: login, status: 415},
		{name: "UTF-16 charset", ct: "application/json; charset=utf-16", body: utf16Body(`{"phone":"+18681239000","password":"4829"}`), status: 400},
		{name: "upper-case type", ct: "APPLICATION/JSON", body: login, status: 422, field: "phone"},
		{name: "no Content-Type", ct: noHeader, body: login, status: 422, field: "phone"},
		{name: "gzip body without decoding", header: http.Header{"Content-Encoding": {"gzip"}}, body: gz.String(), status: 400},
		{name: "512 KB custom header", header: http.Header{"X-Pad": {strings.Repeat("p", 512<<10)}}, body: login, status: 422, field: "phone"},
		{name: "900 KB User-Agent", header: http.Header{"User-Agent": {strings.Repeat("u", 900<<10)}}, body: login, status: 422, field: "phone"},
		// Past the gateway's checks, so the agent travels to auth.
		{name: "1030 KB User-Agent to auth", header: http.Header{"User-Agent": {strings.Repeat("u", 1030<<10)}}, body: `{"phone":"+1868","password":"4829"}`, status: 422, field: "phone"},
		{name: "huge Accept-Language", header: http.Header{"Accept-Language": {strings.Repeat("fr-CA,", 50000)}}, body: login, status: 422, field: "phone"},
		{name: "huge X-Request-Id", header: http.Header{"X-Request-Id": {strings.Repeat("r", 100000)}}, body: login, status: 422, field: "phone"},
		{name: "X-Forwarded-For with 20000 hops", header: http.Header{"X-Forwarded-For": {strings.Repeat("203.0.113.9, ", 20000)}}, body: login, status: 422, field: "phone"},
		{name: "many headers", header: manyHeaders(2000), body: login, status: 422, field: "phone"},
		{name: "method override header", header: http.Header{"X-Http-Method-Override": {"DELETE"}}, body: login, status: 422, field: "phone"},
	} {
		h.name, h.method, h.path, h.auth = "header "+h.name, http.MethodPost, "/api/v2/new-login", noHeader
		out = append(out, h)
	}
	out = append(out,
		attack{name: "method PUT on a POST route", method: http.MethodPut, path: "/api/v2/new-login", body: login, auth: noHeader},
		attack{name: "method TRACE", method: "TRACE", path: "/api/v2/profile"},
		attack{name: "method PATCH", method: http.MethodPatch, path: "/api/v2/update_name", body: `{"first_name":"A","last_name":"B"}`},
		attack{name: "GET with a body", method: http.MethodGet, path: "/api/v2/new-login", body: login, auth: noHeader},
		attack{name: "1030 KB query parameter to profile", method: http.MethodGet, path: "/api/user/profile?platform=" + strings.Repeat("p", 1030<<10), status: 414, route: "account"},
		attack{name: "1030 KB query parameter to documents", method: http.MethodGet, path: "/admin/v1/documents?status=" + strings.Repeat("s", 1030<<10), auth: "Bearer " + adminToken, status: 414},
		attack{name: "outbox without an address", method: http.MethodGet, path: "/dev/outbox", auth: noHeader, status: 422, field: "to"},
		attack{name: "outbox with an operator", method: http.MethodGet, path: "/dev/outbox?to[$ne]=x", auth: noHeader, status: 422, field: "to"},
	)

	// Framing the Go client would not send; Go's server passes each to the
	// handler.
	for _, r := range []attack{
		{name: "Content-Length longer than the body", raw: "POST /api/v2/new-login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"phone\":\"+1868", status: 400},
		{name: "Content-Length shorter than the body", raw: "POST /api/v2/new-login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{\"phone\":\"+18681239000\",\"password\":\"4829\"}", status: 400},
		{name: "chunked, bad JSON inside", raw: "POST /api/v2/new-login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n{\"phone\":1}\r\n0\r\n\r\n", status: 422, field: "phone"},
		{name: "chunked, size not hex", raw: "POST /api/v2/new-login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", status: 400},
		{name: "chunked, size overflows", raw: "POST /api/v2/new-login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n{}\r\n0\r\n\r\n", status: 400},
		{name: "chunked, never ends", raw: "POST /api/v2/new-login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"pho", status: 400},
		{name: "chunked over the body limit", raw: "POST /api/v2/new-login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks(`{"phone":"`+strings.Repeat("1", 100<<10)+`"}`), status: 413},
		{name: "Authorization smuggled in a trailer", raw: "POST /api/v2/logout HTTP/1.1\r\nHost: x\r\nTrailer: Authorization\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nAuthorization: Bearer {TOKEN}\r\n\r\n", status: 401},
		{name: "absolute-form target", raw: "POST http://evil.example/api/v2/new-login HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"phone\":1}", status: 422, field: "phone"},
		{name: "HTTP/1.0 without Host", raw: "POST /api/v2/new-login HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"phone\":1}", status: 422, field: "phone"},

		{name: "path with an encoded NUL", raw: "GET /api/v2/profile%00 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n", status: 404},
		{name: "dot segments up to the profile", raw: "GET /api/v2/my/documents/../../v2/profile/.. HTTP/1.1\r\nHost: x\r\n\r\n", status: 401},
	} {
		r.name, r.method = "framing "+r.name, http.MethodPost
		out = append(out, r)
	}

	// Ids and queries.
	for _, id := range badIDs {
		out = append(out,
			attack{name: "session id " + short(id), method: http.MethodDelete, path: "/api/v2/sessions/" + id, status: 404},
			attack{name: "document id " + short(id), method: http.MethodGet, path: "/api/v2/my/documents/" + id, status: 404},
			attack{name: "delete document id " + short(id), method: http.MethodDelete, path: "/api/v2/my/documents/" + id, status: 404},
			attack{name: "approve document id " + short(id), method: http.MethodPost, path: "/admin/v1/documents/" + id + "/approve", auth: "Bearer " + adminToken, status: 404},
			attack{name: "wallet user id " + short(id), method: http.MethodPost, path: "/admin/v1/users/" + id + "/wallet", auth: "Bearer " + adminToken,
				// An amount of the wrong type: "+1" is user 1, the victim,
				// and no id may make this a real credit.
				body: `{"id":"w1","balance":"cashback","entry":"credit","amount":"100"}`, route: "account-admin"},
		)
	}
	for _, q := range []string{"limit=-1", "limit=abc", "limit=1e3", "limit=99999999999999999999", "offset=-1", "offset=%00", "limit=%EF%BC%91", "limit=0x10", "limit=1&offset=1.5"} {
		out = append(out, attack{name: "documents query " + q, method: http.MethodGet, path: "/api/v2/my/documents?" + q, status: 422})
	}

	out = append(out, multipartAttacks("/api/v2/update_image", "image")...)
	out = append(out, multipartAttacks("/api/v2/my/documents", "file", part{header: `Content-Disposition: form-data; name="typeId"`, data: "1"})...)
	typeID := func(v string) part { return part{header: `Content-Disposition: form-data; name="typeId"`, data: v} }
	out = append(out, attack{name: "document with two typeId parts", method: http.MethodPost, path: "/api/v2/my/documents", ct: "multipart/form-data; boundary=xBOUNDARYx",
		body: multipartBody("xBOUNDARYx", typeID("1"), formPart("file", "a.jpg", string(imagextest.JPEG(16, 16, 1))), typeID("2")), status: 422, field: "typeId"})
	b := "xBOUNDARYx"
	jpeg := string(imagextest.JPEG(16, 16, 1))
	for _, typeID := range []string{"", "١", "1e3", "-1", "0", "99999999999999999999", "1; DROP", `{"$gt":0}`, strings.Repeat("9", 40)} {
		out = append(out, attack{name: "document form typeId " + short(typeID), method: http.MethodPost, path: "/api/v2/my/documents",
			ct:   "multipart/form-data; boundary=" + b,
			body: multipartBody(b, part{header: `Content-Disposition: form-data; name="typeId"`, data: typeID}, formPart("file", "a.jpg", jpeg))})
	}
	out = append(out, tokenAttacks(t, k, valid)...)
	for i := range out {
		if out[i].method == "" {
			out[i].method = http.MethodPost
		}
	}
	return out
}

// victimAccount is what the victim's account API fields hold before the
// corpus runs (set by the test when that API is on this branch).
var victimAccount = map[string]string{"firstname": "Jane", "lastname": "Doe", "gender": "female", "birthdate": "1990-05-15", "telephone": "+18681239000"}

// accountUpdate is a POST /api/user/profile of the victim's own values but
// for field, whose JSON string holds value as written (escapes and all).
func accountUpdate(name, field, value string, status int, errField string) attack {
	body := map[string]string{}
	for k, v := range victimAccount {
		body[k] = v
	}
	body[field] = "\x00"
	b := strings.Replace(js(body), `"\u0000"`, `"`+value+`"`, 1)
	return attack{name: "account " + name, method: http.MethodPost, path: "/api/user/profile", body: b, status: status, field: errField, route: "account"}
}

func manyHeaders(n int) http.Header {
	h := http.Header{}
	for i := range n {
		h.Set(fmt.Sprintf("X-H%d", i), "v")
	}
	return h
}

func chunks(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		n := min(len(s), 4096)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, s[:n])
		s = s[n:]
	}
	return b.String() + "0\r\n\r\n"
}

func short(s string) string {
	if len(s) > 24 {
		return s[:12] + fmt.Sprintf("…(%d)", len(s))
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

// leak is what an error body must never show: Go internals, stack traces,
// decoder messages.
var leak = regexp.MustCompile(`goroutine \d|\.go:\d|runtime\.|panic|json: |strconv\.|mime: |multipart: |\b(contract|gateway|app|http|echo|mongo|nats|jetstream|bson)\.[A-Z]|struct \{|map\[|\[\]byte|\bint64\b|Go struct`)

// fire sends a and reads the answer, which must be one openapi.yaml
// describes (framing cases aside: the document has no words for them).
func (e *env) fire(t *testing.T, a attack, token string) resp {
	t.Helper()
	if a.raw != "" {
		return e.fireRaw(t, strings.ReplaceAll(a.raw, "{TOKEN}", token))
	}
	req, err := http.NewRequest(a.method, e.base+a.path, strings.NewReader(a.body))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case a.ct == noHeader:
	case a.ct != "":
		req.Header.Set("Content-Type", a.ct)
	case a.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	switch a.auth {
	case noHeader:
	case "":
		req.Header.Set("Authorization", "Bearer "+token)
	default:
		req.Header["Authorization"] = []string{a.auth}
	}
	for k, vs := range a.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	reqBody := requestBody(t, req)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := readAnswer(t, res)
	checkSpec(t, req, reqBody, res, []byte(r.raw))
	return r
}

func (e *env) fireRaw(t *testing.T, raw string) resp {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).CloseWrite() // a body shorter than promised ends here
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return readAnswer(t, res)
}

func readAnswer(t *testing.T, res *http.Response) resp {
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// judge fails unless r is a 4xx Laravel-shaped JSON error as a wants.
func judge(t *testing.T, a attack, r resp) {
	t.Helper()
	if r.status < 400 || r.status > 499 {
		t.Fatalf("status %d, want a 4xx: %.300s", r.status, r.raw)
	}
	if a.status != 0 && r.status != a.status {
		t.Fatalf("status %d, want %d: %.300s", r.status, a.status, r.raw)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q: %.300s", ct, r.raw)
	}
	if r.body == nil || r.str("message") == "" {
		t.Fatalf("no JSON message: %.300s", r.raw)
	}
	if m := leak.FindString(r.raw); m != "" {
		t.Fatalf("the body shows %q: %.300s", m, r.raw)
	}
	errs, hasErrs := r.body["errors"].(map[string]any)
	if r.status == 422 && (!hasErrs || len(errs) == 0) {
		t.Fatalf("422 without errors: %.300s", r.raw)
	}
	for f, v := range errs {
		if msgs, _ := v.([]any); len(msgs) == 0 || f == "" {
			t.Fatalf("errors.%s is not a list of messages: %.300s", f, r.raw)
		}
	}
	if a.field != "" && errs[a.field] == nil {
		t.Fatalf("want errors.%s: %.300s", a.field, r.raw)
	}
}

// snapshot is what the victim's account looks like from outside: the
// profile, the sessions (without the last-seen time, which reads may
// move), the documents, and the account view once it exists.
func (e *env) snapshot(t *testing.T, token string, live map[string]bool) string {
	t.Helper()
	var b strings.Builder
	get := func(path string) {
		r := e.do(http.MethodGet, path, token, "")
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.raw)
		}
		fmt.Fprintf(&b, "%s %s\n", path, r.raw)
	}
	get("/api/v2/profile")
	get("/api/v2/my/documents")
	if live["account"] {
		get("/api/user/profile")
	}
	r := e.do(http.MethodGet, "/api/v2/sessions", token, "")
	var sessions []map[string]any
	if r.status != 200 || json.Unmarshal([]byte(r.raw), &sessions) != nil {
		t.Fatalf("GET sessions: %d %s", r.status, r.raw)
	}
	for _, s := range sessions {
		delete(s, "last_seen_at")
	}
	fmt.Fprintf(&b, "sessions %s\n", js(sessions))
	return b.String()
}

func TestAdversarialCorpus(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	_, _ = rand.Read(seed)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	e := start(t, map[string]string{
		"DOSS_JWT_SIGNING_KEY":    "adv:" + base64.StdEncoding.EncodeToString(seed),
		"DOSS_ADMIN_TOKENS":       "alice:" + adminToken,
		"DOSS_S3_BUCKET":          "adv-" + hex.EncodeToString(suffix),
		"DOSS_DOCUMENT_MAX_BYTES": fmt.Sprint(256 << 10),
	})
	const phone, pin = "+18681239000", "4829"
	_, token := e.register("victim@example.com", phone, pin)

	keys, err := natsx.Call[struct{}, contract.KeysReply](t.Context(), e.nc, contract.AuthKeys, struct{}{})
	if err != nil || len(keys.Keys) == 0 || !bytes.Equal(keys.Keys[0].PublicKey, ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)) {
		t.Fatalf("auth does not sign with the test key: %v %+v", err, keys)
	}
	_, attacker, _ := ed25519.GenerateKey(rand.Reader)
	var claims jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		t.Fatal(err)
	}
	kit := tokenKit{kid: "adv", key: ed25519.NewKeyFromSeed(seed), attacker: attacker, claims: claims}
	// The kit's own signature with the victim's claims is admitted: the
	// claim cases below differ from it in one thing each.
	expect(t, e.do(http.MethodGet, "/api/v2/profile", kit.sign(t, jwt.SigningMethodEdDSA, kit.key, nil, nil), ""), 200)

	live := map[string]bool{}
	for name, probe := range pendingRoutes {
		r := e.fire(t, probe, token)
		live[name] = !(r.status == 404 && r.str("message") == "Not found.")
	}
	if live["account"] {
		expect(t, e.do(http.MethodPost, "/api/user/profile", token, js(victimAccount)), 200)
	}
	before := e.snapshot(t, token, live)

	cases := corpus(t, kit, token)
	if len(cases) < 200 {
		t.Fatalf("%d cases, want at least 200", len(cases))
	}
	seen := map[string]bool{}
	ran := 0
	for _, a := range cases {
		if seen[a.name] {
			t.Fatalf("two cases named %q", a.name)
		}
		seen[a.name] = true
		t.Run(a.name, func(t *testing.T) {
			if a.route != "" && !live[a.route] {
				t.Skipf("route %q is not on this branch yet (%s %s answers the router's 404)", a.route, pendingRoutes[a.route].method, pendingRoutes[a.route].path)
			}
			ran++
			r := e.fire(t, a, token)
			t.Logf("%d %.200s", r.status, r.raw)
			judge(t, a, r)
		})
	}
	t.Logf("%d cases, %d run", len(cases), ran)

	// Nothing changed: read through a fresh gateway, whose cache cannot
	// hide a change the store took, and the victim still logs in.
	after := e.secondGateway().snapshot(t, token, live)
	if before != after {
		t.Fatalf("the victim's account changed:\nbefore %s\nafter  %s", before, after)
	}
	r := e.post("/api/v2/new-login", js(map[string]string{"phone": phone, "password": pin}))
	expect(t, r, 200)
	if r.str("response", "user", "email") != "victim@example.com" {
		t.Fatalf("login: %s", r.raw)
	}
}

// A body has one reading (issue 15): a name in another case is not the
// field (encoding/json alone took the last of "email" and "EMAIL").
func TestJSONNamesMatchExactly(t *testing.T) {
	e := start(t, nil)
	r := e.post("/api/v2/email_send_otp", `{"email":"first@example.com","EMAIL":"second@example.com"}`)
	expect(t, r, http.StatusOK)
	if got := r.str("response", "user", "email"); got != "first@example.com" {
		t.Fatalf("the code went to %q: %s", got, r.raw)
	}
	r = e.post("/api/v2/email_send_otp", `{"Email":"second@example.com"}`)
	expect(t, r, http.StatusUnprocessableEntity)
	if r.raw == "" || !strings.Contains(r.raw, `"email"`) {
		t.Fatalf("want errors.email: %s", r.raw)
	}
	r = e.post("/api/v2/email_send_otp", "{\"email\":\"\xff\xfe@example.com\"}")
	expect(t, r, http.StatusBadRequest)
}

// A real photo with a ZIP after its end is a photo: it is taken, and what
// is stored is the re-encoded image with nothing of the ZIP.
func TestPolyglotPhotoIsReencoded(t *testing.T) {
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	e := start(t, map[string]string{"DOSS_S3_BUCKET": "poly-" + hex.EncodeToString(suffix)})
	_, token := e.register("poly@example.com", "+18681239001", "4829")
	zip := []byte("PK\x03\x04<?php system($_GET['c']); ?>PK\x05\x06")
	photo := append(imagextest.JPEG(32, 32, 1), zip...)
	r := e.upload(token, "photo.jpg", photo)
	expect(t, r, http.StatusOK)
	body, ct, status := fetch(t, r.str("image"))
	if status != http.StatusOK || ct != "image/jpeg" {
		t.Fatalf("GET image: %d %s", status, ct)
	}
	if bytes.Contains(body, []byte("PK\x03\x04")) || bytes.Contains(body, []byte("<?php")) {
		t.Fatal("the stored photo still carries the ZIP")
	}
}
