package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/imagex/imagextest"
)

// The cluster fault test runs against the compose stack of make
// compose-test (deploy/compose/test.sh) with its NATS cluster, every
// service at two replicas or more, and a second gateway: it needs the
// compose project's name (DOSS_COMPOSE_PROJECT) to find the containers it
// kills, restarts and cuts off with the docker CLI.
//
// One load runs through every fault: workers register accounts, log in,
// read and rename profiles, upload photos and documents, each request to
// one of the gateways in turn, as a load balancer would; a connection
// refused before the request was sent goes to the next gateway, as the
// balancer's own retry would (nothing reached a server). Nothing else is
// retried by the load: a failure is counted. Like a load balancer, the
// load also sends nothing to a gateway whose readiness (its ops port's
// /readyz) fails, as one does while it drains before it stops, unless no
// gateway is ready.

const (
	faultLoadWorkers = 3
	requestTimeout   = 20 * time.Second // a request without an answer by then hangs
	maxFailureWindow = 5 * time.Second  // the bound for a NATS leader loss
)

type cluster struct {
	t        *testing.T
	project  string
	gateways atomic.Pointer[[]string] // base URLs, one per gateway container
	next     atomic.Uint64
	client   *http.Client
	notReady sync.Map // base URL → struct{}: out of the balancer's rotation
}

func clusterEnv(t *testing.T) *cluster {
	composeEnv(t)
	project := os.Getenv("DOSS_COMPOSE_PROJECT")
	if project == "" {
		t.Skip("DOSS_COMPOSE_PROJECT unset: run by make compose-test")
	}
	c := &cluster{t: t, project: project, client: &http.Client{Timeout: requestTimeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}}}
	if n := c.refreshGateways(); n < 2 {
		t.Fatalf("%d gateways; the fault test needs two (deploy/compose/test.sh starts the second)", n)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go c.checkReadiness(stop, done)
	t.Cleanup(func() { close(stop); <-done })
	return c
}

// checkReadiness is the balancer's health check: every 100 ms, each
// gateway's readiness on its ops port decides whether it is in rotation.
func (c *cluster) checkReadiness(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	for {
		for _, base := range *c.gateways.Load() {
			ready := false
			if res, err := hc.Get(strings.Replace(base, ":8080", ":9090", 1) + "/readyz"); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				ready = res.StatusCode == http.StatusOK
			}
			if ready {
				c.notReady.Delete(base)
			} else {
				c.notReady.Store(base, struct{}{})
			}
		}
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond): // the check's period
		}
	}
}

func (c *cluster) docker(args ...string) string {
	c.t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// requestID is the id a failure's detail names (call).
var requestID = regexp.MustCompile(`\(request ([^)\s]+)\)`)

// logLinesOf logs every line the services wrote since from that names the
// request of one of the failures in details, so that a rare failure in a
// phase that allows none is explained in the test's own output (the
// replica that answered, what it logged).
func (c *cluster) logLinesOf(from time.Time, details []string) {
	c.t.Helper()
	var ids []string
	for _, d := range details {
		if m := requestID.FindStringSubmatch(d); m != nil {
			ids = append(ids, m[1])
		}
	}
	if len(ids) == 0 {
		return
	}
	for _, svc := range []string{"gateway", "auth", "profile", "documents", "notifier"} {
		for _, id := range c.containers(svc) {
			out, err := exec.Command("docker", "logs", "--since", from.Add(-time.Second).UTC().Format(time.RFC3339), id).CombinedOutput()
			if err != nil {
				c.t.Logf("docker logs %s: %v", id, err)
				continue
			}
			for _, line := range strings.Split(string(out), "\n") {
				if slices.ContainsFunc(ids, func(rid string) bool { return strings.Contains(line, rid) }) {
					c.t.Logf("%s %s: %s", svc, id[:min(12, len(id))], line)
				}
			}
		}
	}
}

// containers are the ids of service's containers in the project, sorted.
func (c *cluster) containers(service string) []string {
	ids := strings.Fields(c.docker("ps", "-aq", "--filter", "label=com.docker.compose.project="+c.project,
		"--filter", "label=com.docker.compose.service="+service))
	slices.Sort(ids)
	return ids
}

func (c *cluster) ip(id string) string {
	return c.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id)
}

func (c *cluster) network() string { return c.project + "_default" }

// waitHealthy polls until the container's own health check passes.
func (c *cluster) waitHealthy(id string) {
	c.t.Helper()
	poll(c.t, 90*time.Second, "container "+id+" healthy", func() bool {
		return c.docker("inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}", id) == "healthy"
	})
}

func poll(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not a wait for an outcome
	}
}

// --- the load ---------------------------------------------------------

type outcome struct {
	what   string // method and path
	at     time.Time
	ok     bool
	bad    string // an answer no fault may cause (a 500, a 503 without Retry-After, a hang): "" if none
	status int
	detail string // a failure's time, answer and request id, to find it in the services' logs
}

type loadStats struct {
	mu        sync.Mutex
	outcomes  []outcome
	otpEmails map[string]int // email_send_otp acknowledged, per address
	renames   int            // update_name acknowledged
	// names are, by token, the last acknowledged first name and those
	// asked for after it by renames that failed (any may be the name now).
	names       map[string][]string
	accounts    []account // registered
	failedSince map[int]time.Time
}

type account struct{ email, phone, pin, token string }

func (s *loadStats) record(o outcome) {
	s.mu.Lock()
	s.outcomes = append(s.outcomes, o)
	s.mu.Unlock()
}

// loadRequests numbers the load's requests: each carries its own
// X-Request-Id, so that one that got no answer at all (a hang) can still
// be found in the services' logs (logLinesOf).
var loadRequests atomic.Int64

// send posts through the next gateway, moving on to another only when
// the connection was refused (the request never left).
func (c *cluster) send(method, path, token, contentType string, body []byte) (int, http.Header, map[string]any, error) {
	var lastErr error
	gateways := *c.gateways.Load()
	var ready []string
	for _, g := range gateways {
		if _, out := c.notReady.Load(g); !out {
			ready = append(ready, g)
		}
	}
	if len(ready) > 0 {
		gateways = ready
	}
	first := c.next.Add(1) // shared by the workers: taken once, then each gateway in turn
	rid := fmt.Sprintf("load-%08d", loadRequests.Add(1))
	for i := range uint64(len(gateways)) {
		base := gateways[(first+i)%uint64(len(gateways))]
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			return 0, nil, nil, err
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Request-Id", rid)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := c.client.Do(req)
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				lastErr = err
				continue
			}
			return 0, nil, nil, fmt.Errorf("%w (request %s)", err, rid)
		}
		raw, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return res.StatusCode, res.Header, m, nil
	}
	return 0, nil, nil, lastErr
}

// call sends one request of the load and records its outcome.
func (c *cluster) call(s *loadStats, method, path, token, contentType string, body []byte, want int) map[string]any {
	status, h, m, err := c.send(method, path, token, contentType, body)
	o := outcome{what: method + " " + path, at: time.Now(), status: status, ok: err == nil && status == want}
	switch {
	case err != nil:
		o.bad = fmt.Sprintf("%s %s: %v", method, path, err) // a hang or a broken connection
	case status == want:
	case status == http.StatusServiceUnavailable && h.Get("Retry-After") != "" && m["message"] != nil:
	default:
		o.bad = fmt.Sprintf("%s %s: %d %v", method, path, status, m)
	}
	if !o.ok {
		o.detail = fmt.Sprintf("%s %s %s → %d %v (request %s)", o.at.UTC().Format("15:04:05.000"), method, path, status, m["message"], h.Get("X-Request-Id"))
		if err != nil {
			o.detail = fmt.Sprintf("%s %s %s → %v", o.at.UTC().Format("15:04:05.000"), method, path, err)
		}
	}
	s.record(o)
	if !o.ok {
		return nil
	}
	return m
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

func jsonBody(v any) []byte { b, _ := json.Marshal(v); return b }

// register walks the app's registration; a failed step abandons it.
func (c *cluster) register(s *loadStats, email, phone string) (account, bool) {
	post := func(path string, v any) map[string]any {
		return c.call(s, http.MethodPost, path, "", "application/json", jsonBody(v), http.StatusOK)
	}
	r := post("/api/v2/email_send_otp", map[string]string{"email": email})
	if r == nil {
		return account{}, false
	}
	s.mu.Lock()
	s.otpEmails[email]++
	s.mu.Unlock()
	uuid, code := str(r, "response", "user", "uuid"), str(r, "response", "user", "verification_code")
	if post("/api/v2/email_verify_otp", map[string]string{"email": email, "verification_code": code}) == nil {
		return account{}, false
	}
	if r = post("/api/v2/phone_send_otp", map[string]string{"email": email, "phone": phone}); r == nil {
		return account{}, false
	}
	code = str(r, "response", "user", "verification_code")
	if post("/api/v2/phone_verify_otp", map[string]string{"uuid": uuid, "verification_code": code}) == nil ||
		post("/api/v2/set_pin", map[string]string{"uuid": uuid, "pin": "4829"}) == nil {
		return account{}, false
	}
	r = post("/api/v2/confirm_pin", map[string]string{"uuid": uuid, "confirm_pin": "4829", "fcm_last_login_device_token": "fcm-1"})
	if r == nil {
		return account{}, false
	}
	a := account{email: email, phone: phone, pin: "4829", token: str(r, "success", "token")}
	s.mu.Lock()
	s.accounts = append(s.accounts, a)
	s.mu.Unlock()
	return a, true
}

func formBody(field, name string, data []byte, fields map[string]string) ([]byte, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile(field, name)
	_, _ = fw.Write(data)
	_ = w.Close()
	return b.Bytes(), w.FormDataContentType()
}

// runLoad runs the workers until stop is closed.
func (c *cluster) runLoad(s *loadStats, run string, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	photo := imagextest.JPEG(16, 16, 0)
	doc := imagextest.JPEG(40, 20, 6)
	for w := range faultLoadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var me account
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if me.token == "" || i%8 == 0 {
					if a, ok := c.register(s, fmt.Sprintf("fault-%s-%d-%d@example.com", run, w, i), uniquePhone()); ok {
						me = a
					}
					continue
				}
				switch i % 8 {
				case 1, 5:
					c.call(s, http.MethodPost, "/api/v2/new-login", "", "application/json", jsonBody(map[string]string{"phone": me.phone, "password": me.pin}), http.StatusOK)
				case 2, 6:
					c.call(s, http.MethodGet, "/api/v2/profile", me.token, "", nil, http.StatusOK)
				case 3:
					name := fmt.Sprintf("Ada%d", i)
					acked := c.call(s, http.MethodPost, "/api/v2/update_name", me.token, "application/json",
						jsonBody(map[string]string{"first_name": name, "last_name": "Lovelace"}), http.StatusOK) != nil
					s.mu.Lock()
					if acked {
						s.renames++
						s.names[me.token] = []string{name}
					} else if s.names[me.token] != nil {
						// A failed rename may still have been made.
						s.names[me.token] = append(s.names[me.token], name)
					}
					s.mu.Unlock()
				case 4:
					body, ct := formBody("image", "photo.jpg", photo, nil)
					c.call(s, http.MethodPost, "/api/v2/update_image", me.token, ct, body, http.StatusOK)
				case 7:
					body, ct := formBody("file", "id.jpg", doc, map[string]string{"typeId": "1"})
					c.call(s, http.MethodPost, "/api/v2/my/documents", me.token, ct, body, http.StatusCreated)
				}
			}
		}()
	}
	return &wg
}

// --- the faults -------------------------------------------------------

type faultRow struct {
	name           string
	sent, failed   int
	bad            []string
	longestFailure time.Duration
	renames        int
	otpAcked       int
	failures       map[string]int // "status method path" → count
	details        []string       // the first failures, each with its request id
}

// summarize the outcomes in [from, to): counts and the longest stretch
// from a failure to the next success.
func summarize(name string, outs []outcome, from, to time.Time) faultRow {
	row := faultRow{name: name}
	var failingSince time.Time
	for _, o := range outs {
		if o.at.Before(from) || !o.at.Before(to) {
			continue
		}
		row.sent++
		if o.bad != "" && len(row.bad) < 5 {
			row.bad = append(row.bad, o.bad)
		}
		if !o.ok {
			row.failed++
			if len(row.details) < 12 {
				row.details = append(row.details, o.detail)
			}
			if row.failures == nil {
				row.failures = map[string]int{}
			}
			row.failures[fmt.Sprintf("%d %s", o.status, o.what)]++
			if failingSince.IsZero() {
				failingSince = o.at
			}
			continue
		}
		if !failingSince.IsZero() {
			row.longestFailure = max(row.longestFailure, o.at.Sub(failingSince))
			failingSince = time.Time{}
		}
	}
	if !failingSince.IsZero() {
		row.longestFailure = max(row.longestFailure, to.Sub(failingSince))
	}
	return row
}

// TestComposeClusterFaults: under one steady mixed load, each fault in
// turn, then the invariants and the events.
func TestComposeClusterFaults(t *testing.T) {
	c := clusterEnv(t)
	s := &loadStats{otpEmails: map[string]int{}, names: map[string][]string{}}
	stop := make(chan struct{})
	wg := c.runLoad(s, uniqueSuffix(), stop)
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopLoad()

	steady := func(d time.Duration) { time.Sleep(d) } // the load runs meanwhile: a duration of load, not a wait for an outcome
	type phase struct {
		name  string
		limit time.Duration // the longest failure window allowed; 0: no failure at all
		run   func()
	}
	phases := []phase{
		{"steady load (no fault)", 0, func() { steady(8 * time.Second) }},
		{"kill -9 the JetStream meta leader", maxFailureWindow, func() {
			node := c.metaLeader()
			id := c.containers(node)[0]
			c.docker("kill", "-s", "KILL", id)
			poll(t, 30*time.Second, "a new meta leader", func() bool { l := c.metaLeader(); return l != "" && l != node })
			steady(6 * time.Second)
			c.docker("start", id)
			c.waitHealthy(id)
			c.waitRoutes(3)
			c.waitStreamsCurrent()
		}},
		{"kill -9 the EVENTS stream leader", maxFailureWindow, func() {
			node := c.streamLeader("EVENTS")
			id := c.containers(node)[0]
			c.docker("kill", "-s", "KILL", id)
			poll(t, 30*time.Second, "a new EVENTS leader", func() bool { l := c.streamLeader("EVENTS"); return l != "" && l != node })
			steady(6 * time.Second)
			c.docker("start", id)
			c.waitHealthy(id)
			c.waitRoutes(3)
			c.waitStreamsCurrent()
		}},
		{"partition one NATS node, then heal", maxFailureWindow, func() {
			id := c.containers("nats-3")[0]
			c.docker("network", "disconnect", c.network(), id)
			healed := false
			defer func() {
				if !healed {
					_, _ = exec.Command("docker", "network", "connect", c.network(), id).CombinedOutput()
				}
			}()
			steady(8 * time.Second)
			c.docker("network", "connect", c.network(), id)
			healed = true
			c.waitRoutes(3)
			c.waitStreamsCurrent()
			steady(2 * time.Second)
		}},
		{"rolling restart of every service", 0, func() {
			for _, svc := range []string{"auth", "profile", "documents", "notifier", "gateway"} {
				for _, id := range c.containers(svc) {
					c.docker("restart", "-t", "15", id) // SIGTERM: the replica drains, then stops
					c.waitHealthy(id)
					if svc == "gateway" {
						c.refreshGateways()
					}
				}
			}
		}},
		{"kill -9 a profile replica mid-request", 2 * natsTimeoutBound, func() {
			id := c.containers("profile")[0]
			c.docker("kill", "-s", "KILL", id)
			steady(4 * time.Second)
			c.docker("start", id)
			c.waitHealthy(id)
		}},
	}
	var rows []faultRow
	for _, p := range phases {
		from := time.Now()
		before := s.snapshot()
		p.run()
		to := time.Now()
		s.mu.Lock()
		row := summarize(p.name, s.outcomes, from, to)
		s.mu.Unlock()
		after := s.snapshot()
		row.renames, row.otpAcked = after.renames-before.renames, after.otp-before.otp
		rows = append(rows, row)
		for _, d := range row.details {
			t.Logf("%s: failed: %s", p.name, d)
		}
		if len(row.bad) > 0 {
			t.Errorf("%s: answers no fault may cause (a 500, a 503 without Retry-After, a hang): %q", p.name, row.bad)
		}
		if p.limit == 0 && row.failed > 0 {
			t.Errorf("%s: %d of %d requests failed; want none", p.name, row.failed, row.sent)
			c.logLinesOf(from, row.details)
		}
		if p.limit > 0 && row.longestFailure > p.limit {
			t.Errorf("%s: requests failed for %s; want at most %s", p.name, row.longestFailure.Round(time.Millisecond), p.limit)
		}
	}
	stopLoad()

	// Events: every OTP an acknowledged request asked for was consumed by
	// the notifier exactly once in effect: one mail per acknowledged send.
	delivered := c.mailsDelivered(s)
	otp := 0
	for _, n := range s.otpEmails {
		otp += n
	}
	fresh := c.checkProfilesFresh(s)
	c.printTable(rows, otp, delivered, s.renames, fresh)
	c.checkConsumersCaughtUp()
	if delivered != otp {
		t.Errorf("otp_requested: %d acknowledged, %d consumed (mails in Mailpit); want every acknowledged one exactly once", otp, delivered)
	}
	c.checkInvariants(s)
}

// natsTimeoutBound: a request that reached a replica killed mid-request
// has no answer; the caller gives up after natsx.DefaultTimeout with a 503.
const natsTimeoutBound = 10 * time.Second

type counts struct{ renames, otp int }

func (s *loadStats) snapshot() counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.otpEmails {
		n += v
	}
	return counts{renames: s.renames, otp: n}
}

// refreshGateways reads the gateways' addresses again (a restarted
// container may come back on another).
func (c *cluster) refreshGateways() int {
	var bases []string
	for _, id := range c.containers("gateway") {
		bases = append(bases, "http://"+c.ip(id)+":8080")
	}
	c.gateways.Store(&bases)
	return len(bases)
}

// --- NATS monitoring ----------------------------------------------------

// fetchJSON decodes url's answer into v; false when it could not (a node
// that is down or cut off, while a fault runs).
func fetchJSON(url string, v any) bool {
	res, err := http.Get(url)
	if err != nil {
		return false
	}
	defer func() { _ = res.Body.Close() }()
	return json.NewDecoder(res.Body).Decode(v) == nil
}

func (c *cluster) jsz(query string, v any) bool {
	for _, mon := range natsMonitors() {
		if fetchJSON(mon+"/jsz?"+query, v) {
			return true
		}
	}
	return false
}

func (c *cluster) metaLeader() string {
	var z struct {
		Meta *struct {
			Leader string `json:"leader"`
		} `json:"meta_cluster"`
	}
	if !c.jsz("leader-only=false", &z) || z.Meta == nil {
		return ""
	}
	return z.Meta.Leader
}

type jszStreams struct {
	Accounts []struct {
		Streams []struct {
			Name    string `json:"name"`
			Cluster *struct {
				Leader   string `json:"leader"`
				Replicas []struct {
					Name    string `json:"name"`
					Current bool   `json:"current"`
					Offline bool   `json:"offline"`
					Lag     uint64 `json:"lag"`
				} `json:"replicas"`
			} `json:"cluster"`
			Consumers []struct {
				Name          string `json:"name"`
				NumPending    uint64 `json:"num_pending"`
				NumAckPending int    `json:"num_ack_pending"`
				Delivered     struct {
					Stream uint64 `json:"stream_seq"`
				} `json:"delivered"`
				AckFloor struct {
					Stream uint64 `json:"stream_seq"`
				} `json:"ack_floor"`
			} `json:"consumer_detail"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

func (c *cluster) streams() jszStreams {
	var z jszStreams
	c.jsz("accounts=true&streams=true&consumers=true", &z)
	return z
}

func (c *cluster) streamLeader(name string) string {
	for _, a := range c.streams().Accounts {
		for _, st := range a.Streams {
			if st.Name == name && st.Cluster != nil {
				return st.Cluster.Leader
			}
		}
	}
	return ""
}

// waitStreamsCurrent: every stream (the events, the KV and object store
// buckets) has a leader and every follower has caught up. A node that
// rejoined is not whole until then: the JetStream calls that reach it
// time out, which belongs to the fault that cut it off, not to the next.
func (c *cluster) waitStreamsCurrent() {
	c.t.Helper()
	// Only a stream's leader knows its followers' progress, so every node
	// is asked about the streams it leads.
	poll(c.t, 60*time.Second, "every stream's replicas current", func() bool {
		checked := map[string]bool{}
		for _, mon := range natsMonitors() {
			var v struct {
				Name string `json:"server_name"`
			}
			var z jszStreams
			if !fetchJSON(mon+"/varz", &v) || !fetchJSON(mon+"/jsz?accounts=true&streams=true", &z) {
				return false
			}
			for _, a := range z.Accounts {
				for _, st := range a.Streams {
					if st.Cluster == nil || st.Cluster.Leader == "" {
						return false
					}
					if st.Cluster.Leader != v.Name {
						continue // a follower does not know how far the others are
					}
					for _, r := range st.Cluster.Replicas {
						if !r.Current || r.Offline {
							return false
						}
					}
					checked[st.Name] = true
				}
			}
		}
		return checked[contract.StreamEvents] && len(checked) > 1
	})
}

// waitRoutes: every node routes to the n-1 others again.
func (c *cluster) waitRoutes(n int) {
	c.t.Helper()
	poll(c.t, 60*time.Second, fmt.Sprintf("%d NATS nodes routed to each other", n), func() bool {
		for _, mon := range natsMonitors() {
			var r struct {
				Routes []struct {
					RemoteName string `json:"remote_name"`
				} `json:"routes"`
			}
			if !fetchJSON(mon+"/routez", &r) {
				return false
			}
			peers := map[string]bool{}
			for _, rt := range r.Routes {
				peers[rt.RemoteName] = true
			}
			if len(peers) < n-1 {
				return false
			}
		}
		return c.metaLeader() != ""
	})
}

// checkConsumersCaughtUp: the durable consumers end with nothing pending
// and nothing awaiting an ack: every event delivered was acknowledged.
func (c *cluster) checkConsumersCaughtUp() {
	c.t.Helper()
	var last string
	defer func() {
		if c.t.Failed() {
			c.t.Log(last)
		}
	}()
	poll(c.t, 60*time.Second, "the EVENTS consumers caught up", func() bool {
		for _, a := range c.streams().Accounts {
			for _, st := range a.Streams {
				if st.Name != "EVENTS" {
					continue
				}
				for _, co := range st.Consumers {
					if co.NumPending > 0 || co.NumAckPending > 0 {
						last = fmt.Sprintf("%s: %d pending, %d awaiting ack", co.Name, co.NumPending, co.NumAckPending)
						return false
					}
				}
				return len(st.Consumers) > 0
			}
		}
		return false
	})
}

// --- what the run left behind ------------------------------------------

// mailsDelivered counts the OTP mails Mailpit holds for the load's
// addresses, once the notifier has caught up.
func (c *cluster) mailsDelivered(s *loadStats) int {
	c.t.Helper()
	want := 0
	for _, n := range s.otpEmails {
		want += n
	}
	count := func() int {
		n := 0
		for addr := range s.otpEmails {
			var m struct {
				Matching int `json:"messages_count"`
			}
			r, err := http.Get("http://127.0.0.1:8025/api/v1/search?limit=1&query=" + url.QueryEscape("to:\""+addr+"\""))
			if err != nil {
				return -1
			}
			_ = json.NewDecoder(r.Body).Decode(&m)
			_ = r.Body.Close()
			n += m.Matching
		}
		return n
	}
	got := 0
	deadline := time.Now().Add(60 * time.Second)
	for got = count(); got < want && time.Now().Before(deadline); got = count() {
		time.Sleep(500 * time.Millisecond) // polling interval
	}
	return got
}

// checkInvariants: one account per email and per phone; every document
// record has its object and every object its record (an orphan left by a
// crash is swept by the documents service's orphan consumer: polled).
func (c *cluster) checkInvariants(s *loadStats) {
	t := c.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	mongoIP := c.ip(c.containers("mongo")[0])
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + mongoIP + ":27017/").SetTimeout(20 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	db := client.Database("doss")

	// A versioned store keeps every version ("key@version", with "state")
	// and one head per key ("head_state"): the heads are the accounts.
	heads := bson.M{"head_state": bson.M{"$exists": true}}
	cur, err := db.Collection("auth_accounts").Find(ctx, heads)
	if err != nil {
		t.Fatal(err)
	}
	var accounts []bson.M
	if err := cur.All(ctx, &accounts); err != nil {
		t.Fatal(err)
	}
	byEmail, byPhone := map[string]int{}, map[string]int{}
	for _, a := range accounts {
		for k, m := range map[string]map[string]int{"email": byEmail, "phone": byPhone} {
			if v := findString(a["head_state"], k); v != "" {
				m[v]++
			}
		}
	}
	for k, m := range map[string]map[string]int{"email": byEmail, "phone": byPhone} {
		for v, n := range m {
			if n > 1 {
				t.Errorf("%d accounts with %s %s", n, k, v)
			}
		}
	}
	for _, a := range s.accounts {
		if byEmail[a.email] != 1 {
			t.Errorf("registered %s: %d accounts", a.email, byEmail[a.email])
		}
	}

	s3c, err := minio.New("127.0.0.1:9000", &minio.Options{Creds: credentials.NewStaticV4(envOr("MINIO_ROOT_USER", "dossminio"), envOr("MINIO_ROOT_PASSWORD", "dossminio-secret"), ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	poll(t, 80*time.Second, "every document record with its object and every object with its record", func() bool {
		records := map[string]bool{}
		cur, err := db.Collection("documents_docs").Find(ctx, heads)
		if err != nil {
			return false
		}
		var docs []bson.M
		if cur.All(ctx, &docs) != nil {
			return false
		}
		for _, d := range docs {
			collectKeys(d["head_state"], records)
		}
		objects := map[string]bool{}
		for o := range s3c.ListObjects(ctx, "doss-private", minio.ListObjectsOptions{Prefix: "documents/", Recursive: true}) {
			if o.Err != nil {
				return false
			}
			objects[o.Key] = true
		}
		problems = problems[:0]
		for k := range records {
			if !objects[k] {
				problems = append(problems, "record without object: "+k)
			}
		}
		for k := range objects {
			if !records[k] {
				problems = append(problems, "object without record: "+k)
			}
		}
		if len(problems) > 0 {
			t.Logf("not yet: %d (%s)", len(problems), problems[0])
		}
		return len(problems) == 0 && len(records) > 0
	})
	t.Logf("invariants hold: %d accounts (%d by the load), document records = objects", len(accounts), len(s.accounts))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// findString finds the first string field named key at any depth (the
// versioned store wraps the document).
func findString(v any, key string) string {
	switch x := v.(type) {
	case bson.M:
		if s, ok := x[key].(string); ok {
			return s
		}
		for _, vv := range x {
			if s := findString(vv, key); s != "" {
				return s
			}
		}
	case bson.D:
		return findString(toM(x), key)
	case bson.A:
		for _, vv := range x {
			if s := findString(vv, key); s != "" {
				return s
			}
		}
	}
	return ""
}

// collectKeys gathers every "key" under an "items" array (documents_docs).
func collectKeys(v any, into map[string]bool) {
	switch x := v.(type) {
	case bson.M:
		if items, ok := x["items"].(bson.A); ok {
			for _, it := range items {
				if m, ok := it.(bson.M); ok {
					if k, ok := m["key"].(string); ok && k != "" {
						into[k] = true
					}
				}
				if d, ok := it.(bson.D); ok {
					if k, ok := toM(d)["key"].(string); ok && k != "" {
						into[k] = true
					}
				}
			}
		}
		for _, vv := range x {
			collectKeys(vv, into)
		}
	case bson.D:
		collectKeys(toM(x), into)
	case bson.A:
		for _, vv := range x {
			collectKeys(vv, into)
		}
	}
}

// checkProfilesFresh: profile.updated reached every gateway's cache in
// effect. Each renamed account is read through every gateway, whose cache
// keeps a profile for 10 minutes unless the event drops it: a lost event
// shows as the name before the last acknowledged rename. It returns the
// number of reads that were fresh.
func (c *cluster) checkProfilesFresh(s *loadStats) int {
	c.t.Helper()
	s.mu.Lock()
	names := maps.Clone(s.names)
	s.mu.Unlock()
	fresh := 0
	for token, want := range names {
		for _, gw := range *c.gateways.Load() {
			req, _ := http.NewRequest(http.MethodGet, gw+"/api/v2/profile", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Accept", "application/json")
			res, err := c.client.Do(req)
			if err != nil {
				c.t.Errorf("profile through %s: %v", gw, err)
				continue
			}
			var p map[string]any
			_ = json.NewDecoder(res.Body).Decode(&p)
			_ = res.Body.Close()
			got := str(p, "first_name")
			if res.StatusCode != http.StatusOK || !slices.Contains(want, got) {
				c.t.Errorf("profile through %s: %d first_name %q; want one of %q (a profile.updated lost on its way to that gateway's cache)", gw, res.StatusCode, got, want)
				continue
			}
			fresh++
		}
	}
	return fresh
}

func (c *cluster) printTable(rows []faultRow, otp, delivered, renames, fresh int) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-40s %8s %8s %16s %10s %10s\n", "fault", "sent", "failed", "longest failure", "renames", "otp acked")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-40s %8d %8d %16s %10d %10d  %v\n", r.name, r.sent, r.failed, r.longestFailure.Round(time.Millisecond), r.renames, r.otpAcked, r.failures)
	}
	fmt.Fprintf(&b, "events: otp_requested acknowledged %d, consumed (one mail each, Mailpit) %d; profile.updated acknowledged %d, consumed in effect (fresh reads of every renamed profile through every gateway) %d; consumers: nothing pending, nothing awaiting ack\n", otp, delivered, renames, fresh)
	c.t.Log(b.String())
	fmt.Println(b.String())
}

func toM(d bson.D) bson.M {
	m := bson.M{}
	for _, e := range d {
		m[e.Key] = e.Value
	}
	return m
}
