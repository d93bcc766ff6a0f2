package imagex

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/imagex/imagextest"
)

func TestNormalize(t *testing.T) {
	var small bytes.Buffer
	if err := png.Encode(&small, image.NewRGBA(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	webp, err := os.ReadFile("testdata/tiny.webp")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		code contract.Code // "" means accepted
	}{
		{"png", small.Bytes(), ""},
		{"jpeg", imagextest.JPEG(8, 4, 0), ""},
		{"lossless webp", webp, ""},
		{"text", []byte("hello, not an image"), contract.UnsupportedMedia},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), contract.UnsupportedMedia},
		{"webp header only", []byte("RIFF\x1a\x00\x00\x00WEBPVP8 \x0e\x00\x00\x00garbage-garbage"), contract.Invalid},
		{"png claiming 10 gigapixels", imagextest.PNGBomb(100000, 100000), contract.Invalid},
		{"png just over 25 megapixels", imagextest.PNGBomb(5001, 5000), contract.Invalid},
		{"truncated jpeg", imagextest.JPEG(8, 4, 6)[:200], contract.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Normalize(context.Background(), tc.data, "file")
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
			if tc.code == contract.Invalid && len(ce.Fields["file"]) == 0 {
				t.Fatalf("no errors.file: %+v", ce)
			}
		})
	}
}

func TestNormalizeAppliesOrientationAndDropsMetadata(t *testing.T) {
	for o := 1; o <= 8; o++ {
		in := imagextest.JPEG(16, 8, o)
		if !bytes.Contains(in, []byte(imagextest.GPSMarker)) || Orientation(in) != o {
			t.Fatalf("fixture for %d is wrong", o)
		}
		out, err := Normalize(context.Background(), in, "file")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(out, []byte(imagextest.GPSMarker)) || bytes.Contains(out, []byte("Exif")) {
			t.Fatalf("orientation %d: EXIF/GPS survived", o)
		}
		if Orientation(out) != 1 {
			t.Fatalf("orientation %d: output still carries an orientation", o)
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		wantW, wantH := 16, 8
		if o >= 5 {
			wantW, wantH = 8, 16
		}
		if cfg.Width != wantW || cfg.Height != wantH {
			t.Fatalf("orientation %d: %dx%d, want %dx%d", o, cfg.Width, cfg.Height, wantW, wantH)
		}
	}
}

func TestOrientMovesPixels(t *testing.T) {
	// A 3×2 picture with one marked pixel at the stored top-left corner.
	src := image.NewRGBA(image.Rect(0, 0, 3, 2))
	src.Set(0, 0, color.RGBA{R: 255, A: 255})
	for _, tc := range []struct {
		o    int
		x, y int // where the marked pixel shows upright
	}{
		{1, 0, 0}, {2, 2, 0}, {3, 2, 1}, {4, 0, 1},
		{5, 0, 0}, {6, 1, 0}, {7, 1, 2}, {8, 0, 2},
	} {
		got := Orient(src, tc.o)
		if r, _, _, _ := got.At(tc.x, tc.y).RGBA(); r != 0xffff {
			t.Errorf("orientation %d: marked pixel not at (%d,%d)", tc.o, tc.x, tc.y)
		}
	}
}

func TestOrientation(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want int
	}{
		{"none", imagextest.JPEG(4, 4, 0), 1},
		{"six", imagextest.JPEG(4, 4, 6), 6},
		{"not jpeg", []byte("hello"), 1},
		{"empty", nil, 1},
		{"segment longer than file", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 'E'}, 1},
		{"ifd offset past end", []byte("\xFF\xD8\xFF\xE1\x00\x10Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff"), 1},
		{"entry count past end", []byte("\xFF\xD8\xFF\xE1\x00\x12Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff"), 1},
		{"value out of range", append([]byte("\xFF\xD8\xFF\xE1\x00\x1eExif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01"), 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 9, 0, 0), 1},
		{"wrong type", append([]byte("\xFF\xD8\xFF\xE1\x00\x1eExif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01"), 0x01, 0x12, 0, 4, 0, 0, 0, 1, 0, 6, 0, 0), 1},
		{"little endian", append([]byte("\xFF\xD8\xFF\xE1\x00\x1eExif\x00\x00II\x2a\x00\x08\x00\x00\x00\x01\x00"), 0x12, 0x01, 3, 0, 1, 0, 0, 0, 8, 0, 0, 0), 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Orientation(tc.data); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestWebPFixtureIsTheGeneratedOne(t *testing.T) {
	want := imagextest.WebP(3, 2, color.NRGBA{R: 200, G: 100, B: 50, A: 255})
	got, err := os.ReadFile("testdata/tiny.webp")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("testdata/tiny.webp differs from imagextest.WebP(3, 2, …)")
	}
	img, format, err := image.Decode(bytes.NewReader(got))
	if err != nil || format != "webp" || img.Bounds().Dx() != 3 || img.Bounds().Dy() != 2 {
		t.Fatalf("decode: %v %s", err, format)
	}
	if r, g, b, _ := img.At(1, 1).RGBA(); r>>8 != 200 || g>>8 != 100 || b>>8 != 50 {
		t.Fatalf("colour %d %d %d", r>>8, g>>8, b>>8)
	}
}

func FuzzOrientation(f *testing.F) {
	f.Add(imagextest.JPEG(4, 4, 6))
	f.Add([]byte("\xFF\xD8\xFF\xE1\x00\x10Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff"))
	f.Add([]byte("\xFF\xD8\xFF\xFF\xFF\x01\xFF\xD0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := Orientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d out of range", o)
		}
	})
}

// A picture's cost, not its pixels, is what is bounded: a 200 KB 16-bit
// PNG of 25 megapixels decoded to 200 MB (375 MiB at its peak, with two
// more copies for a turned JPEG), so a few at once took a 384 MiB replica
// down. It is refused before anything is decoded; and a PNG 65 536 pixels
// wide, which the JPEG encoder refuses, is a 422, not a 500.
func TestCostlyPicturesAreRefusedBeforeDecoding(t *testing.T) {
	var wide bytes.Buffer
	if err := png.Encode(&wide, image.NewGray(image.Rect(0, 0, 65536, 1))); err != nil {
		t.Fatal(err)
	}
	deep := imagextest.PNG16(5000, 5000)
	if len(deep) > 1<<20 {
		t.Fatalf("the 16-bit fixture is %d bytes; it is meant to be small", len(deep))
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"16-bit png of 25 megapixels", deep},
		{"png 65536 pixels wide", wide.Bytes()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Normalize(context.Background(), tc.data, "file")
			var ce *contract.Error
			if !errors.As(err, &ce) || ce.Code != contract.Invalid || len(ce.Fields["file"]) == 0 {
				t.Fatalf("err %v; want a 422 on file", err)
			}
		})
	}
}

// cost bounds what normalising a picture really allocates (all of it, the
// garbage too), so the budget it is charged is never short. Not a 16-bit
// PNG: the encoder reads it a boxed pixel at a time, garbage the collector
// takes back as it goes, and TotalAlloc counts.
func TestCostBoundsWhatNormalisingAllocates(t *testing.T) {
	var rgba bytes.Buffer
	if err := png.Encode(&rgba, imagextest.Gradient(600, 400)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"camera jpeg", imagextest.JPEG(1200, 800, 1)},
		{"camera jpeg turned", imagextest.JPEG(1200, 800, 6)},
		{"png", rgba.Bytes()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, format, err := image.DecodeConfig(bytes.NewReader(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			want := cost(tc.data, cfg, format, Orientation(tc.data))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if _, err := Normalize(context.Background(), tc.data, "file"); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > uint64(want) {
				t.Fatalf("allocated %d bytes; cost said %d", got, want)
			}
		})
	}
}

// A camera JPEG's planes are read from its frame header: Go's encoder
// samples chroma at half the rate each way, 1.5 samples a pixel.
func TestJPEGSamples(t *testing.T) {
	data := imagextest.JPEG(64, 32, 6)
	samples, progressive, ok := jpegSamples(data, 64*32)
	if !ok || progressive || samples != 64*32*3/2 {
		t.Fatalf("samples %d, progressive %v, ok %v; want %d, false, true", samples, progressive, ok, 64*32*3/2)
	}
	if _, _, ok := jpegSamples([]byte("\xFF\xD8\xFF\xC0\x00\x03"), 1); ok {
		t.Fatal("a frame header cut short was read")
	}
}

// Pictures that each fit wait for one another: one that cannot have its
// cost within its request's time is a 503 the app retries, not memory
// borrowed past the replica's budget.
func TestPicturesWaitForTheBudget(t *testing.T) {
	b := NewBudget(MaxCost)
	if err := b.sem.Acquire(context.Background(), MaxCost); err != nil { // a costly picture in progress
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := b.Normalize(ctx, imagextest.JPEG(8, 4, 0), "file")
	var ce *contract.Error
	if !errors.As(err, &ce) || ce.Code != contract.Unavailable || ce.RetryAfter == 0 {
		t.Fatalf("err %v; want a 503 with Retry-After while the budget is taken", err)
	}
	b.sem.Release(MaxCost)
	if _, err := b.Normalize(context.Background(), imagextest.JPEG(8, 4, 0), "file"); err != nil {
		t.Fatalf("once the budget is free: %v", err)
	}
}
