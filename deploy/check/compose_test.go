package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dossapp/backend/pkg/contract"
)

// gatewayPort is the one fixed host port of our services: the gateway's.
const gatewayPort = "8080"

// loadCompose loads docker-compose.yml as `docker compose` would, with an
// empty environment so the defaults in the file are what is checked.
func loadCompose(t *testing.T, env map[string]string) (*types.Project, string) {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	if env == nil {
		env = map[string]string{}
	}
	// The one variable compose refuses to start without (TestComposeNATSCluster).
	if _, ok := env[routePasswordVar]; !ok {
		env[routePasswordVar] = "route-password"
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("doss", true) })
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p, root
}

// ours is the service a compose entry builds from the repository (its
// SERVICE build argument), "" for third-party images.
func ours(s types.ServiceConfig) string {
	if s.Build == nil {
		return ""
	}
	if v := s.Build.Args["SERVICE"]; v != nil {
		return *v
	}
	return ""
}

func sortedNames(p *types.Project) []string {
	names := p.ServiceNames()
	slices.Sort(names)
	return names
}

func TestComposeFile(t *testing.T) {
	p, root := loadCompose(t, nil)
	exists := func(t *testing.T, what, path string) {
		t.Helper()
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s %s does not exist", what, path)
		}
	}
	for _, name := range sortedNames(p) {
		s := p.Services[name]
		t.Run(name, func(t *testing.T) {
			if s.Image == "" && s.Build == nil {
				t.Error("neither image nor build")
			}
			if s.Build != nil {
				exists(t, "build context", s.Build.Context)
				exists(t, "Dockerfile", filepath.Join(s.Build.Context, s.Build.Dockerfile))
			}
			for _, v := range s.Volumes {
				if v.Type == types.VolumeTypeBind {
					exists(t, "bind-mounted file", v.Source)
				}
			}
			if namesRegistryHost(s.Image) {
				t.Errorf("image %s names a registry host; use the bare name", s.Image)
			}
			oneShot := s.Restart == "no"
			if !oneShot && (s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0) {
				t.Error("no health check")
			}
			for dep, d := range s.DependsOn {
				target, ok := p.Services[dep]
				if !ok {
					t.Errorf("depends on unknown service %s", dep)
					continue
				}
				switch d.Condition {
				case types.ServiceConditionHealthy:
					if target.HealthCheck == nil {
						t.Errorf("waits for %s to be healthy, which has no health check", dep)
					}
				case types.ServiceConditionCompletedSuccessfully:
					if target.Restart != "no" {
						t.Errorf("waits for %s to complete, which restarts", dep)
					}
				default:
					t.Errorf("depends on %s with condition %q; want service_healthy or service_completed_successfully", dep, d.Condition)
				}
			}
			svc := ours(s)
			if svc == "" {
				return
			}
			// `docker compose up --scale NAME=N` must work for every service
			// but the gateway, which publishes the system's port.
			if s.ContainerName != "" {
				t.Errorf("container_name %q stops --scale", s.ContainerName)
			}
			for _, port := range s.Ports {
				if port.Published != "" && !(svc == "gateway" && port.Published == gatewayPort) {
					t.Errorf("publishes host port %s, which stops --scale", port.Published)
				}
			}
			if svc == "gateway" && !slices.ContainsFunc(s.Ports, func(p types.ServicePortConfig) bool { return p.Published == gatewayPort }) {
				t.Errorf("the gateway does not publish %s", gatewayPort)
			}
			dir := filepath.Join(root, "services", svc)
			if _, err := os.Stat(dir); err != nil {
				t.Skipf("services/%s is not in this tree yet; its environment is checked once it is", svc)
			}
			reads, err := ServiceReads(root, dir)
			if err != nil {
				t.Fatal(err)
			}
			checkEnv(t.Errorf, reads, s.Environment)
		})
	}
}

// checkEnv: every setting given is one the service reads (no typos, no
// dead settings); every setting it requires is given; every address whose
// default is this machine is given (inside a container it is wrong); keys
// with a dev-mode fallback are listed, empty only in dev mode.
func checkEnv(errorf func(string, ...any), reads map[string]Read, env map[string]*string) {
	val := func(k string) (string, bool) {
		v, ok := env[k]
		if !ok || v == nil {
			return "", false
		}
		return *v, true
	}
	for k := range env {
		if _, ok := reads[k]; !ok && settingKey.MatchString(k) {
			errorf("sets %s, which the service never reads", k)
		}
	}
	dev := false
	if v, _ := val("DOSS_ENV"); v == "dev" {
		dev = true
	}
	for k, r := range reads {
		v, given := val(k)
		switch {
		case r.Required() && !r.ProdOnly && v == "":
			errorf("%s is required (%s) and not set", k, r.Pos)
		case r.ProdOnly && !given:
			errorf("%s (%s) is required outside dev mode; list it (empty in dev)", k, r.Pos)
		case r.ProdOnly && v == "" && !dev:
			errorf("%s (%s) is empty and DOSS_ENV is not dev", k, r.Pos)
		case (strings.Contains(r.Default, "127.0.0.1") || strings.Contains(r.Default, "localhost")) && v == "":
			errorf("%s defaults to %s, which inside a container is the container itself; set it", k, r.Default)
		}
	}
}

// TestComposeProdNeedsSecrets: with DOSS_ENV=prod and nothing else, the
// check refuses the file, naming the secrets a .env must provide; the dev
// fallback is not silently taken in prod.
func TestComposeProdNeedsSecrets(t *testing.T) {
	p, root := loadCompose(t, map[string]string{"DOSS_ENV": "prod"})
	auth := p.Services["auth"]
	reads, err := ServiceReads(root, filepath.Join(root, "services", "auth"))
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	checkEnv(func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }, reads, auth.Environment)
	got := strings.Join(problems, "\n")
	for _, key := range []string{"DOSS_OTP_SECRET", "DOSS_PIN_PEPPER", "DOSS_NOTIFY_KEY", "DOSS_JWT_SIGNING_KEY"} {
		if !strings.Contains(got, key) {
			t.Errorf("prod without %s passed the check; got:\n%s", key, got)
		}
	}
}

func TestEveryServiceHasAnImage(t *testing.T) {
	p, root := loadCompose(t, nil)
	built := map[string]bool{}
	for _, s := range p.Services {
		built[ours(s)] = true
	}
	mains, err := filepath.Glob(filepath.Join(root, "services", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mains {
		svc := filepath.Base(filepath.Dir(m))
		if svc == "devstack" {
			continue // make run and the tests, not a deployable service
		}
		if !built[svc] {
			t.Errorf("services/%s has no entry in docker-compose.yml", svc)
		}
	}
}

// TestComposeBusCredentials: each service joins the bus as its own user
// (its own seed variable), only the services that call others on a
// user's behalf hold the signing key, every one may verify, and NATS's
// client port is not published to the host.
func TestComposeBusCredentials(t *testing.T) {
	p, _ := loadCompose(t, map[string]string{"DOSS_NATS_SEED_AUTH": "seed-of-auth", "DOSS_NATS_SEED_GATEWAY": "seed-of-gateway",
		"DOSS_NATS_SEED_PROFILE": "seed-of-profile", "DOSS_NATS_SEED_DOCUMENTS": "seed-of-documents", "DOSS_NATS_SEED_NOTIFIER": "seed-of-notifier",
		"DOSS_BUS_SIGNING_KEY": "signing", "DOSS_BUS_VERIFY_KEYS": "verify"})
	for _, u := range contract.BusUsers {
		if u.Name == contract.BusOps {
			continue // the operators' user: no service holds its seed
		}
		s, ok := p.Services[u.Name]
		if !ok {
			t.Errorf("bus user %s has no compose service", u.Name)
			continue
		}
		env := func(k string) string {
			if v := s.Environment[k]; v != nil {
				return *v
			}
			return ""
		}
		if got := env("DOSS_NATS_SEED"); got != "seed-of-"+u.Name {
			t.Errorf("%s joins the bus with %q, not its own seed", u.Name, got)
		}
		if signs := env("DOSS_BUS_SIGNING_KEY") != ""; signs != (len(u.Calls) > 0) {
			t.Errorf("%s holds the signing key: %v; only a service that calls others may", u.Name, signs)
		}
		if env("DOSS_BUS_VERIFY_KEYS") != "verify" {
			t.Errorf("%s has no verify keys", u.Name)
		}
	}
	for _, node := range natsNodes {
		for _, port := range p.Services[node].Ports {
			if port.Target != 8222 && port.Published != "" {
				t.Errorf("%s's port %d is published on the host (%s:%s); only monitoring may be", node, port.Target, port.HostIP, port.Published)
			}
			if port.Published != "" && port.HostIP != "127.0.0.1" {
				t.Errorf("%s port %d is published beyond this host", node, port.Target)
			}
		}
	}
}

const routePasswordVar = "DOSS_NATS_ROUTE_PASSWORD"

var natsNodes = []string{"nats-1", "nats-2", "nats-3"}

// TestComposeNATSCluster: three NATS nodes, each its own name and volume,
// routed to all three with the route password; every service lists all
// three nodes and keeps three copies; and compose refuses to load without
// the route password rather than start a cluster anyone could join.
func TestComposeNATSCluster(t *testing.T) {
	p, _ := loadCompose(t, map[string]string{routePasswordVar: "s3cret"})
	volumes := map[string]bool{}
	for _, node := range natsNodes {
		s, ok := p.Services[node]
		if !ok {
			t.Fatalf("no %s in docker-compose.yml", node)
		}
		env := func(k string) string {
			if v := s.Environment[k]; v != nil {
				return *v
			}
			return ""
		}
		if env("DOSS_NATS_NAME") != node {
			t.Errorf("%s calls itself %q", node, env("DOSS_NATS_NAME"))
		}
		if env(routePasswordVar) != "s3cret" {
			t.Errorf("%s: route password %q, not the .env one", node, env(routePasswordVar))
		}
		for i, peer := range natsNodes {
			if got, want := env(fmt.Sprintf("DOSS_NATS_ROUTE_%d", i+1)), "nats://route:s3cret@"+peer+":6222"; got != want {
				t.Errorf("%s: route %d is %q, want %q", node, i+1, got, want)
			}
		}
		for _, v := range s.Volumes {
			if v.Target == "/data" {
				if volumes[v.Source] {
					t.Errorf("%s shares its store volume %s", node, v.Source)
				}
				volumes[v.Source] = true
			}
		}
	}
	if len(volumes) != len(natsNodes) {
		t.Errorf("%d store volumes for %d nodes", len(volumes), len(natsNodes))
	}
	for _, name := range sortedNames(p) {
		s := p.Services[name]
		if ours(s) == "" {
			continue
		}
		url := s.Environment["DOSS_NATS_URL"]
		for _, node := range natsNodes {
			if url == nil || !strings.Contains(*url, "nats://"+node+":4222") {
				t.Errorf("%s does not list %s in DOSS_NATS_URL", name, node)
			}
		}
		if r := s.Environment["DOSS_NATS_REPLICAS"]; r == nil || *r != "3" {
			t.Errorf("%s keeps DOSS_NATS_REPLICAS=%v copies, want 3", name, r)
		}
	}

	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	_, err = loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: map[string]string{},
	}, func(o *loader.Options) { o.SetProjectName("doss", true) })
	if err == nil || !strings.Contains(err.Error(), routePasswordVar) {
		t.Errorf("docker-compose.yml loads without %s (err %v); a cluster must not start with open routes", routePasswordVar, err)
	}
}
