package documentsvc

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/blob"
	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// claimMargin is how long past its link's expiry an upload stays
// claimable. A PUT may begin in the link's last second and take minutes on
// a phone's connection, the claim comes after it, and the store's clock
// (LastModified) and this service's (the cutoff) need not agree.
const claimMargin = 15 * time.Minute

// sweepConfig is how presigned uploads nobody claims are aged out.
type sweepConfig struct {
	Every  time.Duration // how often each replica sweeps
	MaxAge time.Duration // an unclaimed upload older than this is deleted
}

// readSweep reads DOSS_INCOMING_SWEEP_EVERY and DOSS_INCOMING_MAX_AGE.
func readSweep(e *config.Env) sweepConfig {
	return sweepConfig{
		Every:  e.Duration("DOSS_INCOMING_SWEEP_EVERY", 10*time.Minute),
		MaxAge: e.Duration("DOSS_INCOMING_MAX_AGE", time.Hour),
	}
}

// check refuses a max age under the upload link's life plus claimMargin.
// Then an upload is swept only after every link that could write its key
// has expired (keys are never reissued), so a sweep never races a PUT, and
// a client that claims before its link's expires_at is never refused.
func (c sweepConfig) check(uploadTTL time.Duration) error {
	if c.Every < time.Second {
		return fmt.Errorf("DOSS_INCOMING_SWEEP_EVERY must be at least 1s, not %s", c.Every)
	}
	if least := uploadTTL + claimMargin; c.MaxAge < least {
		return fmt.Errorf("DOSS_INCOMING_MAX_AGE must be at least %s (the upload link's life, %s, plus %s to finish the upload and claim it), not %s",
			least, uploadTTL, claimMargin, c.MaxAge)
	}
	return nil
}

// SweepIncoming deletes the presigned uploads last written before cutoff,
// which no claim took, and says how many it deleted. It lists incoming/
// only: a claimed document lives under documents/.
func SweepIncoming(ctx context.Context, files *blob.Store, cutoff time.Time) (int, error) {
	return files.DeleteOlder(ctx, app.IncomingRoot, cutoff)
}

// sweepIncoming sweeps at once and then every c.Every until ctx ends. Every
// replica runs it: a delete is idempotent, so none needs electing, and a
// replica that never lives a whole interval still sweeps.
func sweepIncoming(ctx context.Context, files *blob.Store, log *zap.Logger, c sweepConfig) {
	tick := time.NewTicker(c.Every)
	defer tick.Stop()
	for {
		sweepOnce(ctx, files, log, c)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweepOnce is one sweep, bounded by the interval so a store that hangs
// cannot hold off the next one; what it deleted stays deleted.
func sweepOnce(ctx context.Context, files *blob.Store, log *zap.Logger, c sweepConfig) {
	sctx, cancel := context.WithTimeout(ctx, c.Every)
	defer cancel()
	cutoff := time.Now().Add(-c.MaxAge)
	n, err := SweepIncoming(sctx, files, cutoff)
	if err != nil {
		if ctx.Err() == nil { // not a shutdown
			log.Warn("sweeping unclaimed uploads failed; the next sweep carries on", zap.Int("removed", n), zap.Error(err))
		}
		return
	}
	log.Info("unclaimed uploads swept", zap.Int("removed", n), zap.Time("older_than", cutoff))
}
