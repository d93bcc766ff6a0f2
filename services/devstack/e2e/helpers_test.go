package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/services/devstack/stack"
)

// env is a running system: real NATS, FerretDB and S3 in-process, every
// service, one gateway.
type env struct {
	t      *testing.T
	base   string
	nc     *nats.Conn
	getenv func(string) string
	logs   *testkit.Logs
	all    *stack.All
	ks     *testkit.Stack
}

func start(t *testing.T, extra map[string]string) *env {
	t.Helper()
	ks := testkit.Start(t)
	return startOn(t, ks, ks.Mongo.URI, extra)
}

// startWatched is start with every store command passing through a
// FilterWatch, which the test reads.
func startWatched(t *testing.T) (*env, *embedded.FilterWatch) {
	t.Helper()
	ks := testkit.Start(t)
	w, err := embedded.WatchFilters(ks.Mongo.URI)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close) // after the services stopped: registered first
	return startOn(t, ks, w.URI, nil), w
}

// startOn starts every service on ks, reaching the store at mongoURI.
func startOn(t *testing.T, ks *testkit.Stack, mongoURI string, extra map[string]string) *env {
	t.Helper()
	vars := map[string]string{
		"DOSS_ENV":               "dev",
		"DOSS_MONGO_URI":         mongoURI,
		"DOSS_MONGO_DB":          "e2e",
		"DOSS_S3_ENDPOINT":       ks.S3.Endpoint,
		"DOSS_S3_ACCESS_KEY":     testkit.S3AccessKey,
		"DOSS_S3_SECRET_KEY":     testkit.S3SecretKey,
		"DOSS_HTTP_ADDR":         "127.0.0.1:0",
		"DOSS_ARGON2_MEMORY_KIB": "1024",
		"DOSS_ARGON2_TIME":       "1",
		// Every test client is 127.0.0.1; the per-address limits have a
		// test of their own.
		"DOSS_IP_SENDS_PER_HOUR":   "100000",
		"DOSS_IP_CHECKS_PER_10MIN": "100000",
	}
	for k, v := range ks.NATS.ServiceEnv() { // each service its own bus user
		vars[k] = v
	}
	for k, v := range extra {
		vars[k] = v
	}
	// The test's own connection may do anything, and vouches for the
	// callers it names with natsx.WithCaller, as the gateway would.
	nc, err := nats.Connect(ks.NATS.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	natsx.UseKeys(nc, natsx.Keys{Issuer: "e2e", Sign: ks.NATS.Credentials.AssertionKey()})
	logs := &testkit.Logs{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service logs:\n%s", logs.String())
		}
	})
	getenv := stack.Env(vars, nil)
	all, err := stack.StartAll(nc, getenv, logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(all.Stop)
	return &env{t: t, base: "http://" + all.Addr, nc: nc, getenv: getenv, logs: logs, all: all, ks: ks}
}

// secondGateway starts another gateway replica on the same system.
func (e *env) secondGateway() *env {
	e.t.Helper()
	_, g := e.gatewayWith(nil)
	return g
}

// gatewayWith starts another gateway with vars over the system's settings;
// it stops at the test's end, or before by its Proc.
func (e *env) gatewayWith(vars map[string]string) (*stack.Proc, *env) {
	e.t.Helper()
	gw, addr, err := stack.StartGateway(stack.Env(vars, e.getenv), e.logs)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = gw.Stop() })
	return gw, &env{t: e.t, base: "http://" + addr}
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r resp) str(path ...string) string {
	var v any = r.body
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func (e *env) do(method, path, token, body string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.send(req, token)
}

// send adds the app's usual headers, sends req and reads the answer, which
// must be one the gateway's OpenAPI document describes.
func (e *env) send(req *http.Request, token string) resp {
	e.t.Helper()
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	reqBody := requestBody(e.t, req)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	checkSpec(e.t, req, reqBody, res, raw) // the answer is the one openapi.yaml describes
	r := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (e *env) post(path, body string) resp { return e.do(http.MethodPost, path, "", body) }

// postFrom posts as the client at ip, through a trusted proxy's
// X-Forwarded-For (start the env with DOSS_TRUSTED_PROXIES).
func (e *env) postFrom(ip, path, body string) resp {
	req, err := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	return e.send(req, "")
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func expect(t *testing.T, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
}

// register runs the whole registration and returns the uuid and token.
func (e *env) register(email, phone, pin string) (string, string) {
	t := e.t
	t.Helper()
	r := e.post("/api/v2/email_send_otp", js(map[string]string{"email": email}))
	expect(t, r, 200)
	uuid := r.str("response", "user", "uuid")
	code := r.str("response", "user", "verification_code")
	expect(t, e.post("/api/v2/email_verify_otp", js(map[string]string{"email": email, "verification_code": code})), 200)
	r = e.post("/api/v2/phone_send_otp", js(map[string]string{"email": email, "phone": phone}))
	expect(t, r, 200)
	code = r.str("response", "user", "verification_code")
	expect(t, e.post("/api/v2/phone_verify_otp", js(map[string]string{"uuid": uuid, "verification_code": code})), 200)
	expect(t, e.post("/api/v2/set_pin", js(map[string]string{"uuid": uuid, "pin": pin})), 200)
	r = e.post("/api/v2/confirm_pin", js(map[string]string{"uuid": uuid, "confirm_pin": pin, "fcm_last_login_device_token": "fcm-1"}))
	expect(t, r, 200)
	return uuid, r.str("success", "token")
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for an outcome
	}
}
