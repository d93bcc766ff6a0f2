package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/blob"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/imagex/imagextest"
	"github.com/dossapp/backend/services/devstack/stack"
	"github.com/dossapp/backend/services/documents/documentsvc"
)

// docMax is the document size limit in these tests (DOSS_DOCUMENT_MAX_BYTES).
const docMax = 256 << 10

func startDocuments(t *testing.T, extra map[string]string) (*env, string) {
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	bucket := "docs-" + hex.EncodeToString(suffix) // one S3 server serves every test
	vars := map[string]string{
		"DOSS_S3_BUCKET":          bucket,
		"DOSS_DOCUMENT_MAX_BYTES": fmt.Sprint(docMax),
		"DOSS_ADMIN_TOKENS":       "alice:" + adminToken,
	}
	for k, v := range extra {
		vars[k] = v
	}
	return start(t, vars), bucket
}

// s3 is the test's direct view of the bucket, to check what really is there.
func (e *env) s3(bucket string) *blob.Store {
	e.t.Helper()
	s, err := blob.New(blob.Config{Endpoint: e.getenv("DOSS_S3_ENDPOINT"), AccessKey: testkit.S3AccessKey, SecretKey: testkit.S3SecretKey,
		Region: "us-east-1", Bucket: bucket})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// objectKey is the key a presigned link points at (path-style URL).
func objectKey(t *testing.T, link, bucket string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := strings.CutPrefix(u.Path, "/"+bucket+"/")
	if !ok {
		t.Fatalf("link %s is not in bucket %s", link, bucket)
	}
	return k
}

func (e *env) gone(store *blob.Store, key string) bool {
	_, err := store.Stat(context.Background(), key)
	return errors.Is(err, blob.ErrNotFound)
}

// addDocument posts a multipart document as the app does.
func (e *env) addDocument(token, typeID, filename string, data []byte) resp {
	e.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if typeID != "" {
		_ = w.WriteField("typeId", typeID)
	}
	if data != nil {
		fw, err := w.CreateFormFile("file", filename)
		if err != nil {
			e.t.Fatal(err)
		}
		_, _ = fw.Write(data)
	}
	_ = w.Close()
	req, err := http.NewRequest(http.MethodPost, e.base+"/api/v2/my/documents", &body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	return e.send(req, token)
}

type document = contract.Document

func decodeDoc(t *testing.T, r resp) document {
	t.Helper()
	var d document
	if err := json.Unmarshal([]byte(r.raw), &d); err != nil || d.ID == 0 {
		t.Fatalf("not a document: %s", r.raw)
	}
	return d
}

func (e *env) listDocuments(token, query string) ([]document, resp) {
	e.t.Helper()
	r := e.do(http.MethodGet, "/api/v2/my/documents"+query, token, "")
	var out []document
	if r.status == http.StatusOK {
		if err := json.Unmarshal([]byte(r.raw), &out); err != nil || out == nil {
			e.t.Fatalf("not a bare array: %s", r.raw)
		}
	}
	return out, r
}

func (e *env) profile(token string) resp {
	e.t.Helper()
	r := e.do(http.MethodGet, "/api/v2/profile", token, "")
	expect(e.t, r, http.StatusOK)
	return r
}

func TestDocumentTypes(t *testing.T) {
	e, _ := startDocuments(t, nil)
	_, token := e.register("types@example.com", "+18681230101", "4829")
	r := e.do(http.MethodGet, "/api/v2/document_types", token, "")
	expect(t, r, http.StatusOK)
	var types []map[string]any
	if err := json.Unmarshal([]byte(r.raw), &types); err != nil || len(types) != 6 {
		t.Fatalf("types: %s", r.raw)
	}
	if types[0]["id"] != 1.0 || types[0]["side"] != "front" || types[0]["profile_field"] != "id_proof_front" || types[5]["profile_field"] != "driving_license_back" {
		t.Fatalf("types: %s", r.raw)
	}
	expect(t, e.do(http.MethodGet, "/api/v2/document_types", "", ""), http.StatusUnauthorized)
}

func TestDocumentsLifecycle(t *testing.T) {
	e, bucket := startDocuments(t, nil)
	store := e.s3(bucket)
	_, tokenA := e.register("doc-a@example.com", "+18681230111", "4829")
	_, tokenB := e.register("doc-b@example.com", "+18681230112", "4829")

	// The profile is cached before anything is uploaded: the upload must
	// still show on the very next read.
	if p := e.profile(tokenA); p.body["id_proof_front"] != nil || p.str("identity_status") != "unverified" {
		t.Fatalf("fresh profile: %s", p.raw)
	}

	var front, back document
	t.Run("multipart upload is upright and without metadata", func(t *testing.T) {
		r := e.addDocument(tokenA, "1", "id.jpg", imagextest.JPEG(40, 20, 6))
		expect(t, r, http.StatusCreated)
		front = decodeDoc(t, r)
		if front.TypeID != 1 || front.Type != "National ID" || front.Side != "front" || front.Status != "pending" ||
			front.RejectionReason != nil || front.ContentType != "image/jpeg" || front.Size == 0 || front.CreatedAt.IsZero() || front.UpdatedAt.IsZero() {
			t.Fatalf("document: %s", r.raw)
		}
		for _, k := range []string{"id", "typeId", "type", "side", "status", "rejection_reason", "file", "content_type", "size", "created_at", "updated_at"} {
			if _, ok := r.body[k]; !ok {
				t.Fatalf("no %q: %s", k, r.raw)
			}
		}
		body, ct, status := fetch(t, front.File)
		if status != http.StatusOK || ct != "image/jpeg" {
			t.Fatalf("GET file: %d %s", status, ct)
		}
		if bytes.Contains(body, []byte(imagextest.GPSMarker)) || bytes.Contains(body, []byte("Exif")) {
			t.Fatal("stored document still holds EXIF/GPS")
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(body))
		if err != nil || cfg.Width != 20 || cfg.Height != 40 {
			t.Fatalf("stored document not rotated: %v %dx%d", err, cfg.Width, cfg.Height)
		}
		if exp, err := strconv.Atoi(mustQuery(t, front.File).Get("X-Amz-Expires")); err != nil || exp > 900 {
			t.Fatalf("link lives %d s, want at most 900", exp)
		}
		p := e.profile(tokenA)
		if p.str("id_proof_front") == "" || p.str("identity_status") != "pending" {
			t.Fatalf("profile after upload: %s", p.raw)
		}
		if _, _, status := fetch(t, p.str("id_proof_front")); status != http.StatusOK {
			t.Fatalf("profile link: %d", status)
		}
	})

	t.Run("presigned upload", func(t *testing.T) {
		photo := imagextest.JPEG(16, 16, 0)
		r := e.do(http.MethodPost, "/api/v2/my/documents/upload_url", tokenA, js(map[string]any{"size": len(photo)}))
		expect(t, r, http.StatusOK)
		link, key := r.str("upload_url"), r.str("file")
		if link == "" || key == "" {
			t.Fatalf("upload_url: %s", r.raw)
		}
		if exp := mustQuery(t, link).Get("X-Amz-Expires"); exp != "900" {
			t.Fatalf("upload link lives %s s", exp)
		}
		put(t, link, photo)
		// Someone else's key is refused, and leaves it in place.
		r = e.do(http.MethodPost, "/api/v2/my/documents", tokenB, js(map[string]any{"file": key, "typeId": 2}))
		expect(t, r, http.StatusUnprocessableEntity)
		if errs, _ := r.body["errors"].(map[string]any); errs["file"] == nil {
			t.Fatalf("no errors.file: %s", r.raw)
		}
		r = e.do(http.MethodPost, "/api/v2/my/documents", tokenA, js(map[string]any{"file": key, "typeId": 2}))
		expect(t, r, http.StatusCreated)
		back = decodeDoc(t, r)
		if back.TypeID != 2 || back.Side != "back" {
			t.Fatalf("document: %s", r.raw)
		}
		eventually(t, "the incoming object to be removed", func() bool { return e.gone(store, key) })
		for name, body := range map[string]string{
			"key never issued": js(map[string]any{"file": strings.Replace(key, key[len(key)-4:], "beef", 1), "typeId": 2}),
			"key of a path":    js(map[string]any{"file": "documents/1/x.jpg", "typeId": 2}),
			"no file":          js(map[string]any{"typeId": 2}),
		} {
			t.Run(name, func(t *testing.T) {
				r := e.do(http.MethodPost, "/api/v2/my/documents", tokenA, body)
				expect(t, r, http.StatusUnprocessableEntity)
				if errs, _ := r.body["errors"].(map[string]any); errs["file"] == nil {
					t.Fatalf("no errors.file: %s", r.raw)
				}
			})
		}
		// A link bounded nothing: one for any document took up to the
		// store's largest object, straight to S3, past every budget.
		t.Run("oversize", func(t *testing.T) {
			r := e.do(http.MethodPost, "/api/v2/my/documents/upload_url", tokenA, js(map[string]any{"size": docMax + 1}))
			expect(t, r, http.StatusRequestEntityTooLarge)
			for name, body := range map[string]string{"no size": "", "size 0": js(map[string]any{"size": 0}), "size not a number": js(map[string]any{"size": "big"})} {
				r := e.do(http.MethodPost, "/api/v2/my/documents/upload_url", tokenA, body)
				expect(t, r, http.StatusUnprocessableEntity)
				if name != "size not a number" {
					if errs, _ := r.body["errors"].(map[string]any); errs["size"] == nil {
						t.Fatalf("%s: no errors.size: %s", name, r.raw)
					}
				}
			}
			r = e.do(http.MethodPost, "/api/v2/my/documents/upload_url", tokenA, js(map[string]any{"size": 1024}))
			expect(t, r, http.StatusOK)
			req, _ := http.NewRequest(http.MethodPut, r.str("upload_url"), bytes.NewReader(bytes.Repeat([]byte{0xFF}, docMax+1)))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode < 400 {
				t.Fatalf("a PUT of %d bytes on a link for 1024: %d", docMax+1, res.StatusCode)
			}
			if !e.gone(store, r.str("file")) {
				t.Fatal("the refused PUT left an object")
			}
		})
	})

	t.Run("upload attacks", func(t *testing.T) {
		for _, tc := range []struct {
			name, typeID, file string
			data               []byte
			status             int
			field              string
		}{
			{"text named jpg", "1", "id.jpg", []byte("this is not an image at all, just text\n"), http.StatusUnsupportedMediaType, ""},
			{"gif", "1", "id.gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), http.StatusUnsupportedMediaType, ""},
			{"over the limit", "1", "big.jpg", bytes.Repeat([]byte{0xFF}, docMax+1), http.StatusRequestEntityTooLarge, ""},
			{"png bomb", "1", "bomb.png", imagextest.PNGBomb(100000, 100000), http.StatusUnprocessableEntity, "file"},
			{"unknown type", "7", "id.jpg", imagextest.JPEG(8, 8, 0), http.StatusUnprocessableEntity, "typeId"},
			{"type not a number", "one", "id.jpg", imagextest.JPEG(8, 8, 0), http.StatusUnprocessableEntity, "typeId"},
			{"no type", "", "id.jpg", imagextest.JPEG(8, 8, 0), http.StatusUnprocessableEntity, "typeId"},
			{"no file", "1", "", nil, http.StatusUnprocessableEntity, "file"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.addDocument(tokenA, tc.typeID, tc.file, tc.data)
				expect(t, r, tc.status)
				if r.str("message") == "" {
					t.Fatalf("no message: %s", r.raw)
				}
				if errs, _ := r.body["errors"].(map[string]any); tc.field != "" && errs[tc.field] == nil {
					t.Fatalf("no errors.%s: %s", tc.field, r.raw)
				}
			})
		}
		huge := e.do(http.MethodPost, "/api/v2/my/documents", tokenA, js(map[string]any{"file": strings.Repeat("k", 20<<10), "typeId": 1}))
		expect(t, huge, http.StatusRequestEntityTooLarge)
		req, _ := http.NewRequest(http.MethodPost, e.base+"/api/v2/my/documents", strings.NewReader("file=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		expect(t, e.send(req, tokenA), http.StatusUnsupportedMediaType)
		expect(t, e.addDocument("", "1", "id.jpg", imagextest.JPEG(8, 8, 0)), http.StatusUnauthorized)
		if docs, _ := e.listDocuments(tokenA, ""); len(docs) != 2 {
			t.Fatalf("refused uploads were stored: %d documents", len(docs))
		}
	})

	t.Run("list and pagination", func(t *testing.T) {
		docs, r := e.listDocuments(tokenA, "")
		expect(t, r, http.StatusOK)
		if len(docs) != 2 || docs[0].ID != back.ID || docs[1].ID != front.ID || r.header.Get("X-Total-Count") != "2" {
			t.Fatalf("list: %s (total %s)", r.raw, r.header.Get("X-Total-Count"))
		}
		docs, r = e.listDocuments(tokenA, "?limit=1&offset=1")
		if len(docs) != 1 || docs[0].ID != front.ID || r.header.Get("X-Total-Count") != "2" {
			t.Fatalf("page 2: %s", r.raw)
		}
		if docs, _ = e.listDocuments(tokenA, "?limit=100&offset=5"); len(docs) != 0 {
			t.Fatalf("past the end: %v", docs)
		}
		for _, q := range []string{"?limit=0", "?limit=101", "?limit=-1", "?limit=ten", "?offset=-1", "?offset=x", "?limit="} {
			_, r := e.listDocuments(tokenA, q)
			expect(t, r, http.StatusUnprocessableEntity)
			if errs, _ := r.body["errors"].(map[string]any); len(errs) == 0 {
				t.Fatalf("%s: no errors: %s", q, r.raw)
			}
		}
		expect(t, e.do(http.MethodGet, "/api/v2/my/documents", "", ""), http.StatusUnauthorized)
	})

	t.Run("get one", func(t *testing.T) {
		r := e.do(http.MethodGet, fmt.Sprintf("/api/v2/my/documents/%d", front.ID), tokenA, "")
		expect(t, r, http.StatusOK)
		if d := decodeDoc(t, r); d.ID != front.ID || d.TypeID != 1 {
			t.Fatalf("get: %s", r.raw)
		}
	})

	t.Run("another user sees nothing of them", func(t *testing.T) {
		missing := e.do(http.MethodGet, "/api/v2/my/documents/99999999", tokenB, "")
		expect(t, missing, http.StatusNotFound)
		for name, r := range map[string]resp{
			"get":              e.do(http.MethodGet, fmt.Sprintf("/api/v2/my/documents/%d", front.ID), tokenB, ""),
			"delete":           e.do(http.MethodDelete, fmt.Sprintf("/api/v2/my/documents/%d", front.ID), tokenB, ""),
			"malformed get":    e.do(http.MethodGet, "/api/v2/my/documents/abc", tokenB, ""),
			"malformed delete": e.do(http.MethodDelete, "/api/v2/my/documents/-1", tokenB, ""),
			"missing delete":   e.do(http.MethodDelete, "/api/v2/my/documents/99999999", tokenB, ""),
		} {
			if r.status != http.StatusNotFound || r.raw != missing.raw {
				t.Fatalf("%s: %d %s, want the same 404 as a missing one: %s", name, r.status, r.raw, missing.raw)
			}
		}
		docs, r := e.listDocuments(tokenB, "")
		if len(docs) != 0 || r.header.Get("X-Total-Count") != "0" {
			t.Fatalf("B's list: %s", r.raw)
		}
		if _, _, status := fetch(t, e.do(http.MethodGet, fmt.Sprintf("/api/v2/my/documents/%d", front.ID), tokenA, "").str("file")); status != http.StatusOK {
			t.Fatal("A's document went away")
		}
	})

	t.Run("a new document of a type replaces the old one", func(t *testing.T) {
		oldKey := objectKey(t, front.File, bucket)
		r := e.addDocument(tokenA, "1", "id.png", imagextest.JPEG(8, 8, 0))
		expect(t, r, http.StatusCreated)
		newer := decodeDoc(t, r)
		if newer.ID == front.ID {
			t.Fatal("same id")
		}
		expect(t, e.do(http.MethodGet, fmt.Sprintf("/api/v2/my/documents/%d", front.ID), tokenA, ""), http.StatusNotFound)
		if docs, _ := e.listDocuments(tokenA, ""); len(docs) != 2 || docs[0].ID != newer.ID {
			t.Fatalf("list after replace: %v", docs)
		}
		eventually(t, "the replaced object to leave S3", func() bool { return e.gone(store, oldKey) })
		front = newer
	})

	t.Run("review", func(t *testing.T) {
		_, tokenC := e.register("doc-c@example.com", "+18681230113", "4829")
		r := e.addDocument(tokenC, "3", "passport.jpg", imagextest.JPEG(8, 8, 0))
		expect(t, r, http.StatusCreated)
		passport := decodeDoc(t, r)

		r = e.do(http.MethodGet, "/admin/v1/documents?status=pending", adminToken, "")
		expect(t, r, http.StatusOK)
		var queue []map[string]any
		if err := json.Unmarshal([]byte(r.raw), &queue); err != nil || len(queue) != 3 || r.header.Get("X-Total-Count") != "3" {
			t.Fatalf("queue: %s", r.raw)
		}
		if queue[0]["id"] != float64(back.ID) || queue[0]["user_id"] == nil {
			t.Fatalf("queue order: %s", r.raw)
		}
		for name, tc := range map[string]struct {
			method, path, token, body string
			status                    int
		}{
			"user token":         {http.MethodGet, "/admin/v1/documents?status=pending", tokenA, "", http.StatusUnauthorized},
			"other status":       {http.MethodGet, "/admin/v1/documents?status=approved", adminToken, "", http.StatusUnprocessableEntity},
			"reject no reason":   {http.MethodPost, fmt.Sprintf("/admin/v1/documents/%d/reject", passport.ID), adminToken, `{}`, http.StatusUnprocessableEntity},
			"reject long reason": {http.MethodPost, fmt.Sprintf("/admin/v1/documents/%d/reject", passport.ID), adminToken, js(map[string]string{"reason": strings.Repeat("x", 501)}), http.StatusUnprocessableEntity},
			"approve missing":    {http.MethodPost, "/admin/v1/documents/99999999/approve", adminToken, "", http.StatusNotFound},
			"approve malformed":  {http.MethodPost, "/admin/v1/documents/x/approve", adminToken, "", http.StatusNotFound},
			"approve replaced":   {http.MethodPost, "/admin/v1/documents/1/approve", adminToken, "", http.StatusNotFound},
			"user approves":      {http.MethodPost, fmt.Sprintf("/admin/v1/documents/%d/approve", passport.ID), tokenC, "", http.StatusUnauthorized},
		} {
			t.Run(name, func(t *testing.T) { expect(t, e.do(tc.method, tc.path, tc.token, tc.body), tc.status) })
		}

		r = e.do(http.MethodPost, fmt.Sprintf("/admin/v1/documents/%d/approve", front.ID), adminToken, "")
		expect(t, r, http.StatusOK)
		if r.str("status") != "approved" || r.str("reviewed_by") != "alice" {
			t.Fatalf("approve: %s", r.raw)
		}
		expect(t, e.do(http.MethodPost, fmt.Sprintf("/admin/v1/documents/%d/approve", front.ID), adminToken, ""), http.StatusConflict)
		eventually(t, "A's profile to stay pending with one side approved", func() bool {
			return e.profile(tokenA).str("identity_status") == "pending"
		})
		expect(t, e.do(http.MethodPost, fmt.Sprintf("/admin/v1/documents/%d/approve", back.ID), adminToken, ""), http.StatusOK)
		eventually(t, "A verified once both sides are approved", func() bool {
			return e.profile(tokenA).str("identity_status") == "verified"
		})
		eventually(t, "A told by email and push", func() bool {
			return strings.Contains(e.do(http.MethodGet, "/dev/outbox?to=doc-a@example.com", "", "").raw, "approved") &&
				strings.Contains(e.do(http.MethodGet, "/dev/outbox?to=fcm-1", "", "").raw, "reviewed")
		})

		r = e.do(http.MethodPost, fmt.Sprintf("/admin/v1/documents/%d/reject", passport.ID), adminToken, js(map[string]string{"reason": "The photo is blurred."}))
		expect(t, r, http.StatusOK)
		eventually(t, "C rejected", func() bool { return e.profile(tokenC).str("identity_status") == "rejected" })
		d := decodeDoc(t, e.do(http.MethodGet, fmt.Sprintf("/api/v2/my/documents/%d", passport.ID), tokenC, ""))
		if d.Status != "rejected" || d.RejectionReason == nil || *d.RejectionReason != "The photo is blurred." {
			t.Fatalf("rejected document: %+v", d)
		}
		eventually(t, "C told the reason", func() bool {
			return strings.Contains(e.do(http.MethodGet, "/dev/outbox?to=doc-c@example.com", "", "").raw, "blurred")
		})
		r = e.do(http.MethodGet, "/admin/v1/documents", adminToken, "")
		if strings.TrimSpace(r.raw) != "[]" || r.header.Get("X-Total-Count") != "0" {
			t.Fatalf("queue after review: %s", r.raw)
		}
	})

	t.Run("delete removes the object and the profile field at once", func(t *testing.T) {
		k := objectKey(t, front.File, bucket)
		r := e.do(http.MethodDelete, fmt.Sprintf("/api/v2/my/documents/%d", front.ID), tokenA, "")
		expect(t, r, http.StatusNoContent)
		if r.raw != "" {
			t.Fatalf("204 with a body: %q", r.raw)
		}
		p := e.profile(tokenA)
		if p.body["id_proof_front"] != nil || p.str("id_proof_back") == "" || p.str("identity_status") != "unverified" {
			t.Fatalf("profile after delete: %s", p.raw)
		}
		expect(t, e.do(http.MethodGet, fmt.Sprintf("/api/v2/my/documents/%d", front.ID), tokenA, ""), http.StatusNotFound)
		expect(t, e.do(http.MethodDelete, fmt.Sprintf("/api/v2/my/documents/%d", front.ID), tokenA, ""), http.StatusNotFound)
		eventually(t, "the object to leave S3", func() bool { return e.gone(store, k) })
	})
}

func TestDocumentsCapAndConcurrency(t *testing.T) {
	e, _ := startDocuments(t, map[string]string{"DOSS_DOCUMENTS_PER_ACCOUNT": "3"})
	_, token := e.register("doc-cap@example.com", "+18681230121", "4829")
	for _, typeID := range []string{"1", "2", "3"} {
		expect(t, e.addDocument(token, typeID, "d.jpg", imagextest.JPEG(8, 8, 0)), http.StatusCreated)
	}
	r := e.addDocument(token, "4", "d.jpg", imagextest.JPEG(8, 8, 0))
	expect(t, r, http.StatusUnprocessableEntity)
	if errs, _ := r.body["errors"].(map[string]any); errs["typeId"] == nil {
		t.Fatalf("no errors.typeId: %s", r.raw)
	}
	// Replacing one of the three is still allowed, here with a WebP.
	r = e.addDocument(token, "2", "d.webp", imagextest.WebP(3, 2, color.NRGBA{R: 9, G: 9, B: 9, A: 255}))
	expect(t, r, http.StatusCreated)
	if body, ct, _ := fetch(t, decodeDoc(t, r).File); ct != "image/jpeg" || len(body) == 0 {
		t.Fatalf("webp stored as %s", ct)
	}

	_, tokenD := e.register("doc-race@example.com", "+18681230122", "4829")
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.addDocument(tokenD, "5", "d.jpg", imagextest.JPEG(8, 8, 0)).status
		}()
	}
	wg.Wait()
	for _, st := range statuses {
		if st != http.StatusCreated {
			t.Fatalf("concurrent uploads: %v", statuses)
		}
	}
	docs, r := e.listDocuments(tokenD, "")
	if len(docs) != 1 || docs[0].TypeID != 5 || r.header.Get("X-Total-Count") != "1" {
		t.Fatalf("after concurrent uploads: %s", r.raw)
	}
	if p := e.profile(tokenD); p.str("driving_license_front") == "" || p.str("identity_status") != "pending" {
		t.Fatalf("profile: %s", p.raw)
	}
}

func mustQuery(t *testing.T, link string) url.Values {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// put uploads data to a presigned link as a phone would: no credentials.
func put(t *testing.T, link string, data []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, link, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT to presigned link: %d", res.StatusCode)
	}
}

// A presigned upload nobody claims is deleted once older than the sweep's
// cutoff; a claimed document's object (under documents/) never is, and a
// claim of a swept upload gets the 422 of any upload that is not there.
func TestUnclaimedUploadsAreSwept(t *testing.T) {
	e, bucket := startDocuments(t, nil)
	store := e.s3(bucket)
	_, token := e.register("doc-sweep@example.com", "+18681230151", "4829")
	before := time.Now().Add(-time.Minute) // LastModified may be truncated to the second
	upload := func() string {
		t.Helper()
		photo := imagextest.JPEG(16, 16, 0)
		r := e.do(http.MethodPost, "/api/v2/my/documents/upload_url", token, js(map[string]any{"size": len(photo)}))
		expect(t, r, http.StatusOK)
		put(t, r.str("upload_url"), photo)
		return r.str("file")
	}
	claim := func(key string) resp {
		t.Helper()
		return e.do(http.MethodPost, "/api/v2/my/documents", token, js(map[string]any{"file": key, "typeId": 1}))
	}

	claimedUpload := upload()
	r := claim(claimedUpload)
	expect(t, r, http.StatusCreated)
	document := objectKey(t, decodeDoc(t, r).File, bucket)
	if !strings.HasPrefix(document, "documents/") {
		t.Fatalf("a claimed document is stored at %s", document)
	}
	// Its upload goes through the orphan event, so the sweep counts only
	// the unclaimed one.
	eventually(t, "the claimed upload to be removed", func() bool { return e.gone(store, claimedUpload) })
	unclaimed := upload()

	sweep := func(cutoff time.Time, want int) {
		t.Helper()
		if n, err := documentsvc.SweepIncoming(context.Background(), store, cutoff); err != nil || n != want {
			t.Fatalf("sweep before %s: %d removed, %v; want %d", cutoff, n, err, want)
		}
	}
	sweep(before, 0)
	if e.gone(store, unclaimed) || e.gone(store, document) {
		t.Fatal("a sweep with a cutoff before the uploads removed one")
	}
	sweep(time.Now().Add(time.Second), 1)
	if !e.gone(store, unclaimed) {
		t.Fatal("the unclaimed upload is still stored")
	}
	if e.gone(store, document) {
		t.Fatal("the sweep removed a claimed document")
	}
	r = claim(unclaimed)
	expect(t, r, http.StatusUnprocessableEntity)
	if errs, _ := r.body["errors"].(map[string]any); errs["file"] == nil {
		t.Fatalf("no errors.file: %s", r.raw)
	}
}

// The documents service tells profile at once; when profile is down then,
// the events stored with the change bring it up to date when it returns.
func TestProfileCatchesUpOnDocumentsAfterOutage(t *testing.T) {
	e, _ := startDocuments(t, nil)
	_, token := e.register("doc-outage@example.com", "+18681230131", "4829")
	if err := e.proc(contract.ServiceProfile).Stop(); err != nil {
		t.Fatal(err)
	}
	expect(t, e.addDocument(token, "6", "d.jpg", imagextest.JPEG(8, 8, 0)), http.StatusCreated)
	p, err := stack.Start(e.nc, contract.ServiceProfile, e.getenv, e.logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	eventually(t, "the profile to show the document", func() bool {
		r := e.do(http.MethodGet, "/api/v2/profile", token, "")
		return r.str("driving_license_back") != "" && r.str("identity_status") == "pending"
	})
}

func TestDocumentsWhenStorageIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	e, _ := startDocuments(t, map[string]string{"DOSS_S3_ENDPOINT": dead, "DOSS_S3_TIMEOUT": "1s"})
	_, token := e.register("doc-s3down@example.com", "+18681230141", "4829")
	for name, r := range map[string]resp{
		"multipart":  e.addDocument(token, "1", "d.jpg", imagextest.JPEG(8, 8, 0)),
		"upload url": e.do(http.MethodPost, "/api/v2/my/documents/upload_url", token, js(map[string]any{"size": 100})),
	} {
		expect(t, r, http.StatusServiceUnavailable)
		if r.header.Get("Retry-After") == "" || r.str("message") == "" {
			t.Fatalf("%s: %v %s", name, r.header, r.raw)
		}
	}
	if docs, r := e.listDocuments(token, ""); r.status != http.StatusOK || len(docs) != 0 {
		t.Fatalf("list: %s", r.raw)
	}
}

// Each upload link may put a whole document in the bucket until the sweep
// an hour later, and links were not counted: a loop on upload_url filled
// the store. A user is given DOSS_UPLOAD_LINKS_PER_HOUR of them; another
// user's links are their own.
func TestUploadLinksAreCountedPerUser(t *testing.T) {
	e, _ := startDocuments(t, map[string]string{"DOSS_UPLOAD_LINKS_PER_HOUR": "3"})
	_, tokenA := e.register("links-a@example.com", "+18681230161", "4829")
	_, tokenB := e.register("links-b@example.com", "+18681230162", "4829")
	link := func(token string) resp {
		return e.do(http.MethodPost, "/api/v2/my/documents/upload_url", token, js(map[string]any{"size": 100}))
	}
	for range 3 {
		expect(t, link(tokenA), http.StatusOK)
	}
	r := link(tokenA)
	expect(t, r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") == "" {
		t.Fatalf("no Retry-After: %v", r.header)
	}
	expect(t, link(tokenB), http.StatusOK)
}
