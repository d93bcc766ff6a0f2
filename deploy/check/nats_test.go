package check

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"sigs.k8s.io/yaml"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded"
)

// TestNATSConfig: deploy/nats/nats.conf is what the nats image reads in
// compose; a server really starts from it (ports and store moved into the
// test) with JetStream on.
func TestNATSConfig(t *testing.T) {
	creds := natsNodeEnv(t, "nats-2")
	opts, err := readNATSConf(t, "s3cret")
	if err != nil {
		t.Fatalf("nats.conf: %v", err)
	}
	checkBusUsers(t, "nats.conf", creds, opts)
	if opts.ServerName != "nats-2" || opts.Cluster.Name == "" || opts.Cluster.Port != 6222 || len(opts.Routes) != len(natsNodes) {
		t.Errorf("nats.conf: server %q, cluster %q on %d with %d routes; want each node named, one cluster on 6222 routed to all %d",
			opts.ServerName, opts.Cluster.Name, opts.Cluster.Port, len(opts.Routes), len(natsNodes))
	}
	// A route is a server's whole view of the bus: it must authenticate.
	if opts.Cluster.Username == "" || opts.Cluster.Password != "s3cret" {
		t.Errorf("nats.conf: routes authenticate as %q with %q; want the route password from %s", opts.Cluster.Username, opts.Cluster.Password, routePasswordVar)
	}
	for _, r := range opts.Routes {
		if pw, _ := r.User.Password(); r.User == nil || r.User.Username() != opts.Cluster.Username || pw != opts.Cluster.Password {
			t.Errorf("nats.conf: route %s does not carry the route credentials", r.Redacted())
		}
	}
	// The server below runs alone: its peers are not in this test.
	opts.Cluster, opts.Routes = server.ClusterOpts{}, nil
	if !opts.JetStream || opts.StoreDir != "/data" || opts.Port != 4222 || opts.HTTPPort != 8222 {
		t.Fatalf("nats.conf: jetstream=%v store=%q port=%d http=%d; compose expects JetStream in /data (the volume), 4222 and 8222",
			opts.JetStream, opts.StoreDir, opts.Port, opts.HTTPPort)
	}
	opts.Port, opts.HTTPPort, opts.StoreDir = -1, -1, t.TempDir()
	opts.NoSigs = true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("a server from nats.conf did not start")
	}
	if !s.JetStreamEnabled() {
		t.Fatal("JetStream is off")
	}
}

// TestRoutePasswordsReadAsWritten: every route password make bus-keys
// writes is read back by NATS from nats.conf as the same string, in the
// cluster's authorization and in each route URL. A value NATS reads as a
// number ("Expected a digit") stopped all three nodes of a CI run's
// cluster; one in six base64 passwords began with a digit or a '-'.
func TestRoutePasswordsReadAsWritten(t *testing.T) {
	creds := natsNodeEnv(t, "nats-1")
	for range 300 {
		var pw string
		for _, line := range strings.Split(creds.EnvFile(), "\n") {
			if v, ok := strings.CutPrefix(line, routePasswordVar+"="); ok {
				pw = v
			}
		}
		if pw == "" {
			t.Fatalf("make bus-keys writes no %s", routePasswordVar)
		}
		opts, err := readNATSConf(t, pw)
		if err != nil {
			t.Fatalf("nats.conf with the route password %q: %v", pw, err)
		}
		if opts.Cluster.Password != pw {
			t.Fatalf("nats.conf reads the route password %q as %q", pw, opts.Cluster.Password)
		}
		for _, r := range opts.Routes {
			if got, _ := r.User.Password(); got != pw {
				t.Fatalf("a route URL carries %q as %q", pw, got)
			}
		}
	}
}

// natsNodeEnv gives node the environment compose gives it: fresh bus
// users' public nkeys and its name. It returns the credentials.
func natsNodeEnv(t *testing.T, node string) *embedded.BusCredentials {
	creds := embedded.NewBusCredentials()
	for _, u := range contract.BusUsers {
		t.Setenv(embedded.NKeyVar(u.Name), creds.PublicKey(u.Name))
	}
	t.Setenv("DOSS_NATS_NAME", node)
	return creds
}

// readNATSConf reads deploy/nats/nats.conf with route password pw, in the
// password variable and in the route URLs, as docker-compose.yml composes
// them.
func readNATSConf(t *testing.T, pw string) (*server.Options, error) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(routePasswordVar, pw)
	for i, node := range natsNodes {
		t.Setenv(fmt.Sprintf("DOSS_NATS_ROUTE_%d", i+1), "nats://route:"+pw+"@"+node+":6222")
	}
	return server.ProcessConfigFile(filepath.Join(root, "deploy", "nats", "nats.conf"))
}

// checkBusUsers: the server's users are exactly the bus users, each with
// the permissions of contract.BusUsers, no user without credentials and
// no anonymous access.
func checkBusUsers(t *testing.T, file string, creds *embedded.BusCredentials, opts *server.Options) {
	t.Helper()
	if len(opts.Users) > 0 || opts.NoAuthUser != "" || opts.Username != "" || opts.Authorization != "" {
		t.Errorf("%s: users with passwords or anonymous access; only the nkey users of contract.BusUsers may connect", file)
	}
	byKey := map[string]*server.NkeyUser{}
	for _, u := range opts.Nkeys {
		byKey[u.Nkey] = u
	}
	if len(byKey) != len(contract.BusUsers) {
		t.Errorf("%s: %d nkey users, want %d (contract.BusUsers)", file, len(byKey), len(contract.BusUsers))
	}
	for _, u := range contract.BusUsers {
		got, ok := byKey[creds.PublicKey(u.Name)]
		if !ok {
			t.Errorf("%s: no user with nkey $%s", file, embedded.NKeyVar(u.Name))
			continue
		}
		want := embedded.ServerPermissions(u)
		if got.Permissions == nil || !sameAllow(got.Permissions.Publish, want.Publish) || !sameAllow(got.Permissions.Subscribe, want.Subscribe) {
			pub, sub := u.Permissions()
			t.Errorf("%s: %s's permissions differ from contract.BusUsers; want\npublish: %q\nsubscribe: %q", file, u.Name, pub, sub)
			continue
		}
		if (got.Permissions.Response != nil) != (want.Response != nil) ||
			want.Response != nil && !reflect.DeepEqual(*got.Permissions.Response, *want.Response) {
			t.Errorf("%s: %s's allow_responses is %+v, want %+v", file, u.Name, got.Permissions.Response, want.Response)
		}
	}
}

func sameAllow(a, b *server.SubjectPermission) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := slices.Clone(a.Allow), slices.Clone(b.Allow)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y) && len(a.Deny) == 0
}

// TestHelmNATSValues: the Helm values give the cluster the same users and
// permissions as nats.conf, each nkey from the doss-bus Secret.
func TestHelmNATSValues(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "k8s", "helm", "nats-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type allow struct {
		Allow []string `json:"allow"`
	}
	type user struct {
		Nkey        string `json:"nkey"`
		Permissions struct {
			Publish        allow `json:"publish"`
			Subscribe      allow `json:"subscribe"`
			AllowResponses *struct {
				Max int `json:"max"`
			} `json:"allow_responses"`
		} `json:"permissions"`
	}
	var v struct {
		Config struct {
			Merge struct {
				Authorization struct {
					Users []user `json:"users"`
				} `json:"authorization"`
			} `json:"merge"`
		} `json:"config"`
		Container struct {
			Env map[string]any `json:"env"`
		} `json:"container"`
	}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	users := v.Config.Merge.Authorization.Users
	if len(users) != len(contract.BusUsers) {
		t.Fatalf("%d users, want %d (contract.BusUsers)", len(users), len(contract.BusUsers))
	}
	for _, u := range contract.BusUsers {
		ref := "<< $" + embedded.NKeyVar(u.Name) + " >>"
		i := slices.IndexFunc(users, func(x user) bool { return x.Nkey == ref })
		if i < 0 {
			t.Errorf("no user with nkey %s", ref)
			continue
		}
		got := users[i].Permissions
		pub, sub := u.Permissions()
		if !sameAllow(&server.SubjectPermission{Allow: got.Publish.Allow}, &server.SubjectPermission{Allow: pub}) ||
			!sameAllow(&server.SubjectPermission{Allow: got.Subscribe.Allow}, &server.SubjectPermission{Allow: sub}) {
			t.Errorf("%s's permissions differ from contract.BusUsers; want\npublish: %q\nsubscribe: %q", u.Name, pub, sub)
		}
		if (got.AllowResponses != nil) != u.Serves {
			t.Errorf("%s: allow_responses %v, serves %v", u.Name, got.AllowResponses != nil, u.Serves)
		}
		if _, ok := v.Container.Env[embedded.NKeyVar(u.Name)]; !ok {
			t.Errorf("container.env lacks %s", embedded.NKeyVar(u.Name))
		}
	}
}
