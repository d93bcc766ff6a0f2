// Package logx builds the zap loggers every service uses and carries the
// correlation id of a request through context into each log line.
package logx

import (
	"context"
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a JSON logger in production and a readable console logger
// in dev, writing to w, tagged with the service name.
func New(w io.Writer, dev bool, service string) *zap.Logger {
	var enc zapcore.Encoder
	level := zapcore.InfoLevel
	if dev {
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		enc = zapcore.NewConsoleEncoder(cfg)
	} else {
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core).With(zap.String("service", service))
}

type ctxKey struct{}

// entry is what a context holds: the logger and the id it is to carry.
// The child logger is made when something logs, not per request: most
// requests log nothing, and making it cost two allocations each.
type entry struct {
	log *zap.Logger
	cid string
}

// With returns a context whose logger carries the correlation id.
func With(ctx context.Context, log *zap.Logger, correlationID string) context.Context {
	return context.WithValue(ctx, ctxKey{}, &entry{log: log, cid: correlationID})
}

// From returns the context's logger, or a no-op logger.
func From(ctx context.Context) *zap.Logger {
	e, ok := ctx.Value(ctxKey{}).(*entry)
	switch {
	case !ok:
		return zap.NewNop()
	case e.cid == "":
		return e.log
	}
	return e.log.With(zap.String("correlation_id", e.cid))
}

// CorrelationID returns the context's correlation id, "" when none.
func CorrelationID(ctx context.Context) string {
	if e, ok := ctx.Value(ctxKey{}).(*entry); ok {
		return e.cid
	}
	return ""
}
