package documentsvc

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/embedded/testkit"
)

// Run's goroutines, the sweeper's among them, end with it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testkit.GoleakOptions()...) }

func TestSweepConfig(t *testing.T) {
	for _, tc := range []struct {
		name      string
		env       map[string]string
		uploadTTL time.Duration
		bad       string // the variable the error names; "" when accepted
	}{
		{"defaults", nil, 15 * time.Minute, ""},
		{"the least max age", map[string]string{"DOSS_INCOMING_MAX_AGE": "30m"}, 15 * time.Minute, ""},
		{"a shorter upload link allows a shorter max age", map[string]string{"DOSS_INCOMING_MAX_AGE": "20m"}, 5 * time.Minute, ""},
		{"max age one second short", map[string]string{"DOSS_INCOMING_MAX_AGE": "29m59s"}, 15 * time.Minute, "DOSS_INCOMING_MAX_AGE"},
		{"max age under the link's life", map[string]string{"DOSS_INCOMING_MAX_AGE": "10m"}, 15 * time.Minute, "DOSS_INCOMING_MAX_AGE"},
		{"sweeping never", map[string]string{"DOSS_INCOMING_SWEEP_EVERY": "0s"}, 15 * time.Minute, "DOSS_INCOMING_SWEEP_EVERY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := readSweep(config.New(func(k string) string { return tc.env[k] }))
			err := c.check(tc.uploadTTL)
			if tc.bad == "" && err != nil || tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)) {
				t.Fatalf("%+v: %v, want an error naming %q", c, err, tc.bad)
			}
		})
	}
}

// The rule holds at startup, before anything is connected, and follows
// the upload link's life as Run caps it.
func TestRunRefusesAMaxAgeTooShortToClaimIn(t *testing.T) {
	for _, env := range []map[string]string{
		{"DOSS_INCOMING_MAX_AGE": "20m"},
		{"DOSS_INCOMING_MAX_AGE": "20m", "DOSS_DOCUMENT_UPLOAD_TTL": "1h"}, // capped at 15m, still too short
		{"DOSS_INCOMING_MAX_AGE": "an hour"},
	} {
		for k, v := range prodBus(embedded.NewBusCredentials().EnvFile()) {
			env[k] = v
		}
		err := Run(t.Context(), func(k string) string { return env[k] }, &testkit.Logs{})
		if err == nil || !strings.Contains(err.Error(), "DOSS_INCOMING_MAX_AGE") {
			t.Errorf("%v: %v, want an error naming DOSS_INCOMING_MAX_AGE", env, err)
		}
	}
}

// A replica sweeps as soon as it starts, says how many it removed, and
// its sweeper stops with Run (TestMain checks no goroutine is left).
func TestRunSweepsAndStops(t *testing.T) {
	ks := testkit.Start(t)
	env := map[string]string{
		"DOSS_ENV": "prod", "DOSS_NATS_URL": ks.NATS.URL, "DOSS_MONGO_URI": ks.Mongo.URI, "DOSS_MONGO_DB": "documents",
		"DOSS_S3_ENDPOINT": ks.S3.Endpoint, "DOSS_S3_ACCESS_KEY": testkit.S3AccessKey, "DOSS_S3_SECRET_KEY": testkit.S3SecretKey,
		"DOSS_S3_BUCKET": "documents-sweep-test",
	}
	for k, v := range ks.NATS.ServiceEnv() { // prod needs its own bus user
		env[k] = v
	}
	env["DOSS_NATS_SEED"] = env[embedded.SeedVar(contract.ServiceDocuments)]
	testkit.EventStreams(t, ks.NATS) // auth's part, which this test does not run
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	var logs testkit.Logs
	go func() { done <- Run(ctx, func(k string) string { return env[k] }, &logs) }()
	wait, stop := context.WithTimeout(ctx, 20*time.Second)
	defer stop()
	line, err := logs.Await(wait, `"msg":"unclaimed uploads swept"`)
	if err != nil {
		select {
		case runErr := <-done:
			t.Fatalf("Run stopped: %v\n%s", runErr, logs.String())
		default:
			t.Fatalf("no sweep logged (%v):\n%s", err, logs.String())
		}
	}
	var swept map[string]any
	if err := json.Unmarshal([]byte(line), &swept); err != nil {
		t.Fatal(err)
	}
	if swept["removed"] != 0.0 {
		t.Errorf("the sweep does not say it removed nothing: %v", swept)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// prodBus is the bus settings prod mode requires, from a .env text.
func prodBus(envFile string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(envFile, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	out["DOSS_NATS_SEED"] = out[embedded.SeedVar(contract.ServiceDocuments)]
	return out
}
