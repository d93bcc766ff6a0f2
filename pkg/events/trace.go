package events

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const traceParentKey = "traceparent"

// traceParent is ctx's W3C trace context, "" when tracing is off.
func traceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, c)
	return c[traceParentKey]
}

// consumeSpan starts a consumer's span for one event, a child of the
// request that caused it when the event carries its trace context.
func consumeSpan(ctx context.Context, durable, subject, parent string) (context.Context, func(error)) {
	if parent != "" {
		ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier{traceParentKey: parent})
	}
	ctx, span := otel.Tracer("github.com/dossapp/backend/pkg/events").Start(ctx, "consume "+subject,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.consumer.group.name", durable)))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
