package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/services/devstack/stack"
)

// noCache makes every profile read a NATS round trip to the profile
// service, which is what these tests break.
var noCache = map[string]string{"DOSS_PROFILE_CACHE_TTL": "0s"}

// checkFailure accepts only the answers a fault may cause: a 503 that
// says when to come back.
func checkFailure(t *testing.T, r resp) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.str("message") == "" {
		t.Errorf("during the fault: %d (Retry-After %q) %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
}

func TestStoreUnreachableGives503AndRecovers(t *testing.T) {
	e := start(t, noCache)
	_, token := e.register("store@example.com", "+18681230060", "4829")
	expect(t, e.do(http.MethodGet, "/readyz", "", ""), 200)

	addr, err := url.Parse(e.ks.Mongo.URI)
	if err != nil {
		t.Fatal(err)
	}
	e.ks.Mongo.Shutdown()
	checkFailure(t, e.do(http.MethodPost, "/api/v2/update_name", token, `{"first_name":"Lost","last_name":"Write"}`))
	// A profile replica reads the store on every miss: that read fails too.
	checkFailure(t, e.do(http.MethodGet, "/api/v2/profile", token, ""))
	r := e.do(http.MethodGet, "/readyz", "", "")
	if r.status != 503 || r.header.Get("Retry-After") == "" || r.body["ready"] != false {
		t.Fatalf("readyz with the store down: %s", r.raw)
	}

	// The same store comes back on the same address; nothing restarts.
	m, err := embedded.StartFerretDB(context.Background(), filepath.Join(e.ks.Dir, "ferretdb"), addr.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Shutdown)
	eventually(t, "readyz after the store is back", func() bool { return e.do(http.MethodGet, "/readyz", "", "").status == 200 })
	r = e.do(http.MethodGet, "/api/v2/profile", token, "")
	expect(t, r, 200)
	if r.str("first_name") == "Lost" {
		t.Fatal("the write refused during the outage was stored")
	}
	expect(t, e.do(http.MethodPost, "/api/v2/update_name", token, `{"first_name":"Back","last_name":"Again"}`), 200)
}

// load runs workers that each repeat req until stop is closed and counts
// the answers by status.
type load struct {
	wg     sync.WaitGroup
	stop   chan struct{}
	mu     sync.Mutex
	counts map[int]int
	bad    []string
}

func startLoad(workers int, req func(worker, i int) resp, allowed func(resp) bool) *load {
	l := &load{stop: make(chan struct{}), counts: map[int]int{}}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				r := req(w, i)
				l.mu.Lock()
				l.counts[r.status]++
				if !allowed(r) && len(l.bad) < 5 {
					l.bad = append(l.bad, fmt.Sprintf("%d %s", r.status, r.raw))
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) count(status int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[status]
}

func (l *load) end(t *testing.T) map[int]int {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	if len(l.bad) > 0 {
		t.Errorf("answers no fault should cause: %v", l.bad)
	}
	return l.counts
}

func okOr503(r resp) bool {
	return r.status == 200 || (r.status == 503 && r.header.Get("Retry-After") != "" && r.str("message") != "")
}

func TestServiceKilledMidLoadFailsFastAndComesBack(t *testing.T) {
	e := start(t, noCache)
	_, token := e.register("killed@example.com", "+18681230061", "4829")
	l := startLoad(4, func(int, int) resp { return e.do(http.MethodGet, "/api/v2/profile", token, "") }, okOr503)
	eventually(t, "load to flow", func() bool { return l.count(200) >= 20 })
	if err := e.proc(contract.ServiceProfile).Stop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "503s while no replica answers", func() bool { return l.count(503) >= 20 })
	p, err := stack.Start(e.nc, contract.ServiceProfile, e.getenv, e.logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	before := l.count(200)
	eventually(t, "the restarted service to be used", func() bool { return l.count(200) >= before+20 })
	counts := l.end(t)
	t.Logf("answers: %v", counts)
}

// NATS restarts under a write load: clients and services reconnect on
// their own, and every write that was acknowledged is kept, with its
// event.
func TestNATSRestartedUnderLoadLosesNoAcknowledgedWrite(t *testing.T) {
	e := start(t, nil)
	_, token := e.register("natsdown@example.com", "+18681230062", "4829")
	userID := int64(e.do(http.MethodGet, "/api/v2/profile", token, "").body["id"].(float64))
	before := profileEvents(t, e, userID)
	var acked sync.Map // last name of each worker that got a 200
	var ackedCount atomic.Int64
	l := startLoad(3, func(w, i int) resp {
		name := fmt.Sprintf("W%dN%d", w, i)
		r := e.do(http.MethodPost, "/api/v2/update_name", token, js(map[string]string{"first_name": name, "last_name": "Load"}))
		if r.status == 200 {
			acked.Store(name, true)
			ackedCount.Add(1)
		}
		return r
	}, okOr503)
	eventually(t, "writes to flow", func() bool { return ackedCount.Load() >= 10 })
	if err := e.ks.NATS.Restart(); err != nil {
		t.Fatal(err)
	}
	atRestart := ackedCount.Load()
	eventually(t, "writes to succeed again after the restart", func() bool { return ackedCount.Load() >= atRestart+10 })
	l.end(t)

	// The profile shows an acknowledged write, and every acknowledged
	// write's ProfileUpdated event reaches the stream.
	r := e.do(http.MethodGet, "/api/v2/profile", token, "")
	expect(t, r, 200)
	if _, ok := acked.Load(r.str("first_name")); !ok {
		t.Fatalf("profile shows %q, which no acknowledged write set", r.str("first_name"))
	}
	eventually(t, "an event for every acknowledged write", func() bool {
		return profileEvents(t, e, userID) >= before+int(ackedCount.Load())
	})
}

// profileEvents counts the ProfileUpdated events of a user in the stream.
func profileEvents(t *testing.T, e *env, userID int64) int {
	t.Helper()
	ctx := context.Background()
	jsc, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := jsc.OrderedConsumer(ctx, contract.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{contract.EventSubject(contract.EventProfileUpdated)},
	})
	if err != nil {
		return -1 // the stream is coming back; poll again
	}
	info, err := c.Info(ctx)
	if err != nil {
		return -1
	}
	n, pending := 0, int(info.NumPending)
	if pending == 0 {
		return 0
	}
	batch, err := c.FetchNoWait(pending)
	if err != nil {
		return -1
	}
	for msg := range batch.Messages() {
		var ev contract.Event
		var d contract.ProfileUpdated
		if json.Unmarshal(msg.Data(), &ev) == nil && ev.Decode(&d) == nil && d.UserID == userID {
			n++
		}
	}
	return n
}

// Every gateway learns revocations from a KV watch; it must survive a NATS
// restart, or a replica would go on accepting logged-out tokens.
func TestRevocationsStillReachGatewaysAfterNATSRestart(t *testing.T) {
	e := start(t, nil)
	other := e.secondGateway()
	_, tok := e.register("revwatch@example.com", "+18681230063", "4829")
	expect(t, other.do(http.MethodGet, "/api/v2/profile", tok, ""), 200)
	if err := e.ks.NATS.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "logout after the restart", func() bool {
		return e.do(http.MethodPost, "/api/v2/logout", tok, "").status == 204
	})
	// The promise of TestRevocationReachesEveryGateway holds after the
	// restart too (before the watch restarted on reconnect: 9 s).
	deadline := time.Now().Add(time.Second)
	for other.do(http.MethodGet, "/api/v2/profile", tok, "").status != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the other gateway still accepts a revoked session 1s after the logout")
		}
	}
}

// A stopping gateway keeps serving for DOSS_SHUTDOWN_DRAIN while its
// readiness says so, asking clients to close their connections, so a load
// balancer takes it out before its listener closes under them.
func TestStoppingGatewayDrainsFirst(t *testing.T) {
	e := start(t, nil)
	gw, g := e.gatewayWith(map[string]string{"DOSS_SHUTDOWN_DRAIN": "2s"})
	expect(t, g.do(http.MethodGet, "/readyz", "", ""), 200)
	stopped := make(chan error, 1)
	go func() { stopped <- gw.Stop() }()
	var r resp
	poll(t, 5*time.Second, "the gateway reports draining", func() bool {
		r = g.do(http.MethodGet, "/readyz", "", "")
		return r.status == http.StatusServiceUnavailable
	})
	if r.body["draining"] != true || r.header.Get("Retry-After") == "" {
		t.Fatalf("readyz while draining: %d %s %v", r.status, r.raw, r.header)
	}
	// Still serving, and asking the client to go elsewhere next time.
	res, err := http.Post(g.base+"/api/v2/email_send_otp", "application/json", strings.NewReader(`{"email": "drain@example.com"}`))
	if err != nil {
		t.Fatalf("a request while draining: %v", err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || !res.Close {
		t.Errorf("an answer while draining: %d, Connection: close %v; want 200 and close", res.StatusCode, res.Close)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := http.Get(g.base + "/healthz"); err == nil {
		t.Error("the gateway still listens after its drain and shutdown")
	}
}
