package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"image"
	"image/jpeg"
	"net/http"

	_ "image/png" // decoders for image.DecodeConfig / image.Decode

	_ "golang.org/x/image/webp"

	"github.com/dossapp/backend/pkg/contract"
)

// MaxPixels bounds a photo's header dimensions before anything is decoded,
// so a small file claiming a huge canvas cannot exhaust memory.
const MaxPixels = 25_000_000

// PhotoStore keeps profile photos (S3 in production).
type PhotoStore interface {
	Put(ctx context.Context, key string, jpeg []byte) error
	Delete(ctx context.Context, key string) error
	// URL is a link a phone can GET without a token; it expires.
	URL(ctx context.Context, key string) (string, error)
}

// NormalizePhoto accepts a JPEG, PNG or WebP and returns it re-encoded as
// a JPEG, which drops every metadata segment (EXIF, GPS).
func NormalizePhoto(data []byte) ([]byte, error) {
	switch http.DetectContentType(data) {
	case "image/jpeg", "image/png", "image/webp":
	default:
		return nil, &contract.Error{Code: contract.UnsupportedMedia, Message: "The image must be a JPEG, PNG or WebP file."}
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, contract.FieldError("image", "The image could not be read.")
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, contract.FieldError("image", "The image must be at most 25 megapixels.")
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, contract.FieldError("image", "The image could not be read.")
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func photoKey(userID int64) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "profiles/" + key(userID) + "/" + hex.EncodeToString(b) + ".jpg"
}

// UpdateImage stores a new profile photo and drops the previous one.
func (s *Service) UpdateImage(ctx context.Context, userID int64, data []byte) (contract.Profile, error) {
	photo, err := NormalizePhoto(data)
	if err != nil {
		return contract.Profile{}, err
	}
	if _, err := s.load(ctx, userID); err != nil {
		return contract.Profile{}, err
	}
	newKey := photoKey(userID)
	if err := s.Photos.Put(ctx, newKey, photo); err != nil {
		return contract.Profile{}, err
	}
	var old *string
	p, err := s.record(ctx, userID, func(p *Profile) { old, p.Image = p.Image, &newKey })
	if err != nil {
		_ = s.Photos.Delete(context.WithoutCancel(ctx), newKey)
		return contract.Profile{}, err
	}
	if old != nil && *old != "" {
		// An orphan left by a failure here costs storage, not privacy: its
		// key is unguessable and no answer links to it any more.
		_ = s.Photos.Delete(context.WithoutCancel(ctx), *old)
	}
	return p, nil
}

// answer is the profile as the app sees it, with the photo key turned into
// a fresh expiring link.
func (s *Service) answer(ctx context.Context, p Profile) (contract.Profile, error) {
	c := p.Contract()
	if p.Image == nil || *p.Image == "" || s.Photos == nil {
		c.Image = nil
		return c, nil
	}
	u, err := s.Photos.URL(ctx, *p.Image)
	if err != nil {
		return contract.Profile{}, err
	}
	c.Image = &u
	return c, nil
}
