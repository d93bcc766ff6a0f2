// Package imagex turns an uploaded picture into a safe stored one: the type
// is recognised from the bytes, the canvas is bounded before anything is
// decoded, the camera's orientation is applied, and the result is a fresh
// JPEG that carries no metadata (no EXIF, no GPS).
package imagex

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"

	_ "image/png" // decoders for image.DecodeConfig / image.Decode

	_ "golang.org/x/image/webp"
	"golang.org/x/sync/semaphore"

	"github.com/dossapp/backend/pkg/contract"
)

// MaxPixels bounds a picture's header dimensions before anything is
// decoded, so a small file claiming a huge canvas cannot exhaust memory.
const MaxPixels = 25_000_000

// MaxSide bounds each side: the JPEG encoder refuses 65 536 and more (a
// 147-byte PNG of 65 536×1 was a 500), and no camera comes near 16 384.
const MaxSide = 16_384

// MaxCost bounds the memory normalising one picture takes (cost): pixels
// alone do not, since a 200 KB 16-bit PNG of 25 megapixels decodes to
// 200 MB, and a camera JPEG turned on its side needs an upright copy.
// A 12-megapixel phone photo, turned, costs about 95 MB.
const MaxCost = 160 << 20

// ContentType is what Normalize produces.
const ContentType = "image/jpeg"

// Budget is the memory a process lends to the pictures it normalises at
// once. A picture waits until its cost is free, so uploads that each fit
// cannot add up, in one replica, past what its container holds; one that
// waits longer than its request may gets a 503 with Retry-After.
type Budget struct {
	sem  *semaphore.Weighted
	size int64
}

// NewBudget lends size bytes; it is at least MaxCost, so any picture that
// may be normalised fits alone.
func NewBudget(size int64) *Budget {
	size = max(size, MaxCost)
	return &Budget{sem: semaphore.NewWeighted(size), size: size}
}

// DefaultBudget is the process's: the largest picture and a few small
// ones beside it, within the 384 MiB the services' containers get.
var DefaultBudget = NewBudget(192 << 20)

// Normalize is DefaultBudget.Normalize.
func Normalize(ctx context.Context, data []byte, field string) ([]byte, error) {
	return DefaultBudget.Normalize(ctx, data, field)
}

// Normalize accepts a JPEG, PNG or WebP and returns it upright, re-encoded
// as a JPEG at quality 85. field names the request field in a 422.
func (b *Budget) Normalize(ctx context.Context, data []byte, field string) ([]byte, error) {
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
	if cfg.Width > MaxSide || cfg.Height > MaxSide {
		return nil, contract.FieldError(field, "The image must be at most 16384 pixels on each side.")
	}
	orientation := 1
	if format == "jpeg" {
		orientation = Orientation(data)
	}
	n := cost(data, cfg, format, orientation)
	if n > MaxCost {
		return nil, contract.FieldError(field, "The image is too large to process: send a smaller or plainer one (8-bit colour, at most 12 megapixels).")
	}
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, &contract.Error{Code: contract.Unavailable, Message: "Too many pictures are being processed. Please try again.", RetryAfter: 1, Err: err}
	}
	defer b.sem.Release(n)
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, contract.FieldError(field, "The image could not be read.")
	}
	img = Orient(img, orientation)
	// Grown once to about the size it will have: grown as the encoder
	// writes, the buffer cost twice the output again in garbage.
	var out bytes.Buffer
	out.Grow(len(data))
	if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, contract.FieldError(field, "The image could not be processed.")
	}
	return out.Bytes(), nil
}

// cost is how many bytes normalising data takes at most: what the decoder
// allocates for its pixels (as many bytes a pixel as the colour model
// keeps; a JPEG's planes as it samples them, and a progressive one's
// coefficients, 4 bytes a sample, besides), the upright copy of a turned
// one (4 bytes a pixel), the output and the input. The encoder's reading
// of a kind of picture it has no fast path for (a 16-bit PNG) makes
// garbage a pixel at a time, which the collector takes back as it goes:
// not counted.
func cost(data []byte, cfg image.Config, format string, orientation int) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	var decoded int64
	if format == "jpeg" {
		samples, progressive, ok := jpegSamples(data, px)
		switch {
		case !ok:
			decoded = 4 * px
		case progressive:
			decoded = 5 * samples
		default:
			decoded = samples
		}
	} else {
		decoded = px * bytesPerPixel(cfg.ColorModel)
	}
	// Besides: the decoder's rows and tables (a PNG keeps two rows, at
	// most 8 bytes a pixel).
	n := decoded + px/2 + int64(len(data)) + 16*int64(cfg.Width) + 128<<10
	if orientation >= 2 && orientation <= 8 {
		n += 4 * px
	}
	return n
}

// bytesPerPixel is what a decoded picture of colour model m keeps a pixel.
func bytesPerPixel(m color.Model) int64 {
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	return 4 // RGBA, NRGBA, NYCbCrA, CMYK
}

// jpegSamples reads a JPEG's frame header: how many samples its planes
// hold for px pixels (a chroma plane sampled at half the luma's rate each
// way holds a quarter), and whether it is progressive. ok is false when
// no frame header is found.
func jpegSamples(data []byte, px int64) (samples int64, progressive, ok bool) {
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xFF {
			return 0, false, false
		}
		marker := data[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		size := int(data[i+2])<<8 | int(data[i+3])
		if size < 2 || i+2+size > len(data) {
			return 0, false, false
		}
		seg := data[i+4 : i+2+size]
		switch marker {
		case 0xC0, 0xC1, 0xC2:
			if len(seg) < 6 {
				return 0, false, false
			}
			n := int(seg[5])
			if n == 0 || len(seg) < 6+3*n {
				return 0, false, false
			}
			var hmax, vmax int64 = 1, 1
			for c := range n {
				hv := seg[6+3*c+1]
				hmax, vmax = max(hmax, int64(hv>>4)), max(vmax, int64(hv&15))
			}
			for c := range n {
				hv := seg[6+3*c+1]
				h, v := max(int64(hv>>4), 1), max(int64(hv&15), 1)
				samples += px * h * v / (hmax * vmax)
			}
			if n == 4 {
				samples += 4 * px // CMYK: the planes, then the picture made of them
			}
			return samples, marker == 0xC2, true
		case 0xD8, 0xD9, 0xDA: // a scan before any frame: not a JPEG we read
			return 0, false, false
		}
		i += 2 + size
	}
	return 0, false, false
}

// Orient returns img as it should be seen, given an EXIF orientation
// (1–8); any other value leaves it as it is. The upright copy is the only
// one made: the stored pixels are read where the decoder left them.
func Orient(img image.Image, orientation int) image.Image {
	if orientation < 2 || orientation > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if orientation >= 5 {
		ow, oh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, ow, oh))
	at := pixels(img)
	for y := range oh {
		row := dst.Pix[y*dst.Stride : y*dst.Stride+4*ow]
		for x := range ow {
			sx, sy := source(orientation, x, y, w, h)
			at(b.Min.X+sx, b.Min.Y+sy, row[4*x:4*x+4])
		}
	}
	return dst
}

// pixels reads img's pixel at (x, y) into an RGBA quadruple: straight from
// the planes of the kinds a JPEG decodes to, through At for the others.
func pixels(img image.Image) func(x, y int, rgba []byte) {
	switch m := img.(type) {
	case *image.YCbCr:
		return func(x, y int, p []byte) {
			yi, ci := m.YOffset(x, y), m.COffset(x, y)
			p[0], p[1], p[2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			p[3] = 0xff
		}
	case *image.Gray:
		return func(x, y int, p []byte) {
			v := m.Pix[m.PixOffset(x, y)]
			p[0], p[1], p[2], p[3] = v, v, v, 0xff
		}
	case *image.RGBA:
		return func(x, y int, p []byte) {
			i := m.PixOffset(x, y)
			copy(p, m.Pix[i:i+4])
		}
	}
	return func(x, y int, p []byte) {
		c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
		p[0], p[1], p[2], p[3] = c.R, c.G, c.B, c.A
	}
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
