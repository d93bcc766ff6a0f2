package obs

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/dossapp/backend/pkg/config"
)

// traceConfig is the part of the OTEL_* variables that decides whether to
// trace at all; the exporter reads the rest (headers, timeouts, TLS)
// itself, as the specification says.
type traceConfig struct {
	disabled bool
	exporter string
	endpoint string
	protocol string
}

func readTraceConfig(e *config.Env) traceConfig {
	tc := traceConfig{
		disabled: e.Bool("OTEL_SDK_DISABLED", false),
		exporter: strings.ToLower(e.String("OTEL_TRACES_EXPORTER", "")),
		endpoint: e.String("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", e.String("OTEL_EXPORTER_OTLP_ENDPOINT", "")),
		protocol: e.String("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", e.String("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")),
	}
	return tc
}

// on says whether to trace. Unlike the specification's default (otlp), an
// unset OTEL_TRACES_EXPORTER means off unless an OTLP endpoint is given, so
// a service with no tracing configured pays for a no-op tracer only.
func (tc traceConfig) on() (bool, error) {
	if tc.disabled {
		return false, nil
	}
	switch tc.exporter {
	case "none":
		return false, nil
	case "":
		if tc.endpoint == "" {
			return false, nil
		}
	case "otlp":
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not supported (otlp or none)", tc.exporter)
	}
	if tc.protocol != "http/protobuf" {
		return false, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not supported (http/protobuf)", tc.protocol)
	}
	return true, nil
}

func startTracing(tc traceConfig, service string) (func(context.Context) error, error) {
	on, err := tc.on()
	if err != nil || !on {
		return func(context.Context) error { return nil }, err
	}
	exp, err := otlptracehttp.New(context.Background())
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by WithFromEnv,
	// override the service's own name.
	res, err := resource.New(context.Background(),
		resource.WithAttributes(semconv.ServiceName(service)), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("otel resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	InstallTracing(tp)
	return tp.Shutdown, nil
}

// tracing is whether a tracer provider was installed.
var tracing atomic.Bool

// Tracing says whether spans go anywhere. Without a provider, otel's
// global tracer still allocates a span per call: a hot path skips it.
func Tracing() bool { return tracing.Load() }

// InstallTracing makes tp the process's tracer provider and W3C trace
// context (traceparent, tracestate) and baggage the propagation format.
// Tests install one over an in-memory exporter.
func InstallTracing(tp *sdktrace.TracerProvider) {
	tracing.Store(true)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
}
