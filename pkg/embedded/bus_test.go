package embedded_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded"
)

// connectAs joins n as bus user name, with its seed and inbox prefix.
func connectAs(t *testing.T, n *embedded.NATS, name string) *nats.Conn {
	t.Helper()
	kp, err := nkeys.FromSeed([]byte(n.Credentials.Seeds[name]))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	nc, err := nats.Connect(n.HostURL, nats.Nkey(pub, kp.Sign), nats.CustomInboxPrefix(contract.InboxPrefix(name)),
		nats.PermissionErrOnSubscribe(true), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// The embedded server says in its INFO that it wants credentials, and a
// connection without them is refused; with the dev user's (in URL) or a
// bus user's nkey it is let in.
func TestEmbeddedNATSRequiresAuth(t *testing.T) {
	n, err := embedded.StartNATS(t.TempDir(), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()

	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(n.HostURL, "nats://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		AuthRequired bool `json:"auth_required"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(line), "INFO ")), &info); err != nil || !info.AuthRequired {
		t.Fatalf("INFO %q: auth_required is not true (%v)", line, err)
	}

	if nc, err := nats.Connect(n.HostURL); err == nil {
		nc.Close()
		t.Fatal("a connection without credentials was let in")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("refused with %v, want an authorization violation", err)
	}
	stranger, _ := nkeys.CreateUser()
	seed, _ := stranger.Seed()
	kp, _ := nkeys.FromSeed(seed)
	pub, _ := kp.PublicKey()
	if nc, err := nats.Connect(n.HostURL, nats.Nkey(pub, kp.Sign)); err == nil {
		nc.Close()
		t.Fatal("an nkey the server does not know was let in")
	}
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatalf("the dev user (URL): %v", err)
	}
	nc.Close()
	for _, u := range contract.BusUsers {
		connectAs(t, n, u.Name).Close()
	}
}

// The credentials are made once per data dir and read back after, so a
// restarted `make run` keeps them.
func TestEmbeddedNATSKeepsItsCredentials(t *testing.T) {
	dir := t.TempDir()
	n, err := embedded.StartNATS(dir, -1)
	if err != nil {
		t.Fatal(err)
	}
	first := *n.Credentials
	n.Shutdown()
	again, err := embedded.StartNATS(dir, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Shutdown()
	if again.Credentials.DevPassword != first.DevPassword || string(again.Credentials.AssertionSeed) != string(first.AssertionSeed) ||
		again.Credentials.Seeds[contract.ServiceAuth] != first.Seeds[contract.ServiceAuth] {
		t.Fatal("the credentials changed across a restart")
	}
	if err := again.Restart(); err != nil {
		t.Fatal(err)
	}
	connectAs(t, again, contract.ServiceAuth).Close()
}

// mayHear tells whether the server lets nc subscribe to subject: it
// refuses after the fact, so the answer comes with the next round trip.
func mayHear(t *testing.T, nc *nats.Conn, subject string) (bool, error) {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		return false, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	_, err = sub.NextMsg(10 * time.Millisecond)
	return !errors.Is(err, nats.ErrPermissionViolation), err
}

// allowed is what a bus user's rights say about calling subject.
func allowed(u contract.BusUser, subject string) bool {
	for _, c := range u.Calls {
		if c == subject || strings.HasSuffix(c, ".>") && strings.HasPrefix(subject, strings.TrimSuffix(c, ">")) {
			return true
		}
	}
	return false
}

// Every bus user reaches exactly the commands its entry allows: each
// request below has a responder (the dev user), so a refused one is the
// server's doing. In particular the notifier reaches neither auth nor
// profile, and no service but its own hears its requests.
func TestBusUsersCallOnlyWhatTheyMay(t *testing.T) {
	n, err := embedded.StartNATS(t.TempDir(), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	dev, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	subjects := []string{contract.AuthLogin, contract.AuthAccountGet, contract.AuthChangeEmail, contract.ProfileGet,
		contract.ProfileApplyDocuments, contract.DocumentsList, contract.DocumentsReview, contract.NotifierOutbox,
		contract.HealthSubject(contract.ServiceAuth)}
	for _, s := range subjects {
		sub, err := dev.Subscribe(s, func(m *nats.Msg) { _ = m.Respond([]byte("answered")) })
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, u := range contract.BusUsers {
		nc := connectAs(t, n, u.Name)
		for _, s := range subjects {
			t.Run(u.Name+" calls "+s, func(t *testing.T) {
				_, err := nc.Request(s, nil, 200*time.Millisecond)
				if want := allowed(u, s); want != (err == nil) {
					t.Fatalf("allowed=%v, but the call returned %v", want, err)
				}
			})
		}
		// Its own commands, and no one else's.
		for _, s := range contract.BusUsers {
			if !s.Serves {
				continue
			}
			if own, ok := mayHear(t, nc, s.Name+".v1.>"); own != (s.Name == u.Name) {
				t.Errorf("%s may hear %s's commands: %v (%v)", u.Name, s.Name, own, ok)
			}
		}
		// No one reads another user's replies.
		if may, err := mayHear(t, nc, "_INBOX.>"); may {
			t.Errorf("%s may read every inbox (%v)", u.Name, err)
		}
	}
	notifier, _ := contract.BusUserFor(contract.ServiceNotifier)
	pub, _ := notifier.Permissions()
	for _, p := range pub {
		if strings.HasPrefix(p, "auth.") || strings.HasPrefix(p, "profile.") || slices.Contains([]string{">", "*.>"}, p) {
			t.Fatalf("the notifier may publish %s", p)
		}
	}
}
