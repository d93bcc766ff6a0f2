package embedded_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/service"
)

// skeleton runs decl through service.Run on embedded NATS and FerretDB,
// trusting the assertions signed with the returned key. The returned stop
// ends Run and returns its error.
func skeleton(t *testing.T, decl service.Declaration) (url string, key ed25519.PrivateKey, stop func() error) {
	t.Helper()
	n := startNATS(t)
	m, err := embedded.StartFerretDB(t.Context(), t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatalf("StartFerretDB: %v", err)
	}
	t.Cleanup(m.Shutdown)
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	common := config.Common{Env: "dev", MongoURI: m.URI, MongoDB: "doss", StreamReplicas: 1,
		Bus: config.Bus{URL: n.URL, VerifyKeys: []ed25519.PublicKey{pub}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, func(string) string { return "" }, io.Discard, common, decl) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	// Registered after the servers' shutdowns, so it runs before them.
	t.Cleanup(func() { _ = stop() })
	return n.URL, key, stop
}

// caller is a client connection that signs its callers' identity as a
// gateway does.
func caller(t *testing.T, url string, key ed25519.PrivateKey) *nats.Conn {
	t.Helper()
	nc := connect(t, url)
	natsx.UseKeys(nc, natsx.Keys{Issuer: "gateway", Sign: key})
	return nc
}

// waitServing polls subject until the service answers it.
func waitServing(t *testing.T, nc *nats.Conn, subject string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := natsx.Call[struct{}, natsx.Caller](ctx, nc, subject, struct{}{})
		cancel()
		var ce *contract.Error
		if err == nil || errors.As(err, &ce) && ce.Code != contract.Unavailable {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered: %v", subject, err)
		}
	}
}

// Each row of an endpoint table admits only the callers its role names;
// the handler sees the caller the assertion vouched for.
func TestServiceRolesAreEnforced(t *testing.T) {
	echo := func(_ context.Context, c natsx.Caller, _ struct{}) (natsx.Caller, error) { return c, nil }
	decl := service.Declaration{Name: "roles", Version: "0.0.1", Build: func(context.Context, service.Conns) (service.Parts, error) {
		return service.Parts{Endpoints: []service.Endpoint{
			service.On(service.Public, "roles.v1.public", echo),
			service.On(service.User, "roles.v1.user", echo),
			service.On(service.Admin, "roles.v1.admin", echo),
			service.On(service.Peer, "roles.v1.peer", echo),
			service.OnRaw(service.User, "roles.v1.raw", func(_ context.Context, c natsx.Caller, _ []byte) (natsx.Caller, error) { return c, nil }),
		}}, nil
	}}
	url, key, _ := skeleton(t, decl)
	nc := caller(t, url, key)
	waitServing(t, nc, "roles.v1.public")

	_, strangerKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forger := caller(t, url, strangerKey)

	anyone := natsx.Caller{}
	user := natsx.Caller{Principal: contract.Principal{UserID: 7, UUID: "u-7", SessionID: "s-1"}}
	admin := natsx.Caller{Principal: contract.Principal{Admin: "ops"}}
	for _, tc := range []struct {
		name    string
		conn    *nats.Conn
		subject string
		as      natsx.Caller
		refused contract.Code // "" when admitted
		anyErr  bool          // refused, whatever the code
	}{
		{"public admits anyone", nc, "roles.v1.public", anyone, "", false},
		{"public admits a user", nc, "roles.v1.public", user, "", false},
		{"peer admits a caller without identity", nc, "roles.v1.peer", anyone, "", false},
		{"user refuses no identity", nc, "roles.v1.user", anyone, contract.Unauthenticated, false},
		{"user refuses an admin", nc, "roles.v1.user", admin, contract.Unauthenticated, false},
		{"user admits a user", nc, "roles.v1.user", user, "", false},
		{"user refuses an identity signed by an unknown key", forger, "roles.v1.user", user, "", true},
		{"raw user refuses no identity", nc, "roles.v1.raw", anyone, contract.Unauthenticated, false},
		{"admin refuses no identity", nc, "roles.v1.admin", anyone, contract.Forbidden, false},
		{"admin refuses a user", nc, "roles.v1.admin", user, contract.Forbidden, false},
		{"admin admits an admin", nc, "roles.v1.admin", admin, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(natsx.WithCaller(t.Context(), tc.as), 5*time.Second)
			defer cancel()
			var got natsx.Caller
			var err error
			if tc.subject == "roles.v1.raw" {
				got, err = rawCall(ctx, tc.conn, tc.subject)
			} else {
				got, err = natsx.Call[struct{}, natsx.Caller](ctx, tc.conn, tc.subject, struct{}{})
			}
			switch {
			case tc.anyErr:
				if err == nil {
					t.Fatalf("admitted %+v", got)
				}
			case tc.refused != "":
				var ce *contract.Error
				if !errors.As(err, &ce) || ce.Code != tc.refused {
					t.Fatalf("err = %v, want %s", err, tc.refused)
				}
			default:
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.Principal != tc.as.Principal {
					t.Fatalf("handler saw %+v, want %+v", got.Principal, tc.as.Principal)
				}
			}
		})
	}
}

// rawCall sends a non-JSON body, as an upload's name is sent.
func rawCall(ctx context.Context, nc *nats.Conn, subject string) (natsx.Caller, error) {
	return natsx.Call[string, natsx.Caller](ctx, nc, subject, "upload-name")
}

// Stopping runs the start in reverse: a loop ending and a NATS handler in
// flight when the drain begins both still write to Mongo, because Mongo
// disconnects only after the loops have ended and NATS has drained.
func TestServiceStopsInReverseOrder(t *testing.T) {
	var mu sync.Mutex
	var loopErr, handlerErr error
	loopRan, handlerRan := false, false
	started := make(chan struct{})
	var runCtxDone <-chan struct{}
	decl := service.Declaration{Name: "stopper", Version: "0.0.1", Build: func(ctx context.Context, c service.Conns) (service.Parts, error) {
		runCtxDone = ctx.Done()
		coll := c.DB.Collection("stop_order")
		// A plain subscription on the service's connection: its handler
		// is in flight when the stop begins and writes once it has.
		if _, err := c.NC.Subscribe("stopper.slow", func(*nats.Msg) {
			close(started)
			<-runCtxDone
			// Writes once the drain has begun: Mongo must be open still.
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for c.NC.Status() != nats.DRAINING_SUBS {
				<-tick.C
			}
			_, err := coll.InsertOne(context.Background(), bson.M{"by": "handler"})
			mu.Lock()
			handlerErr, handlerRan = err, true
			mu.Unlock()
		}); err != nil {
			return service.Parts{}, err
		}
		return service.Parts{
			Endpoints: []service.Endpoint{service.On(service.Public, "stopper.v1.ping", func(context.Context, natsx.Caller, struct{}) (natsx.Caller, error) {
				return natsx.Caller{}, nil
			})},
			Loops: []func(context.Context){func(ctx context.Context) {
				<-ctx.Done()
				_, err := coll.InsertOne(context.Background(), bson.M{"by": "loop"})
				mu.Lock()
				loopErr, loopRan = err, true
				mu.Unlock()
			}},
		}, nil
	}}
	url, key, stop := skeleton(t, decl)
	nc := caller(t, url, key)
	waitServing(t, nc, "stopper.v1.ping")
	if err := nc.Publish("stopper.slow", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow handler never started")
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !loopRan || loopErr != nil {
		t.Errorf("loop ran %v, its write at stop: %v (Mongo closed before the loops ended?)", loopRan, loopErr)
	}
	if !handlerRan || handlerErr != nil {
		t.Errorf("handler ran %v, its write at stop: %v (Mongo closed before NATS drained?)", handlerRan, handlerErr)
	}
}

// A service with FirstConnect patience may start before its Mongo and its
// NATS: Run waits for each in turn instead of exiting, then serves.
func TestServiceWithPatienceWaitsForItsConnections(t *testing.T) {
	// The servers' addresses are known before they run: NATS is started
	// once for its port and credentials, and FerretDB's port is reserved.
	n := startNATS(t)
	n.Shutdown()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mongoAddr := taken.Addr().String()
	_ = taken.Close()

	decl := service.Declaration{Name: "late", Version: "0.0.1", FirstConnect: time.Minute, Build: func(context.Context, service.Conns) (service.Parts, error) {
		return service.Parts{Endpoints: []service.Endpoint{service.On(service.Public, "late.v1.ping", func(context.Context, natsx.Caller, struct{}) (natsx.Caller, error) {
			return natsx.Caller{}, nil
		})}}, nil
	}}
	common := config.Common{Env: "dev", MongoURI: "mongodb://" + mongoAddr + "/", MongoDB: "doss", StreamReplicas: 1, Bus: config.Bus{URL: n.URL}}
	var logs testkit.Logs
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, func(string) string { return "" }, &logs, common, decl) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })

	// waiting fails the test if Run gives up instead of logging that it
	// waits for what.
	waiting := func(what string) {
		t.Helper()
		wait, cancelWait := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancelWait()
		found := make(chan error, 1)
		go func() { _, err := logs.Await(wait, what+" does not answer yet"); found <- err }()
		select {
		case err := <-found:
			if err != nil {
				t.Fatalf("Run never said it waits for %s: %v\n%s", what, err, logs.String())
			}
		case err := <-done:
			stopped = true
			t.Fatalf("Run gave up while %s was down: %v", what, err)
		}
	}
	waiting("mongo")
	m, err := embedded.StartFerretDB(t.Context(), t.TempDir(), mongoAddr)
	if err != nil {
		t.Fatalf("StartFerretDB: %v", err)
	}
	t.Cleanup(m.Shutdown)
	waiting("nats")
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	// Registered last, so Run stops before the servers do.
	t.Cleanup(func() { _ = stop() })

	waitServing(t, connect(t, n.URL), "late.v1.ping")
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
