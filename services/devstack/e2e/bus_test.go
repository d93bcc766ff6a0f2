package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/obs"
	"github.com/dossapp/backend/services/auth/authsvc"
	"github.com/dossapp/backend/services/devstack/stack"
)

// publicCommands need no caller: the registration and login steps, the
// token keys, health, the dev outbox, and auth's account lookup, which
// only services call (their bus users are what allows it). Every other
// command of every service acts for a user or an admin; a new public
// command must be added here, and says so by failing the test below.
var publicCommands = map[string]bool{
	contract.AuthEmailSendOTP: true, contract.AuthEmailVerifyOTP: true, contract.AuthPhoneSendOTP: true,
	contract.AuthPhoneVerifyOTP: true, contract.AuthSetPIN: true, contract.AuthConfirmPIN: true,
	contract.AuthLogin: true, contract.AuthLoginVerifyOTP: true, contract.AuthKeys: true,
	contract.AuthForgotPIN: true, contract.AuthResetPIN: true,
	contract.AuthAccountGet: true, contract.NotifierOutbox: true,
	// The console's sign-in and session look-up: the password and code, or
	// the session token, are the credential; only the gateway's bus user
	// may publish them (TestOnlyTheGatewayReachesStaffCommands).
	contract.AuthStaffLogin: true, contract.AuthStaffSession: true, contract.AuthStaffLogout: true,
	// Anyone may check an identity pass: the pass is the credential.
	contract.ProfilePassVerify: true, contract.ProfilePassPhoto: true, contract.ProfilePassKeys: true,
}

// busAs joins the running system's bus as bus user name, with its real
// credentials but no signing key: what a process holding that user's
// secret, and nothing else, can do.
func (e *env) busAs(name string) *nats.Conn {
	e.t.Helper()
	nc, _, err := natsx.Dial(config.Bus{URL: e.ks.NATS.HostURL, Seed: e.ks.NATS.Credentials.Seeds[name]}, name, nil,
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	return nc
}

// endpoints lists every command the running services serve, from their
// own $SRV.INFO.
func (e *env) endpoints() []string {
	e.t.Helper()
	var out []string
	for _, service := range []string{contract.ServiceAuth, contract.ServiceProfile, contract.ServiceDocuments, contract.ServiceNotifier} {
		m, err := e.nc.Request("$SRV.INFO."+service, nil, 2*time.Second)
		if err != nil {
			e.t.Fatalf("%s: %v", service, err)
		}
		var info micro.Info
		if err := json.Unmarshal(m.Data, &info); err != nil {
			e.t.Fatal(err)
		}
		for _, ep := range info.Endpoints {
			out = append(out, ep.Subject)
		}
	}
	return out
}

// refused answers whether reply is a refusal for want of a caller.
func refused(m *nats.Msg) bool {
	code := contract.Code(m.Header.Get(micro.ErrorCodeHeader))
	return code == contract.Unauthenticated || code == contract.Forbidden
}

// The attack of issue 15: a process with valid bus credentials (the
// gateway's, which may call every command) but no signing key names a
// victim in Doss-User-Id and an admin in Doss-Admin. Every command that
// acts for a user or an admin refuses it, whichever service serves it.
func TestForgedIdentityHeadersAreRefusedEverywhere(t *testing.T) {
	e := start(t, nil)
	_, token := e.register("victim@example.com", "+18681239001", "4829")
	r := e.do(http.MethodGet, "/api/v2/profile", token, "")
	expect(t, r, 200)
	victim := strconv.Itoa(int(r.body["id"].(float64)))

	forger := e.busAs(contract.BusGateway)
	scoped := 0
	for _, subject := range e.endpoints() {
		if publicCommands[subject] || subject == contract.HealthSubject(subjectService(subject)) {
			continue
		}
		scoped++
		t.Run(subject, func(t *testing.T) {
			msg := nats.NewMsg(subject)
			// The commands that take the user in the body as well (a
			// contact change, the documents' snapshot) are told the same.
			msg.Data = []byte(`{"user_id":` + victim + `}`)
			msg.Header.Set(contract.HeaderUserID, victim)
			msg.Header.Set(contract.HeaderUserUUID, "forged")
			msg.Header.Set(contract.HeaderAdmin, "root")
			reply, err := forger.RequestMsg(msg, 5*time.Second)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if !refused(reply) {
				t.Fatalf("the forged caller was served: code %q, %s", reply.Header.Get(micro.ErrorCodeHeader), reply.Data)
			}
		})
	}
	if scoped < 20 {
		t.Fatalf("only %d user- or admin-scoped commands found", scoped)
	}
}

func subjectService(subject string) string {
	service, _, _ := strings.Cut(subject, ".")
	return service
}

func otherKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A real assertion, signed with the stack's own key, is still refused when
// it was made for another subject, has expired, or was signed by another
// key; the same one made for the subject, now, is served.
func TestAssertionsAreBoundToSubjectAndTime(t *testing.T) {
	e := start(t, nil)
	_, token := e.register("bound@example.com", "+18681239002", "4829")
	p := principal(t, token)
	key := e.ks.NATS.Credentials.AssertionKey()
	forger := e.busAs(contract.BusGateway)
	send := func(subject, assertion string) *nats.Msg {
		t.Helper()
		msg := nats.NewMsg(subject)
		msg.Data = []byte("{}")
		msg.Header.Set(contract.HeaderAssertion, assertion)
		reply, err := forger.RequestMsg(msg, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	now := time.Now()
	expired := natsx.NewAssertion("gateway", contract.ProfileGet, p, "", now.Add(-2*natsx.AssertionTTL))
	for name, a := range map[string]string{
		"for another subject": natsx.SignAssertion(key, natsx.NewAssertion("gateway", contract.DocumentsList, p, "", now)),
		"expired":             natsx.SignAssertion(key, expired),
		"signed by another":   natsx.SignAssertion(otherKey(t), natsx.NewAssertion("gateway", contract.ProfileGet, p, "", now)),
	} {
		t.Run(name, func(t *testing.T) {
			if reply := send(contract.ProfileGet, a); !refused(reply) {
				t.Fatalf("served: %s", reply.Data)
			}
		})
	}
	reply := send(contract.ProfileGet, natsx.SignAssertion(key, natsx.NewAssertion("gateway", contract.ProfileGet, p, "", now)))
	if code := reply.Header.Get(micro.ErrorCodeHeader); code != "" {
		t.Fatalf("the good assertion was refused: %s %s", code, reply.Data)
	}
}

// The notifier's credentials reach neither auth nor profile: the server
// refuses the publish, so no service ever sees the request.
func TestNotifierCannotCallAuthOrProfile(t *testing.T) {
	e := start(t, nil)
	notifier := e.busAs(contract.ServiceNotifier)
	for _, subject := range []string{contract.AuthLogin, contract.AuthAccountGet, contract.AuthChangeEmail, contract.ProfileGet, contract.DocumentsList} {
		t.Run(subject, func(t *testing.T) {
			if reply, err := notifier.Request(subject, []byte("{}"), 500*time.Millisecond); err == nil {
				t.Fatalf("answered: %s %s", reply.Header.Get(micro.ErrorCodeHeader), reply.Data)
			}
		})
	}
	// The same request from the gateway's user is answered: the refusal
	// above is the permissions', not a missing service.
	if _, err := e.busAs(contract.BusGateway).Request(contract.AuthKeys, nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// The staff commands are the gateway's alone: the other services' bus
// users cannot publish them (the server refuses), so a compromised
// profile or documents process cannot try staff passwords or sessions.
func TestOnlyTheGatewayReachesStaffCommands(t *testing.T) {
	e := start(t, nil)
	for _, user := range []string{contract.ServiceProfile, contract.ServiceDocuments, contract.ServiceNotifier} {
		nc := e.busAs(user)
		for _, subject := range []string{contract.AuthStaffLogin, contract.AuthStaffSession, contract.AuthStaffCreate, contract.AuthAdminUnlock, contract.AuthAuditList} {
			t.Run(user+" "+subject, func(t *testing.T) {
				if reply, err := nc.Request(subject, []byte("{}"), 500*time.Millisecond); err == nil {
					t.Fatalf("answered: %s %s", reply.Header.Get(micro.ErrorCodeHeader), reply.Data)
				}
			})
		}
	}
	if reply, err := e.busAs(contract.BusGateway).Request(contract.AuthStaffSession, []byte(`{"token":"x"}`), 5*time.Second); err != nil || reply.Header.Get(micro.ErrorCodeHeader) == "" {
		t.Fatalf("the gateway's user: %v", err)
	}
}

// Staff are managed only by an enabled admin, and auth checks that itself
// against its staff store, whatever the caller's assertion says: an
// assertion the gateway signed for a reviewer or a disabled admin (a
// gateway whose role check was wrong) is refused on every staff-managing
// command; one for an enabled admin is served.
func TestAuthChecksWhoManagesStaff(t *testing.T) {
	e := start(t, nil)
	e.staff("rev-staff", contract.RoleReviewer)
	e.staff("adm-staff", contract.RoleAdmin)
	gone := e.staff("gone-admin", contract.RoleAdmin)
	if err := authsvc.Admin(context.Background(), []string{"disable", gone.Name}, e.getenv, io.Discard); err != nil {
		t.Fatal(err)
	}
	key := e.ks.NATS.Credentials.AssertionKey()
	gw := e.busAs(contract.BusGateway)
	call := func(subject, admin, body string) *nats.Msg {
		t.Helper()
		msg := nats.NewMsg(subject)
		msg.Data = []byte(body)
		msg.Header.Set(contract.HeaderAssertion, natsx.SignAssertion(key,
			natsx.NewAssertion("gateway", subject, contract.Principal{Admin: admin}, "", time.Now())))
		reply, err := gw.RequestMsg(msg, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	commands := map[string]string{
		contract.AuthStaffList:   `{}`,
		contract.AuthStaffCreate: `{"name":"made-by-attack","role":"admin"}`,
		contract.AuthStaffUpdate: `{"name":"rev-staff","role":"admin"}`,
	}
	for _, admin := range []string{"rev-staff", gone.Name, "no-such-staff"} {
		for subject, body := range commands {
			t.Run(admin+" "+subject, func(t *testing.T) {
				if reply := call(subject, admin, body); contract.Code(reply.Header.Get(micro.ErrorCodeHeader)) != contract.Forbidden {
					t.Fatalf("not refused: %q %s", reply.Header.Get(micro.ErrorCodeHeader), reply.Data)
				}
			})
		}
	}
	reply := call(contract.AuthStaffList, "adm-staff", `{}`)
	if code := reply.Header.Get(micro.ErrorCodeHeader); code != "" {
		t.Fatalf("the admin was refused: %s %s", code, reply.Data)
	}
	if strings.Contains(string(reply.Data), "made-by-attack") || !strings.Contains(string(reply.Data), `"rev-staff","role":"reviewer"`) {
		t.Fatalf("a refused command changed the staff: %s", reply.Data)
	}
}

// The server does not hold a stream's subjects to its updater's rights:
// a process allowed to update the event stream could add "auth.v1.>" to
// it and read every login's phone and PIN from the stream (tried here
// before: documents' user did, and the next new-login got JetStream's
// receipt for an answer). No bus user may update the event, dead-letter
// or upload streams now, and the gateway may not write revocations.
func TestNoServiceMayReconfigureAStream(t *testing.T) {
	e := start(t, nil)
	streams := []string{contract.StreamEvents, contract.StreamDeadLetters, contract.ObjectStream(contract.BucketProfileUploads), contract.ObjectStream(contract.BucketDocumentsUploads)}
	for _, user := range []string{contract.BusGateway, contract.ServiceAuth, contract.ServiceProfile, contract.ServiceDocuments, contract.ServiceNotifier} {
		nc := e.busAs(user)
		for _, stream := range streams {
			t.Run(user+" "+stream, func(t *testing.T) {
				info, err := e.nc.Request("$JS.API.STREAM.INFO."+stream, nil, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				var si struct {
					Config map[string]any `json:"config"`
				}
				if err := json.Unmarshal(info.Data, &si); err != nil || si.Config == nil {
					t.Fatalf("stream info: %s %v", info.Data, err)
				}
				si.Config["subjects"] = append(si.Config["subjects"].([]any), "auth.v1.>")
				body, _ := json.Marshal(si.Config)
				if reply, err := nc.Request("$JS.API.STREAM.UPDATE."+stream, body, 500*time.Millisecond); err == nil {
					t.Fatalf("updated: %s", reply.Data)
				}
			})
		}
	}
	if _, err := e.busAs(contract.BusGateway).Request("$KV."+contract.BucketRevokedSessions+".forged", []byte("1"), 500*time.Millisecond); err == nil {
		t.Fatal("the gateway wrote a revocation")
	}
	// The refusals are the permissions': the stream still captures only
	// its own subjects, and a login is answered by auth.
	r := e.post("/api/v2/new-login", js(map[string]string{"phone": "+18681239999", "password": "1234"}))
	expect(t, r, 401)
}

// served counts the requests service answered or refused on subject with
// code, as the metrics see them (the services run in this process).
func served(service, subject, code string) uint64 {
	var m dto.Metric
	_ = obs.NATSRequests.WithLabelValues(service, subject, code).(prometheus.Metric).Write(&m)
	return m.GetHistogram().GetSampleCount()
}

// The server does not hold what a stream delivers to its creator's
// rights. The documents service (which holds a signing key, and may make
// consumers on EVENTS) had EVENTS push an event it emitted, with an
// assertion for a victim, to profile.v1.update-name, a command it may not
// publish: profile renamed the victim. Auth, which may reconfigure its
// revocation bucket, could have the bucket republish an entry there.
// Neither delivery is a caller's request: both are refused, and the
// victim keeps their name.
func TestAStreamCannotDeliverACommand(t *testing.T) {
	e := start(t, nil)
	_, token := e.register("delivered@example.com", "+18681239003", "4829")
	p := principal(t, token)
	key := e.ks.NATS.Credentials.AssertionKey()
	request := func(t *testing.T, nc *nats.Conn, subject string, body any) []byte {
		t.Helper()
		data, _ := json.Marshal(body)
		reply, err := nc.Request(subject, data, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(reply.Data), `"error"`) {
			t.Fatalf("%s: %s", subject, reply.Data)
		}
		return reply.Data
	}
	rename := func(subject, asserted, last string) *nats.Msg {
		msg := nats.NewMsg(subject)
		msg.Data = []byte(`{"first_name":"Mallory","last_name":"` + last + `"}`)
		msg.Header.Set(contract.HeaderAssertion, natsx.SignAssertion(key, natsx.NewAssertion("forged", asserted, p, "", time.Now())))
		return msg
	}
	// waitRefused waits until profile has dealt with the delivery that
	// arrives as subject: refused on the command, or served as it arrived
	// (the metrics are the process's, so both are counted from before it;
	// no e2e test runs in parallel).
	forbidden := func() uint64 {
		return served(contract.ServiceProfile, contract.ProfileUpdateName, string(contract.Forbidden))
	}
	waitRefused := func(t *testing.T, arrived string, send func()) {
		t.Helper()
		refusedBefore, servedBefore := forbidden(), served(contract.ServiceProfile, arrived, obs.CodeOK)
		send()
		eventually(t, "profile to handle the delivery", func() bool {
			if served(contract.ServiceProfile, arrived, obs.CodeOK) > servedBefore {
				t.Fatalf("profile served a %s delivery as %s", arrived, contract.ProfileUpdateName)
			}
			return forbidden() > refusedBefore
		})
	}
	name := func(t *testing.T) string {
		msg := nats.NewMsg(contract.ProfileGet)
		msg.Data = []byte("{}")
		msg.Header.Set(contract.HeaderAssertion, natsx.SignAssertion(key, natsx.NewAssertion("gateway", contract.ProfileGet, p, "", time.Now())))
		reply, err := e.busAs(contract.BusGateway).RequestMsg(msg, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var got contract.Profile
		_ = json.Unmarshal(reply.Data, &got)
		return got.FirstName + " " + got.LastName
	}

	t.Run("a push consumer", func(t *testing.T) {
		docs := e.busAs(contract.ServiceDocuments)
		own := contract.DurableDocumentsObjects
		emitted := contract.EventSubject(contract.ReaderEvents(own)[0])
		pushTo := func(name string) map[string]any {
			return map[string]any{"stream_name": contract.StreamEvents, "config": map[string]any{
				"name": name, "deliver_subject": contract.ProfileUpdateName, "filter_subject": emitted,
				"deliver_group": contract.ServiceProfile + contract.QueueGroupSuffix, "ack_policy": "none"}}
		}
		// A consumer under a name not its own is refused outright
		// (TestNoServiceTouchesAnothersConsumers), and a service may not
		// delete its own (TestNoServiceWidensItsOwnConsumer); but before
		// its first start, its durable is free for it to make as a push
		// consumer, with the one filter the bus allows. The operator's
		// connection makes it free here.
		body, _ := json.Marshal(pushTo("deliver"))
		if _, err := docs.Request("$JS.API.CONSUMER.CREATE."+contract.StreamEvents+".deliver."+emitted, body, 300*time.Millisecond); err == nil {
			t.Fatal("documents made a consumer under a name not its own")
		}
		if m, err := e.nc.Request("$JS.API.CONSUMER.DELETE."+contract.StreamEvents+"."+own, nil, 5*time.Second); err != nil || !strings.Contains(string(m.Data), `"success":true`) {
			t.Fatalf("deleting documents' consumer: %v", err)
		}
		request(t, docs, "$JS.API.CONSUMER.CREATE."+contract.StreamEvents+"."+own+"."+emitted, pushTo(own))
		// The assertion names the subject the delivery arrives as: the
		// stream's, which is what profile would check it against.
		waitRefused(t, emitted, func() {
			if _, err := docs.RequestMsg(rename(emitted, emitted, "Pushed"), 5*time.Second); err != nil {
				t.Fatal(err)
			}
		})
		if got := name(t); got != " " {
			t.Fatalf("the victim is now %q", got)
		}
	})
	t.Run("a republish", func(t *testing.T) {
		auth := e.busAs(contract.ServiceAuth)
		stream := "KV_" + contract.BucketRevokedSessions
		var info struct {
			Config map[string]any `json:"config"`
		}
		if err := json.Unmarshal(request(t, auth, "$JS.API.STREAM.INFO."+stream, nil), &info); err != nil {
			t.Fatal(err)
		}
		entry := "$KV." + contract.BucketRevokedSessions + ".republished"
		info.Config["republish"] = map[string]any{"src": entry, "dest": contract.ProfileUpdateName}
		request(t, auth, "$JS.API.STREAM.UPDATE."+stream, info.Config)
		waitRefused(t, contract.ProfileUpdateName, func() {
			if _, err := auth.RequestMsg(rename(entry, contract.ProfileUpdateName, "Republished"), 5*time.Second); err != nil {
				t.Fatal(err)
			}
		})
		if got := name(t); got != " " {
			t.Fatalf("the victim is now %q", got)
		}
	})
}

// Every service could use every consumer of the events stream: with the
// notifier's credentials alone (it holds no signing key) a review pulled
// and acked a deletion request from profile-deletions (profile never
// revoked the passes), pointed the consumer's filter at nothing and
// deleted it; and any service could read any event by sequence. A bus user
// now reaches its own durables only, and no event by sequence.
func TestNoServiceTouchesAnothersConsumers(t *testing.T) {
	e := start(t, nil)
	stream := contract.StreamEvents
	ask := func(nc *nats.Conn, subject string, body any) error {
		data, _ := json.Marshal(body)
		_, err := nc.Request(subject, data, 300*time.Millisecond)
		return err
	}
	// The owner reaches its own: the refusals below are the rights'.
	if err := ask(e.busAs(contract.ServiceProfile), "$JS.API.CONSUMER.INFO."+stream+"."+contract.DurableProfileDeletions, nil); err != nil {
		t.Fatalf("profile's own consumer: %v", err)
	}
	victims := map[string]string{ // user → a durable of someone else's
		contract.BusGateway:       contract.DurableProfileDeletions,
		contract.ServiceAuth:      contract.DurableProfileDeletions,
		contract.ServiceDocuments: contract.DurableProfileDeletions,
		contract.ServiceNotifier:  contract.DurableProfileDeletions,
		contract.ServiceProfile:   contract.Consumers(contract.DurableAuthDeletions)[0],
	}
	for user, durable := range victims {
		nc := e.busAs(user)
		// The same connection and ask are answered where the user has the
		// right (a stream it uses): a refusal below is not a connection
		// that hears no replies.
		u, _ := contract.BusUserFor(user)
		if err := ask(nc, "$JS.API.STREAM.INFO."+u.Streams[0], nil); err != nil {
			t.Fatalf("%s asking about its own stream %s: %v", user, u.Streams[0], err)
		}
		for what, call := range map[string]func() error{
			"describe": func() error { return ask(nc, "$JS.API.CONSUMER.INFO."+stream+"."+durable, nil) },
			"pull": func() error {
				return ask(nc, "$JS.API.CONSUMER.MSG.NEXT."+stream+"."+durable, map[string]any{"batch": 1, "no_wait": true})
			},
			"retarget": func() error {
				return ask(nc, "$JS.API.CONSUMER.CREATE."+stream+"."+durable+".events.nothing", map[string]any{"stream_name": stream,
					"config": map[string]any{"durable_name": durable, "filter_subject": "events.nothing", "ack_policy": "explicit"}})
			},
			"delete":          func() error { return ask(nc, "$JS.API.CONSUMER.DELETE."+stream+"."+durable, nil) },
			"read an event":   func() error { return ask(nc, "$JS.API.DIRECT.GET."+stream, map[string]any{"seq": 1}) },
			"read by message": func() error { return ask(nc, "$JS.API.STREAM.MSG.GET."+stream, map[string]any{"seq": 1}) },
		} {
			t.Run(user+" "+what+" "+durable, func(t *testing.T) {
				if err := call(); err == nil {
					t.Fatalf("%s could %s %s", user, what, durable)
				}
			})
		}
	}
	// The consumers are as their owners made them.
	for _, durable := range []string{contract.DurableProfileDeletions, contract.Consumers(contract.DurableAuthDeletions)[0]} {
		m, err := e.nc.Request("$JS.API.CONSUMER.INFO."+stream+"."+durable, nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var info consumerInfo
		if err := json.Unmarshal(m.Data, &info); err != nil || info.Error != nil || info.Config.Filter == "events.nothing" {
			t.Fatalf("%s after the attempts: %s", durable, m.Data)
		}
	}
}

// consumerInfo is what $JS.API.CONSUMER.INFO answers, as far as the tests
// read it.
type consumerInfo struct {
	Config struct {
		Filter  string   `json:"filter_subject"`
		Filters []string `json:"filter_subjects"`
	} `json:"config"`
	Error any `json:"error"`
}

// A service could re-create its own consumer through the unfiltered create
// subject with filter_subjects ["events.>"], and so read every event: the
// notifier, say, every login's and every document review's. Each consumer
// now reads one event type, the bus lets its owner create it only through
// the subject that names that filter, and the server refuses a body whose
// filter differs from the subject's or adds filter_subjects beside it.
func TestNoServiceWidensItsOwnConsumer(t *testing.T) {
	e := start(t, nil)
	stream := contract.StreamEvents
	for _, u := range contract.BusUsers {
		if len(u.Durables) == 0 {
			continue
		}
		nc := e.busAs(u.Name)
		for _, durable := range u.Durables {
			for i, name := range contract.Consumers(durable) {
				granted := contract.EventSubject(contract.ReaderEvents(durable)[i])
				var own map[string]any
				// A user asks about its consumer and re-creates it exactly as it
				// is: the refusals below are the rights' and the server's.
				eventually(t, name+" to exist", func() bool {
					m, err := nc.Request("$JS.API.CONSUMER.INFO."+stream+"."+name, nil, 2*time.Second)
					var info struct {
						Config map[string]any `json:"config"`
						Error  any            `json:"error"`
					}
					if err != nil || json.Unmarshal(m.Data, &info) != nil || info.Error != nil {
						return false
					}
					own = info.Config
					return true
				})
				create := func(subject string, config map[string]any) error {
					data, _ := json.Marshal(map[string]any{"stream_name": stream, "config": config})
					m, err := nc.Request(subject, data, 300*time.Millisecond)
					if err != nil {
						return err
					}
					var reply struct {
						Error any `json:"error"`
					}
					if err := json.Unmarshal(m.Data, &reply); err != nil || reply.Error != nil {
						return fmt.Errorf("refused: %s", m.Data)
					}
					return nil
				}
				with := func(change map[string]any) map[string]any {
					out := maps.Clone(own)
					maps.Copy(out, change)
					return out
				}
				pinned := "$JS.API.CONSUMER.CREATE." + stream + "." + name + "." + granted
				if err := create(pinned, own); err != nil {
					t.Fatalf("%s re-creating %s as it is: %v", u.Name, name, err)
				}
				for what, call := range map[string]func() error{
					"widen through the unfiltered subject": func() error {
						return create("$JS.API.CONSUMER.CREATE."+stream+"."+name, with(map[string]any{"filter_subject": "", "filter_subjects": []string{"events.>"}}))
					},
					"widen through the durable subject": func() error {
						return create("$JS.API.CONSUMER.DURABLE.CREATE."+stream+"."+name, with(map[string]any{"filter_subject": "", "filter_subjects": []string{"events.>"}}))
					},
					"change its filter": func() error {
						other := contract.EventSubject(contract.EventOTPRequested) // every login code
						if other == granted {
							other = contract.EventSubject(contract.EventDocumentReviewed)
						}
						return create("$JS.API.CONSUMER.CREATE."+stream+"."+name+"."+other, with(map[string]any{"filter_subject": other}))
					},
					"a wider filter under the granted subject": func() error {
						return create(pinned, with(map[string]any{"filter_subject": "events.>"}))
					},
					"filter_subjects beside the granted filter": func() error {
						return create(pinned, with(map[string]any{"filter_subjects": []string{"events.>"}}))
					},
					"delete it to make it anew": func() error {
						m, err := nc.Request("$JS.API.CONSUMER.DELETE."+stream+"."+name, nil, 300*time.Millisecond)
						if err == nil && !strings.Contains(string(m.Data), `"success":true`) {
							return fmt.Errorf("refused: %s", m.Data)
						}
						return err
					},
				} {
					t.Run(u.Name+" "+name+" "+what, func(t *testing.T) {
						if err := call(); err == nil {
							t.Fatalf("%s could %s", u.Name, what)
						}
					})
				}
				m, err := e.nc.Request("$JS.API.CONSUMER.INFO."+stream+"."+name, nil, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				var info consumerInfo
				if err := json.Unmarshal(m.Data, &info); err != nil || info.Error != nil || info.Config.Filter != granted || len(info.Config.Filters) != 0 {
					t.Fatalf("%s after the attempts: %s", name, m.Data)
				}
			}
		}
	}
}

// Every user of a stream could create it when missing, and the server does
// not hold a new stream's subjects to its creator's rights: the notifier,
// started before auth's first start, could make the events stream capture
// auth.v1.> too, every login's PIN. Each stream now has one creator
// (contract.BusUser.Creates), and the others only wait for it.
func TestOnlyItsCreatorMakesAStream(t *testing.T) {
	e := start(t, nil)
	creator := map[string]string{}
	for _, u := range contract.BusUsers {
		for _, s := range u.Creates {
			if other, ok := creator[s]; ok {
				t.Fatalf("%s has two creators, %s and %s", s, other, u.Name)
			}
			if !slices.Contains(u.Streams, s) {
				t.Fatalf("%s creates %s, which it does not use", u.Name, s)
			}
			creator[s] = u.Name
		}
	}
	for _, u := range contract.BusUsers {
		if len(u.Streams) == 0 {
			continue
		}
		nc := e.busAs(u.Name)
		for _, s := range u.Streams {
			if _, ok := creator[s]; !ok {
				t.Fatalf("no one creates %s, which %s uses", s, u.Name)
			}
			// The same connection is answered about the stream: a refusal
			// below is the rights'.
			if _, err := nc.Request("$JS.API.STREAM.INFO."+s, nil, 5*time.Second); err != nil {
				t.Fatalf("%s asking about %s: %v", u.Name, s, err)
			}
			body, _ := json.Marshal(map[string]any{"name": s, "subjects": []string{"captured." + u.Name + ".>", contract.ServiceAuth + ".v1.>"}, "storage": "memory"})
			m, err := nc.Request("$JS.API.STREAM.CREATE."+s, body, 300*time.Millisecond)
			switch {
			case creator[s] == u.Name && err != nil:
				t.Errorf("%s creating %s, which it creates, went unanswered: %v", u.Name, s, err)
			case creator[s] == u.Name && !strings.Contains(string(m.Data), `"error"`):
				t.Errorf("%s re-made %s with other subjects: %s", u.Name, s, m.Data)
			case creator[s] != u.Name && err == nil:
				t.Errorf("%s could ask to create %s (%s's): %s", u.Name, s, creator[s], m.Data)
			}
		}
	}
	eventsStreamAsAuthMakesIt(t, e.nc)
}

// eventsStreamAsAuthMakesIt fails t unless the events stream captures the
// events alone.
func eventsStreamAsAuthMakesIt(t *testing.T, nc *nats.Conn) {
	t.Helper()
	m, err := nc.Request("$JS.API.STREAM.INFO."+contract.StreamEvents, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Config struct {
			Subjects []string `json:"subjects"`
		} `json:"config"`
	}
	if err := json.Unmarshal(m.Data, &info); err != nil || !slices.Equal(info.Config.Subjects, []string{contract.StreamEventsSubject}) {
		t.Fatalf("the events stream: %s", m.Data)
	}
}

// At a first start, a service that is not a stream's creator waits for
// it: the notifier started on an empty bus is refused the events stream's
// create, and becomes ready once auth has started and made it, as auth
// makes it.
func TestAFirstStartWaitsForTheStreamsCreator(t *testing.T) {
	ks := testkit.Start(t)
	vars := map[string]string{"DOSS_ENV": "dev", "DOSS_MONGO_URI": ks.Mongo.URI, "DOSS_MONGO_DB": "e2e"}
	maps.Copy(vars, ks.NATS.ServiceEnv())
	nc, err := nats.Connect(ks.NATS.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	logs := &testkit.Logs{}
	getenv := stack.Env(vars, nil)
	started := make(chan error, 1)
	var notifier *stack.Proc
	go func() {
		p, err := stack.Start(nc, contract.ServiceNotifier, getenv, logs)
		notifier = p
		started <- err
	}()
	wait, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	line, err := logs.Await(wait, `Permissions Violation for Publish to \"$JS.API.STREAM.CREATE.`+contract.StreamEvents+`\"`)
	if err != nil {
		t.Fatalf("the notifier was not refused the events stream's create (%v):\n%s", err, logs.String())
	}
	// Expected at a first start: a warning that says what it waits for.
	if !strings.Contains(strings.ToLower(line), "warn") || !strings.Contains(line, "waiting for its creator") {
		t.Errorf("the wait is logged as %s", line)
	}
	auth, err := stack.Start(nc, contract.ServiceAuth, getenv, logs)
	if err != nil {
		t.Fatalf("auth: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() { _ = auth.Stop() })
	if err := <-started; err != nil {
		t.Fatalf("the notifier after auth made the streams: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() { _ = notifier.Stop() })
	eventsStreamAsAuthMakesIt(t, nc)
}
