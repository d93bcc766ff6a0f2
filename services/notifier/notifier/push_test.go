package notifier

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/services/notifier/internal/adapters"
	"github.com/dossapp/backend/services/notifier/internal/domain"
)

// fakeFCM is an in-process token endpoint and FCM HTTP v1. FCM answers
// each device token with the next of its scripted answers (the last
// repeats); devices with no script are accepted.
type fakeFCM struct {
	tokens, fcm *httptest.Server
	mu          sync.Mutex
	mints       int
	script      map[string][]int
	calls       map[string]int
}

const fcmUnregistered = `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`

func startFakeFCM(t *testing.T, script map[string][]int) *fakeFCM {
	t.Helper()
	f := &fakeFCM{script: script, calls: map[string]int{}}
	f.tokens = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.mints++
		n := f.mints
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":"at-%d","expires_in":3600,"token_type":"Bearer"}`, n)
	}))
	f.fcm = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Message struct{ Token string } `json:"message"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		device := body.Message.Token
		f.calls[device]++
		status := http.StatusOK
		if s := f.script[device]; len(s) > 0 {
			status = s[min(f.calls[device], len(s))-1]
		}
		f.mu.Unlock()
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer at-") || r.URL.Path != "/v1/projects/proj-1/messages:send" {
			status = http.StatusUnauthorized
		}
		w.WriteHeader(status)
		switch status {
		case http.StatusNotFound:
			_, _ = w.Write([]byte(fcmUnregistered))
		case http.StatusServiceUnavailable:
			_, _ = w.Write([]byte(`{"error":{"code":503,"status":"UNAVAILABLE"}}`))
		default:
			_, _ = w.Write([]byte(`{"name":"projects/proj-1/messages/1"}`))
		}
	}))
	t.Cleanup(f.tokens.Close)
	t.Cleanup(f.fcm.Close)
	return f
}

func (f *fakeFCM) count(device string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[device]
}

// keyFile writes a service-account key for the fake and returns its path.
func (f *fakeFCM) keyFile(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "proj-1", "private_key_id": "kid-1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "push@proj-1.iam.gserviceaccount.com", "token_uri": f.tokens.URL + "/token",
	})
	path := filepath.Join(t.TempDir(), "fcm.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *stack) pushEvent(t *testing.T, device string) contract.Event {
	t.Helper()
	ev, err := events.New(t.Context(), contract.EventNotificationWanted, contract.NotificationWanted{
		Channel: contract.ChannelPush, To: device, DeviceToken: device, Template: "document_reviewed",
		Data: map[string]string{"Document": "Passport", "Status": "approved"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func (s *stack) deadLetters(t *testing.T) uint64 {
	t.Helper()
	dl, err := s.js.Stream(t.Context(), contract.StreamDeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dl.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// A device FCM calls UNREGISTERED is asked once: the token is dropped (its
// fingerprint stored, not the token), the event acked, not dead-lettered,
// and later pushes to it never reach FCM. Run wires it from the
// environment: the key file, the base URL.
func TestPushToUnregisteredDeviceDropsIt(t *testing.T) {
	s := startStack(t)
	f := startFakeFCM(t, map[string][]int{"dead-device": {http.StatusNotFound}})
	env := map[string]string{
		"DOSS_ENV": "dev", "DOSS_NATS_URL": s.natsURL, "DOSS_MONGO_URI": s.mongoURI, "DOSS_MONGO_DB": "doss",
		"DOSS_FCM_CREDENTIALS_FILE": f.keyFile(t), "DOSS_FCM_BASE_URL": f.fcm.URL,
	}
	var out testkit.Logs
	running(t, &out, func(ctx context.Context) error { return Run(ctx, func(k string) string { return env[k] }, &out) })

	s.publish(t, s.pushEvent(t, "dead-device"))
	s.publish(t, s.pushEvent(t, "live-device"))
	eventually(t, "both pushes answered", func() bool { return f.count("dead-device") == 1 && f.count("live-device") == 1 })
	dropped := adapters.NewDroppedDevices(s.db)
	eventually(t, "dead device dropped", func() bool { ok, err := dropped.Dropped(t.Context(), "dead-device"); return err == nil && ok })
	if ok, _ := dropped.Dropped(t.Context(), "live-device"); ok {
		t.Error("the live device was dropped too")
	}
	if n, err := s.db.Collection(adapters.DroppedDevicesCollection).CountDocuments(t.Context(), map[string]string{"_id": "dead-device"}); err != nil || n != 0 {
		t.Errorf("the raw token is stored (%d, %v)", n, err)
	}

	for range 3 {
		s.publish(t, s.pushEvent(t, "dead-device"))
	}
	s.publish(t, s.pushEvent(t, "live-device"))
	eventually(t, "consumer drained", func() bool { return f.count("live-device") == 2 && s.drained(t) })
	if n := f.count("dead-device"); n != 1 {
		t.Errorf("FCM asked %d times about the dropped device, want 1", n)
	}
	if n := s.deadLetters(t); n != 0 {
		t.Errorf("dead letters = %d, want 0", n)
	}
	if strings.Contains(out.String(), "dead-device") {
		t.Errorf("the log names the device token:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "device token unregistered") {
		t.Errorf("no log line for the drop:\n%s", out.String())
	}
}

// FCM down (503) is the ordinary retry: the claim is released, the event
// redelivered with backoff, and sent once FCM is back; no dead letter.
func TestPushTransientFailureIsRetried(t *testing.T) {
	s := startStack(t)
	f := startFakeFCM(t, map[string][]int{"device-1": {http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusOK}})
	key, err := adapters.ParseFCMKey(mustRead(t, f.keyFile(t)))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	push, err := adapters.NewFCMSender(f.fcm.URL, key, adapters.NewAccessTokens(key, client, time.Now), client)
	if err != nil {
		t.Fatal(err)
	}
	s.serve(t, true, map[string]domain.Sender{contract.ChannelPush: push})
	ev := s.pushEvent(t, "device-1")
	s.publish(t, ev)
	eventually(t, "sent on the third attempt", func() bool { return f.count("device-1") == 3 && s.drained(t) })
	if n := s.deadLetters(t); n != 0 {
		t.Errorf("dead letters = %d, want 0", n)
	}
	var doc struct{ State string }
	if err := s.db.Collection(adapters.DeliveriesCollection).FindOne(t.Context(), map[string]string{"_id": ev.ID}).Decode(&doc); err != nil || doc.State != domain.StateSent {
		t.Errorf("delivery = %+v, %v; want sent", doc, err)
	}
	if ok, _ := adapters.NewDroppedDevices(s.db).Dropped(t.Context(), "device-1"); ok {
		t.Error("a transient failure dropped the device")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
