package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/uploads"
)

// fuzzKey signs the seed tokens; the verifier trusts only its public half.
var fuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

const fuzzKID = "fuzz"

// fuzzVerifier holds fuzzKey and never asks auth for keys (there is no
// NATS here): its last refresh is in the future, so an unknown kid is
// simply unknown.
func fuzzVerifier() *verifier {
	v := newVerifier(nil, nil)
	v.keys[fuzzKID] = fuzzKey.Public().(ed25519.PublicKey)
	v.refreshed = time.Now().Add(100 * 365 * 24 * time.Hour)
	return v
}

func fuzzToken(tb testing.TB, mutate func(jwt.MapClaims, map[string]any)) string {
	now := time.Now()
	c := jwt.MapClaims{"uid": 42, "sid": "s-1", "sub": "u-1", "iss": contract.TokenIssuer, "aud": []string{contract.TokenAudience},
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = fuzzKID
	if mutate != nil {
		mutate(c, tok.Header)
	}
	s, err := tok.SignedString(fuzzKey)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// signedByFuzzKey is the property's independent check: an accepted token
// is three segments whose EdDSA signature over the first two verifies
// under the key.
func signedByFuzzKey(raw string) bool {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	var header struct {
		Alg string `json:"alg"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &header) != nil || header.Alg != "EdDSA" {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	return err == nil && ed25519.Verify(fuzzKey.Public().(ed25519.PublicKey), []byte(parts[0]+"."+parts[1]), sig)
}

// FuzzAuthenticate feeds arbitrary Authorization values through the real
// middleware: it never panics, refuses with 401 and nothing else, and lets
// through only tokens the key signed.
func FuzzAuthenticate(f *testing.F) {
	valid := fuzzToken(f, nil)
	parts := strings.Split(valid, ".")
	for _, s := range []string{
		"Bearer " + valid,
		"Bearer " + fuzzToken(f, func(c jwt.MapClaims, _ map[string]any) { delete(c, "exp") }),
		"Bearer " + fuzzToken(f, func(_ jwt.MapClaims, h map[string]any) { h["kid"] = "../../etc/passwd" }),
		"Bearer " + fuzzToken(f, func(c jwt.MapClaims, _ map[string]any) { c["uid"] = "42" }),
		"Bearer " + parts[0] + "." + parts[1] + ".",
		"Bearer " + parts[0] + "." + parts[1],
		"Bearer " + valid + ".x",
		"Bearer eyJhbGciOiJub25lIn0." + parts[1] + ".",
		"Bearer eyJhbGciOiJIUzI1NiIsImtpZCI6ImZ1enoifQ." + parts[1] + "." + parts[2],
		"Bearer ", "Bearer", "Basic dXNlcjpwYXNz", "", "bearer " + valid, "Bearer " + strings.Repeat("A", 5000),
	} {
		f.Add(s)
	}
	v := fuzzVerifier()
	e := echo.New()
	f.Fuzz(func(t *testing.T, authorization string) {
		req := httptest.NewRequest(http.MethodGet, "/api/v2/profile", nil)
		req.Header["Authorization"] = []string{authorization}
		c := e.NewContext(req, httptest.NewRecorder())
		admitted := false
		err := v.authenticate(func(c echo.Context) error {
			admitted = true
			p, ok := c.Get(callerKey).(contract.Principal)
			if !ok || p.UserID == 0 || p.SessionID == "" || p.UUID == "" {
				t.Fatalf("admitted with principal %+v", c.Get(callerKey))
			}
			return nil
		})(c)
		if admitted {
			raw := strings.TrimPrefix(authorization, "Bearer ")
			if err != nil || !strings.HasPrefix(authorization, "Bearer ") || !signedByFuzzKey(raw) {
				t.Fatalf("admitted %q (err %v) that the key did not sign", authorization, err)
			}
			return
		}
		var ce *contract.Error
		if !errors.As(err, &ce) || ce.Code != contract.Unauthenticated {
			t.Fatalf("refused %q with %v, want unauthenticated", authorization, err)
		}
	})
}

// multipartBody is a form with the given parts, in order.
func multipartBody(tb testing.TB, parts ...[2]string) (string, []byte) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		fw, err := w.CreateFormFile(p[0], "photo.jpg")
		if err != nil {
			tb.Fatal(err)
		}
		_, _ = fw.Write([]byte(p[1]))
	}
	_ = w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

// memorySink keeps the file in memory, for the tests without NATS.
type memorySink struct{ data []byte }

func (m *memorySink) put(_ context.Context, r io.Reader) (*uploads.Upload, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	m.data = data
	return &uploads.Upload{Name: "memory", Size: int64(len(data))}, nil
}

// fuzzImageMax is small so that the fuzzer reaches the limit easily.
const fuzzImageMax = 64

// FuzzReadImage feeds arbitrary Content-Types and bodies to the multipart
// reader: it never panics, returns 1..max bytes or an error the gateway
// renders as a 4xx.
func FuzzReadImage(f *testing.F) {
	ct, body := multipartBody(f, [2]string{"image", "\xff\xd8\xff\xe0 jpeg-ish"})
	f.Add(ct, body)
	ct, body = multipartBody(f, [2]string{"other", "x"}, [2]string{"image", strings.Repeat("A", fuzzImageMax+1)})
	f.Add(ct, body)
	ct, body = multipartBody(f, [2]string{"image", ""})
	f.Add(ct, body)
	f.Add("multipart/form-data", []byte("--x\r\n\r\n"))
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc\r\n--x--\r\n"))
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc"))
	f.Add("multipart/mixed; boundary=x", []byte("--x--"))
	f.Add("application/json", []byte(`{"image":"x"}`))
	e := echo.New()
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, imageRoute, bytes.NewReader(body))
		req.Header["Content-Type"] = []string{contentType}
		rec := httptest.NewRecorder()
		c := e.NewContext(req, rec)
		var sink memorySink
		boundary, err := imageBoundary(c)
		var form uploadForm
		if err == nil {
			form, err = readUpload(c, boundary, imageSpec(fuzzImageMax), sink.put)
		}
		if err == nil {
			if form.file != nil && (len(sink.data) == 0 || len(sink.data) > fuzzImageMax) {
				t.Fatalf("returned %d bytes, want 1..%d", len(sink.data), fuzzImageMax)
			}
			return
		}
		if form.file != nil {
			t.Fatalf("kept an upload with %v", err)
		}
		renderError(err, c)
		if rec.Code < 400 || rec.Code > 499 || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("error %v rendered as %d %s", err, rec.Code, rec.Body.String())
		}
	})
}

// The fuzz property is only worth something if a signed token does get in
// and a forged one does not.
func TestFuzzVerifierAdmitsOnlyItsKey(t *testing.T) {
	v := fuzzVerifier()
	e := echo.New()
	_, other, _ := ed25519.GenerateKey(nil)
	forged := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"uid": 42, "sid": "s", "sub": "u", "iss": contract.TokenIssuer,
		"aud": contract.TokenAudience, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	forged.Header["kid"] = fuzzKID
	forgedRaw, _ := forged.SignedString(other)
	for raw, want := range map[string]bool{fuzzToken(t, nil): true, forgedRaw: false} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+raw)
		admitted := false
		_ = v.authenticate(func(echo.Context) error { admitted = true; return nil })(e.NewContext(req, httptest.NewRecorder()))
		if admitted != want || signedByFuzzKey(raw) != want {
			t.Errorf("token admitted=%v signed=%v, want %v", admitted, signedByFuzzKey(raw), want)
		}
	}
}

// FuzzReadDocumentForm does the same for the document form: the file is
// 1..max bytes and the type id a number, or the error is a 4xx.
func FuzzReadDocumentForm(f *testing.F) {
	ct, body := multipartBody(f, [2]string{"typeId", "1"}, [2]string{"file", "\xff\xd8\xff scan"})
	f.Add(ct[strings.Index(ct, "=")+1:], body)
	ct, body = multipartBody(f, [2]string{"file", strings.Repeat("A", fuzzImageMax+1)}, [2]string{"typeId", "2"})
	f.Add(ct[strings.Index(ct, "=")+1:], body)
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"typeId\"\r\n\r\n١\r\n--x--\r\n"))
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc"))
	e := echo.New()
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, documentsRoute, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		c := e.NewContext(req, rec)
		var sink memorySink
		form, err := readUpload(c, boundary, documentSpec(fuzzImageMax), sink.put)
		if err == nil {
			_, err = checkDocumentForm(form)
		}
		if err == nil {
			if form.file == nil || len(sink.data) == 0 || len(sink.data) > fuzzImageMax {
				t.Fatalf("returned %d bytes, want 1..%d", len(sink.data), fuzzImageMax)
			}
			return
		}
		renderError(err, c)
		if rec.Code < 400 || rec.Code > 499 || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("error %v rendered as %d %s", err, rec.Code, rec.Body.String())
		}
	})
}
