// Package obs is what every service shares to be watched: Prometheus
// metrics, an ops listener (/metrics, /healthz, /readyz) for probes and
// scrapers, and OpenTelemetry tracing that stays a no-op unless an exporter
// is configured by the standard OTEL_* variables.
package obs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dossapp/backend/pkg/config"
)

// Ops is a service's running ops listener and tracer.
type Ops struct {
	srv       *http.Server
	addr      string
	stopTrace func(context.Context) error
}

// Start reads DOSS_METRICS_ADDR (the ops listener, off when empty) and the
// OTEL_* switches (tracing, off unless an exporter is named or an OTLP
// endpoint given). ready answers /readyz; nil means always ready.
func Start(getenv func(string) string, service string, ready func() error) (*Ops, error) {
	e := config.New(getenv)
	addr := e.String("DOSS_METRICS_ADDR", "")
	tc := readTraceConfig(e)
	if err := e.Err(); err != nil {
		return nil, err
	}
	buildInfo.WithLabelValues(service, Version).Set(1)
	o := &Ops{}
	stop, err := startTracing(tc, service)
	if err != nil {
		return nil, err
	}
	o.stopTrace = stop
	if addr == "" {
		return o, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = o.stopTrace(context.Background())
		return nil, fmt.Errorf("DOSS_METRICS_ADDR %s: %w", addr, err)
	}
	o.addr = ln.Addr().String()
	o.srv = &http.Server{Handler: Handler(ready), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = o.srv.Serve(ln) }()
	return o, nil
}

// Addr is where the ops listener listens, "" when it is off.
func (o *Ops) Addr() string { return o.addr }

// Stop closes the listener and flushes the spans not yet exported.
func (o *Ops) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if o.srv != nil {
		_ = o.srv.Shutdown(ctx)
	}
	if o.stopTrace != nil {
		_ = o.stopTrace(ctx)
	}
}

// Handler serves /metrics (the default registry), /healthz (the process
// answers) and /readyz (ready says it can work).
func Handler(ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if ready != nil {
			if err := ready(); err != nil {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = fmt.Fprintf(w, `{"ready":false,"reason":%q}`, err.Error())
				return
			}
		}
		_, _ = io.WriteString(w, `{"ready":true}`)
	})
	return mux
}

// NATSReady is ready while nc is connected.
func NATSReady(nc *nats.Conn) func() error {
	return func() error {
		if !nc.IsConnected() {
			return errors.New("NATS is not connected")
		}
		return nil
	}
}
