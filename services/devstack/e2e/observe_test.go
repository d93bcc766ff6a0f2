package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/obs"
)

// scrape reads /metrics as Prometheus would. Every service of the stack
// runs in this process and shares its registry, so one scrape sees all.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T) scrape {
	t.Helper()
	srv := httptest.NewServer(obs.Handler(nil))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value is the counter, gauge or histogram count of the series of name
// whose labels include want; -1 when there is none.
func (s scrape) value(name string, want map[string]string) float64 {
	fam, ok := s[name]
	if !ok {
		return -1
	}
next:
	for _, m := range fam.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// delta is how much a series grew between two scrapes (absent counts as 0).
func delta(before, after scrape, name string, labels map[string]string) float64 {
	return max(after.value(name, labels), 0) - max(before.value(name, labels), 0)
}

func TestMetrics(t *testing.T) {
	e := start(t, nil)
	before := scrapeMetrics(t)

	_, token := e.register("metrics@example.com", "+18681235001", "4829")
	r := e.post("/api/v2/email_send_otp", js(map[string]string{"email": "metrics2@example.com"}))
	expect(t, r, 200)
	wrong := "0000"
	if r.str("response", "user", "verification_code") == wrong {
		wrong = "1111"
	}
	expect(t, e.post("/api/v2/email_verify_otp", js(map[string]string{"email": "metrics2@example.com", "verification_code": wrong})), 422)

	login := func(pin string) int {
		return e.post("/api/v2/new-login", js(map[string]string{"phone": "+18681235001", "password": pin})).status
	}
	expect(t, resp{status: login("4829")}, 200)
	refused, locked := 0, 0
	for locked == 0 && refused < 20 {
		switch st := login("1357"); st {
		case 401:
			refused++
		case 429:
			locked++
		default:
			t.Fatalf("wrong PIN answered %d", st)
		}
	}
	expect(t, e.do(http.MethodGet, "/api/v2/profile", token, ""), 200)
	expect(t, e.do(http.MethodGet, "/api/v2/profile", token, ""), 200)

	after := scrapeMetrics(t)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"doss_auth_otp_total", map[string]string{"channel": "email", "outcome": "sent"}, 2},
		{"doss_auth_otp_total", map[string]string{"channel": "email", "outcome": "verified"}, 1},
		{"doss_auth_otp_total", map[string]string{"channel": "email", "outcome": "failed"}, 1},
		{"doss_auth_otp_total", map[string]string{"channel": "phone", "outcome": "sent"}, 1},
		{"doss_auth_otp_total", map[string]string{"channel": "phone", "outcome": "verified"}, 1},
		{"doss_auth_logins_total", map[string]string{"outcome": "ok"}, 1},
		{"doss_auth_logins_total", map[string]string{"outcome": "failed"}, float64(refused)},
		{"doss_auth_logins_total", map[string]string{"outcome": "locked"}, 1},
		{"doss_nats_request_duration_seconds", map[string]string{"service": "auth", "endpoint": contract.AuthLogin, "code": "unauthenticated"}, float64(refused)},
		{"doss_nats_request_duration_seconds", map[string]string{"service": "auth", "endpoint": contract.AuthLogin, "code": "rate_limited"}, 1},
		{"doss_nats_request_duration_seconds", map[string]string{"service": "auth", "endpoint": contract.AuthEmailVerifyOTP, "code": "invalid"}, 1},
		{"doss_http_request_duration_seconds", map[string]string{"route": "/api/v2/new-login", "method": "POST", "status": "401"}, float64(refused)},
		{"doss_http_request_duration_seconds", map[string]string{"route": "/api/v2/new-login", "method": "POST", "status": "429"}, 1},
		{"doss_http_request_duration_seconds", map[string]string{"route": "/api/v2/profile", "method": "GET", "status": "200"}, 2},
		{"doss_gateway_profile_cache_lookups_total", map[string]string{"result": "miss"}, 1},
		{"doss_gateway_profile_cache_lookups_total", map[string]string{"result": "hit"}, 1},
	} {
		if got := delta(before, after, c.name, c.labels); got != c.want {
			t.Errorf("%s%v grew by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if refused < 1 || locked != 1 {
		t.Fatalf("%d refused, %d locked logins; the lockout did not happen", refused, locked)
	}

	// The notifier delivers asynchronously: registration sent one email
	// and one SMS code, the second address one more email (dev senders).
	eventually(t, "notifier sends counted", func() bool {
		now := scrapeMetrics(t)
		return delta(before, now, "doss_notifier_sends_total", map[string]string{"channel": "email", "outcome": "ok"}) == 2 &&
			delta(before, now, "doss_notifier_sends_total", map[string]string{"channel": "sms", "outcome": "ok"}) == 1
	})
	// Consumer lag is sampled from the server at scrape time; once the
	// notifier and profile have caught up it is zero.
	eventually(t, "consumer lag reported and drained", func() bool {
		now := scrapeMetrics(t)
		for _, consumer := range append(contract.Consumers(contract.DurableNotifier), contract.Consumers(contract.DurableProfileAccounts)...) {
			l := map[string]string{"stream": contract.StreamEvents, "consumer": consumer}
			if now.value("doss_jetstream_consumer_pending_messages", l) != 0 || now.value("doss_jetstream_consumer_ack_pending_messages", l) != 0 {
				return false
			}
		}
		return true
	})
}

// TestTraceCrossesNATS: one HTTP request gives a gateway server span, a
// NATS client span under it and the auth service's server span under that,
// its store calls and the notifier's handling of the event it caused, all
// in one trace, continuing the traceparent the client sent.
func TestTraceCrossesNATS(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	obs.InstallTracing(tp)
	t.Cleanup(func() {
		_ = tp.Shutdown(t.Context())
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
	e := start(t, nil)

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req, err := http.NewRequest(http.MethodPost, e.base+"/api/v2/email_send_otp", strings.NewReader(`{"email":"trace@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", parent)
	expect(t, e.send(req, ""), 200)

	traceID := "4bf92f3577b34da6a3ce929d0e0e4736"
	find := func(name string, kind trace.SpanKind) sdktrace.ReadOnlySpan {
		for _, s := range rec.Ended() {
			if s.Name() == name && s.SpanKind() == kind && s.SpanContext().TraceID().String() == traceID {
				return s
			}
		}
		return nil
	}
	var gw, call, svc sdktrace.ReadOnlySpan
	eventually(t, "the three spans", func() bool {
		gw = find("POST /api/v2/email_send_otp", trace.SpanKindServer)
		call = find(contract.AuthEmailSendOTP, trace.SpanKindClient)
		svc = find(contract.AuthEmailSendOTP, trace.SpanKindServer)
		return gw != nil && call != nil && svc != nil
	})
	if gw.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("gateway span's parent %s, want the client's", gw.Parent().SpanID())
	}
	if call.Parent().SpanID() != gw.SpanContext().SpanID() {
		t.Errorf("NATS call span is not a child of the gateway span")
	}
	if svc.Parent().SpanID() != call.SpanContext().SpanID() || !svc.Parent().IsRemote() {
		t.Errorf("auth span's parent %v, want the remote NATS call span %s", svc.Parent(), call.SpanContext().SpanID())
	}
	// The notifier's handling of the code event, published later by auth's
	// relay, continues the same trace: the event carries its traceparent.
	eventually(t, "the notifier's span in the request's trace", func() bool {
		return find("consume "+contract.EventSubject(contract.EventOTPRequested), trace.SpanKindConsumer) != nil
	})
	// auth's store calls within the request are spans of the same trace,
	// under its server span.
	eventually(t, "a store span under auth's span", func() bool {
		for _, s := range rec.Ended() {
			if strings.HasPrefix(s.Name(), "mongo ") && s.Parent().SpanID() == svc.SpanContext().SpanID() {
				return true
			}
		}
		return false
	})
}

// A request's correlation id is the client's X-Request-Id when it is sane
// and a fresh one otherwise; it comes back in the answer and goes with the
// work into other services' logs (here the notifier's, through auth and
// JetStream). The logger takes the id lazily: it must still be written.
func TestCorrelationIDReachesTheLogs(t *testing.T) {
	e := start(t, nil)
	send := func(id, email string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, e.base+"/api/v2/email_send_otp", strings.NewReader(js(map[string]string{"email": email})))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
		return res
	}
	const sane = "app-req.0042_x"
	if got := send(sane, "corr@example.com").Header.Get("X-Request-Id"); got != sane {
		t.Fatalf("X-Request-Id %q, want the client's %q", got, sane)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	line, err := e.logs.Await(ctx, `"correlation_id": "`+sane+`"`)
	if err != nil {
		t.Fatalf("no log line carries the client's correlation id: %v\n%s", err, e.logs.String())
	}
	if !strings.Contains(line, "notifier") {
		t.Fatalf("the id reached the logs, but not through the notifier: %s", line)
	}
	for i, bad := range []string{"", "short", "has space in it", strings.Repeat("r", 65), "semi;colon-12345"} {
		got := send(bad, fmt.Sprintf("corr%d@example.com", i+2)).Header.Get("X-Request-Id")
		if got == bad || !isUUID(got) {
			t.Fatalf("X-Request-Id %q answered with %q, want a fresh id", bad, got)
		}
	}
}

// isUUID says whether id is what the gateway hands out.
func isUUID(id string) bool { _, err := uuid.Parse(id); return err == nil }
