package obs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dossapp/backend/pkg/config"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestOpsListener(t *testing.T) {
	var notReady error = errors.New("NATS is not connected")
	ops, err := Start(env(map[string]string{"DOSS_METRICS_ADDR": "127.0.0.1:0"}), "test", func() error { return notReady })
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Stop()
	unwatch := WatchConsumer("EVENTS", "test-durable", func(context.Context) (ConsumerState, error) {
		return ConsumerState{Pending: 7, AckPending: 2}, nil
	})
	get := func(path string) (int, string) {
		res, err := http.Get("http://" + ops.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, _ := get("/healthz"); st != 200 {
		t.Errorf("/healthz %d", st)
	}
	if st, body := get("/readyz"); st != 503 || !strings.Contains(body, "not connected") {
		t.Errorf("/readyz while not ready: %d %s", st, body)
	}
	notReady = nil
	if st, _ := get("/readyz"); st != 200 {
		t.Errorf("/readyz when ready: %d", st)
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`doss_jetstream_consumer_pending_messages{consumer="test-durable",stream="EVENTS"} 7`,
		`doss_jetstream_consumer_ack_pending_messages{consumer="test-durable",stream="EVENTS"} 2`,
		`doss_build_info{service="test",version="dev"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	unwatch()
	if _, body := get("/metrics"); strings.Contains(body, "test-durable") {
		t.Error("an unwatched consumer is still reported")
	}
}

func TestOpsOffByDefault(t *testing.T) {
	ops, err := Start(env(nil), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Stop()
	if ops.Addr() != "" {
		t.Errorf("listening on %s with DOSS_METRICS_ADDR unset", ops.Addr())
	}
}

func TestTracingSwitch(t *testing.T) {
	for _, c := range []struct {
		name string
		vars map[string]string
		on   bool
		err  bool
	}{
		{"nothing set", nil, false, false},
		{"endpoint given", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true, false},
		{"traces endpoint given", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true, false},
		{"exporter otlp", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, false},
		{"exporter none beats endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, false},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false, false},
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, true},
		{"grpc protocol", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			on, err := readTraceConfig(config.New(env(c.vars))).on()
			if on != c.on || (err != nil) != c.err {
				t.Errorf("on=%v err=%v, want on=%v err=%v", on, err, c.on, c.err)
			}
		})
	}
}
