package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"testing"
)

// gpsMarker is in the EXIF segment of the test photo; it must not survive.
const gpsMarker = "GPSLatitude"

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
		photo := jpegWithEXIF(t)
		if !bytes.Contains(photo, []byte(gpsMarker)) {
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
		if bytes.Contains(body, []byte(gpsMarker)) || bytes.Contains(body, []byte("Exif")) {
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
		if err := png.Encode(&buf, solid(8, 8)); err != nil {
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
			{"png header claims 10 gigapixels", "bomb.png", pngBomb(100000, 100000), http.StatusUnprocessableEntity},
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
			r := e.multipart(token, "other", "photo.jpg", jpegWithEXIF(t))
			expect(t, r, http.StatusUnprocessableEntity)
			if errs, _ := r.body["errors"].(map[string]any); errs["image"] == nil {
				t.Fatalf("no errors.image: %s", r.raw)
			}
		})
		t.Run("not multipart", func(t *testing.T) {
			expect(t, e.do(http.MethodPost, "/api/v2/update_image", token, `{"image":"x"}`), http.StatusUnsupportedMediaType)
		})
		t.Run("no token", func(t *testing.T) {
			expect(t, e.upload("", "photo.jpg", jpegWithEXIF(t)), http.StatusUnauthorized)
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

func solid(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{R: uint8(x * 16), G: uint8(y * 16), B: 128, A: 255})
		}
	}
	return img
}

// jpegWithEXIF is a real JPEG with an APP1 EXIF segment holding GPS text
// right after SOI, as a phone camera writes it.
func jpegWithEXIF(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, solid(16, 16), nil); err != nil {
		t.Fatal(err)
	}
	plain := buf.Bytes()
	payload := append([]byte("Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08"), []byte(gpsMarker+"=52.3702N "+"GPSLongitude=4.8952E")...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte{}, plain[:2]...) // SOI
	out = append(out, seg...)
	return append(out, plain[2:]...)
}

// pngBomb is a PNG whose valid IHDR claims w×h pixels; nothing else follows
// that a header reader needs.
func pngBomb(w, h uint32) []byte {
	out := []byte("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit truecolour
	out = appendChunk(out, "IHDR", ihdr)
	out = appendChunk(out, "IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	return appendChunk(out, "IEND", nil)
}

func appendChunk(out []byte, typ string, data []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	body := append([]byte(typ), data...)
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
}
