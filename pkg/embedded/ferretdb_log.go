package embedded

import (
	"context"
	"log/slog"
	"strings"
)

// quietFerretHandler drops FerretDB's per-request dumps of non-ok responses.
// FerretDB logs every error reply (a duplicate key, the driver's unsupported
// endSessions on disconnect) as two multi-line WARN records; those are
// ordinary client traffic, not server trouble, and would bury real warnings.
type quietFerretHandler struct {
	slog.Handler
}

func newQuietFerretLogger(h slog.Handler) *slog.Logger {
	return slog.New(quietFerretHandler{h}).With("component", "ferretdb")
}

func (h quietFerretHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError &&
		(strings.HasPrefix(r.Message, "Response header: ") || strings.HasPrefix(r.Message, "Response message:")) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietFerretHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietFerretHandler{h.Handler.WithAttrs(attrs)}
}

func (h quietFerretHandler) WithGroup(name string) slog.Handler {
	return quietFerretHandler{h.Handler.WithGroup(name)}
}
