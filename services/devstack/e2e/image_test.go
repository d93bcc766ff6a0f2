package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/dossapp/backend/pkg/imagex/imagextest"
)

func TestUpdateImage(t *testing.T) {
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	e := start(t, map[string]string{
		"DOSS_S3_BUCKET": "img-" + hex.EncodeToString(suffix), // one S3 server serves every test
		// The global limit stays small for JSON; the upload route has its own.
	})
	_, token := e.register("image@example.com", "+18681230040", "4829")

	var firstURL string
	t.Run("jpeg with exif gps is stored without metadata", func(t *testing.T) {
		photo := imagextest.JPEG(16, 16, 0)
		if !bytes.Contains(photo, []byte(imagextest.GPSMarker)) {
			t.Fatal("test photo has no GPS marker")
		}
		r := e.upload(token, "photo.jpg", photo)
		expect(t, r, http.StatusOK)
		firstURL = r.str("image")
		if firstURL == "" || r.str("email") != "image@example.com" {
			t.Fatalf("profile answer: %s", r.raw)
		}
		body, ct, status := fetch(t, firstURL)
		if status != http.StatusOK || ct != "image/jpeg" {
			t.Fatalf("GET image: %d %s", status, ct)
		}
		if bytes.Contains(body, []byte(imagextest.GPSMarker)) || bytes.Contains(body, []byte("Exif")) {
			t.Fatal("stored photo still holds EXIF/GPS")
		}
		if _, format, err := image.Decode(bytes.NewReader(body)); err != nil || format != "jpeg" {
			t.Fatalf("stored photo: %v %s", err, format)
		}
		if got := e.do(http.MethodGet, "/api/v2/profile", token, "").str("image"); got == "" {
			t.Fatal("GET /v2/profile has no image")
		}
	})
	t.Run("png accepted and the previous photo is deleted", func(t *testing.T) {
		var buf bytes.Buffer
		if err := png.Encode(&buf, imagextest.Gradient(8, 8)); err != nil {
			t.Fatal(err)
		}
		r := e.upload(token, "photo.png", buf.Bytes())
		expect(t, r, http.StatusOK)
		if _, _, status := fetch(t, r.str("image")); status != http.StatusOK {
			t.Fatalf("GET new image: %d", status)
		}
		// Deleted by the orphaned-object event stored with the change.
		eventually(t, "the replaced photo to be deleted", func() bool {
			_, _, status := fetch(t, firstURL)
			return status == http.StatusNotFound || status == http.StatusForbidden
		})
	})
	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			file   string
			data   []byte
			status int
		}{
			{"text named jpg", "photo.jpg", []byte("this is not an image at all, just text\n"), http.StatusUnsupportedMediaType},
			{"over 5 MiB", "big.jpg", bytes.Repeat([]byte{0xFF}, 5<<20+1), http.StatusRequestEntityTooLarge},
			{"png header claims 10 gigapixels", "bomb.png", imagextest.PNGBomb(100000, 100000), http.StatusUnprocessableEntity},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.upload(token, tc.file, tc.data)
				expect(t, r, tc.status)
				if errs, _ := r.body["errors"].(map[string]any); tc.status == http.StatusUnprocessableEntity && errs["image"] == nil {
					t.Fatalf("no errors.image: %s", r.raw)
				}
			})
		}
		t.Run("missing field", func(t *testing.T) {
			r := e.multipart(token, "other", "photo.jpg", imagextest.JPEG(16, 16, 0))
			expect(t, r, http.StatusUnprocessableEntity)
			if errs, _ := r.body["errors"].(map[string]any); errs["image"] == nil {
				t.Fatalf("no errors.image: %s", r.raw)
			}
		})
		t.Run("not multipart", func(t *testing.T) {
			expect(t, e.do(http.MethodPost, "/api/v2/update_image", token, `{"image":"x"}`), http.StatusUnsupportedMediaType)
		})
		t.Run("no token", func(t *testing.T) {
			expect(t, e.upload("", "photo.jpg", imagextest.JPEG(16, 16, 0)), http.StatusUnauthorized)
		})
	})
}

func (e *env) upload(token, filename string, data []byte) resp {
	return e.multipart(token, "image", filename, data)
}

func (e *env) multipart(token, field, filename string, data []byte) resp {
	e.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fw, err := w.CreateFormFile(field, filename)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = w.Close()
	req, err := http.NewRequest(http.MethodPost, e.base+"/api/v2/update_image", &body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	return e.send(req, token)
}

// fetch GETs a photo link as a phone would: no token.
func fetch(t *testing.T, url string) ([]byte, string, int) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return body, res.Header.Get("Content-Type"), res.StatusCode
}
