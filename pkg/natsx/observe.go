package natsx

import (
	"context"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/obs"
)

const tracerName = "github.com/dossapp/backend/pkg/natsx"

// observe starts the server span of one request, as a child of the trace
// context the caller put in the headers (W3C traceparent), when tracing is
// on, and returns the function that ends it and records the request's
// latency and code. Without a tracer provider otel's global tracer still
// allocates a span and its attributes per request: a hot path skips it.
func (s *Service) observe(ctx context.Context, r micro.Request) (context.Context, func(code string)) {
	start := time.Now()
	subject := r.Subject()
	var span trace.Span
	if obs.Tracing() {
		ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.HeaderCarrier(http.Header(r.Headers())))
		ctx, span = otel.Tracer(tracerName).Start(ctx, subject, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", subject),
				attribute.String("doss.service", s.name)))
	}
	return ctx, func(code string) {
		obs.NATSRequests.WithLabelValues(s.name, subject, code).Observe(time.Since(start).Seconds())
		if span != nil {
			if code != obs.CodeOK {
				span.SetStatus(codes.Error, code)
			}
			span.SetAttributes(attribute.String("doss.code", code))
			span.End()
		}
		if s.outcome != nil {
			s.outcome(subject, code)
		}
	}
}

// refused counts a request dropped before it was served, as forbidden.
func (s *Service) refused(subject string) {
	code := string(contract.Forbidden)
	obs.NATSRequests.WithLabelValues(s.name, subject, code).Observe(0)
	if s.outcome != nil {
		s.outcome(subject, code)
	}
}

// traceCall starts the client span of a call and puts its context into
// the message headers, when tracing is on (nil span otherwise).
func traceCall(ctx context.Context, msg *nats.Msg) (context.Context, trace.Span) {
	if !obs.Tracing() {
		return ctx, nil
	}
	ctx, span := otel.Tracer(tracerName).Start(ctx, msg.Subject, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", msg.Subject)))
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(http.Header(msg.Header)))
	return ctx, span
}

// endCall records a call's error on its span and ends it.
func endCall(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
