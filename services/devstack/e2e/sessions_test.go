package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/devstack/stack"
)

// devKey is the signing key auth derives in dev mode; with it a test can
// mint tokens that are correctly signed but wrong in every other way.
func devKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("doss-dev-only:jwt"))
	return ed25519.NewKeyFromSeed(seed[:])
}

func TestTokenClaimsAreChecked(t *testing.T) {
	e := start(t, nil)
	uuid, token := e.register("claims@example.com", "+18681230010", "4829")
	r := e.post("/api/v2/new-login", js(map[string]string{"phone": "+18681230010", "password": "4829"}))
	expect(t, r, 200)
	parsed, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	base := parsed.Claims.(jwt.MapClaims)
	now := time.Now()
	mint := func(change func(jwt.MapClaims)) string {
		c := jwt.MapClaims{}
		for k, v := range base {
			c[k] = v
		}
		change(c)
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tk.Header["kid"] = "dev"
		s, err := tk.SignedString(devKey())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The control: a token minted this way is accepted.
	good := mint(func(jwt.MapClaims) {})
	cases := map[string]string{
		"expired":      mint(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() }),
		"no exp":       mint(func(c jwt.MapClaims) { delete(c, "exp") }),
		"wrong aud":    mint(func(c jwt.MapClaims) { c["aud"] = []string{"someone-else"} }),
		"wrong iss":    mint(func(c jwt.MapClaims) { c["iss"] = "evil" }),
		"issued later": mint(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() }),
		"no session":   mint(func(c jwt.MapClaims) { delete(c, "sid") }),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			expect(t, e.do(http.MethodPost, "/api/v2/logout", tok, ""), 401)
		})
	}
	expect(t, e.do(http.MethodPost, "/api/v2/logout", good, ""), 204)
	// Logging out the session revoked every token naming it.
	expect(t, e.do(http.MethodPost, "/api/v2/logout", token, ""), 401)
	_ = uuid
}

func TestRevocationReachesEveryGateway(t *testing.T) {
	e := start(t, nil)
	other := e.secondGateway()
	_, tokA := e.register("rev@example.com", "+18681230011", "4829")
	r := e.post("/api/v2/new-login", js(map[string]string{"phone": "+18681230011", "password": "4829"}))
	expect(t, r, 200)
	tokB := r.str("response", "token")

	expect(t, e.do(http.MethodPost, "/api/v2/logout", tokA, ""), 204) // revoked on gateway 1
	deadline := time.Now().Add(time.Second)
	for other.do(http.MethodPost, "/api/v2/logout", tokA, "").status != 401 {
		if time.Now().After(deadline) {
			t.Fatal("gateway 2 still accepts a revoked session after 1s")
		}
	}
	// The other session still works on gateway 2.
	expect(t, other.do(http.MethodPost, "/api/v2/logout", tokB, ""), 204)
}

func TestSecretsStayOutOfLogs(t *testing.T) {
	e := start(t, nil)
	r := e.post("/api/v2/email_send_otp", js(map[string]string{"email": "quiet@example.com"}))
	expect(t, r, 200)
	code := r.str("response", "user", "verification_code")
	eventually(t, "the code delivered", func() bool {
		return strings.Contains(e.do(http.MethodGet, "/dev/outbox?to=quiet@example.com", "", "").raw, code)
	})
	expect(t, e.post("/api/v2/email_verify_otp", js(map[string]string{"email": "quiet@example.com", "verification_code": code})), 200)
	_, token := e.register("quiet2@example.com", "+18681230012", "5820")
	logs := e.logs.String()
	for _, secret := range []string{`"` + code + `"`, "=" + code, ": " + code, "5820", token} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log contains a secret %q", secret)
		}
	}
}

func TestAuthReplicaStoppedUnderLoad(t *testing.T) {
	e := start(t, map[string]string{"DOSS_OTP_SEND_GAP": "0s", "DOSS_OTP_SENDS_PER_HOUR": "1000", "DOSS_OTP_ADDRESS_SENDS_PER_HOUR": "1000"})
	second, err := stack.Start(e.nc, contract.ServiceAuth, e.getenv, e.logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.Stop() })
	if n := stack.Replicas(e.nc, contract.ServiceAuth); n != 2 {
		t.Fatalf("%d auth replicas answer, want 2", n)
	}
	var ok, failed atomic.Int32
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := e.post("/api/v2/email_send_otp", js(map[string]string{"email": "load" + string(rune('a'+w)) + "@example.com"}))
				switch r.status {
				case 200:
					ok.Add(1)
				case 503:
					failed.Add(1)
				default:
					t.Errorf("status %d: %s", r.status, r.raw)
				}
			}
		}()
	}
	eventually(t, "load running", func() bool { return ok.Load() > 20 })
	if err := e.all.Procs[0].Stop(); err != nil { // the first auth replica
		t.Fatal(err)
	}
	before := ok.Load()
	eventually(t, "the survivor serving", func() bool { return ok.Load() > before+20 })
	close(stop)
	wg.Wait()
	t.Logf("ok %d, 503 while a replica drained %d", ok.Load(), failed.Load())
	// And the whole flow still works on the survivor.
	e.register("after@example.com", "+18681230013", "4829")
}

func TestProdModeHidesDevFeatures(t *testing.T) {
	e := start(t, nil)
	_, p := e.gatewayWith(map[string]string{"DOSS_ENV": "prod"})
	expect(t, p.do(http.MethodGet, "/dev/outbox?to=a@example.com", "", ""), 404)
	r := p.post("/api/v2/email_send_otp", js(map[string]string{"email": "prod@example.com"}))
	expect(t, r, 200)
	if strings.Contains(r.raw, "verification_code") || r.str("response", "user", "uuid") == "" {
		t.Fatalf("prod answer: %s", r.raw)
	}
}

// A replica that starts after a logout refuses the logged-out token from
// its first request. Its revocations come from the bucket's replay, which
// its start now waits out; before, it served as soon as the watch was
// open, and a token revoked behind 20 000 others was accepted until the
// replay reached it (a stolen token, kept until a replica restarts).
func TestAGatewayStartedAfterALogoutRefusesItsToken(t *testing.T) {
	e := start(t, nil)
	_, token := e.register("late@example.com", "+18681230019", "4829")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	// Revocations of other sessions ahead of this one in the bucket.
	for i := range 20_000 {
		if _, err := js.PublishAsync("$KV."+contract.BucketRevokedSessions+".filler-"+strconv.Itoa(i), []byte("1")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("the filler revocations were not acknowledged")
	}
	expect(t, e.do(http.MethodPost, "/api/v2/logout", token, ""), 204)
	late := e.secondGateway()
	expect(t, late.do(http.MethodGet, "/api/v2/profile", token, ""), 401)
}
