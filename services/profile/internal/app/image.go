package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/imagex"
)

// PhotoStore keeps profile photos (S3 in production).
type PhotoStore interface {
	Put(ctx context.Context, key string, jpeg []byte) error
	Delete(ctx context.Context, key string) error
	LinkSigner
}

// LinkSigner makes a link a phone can GET without a token; it expires.
type LinkSigner interface {
	URL(ctx context.Context, key string) (string, error)
}

func photoKey(userID int64) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return photoPrefix(userID) + hex.EncodeToString(b) + ".jpg"
}

// photoPrefix holds every photo of the user, and nothing else.
func photoPrefix(userID int64) string { return "profiles/" + strconv.FormatInt(userID, 10) + "/" }

// UpdateImage stores a new profile photo. The previous one is deleted by
// the profile.object_orphaned event stored with the change, so it goes
// even if this process dies right after (OnObjectOrphaned, retried).
func (s *Service) UpdateImage(ctx context.Context, userID int64, data []byte) (contract.Profile, error) {
	photo, err := imagex.Normalize(ctx, data, "image")
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
	p, err := s.recordWith(ctx, userID, func(p *Profile) ([]contract.Event, error) {
		old := p.Image
		p.Image = &newKey
		if old == nil || *old == "" {
			return nil, nil
		}
		ev, err := events.New(ctx, contract.EventProfileObjectOrphaned, contract.ObjectOrphaned{Key: *old})
		return []contract.Event{ev}, err
	})
	if err != nil {
		// Nothing refers to the new photo; an orphan left by a failure here
		// costs storage, not privacy: its key is unguessable.
		_ = s.Photos.Delete(context.WithoutCancel(ctx), newKey)
		return contract.Profile{}, err
	}
	return p, nil
}
