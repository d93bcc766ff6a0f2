// Package imagextest builds the pictures that tests upload: a camera JPEG
// with EXIF orientation and GPS, a decompression bomb, a lossless WebP.
package imagextest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
)

// GPSMarker is in the EXIF segment of JPEG; it must not survive.
const GPSMarker = "GPSLatitude"

// Gradient is a w×h picture whose pixels differ, so a rotation shows.
func Gradient(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{R: uint8(x * 16), G: uint8(y * 16), B: 128, A: 255})
		}
	}
	return img
}

// JPEG is a w×h JPEG with an APP1 EXIF segment right after SOI, as a phone
// camera writes it: IFD0 holds the orientation (none when 0) and GPS text
// follows.
func JPEG(w, h, orientation int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, Gradient(w, h), nil); err != nil {
		panic(err)
	}
	plain := buf.Bytes()
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08")
	if orientation != 0 {
		tiff = append(tiff, 0, 1) // one entry
		tiff = append(tiff, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, byte(orientation), 0, 0)
		tiff = append(tiff, 0, 0, 0, 0) // no next IFD
	}
	payload := append([]byte("Exif\x00\x00"), tiff...)
	payload = append(payload, []byte(GPSMarker+"=52.3702N GPSLongitude=4.8952E")...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte{}, plain[:2]...) // SOI
	out = append(out, seg...)
	return append(out, plain[2:]...)
}

// PNG16 is a valid, fully decodable 16-bit RGBA PNG of w×h black pixels:
// a few hundred KB that decode to 8 bytes a pixel. It is written a row at
// a time, so making it costs no more than the file.
func PNG16(w, h int) []byte {
	var idat bytes.Buffer
	z := zlib.NewWriter(&idat)
	row := make([]byte, 1+8*w) // filter byte 0, then the pixels
	for range h {
		_, _ = z.Write(row)
	}
	_ = z.Close()
	out := []byte("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6
	out = appendChunk(out, "IHDR", ihdr)
	out = appendChunk(out, "IDAT", idat.Bytes())
	return appendChunk(out, "IEND", nil)
}

// PNGBomb is a PNG whose valid IHDR claims w×h pixels; nothing else follows
// that a header reader needs.
func PNGBomb(w, h uint32) []byte { return PNGBombOf(w, h, 8, 2) }

// PNGBombOf is PNGBomb with the IHDR's bit depth and colour type (2:
// truecolour, 6: truecolour with alpha): a 16-bit one keeps 8 bytes a
// pixel once decoded.
func PNGBombOf(w, h uint32, depth, colourType byte) []byte {
	out := []byte("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = depth, colourType
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

// WebP is a valid lossless (VP8L) WebP of w×h pixels of one colour: each of
// the five prefix codes is a "simple" code of one symbol, so the pixels
// take no bits at all.
func WebP(w, h int, c color.NRGBA) []byte {
	var bw bitWriter
	bw.put(0x2f, 8) // VP8L signature
	bw.put(uint32(w-1), 14)
	bw.put(uint32(h-1), 14)
	bw.put(1, 1) // alpha is used
	bw.put(0, 3) // version
	bw.put(0, 1) // no transform
	bw.put(0, 1) // no colour cache
	bw.put(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A, 0} {
		bw.put(1, 1) // simple code
		bw.put(0, 1) // one symbol
		bw.put(1, 1) // of 8 bits
		bw.put(uint32(sym), 8)
	}
	data := bw.bytes()
	chunk := append([]byte("VP8L"), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	chunk = append(chunk, data...)
	if len(data)%2 == 1 {
		chunk = append(chunk, 0)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(chunk)))...)
	out = append(out, "WEBP"...)
	return append(out, chunk...)
}

// bitWriter writes least significant bit first, as VP8L reads.
type bitWriter struct {
	buf  []byte
	nbit uint
}

func (b *bitWriter) put(v uint32, n uint) {
	for i := range n {
		if b.nbit%8 == 0 {
			b.buf = append(b.buf, 0)
		}
		if v>>i&1 == 1 {
			b.buf[len(b.buf)-1] |= 1 << (b.nbit % 8)
		}
		b.nbit++
	}
}

func (b *bitWriter) bytes() []byte { return b.buf }
