package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/seal"
	"github.com/dossapp/backend/pkg/service"
	"github.com/dossapp/backend/services/notifier/internal/adapters"
	"github.com/dossapp/backend/services/notifier/internal/domain"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testkit.GoleakOptions()...) }

// syncBuffer is the log sink: handlers log from several goroutines.

type stack struct {
	bus      *embedded.NATS
	natsURL  string
	mongoURI string
	nc       *nats.Conn
	js       jetstream.JetStream
	db       *mongo.Database
	logs     *testkit.Logs
	box      *seal.Box
}

func startStack(t *testing.T) *stack {
	t.Helper()
	n := testkit.StartNATS(t)
	m, err := embedded.StartFerretDB(context.Background(), t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Shutdown)
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(m.URI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	box, err := seal.New(devNotifyKey)
	if err != nil {
		t.Fatal(err)
	}
	return &stack{bus: n, natsURL: n.URL, mongoURI: m.URI, nc: nc, js: js, db: client.Database("doss"), logs: &testkit.Logs{}, box: box}
}

// countingSender counts sends per recipient and fails for the addresses in
// down; everything else goes to next.
type countingSender struct {
	next  domain.Sender
	down  map[string]bool
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingSender) Send(ctx context.Context, m domain.Message) error {
	c.mu.Lock()
	c.calls[m.To]++
	c.mu.Unlock()
	if c.down[m.To] {
		return errors.New("provider is down")
	}
	return c.next.Send(ctx, m)
}

func (c *countingSender) count(to string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[to]
}

// start serves the notifier's declaration on the stack with one counting
// sender for every channel, MaxDeliver 3 and a 10 ms backoff.
func (s *stack) start(t *testing.T, dev bool, down ...string) *countingSender {
	t.Helper()
	sender := &countingSender{next: adapters.NewDevSender(adapters.NewOutbox(s.db)), down: map[string]bool{}, calls: map[string]int{}}
	for _, d := range down {
		sender.down[d] = true
	}
	s.serve(t, dev, map[string]domain.Sender{contract.ChannelEmail: sender, contract.ChannelSMS: sender, contract.ChannelPush: sender})
	return sender
}

// serve runs the notifier's declaration through service.Run on the stack,
// as Run does but with the given providers and tiny backoffs, until the
// test ends.
func (s *stack) serve(t *testing.T, dev bool, providers map[string]domain.Sender) {
	t.Helper()
	env := "prod"
	if dev {
		env = "dev"
	}
	common := config.Common{Env: env, MongoURI: s.mongoURI, MongoDB: "doss", StreamReplicas: 1, Bus: config.Bus{URL: s.natsURL}}
	decl := declaration(wiring{box: s.box, providers: providers, maxDeliver: 3, backoff: []time.Duration{10 * time.Millisecond}})
	running(t, s.logs, func(ctx context.Context) error {
		return service.Run(ctx, func(string) string { return "" }, s.logs, common, decl)
	})
}

// running starts run and returns once its log says the notifier is ready
// (its streams, endpoints and consumers are up); the returned stop ends it
// and fails the test unless it stops cleanly. The test's end stops it too.
func running(t *testing.T, logs *testkit.Logs, run func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("notifier: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("the notifier did not stop")
			}
		})
	}
	t.Cleanup(stop)
	wait, cancelWait := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancelWait()
	ready := make(chan error, 1)
	go func() { _, err := logs.Await(wait, contract.ServiceNotifier+" ready"); ready <- err }()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("the notifier never said it was ready: %v\n%s", err, logs.String())
		}
	case err := <-done:
		done <- nil // said here; stop need not say it again
		t.Fatalf("the notifier stopped at start: %v", err)
	}
	return stop
}

func (s *stack) otpEvent(t *testing.T, channel, to, purpose, code string) contract.Event {
	t.Helper()
	now := time.Now().UTC()
	ev, err := events.New(t.Context(), contract.EventOTPRequested, contract.OTPRequested{
		Channel: channel, To: to, Purpose: purpose,
		SealedCode: s.box.Seal([]byte(code), []byte(purpose+":"+to)),
		ExpiresAt:  now.Add(10 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	ev.Time = now
	return ev
}

func (s *stack) notificationEvent(t *testing.T, to, template string, data map[string]string) contract.Event {
	t.Helper()
	ev, err := events.New(t.Context(), contract.EventNotificationWanted, contract.NotificationWanted{
		Channel: contract.ChannelEmail, To: to, Template: template, Data: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func (s *stack) publish(t *testing.T, ev contract.Event) {
	t.Helper()
	if err := events.NewPublisher(s.js).Publish(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
}

// publishCopy stores ev again under a new message id, as a relay that lost
// track of what it published would: the stream deduplication cannot help.
func (s *stack) publishCopy(t *testing.T, ev contract.Event) {
	t.Helper()
	body, _ := json.Marshal(ev)
	if _, err := s.js.Publish(t.Context(), contract.EventSubject(ev.Type), body); err != nil {
		t.Fatal(err)
	}
}

func (s *stack) outbox(t *testing.T, to string) []contract.OutboxMessage {
	t.Helper()
	msgs, err := adapters.NewOutbox(s.db).List(t.Context(), to)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// eventually polls cond until it holds or 15s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// drained reports whether the notifier's consumers have acked everything
// in the stream they read.
func (s *stack) drained(t *testing.T) bool {
	t.Helper()
	for _, name := range contract.Consumers(contract.DurableNotifier) {
		cons, err := s.js.Consumer(t.Context(), contract.StreamEvents, name)
		if err != nil {
			t.Fatal(err)
		}
		ci, err := cons.Info(t.Context())
		if err != nil || ci.NumAckPending != 0 || ci.NumPending != 0 {
			return false
		}
	}
	return true
}

func TestOTPGoesToOutboxWithoutLoggingTheCode(t *testing.T) {
	s := startStack(t)
	s.start(t, true)
	const code = "482913"
	s.publish(t, s.otpEvent(t, contract.ChannelEmail, "ann@example.com", contract.PurposeRegisterEmail, code))

	var msgs []contract.OutboxMessage
	eventually(t, "outbox message", func() bool { msgs = s.outbox(t, "ann@example.com"); return len(msgs) == 1 })
	m := msgs[0]
	if m.Code != code || !strings.Contains(m.Body, code) || !strings.Contains(m.Body, "10 minutes") || m.Channel != contract.ChannelEmail {
		t.Errorf("outbox message = %+v", m)
	}
	wait, stop := context.WithTimeout(t.Context(), 10*time.Second)
	defer stop()
	if _, err := s.logs.Await(wait, "dev sender"); err != nil {
		t.Fatalf("no dev sender log line: %v", err)
	}
	if strings.Contains(s.logs.String(), code) {
		t.Errorf("log holds the code:\n%s", s.logs.String())
	}
}

func TestDuplicateAndRedeliveredEventSendsOnce(t *testing.T) {
	s := startStack(t)
	sender := s.start(t, true)
	ev := s.otpEvent(t, contract.ChannelSMS, "+15550001", contract.PurposeLogin2FA, "111222")
	s.publish(t, ev)
	s.publish(t, ev) // same Nats-Msg-Id: the stream keeps one
	eventually(t, "first send", func() bool { return len(s.outbox(t, "+15550001")) == 1 })
	s.publishCopy(t, ev) // a second copy of the same event id reaches the consumer
	s.publishCopy(t, ev)
	eventually(t, "consumer drained", func() bool { return s.drained(t) })
	if n := sender.count("+15550001"); n != 1 {
		t.Errorf("sends = %d, want 1", n)
	}
	if got := len(s.outbox(t, "+15550001")); got != 1 {
		t.Errorf("outbox messages = %d, want 1", got)
	}
}

// A delivery that died between claim and mark left its claim "sending":
// the provider may or may not have the message, so it is not sent again and
// the event is acked, not dead-lettered.
func TestClaimLeftSendingIsNotResent(t *testing.T) {
	s := startStack(t)
	sender := s.start(t, true)
	ev := s.otpEvent(t, contract.ChannelEmail, "bob@example.com", contract.PurposeProfile2FA, "333444")
	if _, err := s.db.Collection(adapters.DeliveriesCollection).InsertOne(t.Context(),
		bson.D{{Key: "_id", Value: ev.ID}, {Key: "state", Value: domain.StateSending}}); err != nil {
		t.Fatal(err)
	}
	s.publish(t, ev)
	eventually(t, "consumer drained", func() bool { return s.drained(t) })
	if n := sender.count("bob@example.com"); n != 0 {
		t.Errorf("sends = %d, want 0", n)
	}
	dl, err := s.js.Stream(t.Context(), contract.StreamDeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := dl.Info(t.Context()); err != nil || info.State.Msgs != 0 {
		t.Errorf("dead letters = %+v, %v; want none", info.State, err)
	}
}

func TestFailingProviderIsRetriedThenDeadLettered(t *testing.T) {
	s := startStack(t)
	sender := s.start(t, true, "down@example.com")
	bad := s.notificationEvent(t, "down@example.com", "email_changed", map[string]string{"New": "down@example.com"})
	good := s.notificationEvent(t, "ok@example.com", "document_reviewed", map[string]string{"Document": "Passport", "Status": "approved"})
	s.publish(t, bad)
	s.publish(t, good)

	eventually(t, "good message delivered", func() bool { return len(s.outbox(t, "ok@example.com")) == 1 })
	if body := s.outbox(t, "ok@example.com")[0].Body; !strings.Contains(body, `"Passport" was reviewed: approved`) {
		t.Errorf("body = %q", body)
	}
	dl, err := s.js.Stream(t.Context(), contract.StreamDeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "dead letter", func() bool {
		info, err := dl.Info(t.Context())
		return err == nil && info.State.Msgs == 1
	})
	raw, err := dl.GetLastMsgForSubject(t.Context(), contract.DeadLetterPrefix+contract.DurableNotifier+".>")
	if err != nil {
		t.Fatal(err)
	}
	if want := contract.DeadLetterPrefix + contract.DurableNotifier + "." + contract.EventSubject(contract.EventNotificationWanted); raw.Subject != want {
		t.Errorf("dead letter subject = %q, want %q", raw.Subject, want)
	}
	var got contract.Event
	if err := json.Unmarshal(raw.Data, &got); err != nil || got.ID != bad.ID {
		t.Errorf("dead letter = %s (%v), want event %s", raw.Data, err, bad.ID)
	}
	if n := sender.count("down@example.com"); n != 3 {
		t.Errorf("attempts = %d, want MaxDeliver = 3", n)
	}
}

func TestOutboxEndpoint(t *testing.T) {
	t.Run("dev lists newest first", func(t *testing.T) {
		s := startStack(t)
		s.start(t, true)
		s.publish(t, s.otpEvent(t, contract.ChannelEmail, "cat@example.com", contract.PurposeRegisterEmail, "100001"))
		eventually(t, "first", func() bool { return len(s.outbox(t, "cat@example.com")) == 1 })
		s.publish(t, s.otpEvent(t, contract.ChannelEmail, "cat@example.com", contract.PurposeLogin2FA, "100002"))
		s.publish(t, s.otpEvent(t, contract.ChannelEmail, "other@example.com", contract.PurposeLogin2FA, "100003"))
		var msgs []contract.OutboxMessage
		eventually(t, "second via NATS", func() bool {
			var err error
			msgs, err = natsx.Call[contract.OutboxRequest, []contract.OutboxMessage](t.Context(), s.nc, contract.NotifierOutbox, contract.OutboxRequest{To: "cat@example.com"})
			return err == nil && len(msgs) == 2
		})
		if msgs[0].Code != "100002" || msgs[1].Code != "100001" {
			t.Errorf("codes = %q, %q; want newest first", msgs[0].Code, msgs[1].Code)
		}
	})
	t.Run("prod answers not found", func(t *testing.T) {
		s := startStack(t)
		s.start(t, false)
		_, err := natsx.Call[contract.OutboxRequest, []contract.OutboxMessage](t.Context(), s.nc, contract.NotifierOutbox, contract.OutboxRequest{})
		if contract.ErrorCode(err) != contract.NotFound {
			t.Errorf("err = %v, want not_found", err)
		}
	})
}

// TestRun starts the whole service from its environment and stops it.
func TestRun(t *testing.T) {
	s := startStack(t)
	env := map[string]string{"DOSS_ENV": "dev", "DOSS_NATS_URL": s.natsURL, "DOSS_MONGO_URI": s.mongoURI, "DOSS_MONGO_DB": "doss"}
	var out testkit.Logs
	stop := running(t, &out, func(ctx context.Context) error { return Run(ctx, func(k string) string { return env[k] }, &out) })

	s.publish(t, s.otpEvent(t, contract.ChannelSMS, "+15550009", contract.PurposeRegisterPhone, "909090"))
	eventually(t, "code in outbox over NATS", func() bool {
		msgs, err := natsx.Call[contract.OutboxRequest, []contract.OutboxMessage](t.Context(), s.nc, contract.NotifierOutbox, contract.OutboxRequest{To: "+15550009"})
		return err == nil && len(msgs) == 1 && msgs[0].Code == "909090"
	})
	stop()
	if strings.Contains(out.String(), "909090") {
		t.Errorf("log holds the code:\n%s", out.String())
	}
}

// The notifier may be scheduled before its bus: Run waits for NATS instead
// of exiting, and serves once it is up.
func TestRunWaitsForTheBus(t *testing.T) {
	s := startStack(t)
	s.bus.Shutdown()
	env := map[string]string{"DOSS_ENV": "dev", "DOSS_NATS_URL": s.natsURL, "DOSS_MONGO_URI": s.mongoURI, "DOSS_MONGO_DB": "doss"}
	var out testkit.Logs
	restarted := make(chan error, 1)
	go func() {
		wait, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := out.Await(wait, "nats does not answer yet"); err != nil {
			restarted <- fmt.Errorf("Run never said it waits for NATS: %w", err)
			return
		}
		restarted <- s.bus.Restart()
	}()
	running(t, &out, func(ctx context.Context) error { return Run(ctx, func(k string) string { return env[k] }, &out) })
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	eventually(t, "the outbox answers over NATS", func() bool {
		_, err := natsx.Call[contract.OutboxRequest, []contract.OutboxMessage](t.Context(), s.nc, contract.NotifierOutbox, contract.OutboxRequest{})
		return err == nil
	})
}

func TestRunRejectsBadConfig(t *testing.T) {
	notJSON := filepath.Join(t.TempDir(), "fcm.json")
	if err := os.WriteFile(notJSON, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no notify key in prod", map[string]string{"DOSS_ENV": "prod"}, "DOSS_NOTIFY_KEY"},
		// A static FCM bearer dies within the hour: the old settings are refused, not ignored.
		{"the static FCM token", map[string]string{"DOSS_ENV": "dev", "DOSS_FCM_TOKEN": "ya29.x"}, "DOSS_FCM_TOKEN"},
		{"the old FCM URL", map[string]string{"DOSS_ENV": "dev", "DOSS_FCM_URL": "https://fcm.googleapis.com/v1/projects/p/messages:send"}, "DOSS_FCM_URL"},
		{"a missing key file", map[string]string{"DOSS_ENV": "dev", "DOSS_FCM_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none.json")}, "DOSS_FCM_CREDENTIALS_FILE"},
		{"a key file that is not a key", map[string]string{"DOSS_ENV": "dev", "DOSS_FCM_CREDENTIALS_FILE": notJSON}, "DOSS_FCM_CREDENTIALS_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["DOSS_NATS_URL"] = "nats://127.0.0.1:1" // never reached: config fails first
			err := Run(t.Context(), func(k string) string { return tt.env[k] }, &testkit.Logs{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %s", err, tt.want)
			}
		})
	}
}

// An account's purge leaves no trace of the person in the notifier: the
// outbox messages and what the delivery records say (recipient, template,
// text) go, another account's stay, and a redelivered event is still sent
// once (the delivery's id and state are kept for exactly that).
func TestEraseAccountForgetsTheDeliveries(t *testing.T) {
	s := startStack(t)
	sender := s.start(t, true)
	const victim, other = "gone@example.com", "stays@example.com"
	gone := s.otpEvent(t, contract.ChannelEmail, victim, contract.PurposeForgotPINEmail, "514233")
	s.publish(t, gone)
	s.publish(t, s.otpEvent(t, contract.ChannelEmail, other, contract.PurposeForgotPINEmail, "771204"))
	// The address's next owner registers before the notifier's part runs
	// (auth frees the address with its own): that record is not the
	// erased account's to strip.
	next := s.otpEvent(t, contract.ChannelEmail, victim, contract.PurposeRegisterEmail, "902211")
	var d contract.OTPRequested
	if err := next.Decode(&d); err != nil {
		t.Fatal(err)
	}
	d.UserUUID = "u-next"
	next.Data, _ = json.Marshal(d)
	s.publish(t, next)
	eventually(t, "all sent", func() bool { return len(s.outbox(t, victim)) == 2 && len(s.outbox(t, other)) == 1 })

	erase := eraseAccount(adapters.NewOutbox(s.db), adapters.NewDeliveries(s.db))
	due := contract.AccountDeletionDue{UserID: 41, UUID: "u-gone", Email: victim, Phone: "+15550009"}
	for range 2 { // idempotent: a redelivered erase event does it again
		if err := erase(t.Context(), due); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.outbox(t, victim); len(got) != 0 {
		t.Errorf("outbox still holds %d messages to the erased address", len(got))
	}
	if n, err := s.db.Collection(adapters.DeliveriesCollection).CountDocuments(t.Context(), bson.D{{Key: "_id", Value: next.ID}, {Key: "user_uuid", Value: "u-next"}, {Key: "to", Value: victim}}); err != nil || n != 1 {
		t.Errorf("the next owner's delivery record was stripped (%d, %v)", n, err)
	}
	if got := s.outbox(t, other); len(got) != 1 {
		t.Errorf("another account's outbox = %d messages, want 1", len(got))
	}
	raw, err := s.db.Collection(adapters.DeliveriesCollection).Find(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.M
	if err := raw.All(t.Context(), &docs); err != nil {
		t.Fatal(err)
	}
	var kept, others int
	for _, d := range docs {
		dump := fmt.Sprint(d)
		switch {
		case d["_id"] == gone.ID:
			kept++
			for _, f := range []string{"to", "user_id", "user_uuid", "template", "subject", "body"} {
				if _, ok := d[f]; ok {
					t.Errorf("erased delivery still has %q: %s", f, dump)
				}
			}
		case strings.Contains(dump, other):
			others++
		}
		if strings.Contains(dump, victim) && d["_id"] != next.ID {
			t.Errorf("a delivery still names the erased address: %s", dump)
		}
	}
	if kept != 1 || others != 1 {
		t.Fatalf("deliveries: erased kept %d (want 1), other %d (want 1)", kept, others)
	}
	s.publishCopy(t, gone)
	eventually(t, "consumer drained", func() bool { return s.drained(t) })
	if n := sender.count(victim); n != 2 {
		t.Errorf("sends to the erased address = %d, want 2, its owner's and the next owner's (a redelivery after the purge must not resend)", n)
	}
}
