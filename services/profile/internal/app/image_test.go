package app

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/png"
	"testing"

	"github.com/dossapp/backend/pkg/contract"
)

func TestNormalizePhoto(t *testing.T) {
	var small bytes.Buffer
	if err := png.Encode(&small, image.NewRGBA(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		code contract.Code // "" means accepted
	}{
		{"png", small.Bytes(), ""},
		{"text", []byte("hello, not an image"), contract.UnsupportedMedia},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), contract.UnsupportedMedia},
		{"webp header only", []byte("RIFF\x1a\x00\x00\x00WEBPVP8 \x0e\x00\x00\x00garbage-garbage"), contract.Invalid},
		{"png claiming 10 gigapixels", hugePNG(100000, 100000), contract.Invalid},
		{"png just over 25 megapixels", hugePNG(5001, 5000), contract.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := NormalizePhoto(tc.data)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, format, err := image.DecodeConfig(bytes.NewReader(out)); err != nil || format != "jpeg" {
					t.Fatalf("output: %v %s", err, format)
				}
				return
			}
			var ce *contract.Error
			if !errors.As(err, &ce) || ce.Code != tc.code {
				t.Fatalf("err %v, want %s", err, tc.code)
			}
		})
	}
}

func hugePNG(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2
	body := append([]byte("IHDR"), ihdr...)
	out := append([]byte("\x89PNG\r\n\x1a\n"), 0, 0, 0, 13)
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
}
