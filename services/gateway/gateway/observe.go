package gateway

import (
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/logx"
	"github.com/dossapp/backend/pkg/obs"
)

// profileCacheLookups counts this replica's profile cache hits and misses;
// hits / (hits + misses) is the hit ratio.
var profileCacheLookups = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "doss_gateway_profile_cache_lookups_total",
	Help: "Profile cache lookups by result (hit or miss).",
}, []string{"result"})

// documentsCacheLookups is the same for the documents list's first page.
var documentsCacheLookups = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "doss_gateway_documents_cache_lookups_total",
	Help: "Documents list cache lookups by result (hit or miss).",
}, []string{"result"})

// methodLabel keeps the method label bounded: a client may send any
// token as a method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// observe gives the request its correlation id (the client's X-Request-Id
// when it is sane), returns it, and puts it in the context's logger; opens
// the request's server span when tracing is on (continuing a traceparent
// the client sent); and records its latency by route template, method and
// status. It renders a handler's error itself, so the status recorded is
// the one sent. All of it goes into one new context: each WithContext
// copies the request, and on a cache hit the allocations are what set the
// GC's pace.
func observe(log *zap.Logger) echo.MiddlewareFunc {
	tracer := otel.Tracer("github.com/dossapp/backend/services/gateway")
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			req := c.Request()
			route := c.Path() // the template, so the label set stays bounded
			id := req.Header.Get(echo.HeaderXRequestID)
			if !validCorrelation.MatchString(id) {
				id = uuid.NewString()
			}
			c.Response().Header().Set(echo.HeaderXRequestID, id)
			ctx := logx.With(req.Context(), log, id)
			var span trace.Span
			if obs.Tracing() {
				ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.HeaderCarrier(req.Header))
				ctx, span = tracer.Start(ctx, req.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
					trace.WithAttributes(attribute.String("http.request.method", methodLabel(req.Method)), attribute.String("http.route", route)))
				defer span.End()
			}
			c.SetRequest(req.WithContext(ctx))
			if err := next(c); err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			if span != nil {
				span.SetAttributes(attribute.Int("http.response.status_code", status))
				if status >= 500 {
					span.SetStatus(codes.Error, strconv.Itoa(status))
				}
			}
			obs.HTTPRequests.WithLabelValues(route, methodLabel(req.Method), strconv.Itoa(status)).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

var validCorrelation = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)
