package check

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

// offlineSwaps is all deploy/compose/offline.yml may change of a service:
// what runs (image, build, entrypoint, command) and, for the programs
// that stand in for third-party images, their health check; of the
// environment only the Mongo URI (FerretDB has no replica set).
var (
	offlineSwapKeys = []string{"image", "build", "entrypoint", "command", "healthcheck", "environment"}
	offlineSwapEnv  = []string{"DOSS_MONGO_URI"}
)

// TestOfflineOverride: the offline file swaps only what cannot be pulled;
// loaded on top of docker-compose.yml, every other setting of every
// service (read-only root, user, tmpfs, volumes, ports, depends_on,
// restart, environment) is the real file's.
func TestOfflineOverride(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "compose", "offline.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Services map[string]map[string]any `json:"services"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	base, _ := loadCompose(t, nil)
	for name, entry := range file.Services {
		if _, ok := base.Services[name]; !ok {
			t.Errorf("offline.yml adds %s, which docker-compose.yml does not have", name)
		}
		for k, v := range entry {
			if !slices.Contains(offlineSwapKeys, k) {
				t.Errorf("offline.yml changes %s's %s; it may swap only %v", name, k, offlineSwapKeys)
			}
			if k == "environment" {
				env, _ := v.(map[string]any)
				for e := range env {
					if !slices.Contains(offlineSwapEnv, e) {
						t.Errorf("offline.yml sets %s's %s; only %v differ offline", name, e, offlineSwapEnv)
					}
				}
			}
			if k == "healthcheck" && ours(base.Services[name]) != "" {
				t.Errorf("offline.yml changes %s's health check; only the stand-ins' may change", name)
			}
		}
	}

	merged, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir: root,
		ConfigFiles: []types.ConfigFile{
			{Filename: filepath.Join(root, "docker-compose.yml")},
			{Filename: filepath.Join(root, "deploy", "compose", "offline.yml")},
		},
		Environment: map[string]string{routePasswordVar: "route-password"},
	}, func(o *loader.Options) { o.SetProjectName("doss", true) })
	if err != nil {
		t.Fatalf("docker-compose.yml + offline.yml do not load: %v", err)
	}
	for _, name := range sortedNames(base) {
		b, m := base.Services[name], merged.Services[name]
		for _, f := range []struct {
			what      string
			want, got any
		}{
			{"read_only", b.ReadOnly, m.ReadOnly},
			{"user", b.User, m.User},
			{"tmpfs", b.Tmpfs, m.Tmpfs},
			{"volumes", b.Volumes, m.Volumes},
			{"ports", b.Ports, m.Ports},
			{"depends_on", b.DependsOn, m.DependsOn},
			{"restart", b.Restart, m.Restart},
		} {
			if !reflect.DeepEqual(f.want, f.got) {
				t.Errorf("%s: offline %s is %v, docker-compose.yml's %v", name, f.what, f.got, f.want)
			}
		}
		for k, v := range b.Environment {
			if slices.Contains(offlineSwapEnv, k) {
				continue
			}
			if got := m.Environment[k]; !reflect.DeepEqual(got, v) {
				t.Errorf("%s: offline %s differs from docker-compose.yml's", name, k)
			}
		}
		if ours(b) != "" && !reflect.DeepEqual(b.HealthCheck, m.HealthCheck) {
			t.Errorf("%s: offline health check differs from docker-compose.yml's", name)
		}
	}
}
