package adapters

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dossapp/backend/services/notifier/internal/domain"
)

// fakeGoogle is an in-process token endpoint and FCM: the token endpoint
// checks the JWT bearer grant as Google would (RS256 under the service
// account's public key, the claims) and hands out at-1, at-2, …; FCM
// answers what fcm says for each call.
type fakeGoogle struct {
	t        *testing.T
	key      *rsa.PrivateKey
	tokenURL string
	tokens   *httptest.Server
	fcm      *httptest.Server

	mu        sync.Mutex
	mints     int
	tokenDown bool
	claims    map[string]any
	header    map[string]any
	calls     []fcmCall
	answer    func(call int) (int, string)
}

type fcmCall struct {
	path, auth string
	body       pushBody
}

func newFakeGoogle(t *testing.T) *fakeGoogle {
	t.Helper()
	key, err := testRSAKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeGoogle{t: t, key: key, answer: func(int) (int, string) { return http.StatusOK, `{"name":"projects/proj-1/messages/1"}` }}
	f.tokens = httptest.NewServer(http.HandlerFunc(f.serveToken))
	f.tokenURL = f.tokens.URL + "/token"
	f.fcm = httptest.NewServer(http.HandlerFunc(f.serveFCM))
	t.Cleanup(f.tokens.Close)
	t.Cleanup(f.fcm.Close)
	return f
}

// testRSAKey is the service account's key pair, made once: 2048-bit
// generation costs ~0.5 s on the shared machine.
var testRSAKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// keyJSON is the service-account key file Google would issue for f.
func (f *fakeGoogle) keyJSON() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(f.key)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "proj-1", "private_key_id": "kid-1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "push@proj-1.iam.gserviceaccount.com", "client_id": "1", "token_uri": f.tokenURL,
	})
	return b
}

func (f *fakeGoogle) serveToken(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokenDown {
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	}
	if r.URL.Path != "/token" || r.FormValue("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
		return
	}
	parts := strings.Split(r.FormValue("assertion"), ".")
	if len(parts) != 3 {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || rsa.VerifyPKCS1v15(&f.key.PublicKey, crypto.SHA256, digest[:], sig) != nil {
		http.Error(w, `{"error":"invalid_grant","error_description":"bad signature"}`, http.StatusBadRequest)
		return
	}
	f.header, f.claims = decodeSegment(f.t, parts[0]), decodeSegment(f.t, parts[1])
	f.mints++
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"access_token":"at-%d","expires_in":3600,"token_type":"Bearer"}`, f.mints)
}

func decodeSegment(t *testing.T, seg string) map[string]any {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Errorf("segment: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Errorf("segment %s: %v", raw, err)
	}
	return m
}

func (f *fakeGoogle) serveFCM(w http.ResponseWriter, r *http.Request) {
	var body pushBody
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.calls = append(f.calls, fcmCall{path: r.URL.Path, auth: r.Header.Get("Authorization"), body: body})
	status, answer := f.answer(len(f.calls))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

func (f *fakeGoogle) counts() (mints, calls int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mints, len(f.calls)
}

// clock is a test's own time: expiry is decided by it, so no test sleeps.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (f *fakeGoogle) sender(t *testing.T, c *clock) (*FCMSender, *AccessTokens) {
	t.Helper()
	key, err := ParseFCMKey(f.keyJSON())
	if err != nil {
		t.Fatal(err)
	}
	tokens := NewAccessTokens(key, f.tokens.Client(), c.Now)
	s, err := NewFCMSender(f.fcm.URL, key, tokens, f.fcm.Client())
	if err != nil {
		t.Fatal(err)
	}
	return s, tokens
}

func TestAccessTokenIsASignedJWTGrant(t *testing.T) {
	f := newFakeGoogle(t)
	_, tokens := f.sender(t, &clock{now: time.Now()})
	before := time.Now().Unix()
	tok, err := tokens.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if tok != "at-1" {
		t.Errorf("token = %q, want at-1", tok)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.header["alg"] != "RS256" || f.header["kid"] != "kid-1" {
		t.Errorf("header = %v, want RS256 with kid-1", f.header)
	}
	want := map[string]any{"iss": "push@proj-1.iam.gserviceaccount.com", "scope": FCMScope, "aud": f.tokenURL}
	for k, v := range want {
		if f.claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, f.claims[k], v)
		}
	}
	iat, _ := f.claims["iat"].(float64)
	exp, _ := f.claims["exp"].(float64)
	if int64(iat) < before-60 || int64(iat) > time.Now().Unix()+60 || exp-iat != 3600 {
		t.Errorf("iat %v exp %v: want now and now + 1 h", iat, exp)
	}
	if _, ok := f.claims["sub"]; ok {
		t.Errorf("sub = %v: the service account acts as itself", f.claims["sub"])
	}
}

// A token is minted once and reused until a minute before it expires (by
// the injected clock), then replaced.
func TestAccessTokenCachedThenRefreshed(t *testing.T) {
	f := newFakeGoogle(t)
	c := &clock{now: time.Now()}
	_, tokens := f.sender(t, c)
	steps := []struct {
		advance time.Duration
		want    string
		mints   int
	}{
		{0, "at-1", 1},
		{0, "at-1", 1},
		{58 * time.Minute, "at-1", 1},
		{59 * time.Second, "at-1", 1}, // 58m59s: still more than a minute left
		{2 * time.Second, "at-2", 2},  // 59m01s: replaced early
		{30 * time.Minute, "at-2", 2}, // the new one counts from its own mint
		{31 * time.Minute, "at-3", 3}, // and expires in its turn
		{0, "at-3", 3},
	}
	for i, st := range steps {
		c.Advance(st.advance)
		tok, err := tokens.Token(t.Context())
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if mints, _ := f.counts(); tok != st.want || mints != st.mints {
			t.Errorf("step %d: token %q after %d mints, want %q after %d", i, tok, mints, st.want, st.mints)
		}
	}
}

func TestAccessTokenConcurrentSendsMintOnce(t *testing.T) {
	f := newFakeGoogle(t)
	s, _ := f.sender(t, &clock{now: time.Now()})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() { errs <- s.Send(t.Context(), domain.Message{Channel: "push", To: fmt.Sprint("device-", i)}) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if mints, calls := f.counts(); mints != 1 || calls != 20 {
		t.Errorf("mints %d, FCM calls %d; want 1 and 20", mints, calls)
	}
}

const (
	unregistered = `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`
	fcmNotFound  = `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError"}]}}`
	notFound     = `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}`
	invalidArg   = `{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}`
	unauth       = `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`
	unavailable  = `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`
)

func TestFCMSender(t *testing.T) {
	type answer struct {
		status int
		body   string
	}
	ok := answer{200, `{"name":"projects/proj-1/messages/1"}`}
	tests := []struct {
		name      string
		answers   []answer // FCM's answers in turn; the last repeats
		tokenDown bool
		want      error // nil, domain.ErrUnregistered, domain.ErrRejected, or errAny
		mints     int
		calls     int
		bearers   []string
	}{
		{"accepted", []answer{ok}, false, nil, 1, 1, []string{"Bearer at-1"}},
		{"401 mints a new token and retries once", []answer{{401, unauth}, ok}, false, nil, 2, 2, []string{"Bearer at-1", "Bearer at-2"}},
		{"401 twice is a failure, not a loop", []answer{{401, unauth}}, false, errAny, 2, 2, []string{"Bearer at-1", "Bearer at-2"}},
		{"UNREGISTERED drops the device", []answer{{404, unregistered}}, false, domain.ErrUnregistered, 1, 1, nil},
		{"a 404 from FCM about the message drops the device", []answer{{404, fcmNotFound}}, false, domain.ErrUnregistered, 1, 1, nil},
		{"Google's NOT_FOUND without FCM's detail (a project) is retried", []answer{{404, notFound}}, false, errAny, 1, 1, nil},
		{"a bare 404 (wrong URL) is retried, the device kept", []answer{{404, "<html>not here</html>"}}, false, errAny, 1, 1, nil},
		{"INVALID_ARGUMENT is permanent", []answer{{400, invalidArg}}, false, domain.ErrRejected, 1, 1, nil},
		{"503 is retried later", []answer{{503, unavailable}}, false, errAny, 1, 1, nil},
		{"429 is retried later", []answer{{429, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}`}}, false, errAny, 1, 1, nil},
		{"token endpoint down: FCM not called", []answer{ok}, true, errAny, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGoogle(t)
			f.tokenDown = tt.tokenDown
			f.answer = func(call int) (int, string) {
				a := tt.answers[min(call, len(tt.answers))-1]
				return a.status, a.body
			}
			s, _ := f.sender(t, &clock{now: time.Now()})
			err := s.Send(t.Context(), domain.Message{Channel: "push", To: "device-1", Subject: "Hi", Body: "There"})
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("err = %v, want none", err)
			case tt.want == errAny && (err == nil || errors.Is(err, domain.ErrUnregistered) || errors.Is(err, domain.ErrRejected)):
				t.Fatalf("err = %v, want an ordinary (retried) failure", err)
			case tt.want != nil && tt.want != errAny && !errors.Is(err, tt.want):
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if mints, calls := f.counts(); mints != tt.mints || calls != tt.calls {
				t.Errorf("mints %d, FCM calls %d; want %d and %d", mints, calls, tt.mints, tt.calls)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			for i, c := range f.calls {
				if c.path != "/v1/projects/proj-1/messages:send" || c.body.Message.Token != "device-1" ||
					c.body.Message.Notification.Title != "Hi" || c.body.Message.Notification.Body != "There" {
					t.Errorf("call %d = %+v", i, c)
				}
				if tt.bearers != nil && c.auth != tt.bearers[i] {
					t.Errorf("call %d: Authorization %q, want %q", i, c.auth, tt.bearers[i])
				}
			}
		})
	}
}

var errAny = errors.New("any ordinary error")

func TestParseFCMKeyRefuses(t *testing.T) {
	f := newFakeGoogle(t)
	good := map[string]any{}
	_ = json.Unmarshal(f.keyJSON(), &good)
	with := func(k string, v any) []byte {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		m[k] = v
		b, _ := json.Marshal(m)
		return b
	}
	tests := map[string][]byte{
		"not JSON":                  []byte("{"),
		"a user's credentials":      with("type", "authorized_user"),
		"no project":                with("project_id", ""),
		"no client email":           with("client_email", ""),
		"no PEM key":                with("private_key", "not a key"),
		"token_uri over plain http": with("token_uri", "http://oauth2.example.com/token"),
		"token_uri not a URL":       with("token_uri", "/token"),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseFCMKey(data); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := ParseFCMKey(f.keyJSON()); err != nil {
		t.Errorf("good key refused: %v", err)
	}
	key, _ := ParseFCMKey(f.keyJSON())
	if _, err := NewFCMSender("http://fcm.example.com", key, nil, nil); err == nil {
		t.Error("plain-http FCM base accepted: the bearer would cross the network in the clear")
	}
}
