package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/services/devstack/stack"
)

func TestRegistrationAndLogin(t *testing.T) {
	e := start(t, nil)
	uuid, token := e.register("Jane.Doe@Example.com", "+18681234567", "4242")
	if uuid == "" || token == "" {
		t.Fatal("no uuid or token")
	}

	// The notifier delivered both codes; the log never shows them.
	eventually(t, "email and sms in the dev outbox", func() bool {
		r := e.do(http.MethodGet, "/dev/outbox?to=jane.doe@example.com", "", "")
		s := e.do(http.MethodGet, "/dev/outbox?to=%2B18681234567", "", "")
		return r.status == 200 && strings.Contains(r.raw, `"code"`) && s.status == 200 && strings.Contains(s.raw, `"code"`)
	})

	r := e.post("/api/v2/new-login", js(map[string]string{"phone": "+1 868 123 4567", "password": "4242"}))
	expect(t, r, 200)
	tok := r.str("response", "token")
	if r.str("response", "token_type") != "Bearer" || r.str("response", "user", "email") != "jane.doe@example.com" {
		t.Fatalf("login body: %s", r.raw)
	}

	// Registration cannot be replayed to change an active account.
	expect(t, e.post("/api/v2/set_pin", js(map[string]string{"uuid": uuid, "pin": "5820"})), 422)

	expect(t, e.do(http.MethodPost, "/api/v2/logout", tok, ""), 204)
	r = e.do(http.MethodPost, "/api/v2/logout", tok, "")
	expect(t, r, 401)
	if r.raw != `{"message":"Unauthenticated.","code":"session_expired"}`+"\n" {
		t.Fatalf("401 body %q", r.raw)
	}
	// The first session is untouched by the second's logout.
	expect(t, e.do(http.MethodPost, "/api/v2/logout", token, ""), 204)
}

func TestBadInput(t *testing.T) {
	e := start(t, nil)
	cases := []struct {
		name, path, body string
		status           int
		field            string
	}{
		{"operator instead of string", "/api/v2/email_send_otp", `{"email":{"$gt":""}}`, 422, "email"},
		{"bad email", "/api/v2/email_send_otp", `{"email":"not-an-email"}`, 422, "email"},
		{"missing email", "/api/v2/email_send_otp", `{}`, 422, "email"},
		{"truncated json", "/api/v2/email_send_otp", `{"email":`, 400, ""},
		{"array body", "/api/v2/email_send_otp", `["a"]`, 400, ""},
		{"impossible phone", "/api/v2/phone_send_otp", `{"email":"a@example.com","phone":"+1868"}`, 422, "phone"},
		{"code wrong type", "/api/v2/email_verify_otp", `{"email":"a@example.com","verification_code":1234}`, 422, "verification_code"},
		{"pin letters", "/api/v2/set_pin", `{"uuid":"x","pin":"abcd"}`, 422, "pin"},
		{"weak pin run", "/api/v2/set_pin", `{"uuid":"x","pin":"9876"}`, 422, "pin"},
		{"weak pin repeat", "/api/v2/set_pin", `{"uuid":"x","pin":"7777"}`, 422, "pin"},
		{"login missing", "/api/v2/new-login", `{}`, 422, "phone"},
		{"unknown api route needs a token", "/api/v2/nope", `{}`, 401, ""},
		{"unknown route", "/nope", `{}`, 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.post(c.path, c.body)
			expect(t, r, c.status)
			if r.str("message") == "" {
				t.Fatalf("no message: %s", r.raw)
			}
			if c.field != "" {
				if errs, _ := r.body["errors"].(map[string]any); errs[c.field] == nil {
					t.Fatalf("want errors.%s: %s", c.field, r.raw)
				}
			}
		})
	}
	t.Run("wrong content type", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.base+"/api/v2/email_send_otp", strings.NewReader("email=a@b.co"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		expect(t, e.send(req, ""), 415)
	})
	t.Run("body too large", func(t *testing.T) {
		r := e.post("/api/v2/email_send_otp", `{"email":"`+strings.Repeat("a", 70_000)+`@example.com"}`)
		expect(t, r, 413)
	})
}

func TestOTPGuessesAreCapped(t *testing.T) {
	e := start(t, nil)
	r := e.post("/api/v2/email_send_otp", js(map[string]string{"email": "guess@example.com"}))
	expect(t, r, 200)
	code := r.str("response", "user", "verification_code")
	wrong := "0000"
	if code == wrong {
		wrong = "1111"
	}
	var wg sync.WaitGroup
	var checked, refused atomic.Int32
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.post("/api/v2/email_verify_otp", js(map[string]string{"email": "guess@example.com", "verification_code": wrong}))
			switch {
			case strings.Contains(r.raw, "invalid or has expired"):
				checked.Add(1)
			case r.status == 422 || r.status == 429:
				refused.Add(1)
			default:
				t.Errorf("unexpected %d %s", r.status, r.raw)
			}
		}()
	}
	wg.Wait()
	if checked.Load() > 5 {
		t.Fatalf("%d guesses were checked, want at most 5", checked.Load())
	}
	// Even the right code is refused now: its checks are spent (422), and
	// this client has met its own daily cap (429).
	if r := e.post("/api/v2/email_verify_otp", js(map[string]string{"email": "guess@example.com", "verification_code": code})); r.status != 422 && r.status != 429 {
		t.Fatalf("the right code after 50 guesses: %d %s", r.status, r.raw)
	}
}

func TestOTPDailyFailuresAndSendLimits(t *testing.T) {
	e := start(t, map[string]string{"DOSS_OTP_SEND_GAP": "0s", "DOSS_OTP_SENDS_PER_HOUR": "100", "DOSS_OTP_ADDRESS_SENDS_PER_HOUR": "100", "DOSS_TRUSTED_PROXIES": "127.0.0.0/8"})
	email := js(map[string]string{"email": "daily@example.com"})
	// Failures count per address from everyone (9 a day) and per client
	// (6 a day): one client alone cannot use up the address's budget.
	fails := 0
	guess := func(ip string) resp {
		r := e.postFrom(ip, "/api/v2/email_send_otp", email)
		expect(t, r, 200)
		return e.postFrom(ip, "/api/v2/email_verify_otp", js(map[string]string{"email": "daily@example.com", "verification_code": wrongCode(r.str("response", "user", "verification_code"))}))
	}
	for fails < 6 {
		expect(t, guess("198.51.100.1"), 422)
		fails++
	}
	if r := guess("198.51.100.1"); r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("seventh failure from one client: %d %s", r.status, r.raw)
	}
	for fails < 9 {
		expect(t, guess("198.51.100.2"), 422)
		fails++
	}
	// A fresh code does not reset the address's daily failures.
	r := e.postFrom("198.51.100.3", "/api/v2/email_send_otp", email)
	expect(t, r, 200)
	r = e.postFrom("198.51.100.3", "/api/v2/email_verify_otp", js(map[string]string{"email": "daily@example.com", "verification_code": r.str("response", "user", "verification_code")}))
	expect(t, r, 429)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}

	e2 := start(t, nil)
	expect(t, e2.post("/api/v2/email_send_otp", email), 200)
	r = e2.post("/api/v2/email_send_otp", email)
	expect(t, r, 429)
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
}

func TestPINLockout(t *testing.T) {
	e := start(t, nil)
	e.register("lock@example.com", "+18681230001", "4829")
	login := func(pin string) resp {
		return e.post("/api/v2/new-login", js(map[string]string{"phone": "+18681230001", "password": pin}))
	}
	// Unknown phone and wrong PIN answer alike.
	a, b := login("1357"), e.post("/api/v2/new-login", js(map[string]string{"phone": "+18681239999", "password": "1357"}))
	if a.status != 401 || b.status != 401 || a.raw != b.raw {
		t.Fatalf("wrong PIN %d %s vs unknown phone %d %s", a.status, a.raw, b.status, b.raw)
	}
	// The owner's success from a device the account does not trust
	// leaves the unknown devices' count as it was.
	expect(t, login("4829"), 200)
	var wg sync.WaitGroup
	var checked atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if login("1357").status == 401 {
				checked.Add(1)
			}
		}()
	}
	wg.Wait()
	if checked.Load() > 8 {
		t.Fatalf("%d concurrent wrong PINs checked, want at most 8 (9 a day, one spent above)", checked.Load())
	}
	r := login("4829")
	expect(t, r, 429)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("lockout without Retry-After")
	}
}

// The attack: a stranger who knows only the victim's phone number sends
// 50 wrong PINs at once, with no device token or made-up ones. The
// owner's phone, which registered with its token, still logs in with the
// right PIN; a device the account never saw is locked for the day.
func TestPINLockoutKeepsTheOwnerIn(t *testing.T) {
	e := start(t, nil)
	const phone = "+18681230005"
	e.register("owner@example.com", phone, "4829") // confirm_pin sends fcm-1
	login := func(device, pin string) resp {
		body := map[string]string{"phone": phone, "password": pin}
		if device != "" {
			body["fcm_last_login_device_token"] = device
		}
		return e.post("/api/v2/new-login", js(body))
	}
	var wg sync.WaitGroup
	var checked, locked atomic.Int32
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			device := ""
			if i%2 == 0 {
				device = fmt.Sprintf("stranger-%d", i)
			}
			switch login(device, "1357").status {
			case 401:
				checked.Add(1)
			case 429:
				locked.Add(1)
			}
		}()
	}
	wg.Wait()
	if checked.Load() > 9 || checked.Load()+locked.Load() != 50 {
		t.Fatalf("%d wrong PINs checked and %d locked of 50, want at most 9 checked", checked.Load(), locked.Load())
	}
	r := login("fcm-1", "4829")
	expect(t, r, 200)
	if r.str("response", "user", "phone") != phone {
		t.Fatalf("login body: %s", r.raw)
	}
	expect(t, login("stranger-0", "4829"), 429)
	expect(t, login("", "4829"), 429)
}

func TestTokenAttacks(t *testing.T) {
	e := start(t, nil)
	_, token := e.register("tok@example.com", "+18681230002", "4829")
	parts := strings.Split(token, ".")
	var claims map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(raw, &claims)

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	sign := func(mutate func(jwt.MapClaims), key any, method jwt.SigningMethod, kid string) string {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		mutate(c)
		tk := jwt.NewWithClaims(method, c)
		tk.Header["kid"] = kid
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := sign(func(jwt.MapClaims) {}, jwt.UnsafeAllowNoneSignatureType, jwt.SigningMethodNone, "dev")
	cases := map[string]string{
		"alg none":    none,
		"other key":   sign(func(jwt.MapClaims) {}, otherKey, jwt.SigningMethodEdDSA, "dev"),
		"unknown kid": sign(func(jwt.MapClaims) {}, otherKey, jwt.SigningMethodEdDSA, "attacker"),
		"tampered":    parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"uid":`, `"uid":9`, 1))) + "." + parts[2],
		"malformed":   "abc.def",
		"hs256":       sign(func(jwt.MapClaims) {}, []byte("secret"), jwt.SigningMethodHS256, "dev"),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			expect(t, e.do(http.MethodPost, "/api/v2/logout", tok, ""), 401)
		})
	}
	expect(t, e.do(http.MethodPost, "/api/v2/logout", "", ""), 401)
	_ = time.Now
}

func TestServiceDownGives503AndReplicasShareLoad(t *testing.T) {
	e := start(t, nil)
	// A second auth replica joins the same queue group.
	second, err := stack.Start(e.nc, contract.ServiceAuth, e.getenv, e.logs)
	if err != nil {
		t.Fatal(err)
	}
	e.register("rep1@example.com", "+18681230003", "4829")
	// Stop the first replica; the second carries on.
	if err := e.all.Procs[0].Stop(); err != nil {
		t.Fatal(err)
	}
	e.register("rep2@example.com", "+18681230004", "4829")
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := e.post("/api/v2/email_send_otp", js(map[string]string{"email": "down@example.com"}))
	expect(t, r, 503)
	if r.header.Get("Retry-After") == "" || time.Since(start) > 2*time.Second {
		t.Fatalf("503 without Retry-After or slow: %v %v", r.header, time.Since(start))
	}
	// Readiness follows within moments (a leaving replica's last
	// unsubscribes may still be in flight).
	eventually(t, "readyz to report auth down", func() bool {
		return e.do(http.MethodGet, "/readyz", "", "").status == 503
	})
	expect(t, e.do(http.MethodGet, "/healthz", "", ""), 200)
}

// Every email_send_otp is an attempt of its own, with its own uuid; of the
// attempts that reach confirm_pin at once, exactly one becomes the account.
func TestConcurrentRegistrationsOneEmail(t *testing.T) {
	e := start(t, map[string]string{"DOSS_OTP_SEND_GAP": "0s", "DOSS_OTP_SENDS_PER_HOUR": "1000", "DOSS_OTP_ADDRESS_SENDS_PER_HOUR": "1000"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]string{}
	// 100 at once, in the spellings the app may send for one address.
	spellings := []string{"race@example.com", "Race@Example.com", " RACE@EXAMPLE.COM "}
	answered := 0
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.post("/api/v2/email_send_otp", js(map[string]string{"email": spellings[i%len(spellings)]}))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.status == 200:
				answered++
				codes[r.str("response", "user", "uuid")] = r.str("response", "user", "verification_code")
			case r.status == 503 && r.header.Get("Retry-After") != "":
				// On a loaded machine some calls outlive the gateway's
				// deadline; that is the answer for it.
			case r.status < 400 || r.status > 499:
				t.Errorf("status %d: %s", r.status, r.raw)
			}
		}()
	}
	wg.Wait()
	if len(codes) != answered || answered < 3 {
		t.Fatalf("%d uuids for %d answers, want one each", len(codes), answered)
	}
	// Only an address's newest codes are live (a guess is compared with
	// each); three new attempts go all the way, each with its own code,
	// and confirm at once.
	var ids []string
	for range 3 {
		r := e.post("/api/v2/email_send_otp", js(map[string]string{"email": "race@example.com"}))
		expect(t, r, 200)
		ids = append(ids, r.str("response", "user", "uuid"))
		codes[ids[len(ids)-1]] = r.str("response", "user", "verification_code")
	}
	for _, id := range ids {
		expect(t, e.post("/api/v2/email_verify_otp", js(map[string]string{"email": "race@example.com", "verification_code": codes[id]})), 200)
	}
	for i, id := range ids {
		phone := "+1868555070" + string(rune('0'+i))
		r := e.post("/api/v2/phone_send_otp", js(map[string]string{"email": "race@example.com", "phone": phone}))
		expect(t, r, 200)
		expect(t, e.post("/api/v2/phone_verify_otp", js(map[string]string{"uuid": id, "verification_code": r.str("response", "user", "verification_code")})), 200)
		expect(t, e.post("/api/v2/set_pin", js(map[string]string{"uuid": id, "pin": "5830"})), 200)
	}
	var won atomic.Int32
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.post("/api/v2/confirm_pin", js(map[string]string{"uuid": id, "confirm_pin": "5830"}))
			switch r.status {
			case 200:
				won.Add(1)
			case 409, 422:
			default:
				t.Errorf("confirm: %d %s", r.status, r.raw)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d registrations won one email, want 1", won.Load())
	}
}

func TestClientAddressLimitIsShared(t *testing.T) {
	e := start(t, map[string]string{"DOSS_IP_CHECKS_PER_10MIN": "6"})
	other := e.secondGateway()
	// Spread over two gateways and many phones, and a forged
	// X-Forwarded-For, one address still gets one budget.
	statuses := []int{}
	for i := range 8 {
		g := e
		if i%2 == 1 {
			g = other
		}
		req, _ := http.NewRequest(http.MethodPost, g.base+"/api/v2/new-login",
			strings.NewReader(js(map[string]string{"phone": "+1868123" + strings.Repeat(string(rune('0'+i)), 4), "password": "4829"})))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", "203.0.113."+string(rune('1'+i)))
		res := g.send(req, "")
		statuses = append(statuses, res.status)
		if i >= 6 && (res.status != 429 || res.header.Get("Retry-After") == "") {
			t.Fatalf("request %d: %d, want 429 with Retry-After (all: %v)", i, res.status, statuses)
		}
	}
}

func TestHourlySendLimitAndUnknownFields(t *testing.T) {
	e := start(t, map[string]string{"DOSS_OTP_SEND_GAP": "0s"})
	// Unknown fields are ignored: the app may send more than we need.
	body := `{"email":"hourly@example.com","device":{"os":"android"},"extra":[1,2]}`
	for i := range 5 {
		r := e.post("/api/v2/email_send_otp", body)
		if r.status != 200 {
			t.Fatalf("send %d: %d %s", i+1, r.status, r.raw)
		}
	}
	r := e.post("/api/v2/email_send_otp", body)
	expect(t, r, 429)
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
}
