// Package imagex turns an uploaded picture into a safe stored one: the type
// is recognised from the bytes, the canvas is bounded before anything is
// decoded, the camera's orientation is applied, and the result is a fresh
// JPEG that carries no metadata (no EXIF, no GPS).
package imagex

import (
	"bytes"
	"image"
	"image/draw"
	"image/jpeg"
	"net/http"

	_ "image/png" // decoders for image.DecodeConfig / image.Decode

	_ "golang.org/x/image/webp"

	"github.com/dossapp/backend/pkg/contract"
)

// MaxPixels bounds a picture's header dimensions before anything is
// decoded, so a small file claiming a huge canvas cannot exhaust memory.
const MaxPixels = 25_000_000

// ContentType is what Normalize produces.
const ContentType = "image/jpeg"

// Normalize accepts a JPEG, PNG or WebP and returns it upright, re-encoded
// as a JPEG at quality 85. field names the request field in a 422.
func Normalize(data []byte, field string) ([]byte, error) {
	switch http.DetectContentType(data) {
	case "image/jpeg", "image/png", "image/webp":
	default:
		return nil, &contract.Error{Code: contract.UnsupportedMedia, Message: "The file must be a JPEG, PNG or WebP image."}
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, contract.FieldError(field, "The image could not be read.")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, contract.FieldError(field, "The image must be at most 25 megapixels.")
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, contract.FieldError(field, "The image could not be read.")
	}
	if format == "jpeg" {
		img = Orient(img, Orientation(data))
	}
	// Grown once to about the size it will have: grown as the encoder
	// writes, the buffer cost twice the output again in garbage.
	var out bytes.Buffer
	out.Grow(len(data))
	if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Orient returns img as it should be seen, given an EXIF orientation
// (1–8); any other value leaves it as it is.
func Orient(img image.Image, orientation int) image.Image {
	if orientation < 2 || orientation > 8 {
		return img
	}
	b := img.Bounds()
	src := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(src, src.Bounds(), img, b.Min, draw.Src)
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if orientation >= 5 {
		ow, oh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for y := range oh {
		for x := range ow {
			sx, sy := source(orientation, x, y, w, h)
			si, di := src.PixOffset(sx, sy), dst.PixOffset(x, y)
			copy(dst.Pix[di:di+4], src.Pix[si:si+4])
		}
	}
	return dst
}

// source is the stored pixel that shows at (x, y) of the upright picture;
// w and h are the stored picture's dimensions.
func source(orientation, x, y, w, h int) (int, int) {
	switch orientation {
	case 2: // mirrored
		return w - 1 - x, y
	case 3: // upside down
		return w - 1 - x, h - 1 - y
	case 4: // upside down and mirrored
		return x, h - 1 - y
	case 5: // transposed
		return y, x
	case 6: // the camera was turned clockwise: rotate 90° clockwise
		return y, h - 1 - x
	case 7: // transversed
		return w - 1 - y, h - 1 - x
	case 8: // rotate 90° counter-clockwise
		return w - 1 - y, x
	}
	return x, y
}
