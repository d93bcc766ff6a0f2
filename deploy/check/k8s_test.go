package check

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The parts of the Kubernetes objects the checks look at.
type (
	object struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	deployment struct {
		object
		Spec struct {
			Template struct {
				Metadata struct {
					Labels map[string]string `json:"labels"`
				} `json:"metadata"`
				Spec struct {
					SecurityContext *securityContext `json:"securityContext"`
					Containers      []container      `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	container struct {
		Name  string `json:"name"`
		Image string `json:"image"`
		Ports []struct {
			Name string `json:"name"`
		} `json:"ports"`
		Env []struct {
			Name string `json:"name"`
		} `json:"env"`
		EnvFrom []struct {
			ConfigMapRef *struct {
				Name string `json:"name"`
			} `json:"configMapRef"`
		} `json:"envFrom"`
		Resources struct {
			Requests map[string]string `json:"requests"`
			Limits   map[string]string `json:"limits"`
		} `json:"resources"`
		LivenessProbe   *probe           `json:"livenessProbe"`
		ReadinessProbe  *probe           `json:"readinessProbe"`
		SecurityContext *securityContext `json:"securityContext"`
	}
	probe struct {
		HTTPGet *struct {
			Path string `json:"path"`
			Port any    `json:"port"`
		} `json:"httpGet"`
	}
	securityContext struct {
		RunAsNonRoot             *bool `json:"runAsNonRoot"`
		ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
	}
	scaler struct {
		object
		Spec struct {
			ScaleTargetRef struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"scaleTargetRef"`
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
		} `json:"spec"`
	}
	kustomization struct {
		Resources          []string                `json:"resources"`
		Patches            []struct{ Path string } `json:"patches"`
		ConfigMapGenerator []struct {
			Envs  []string `json:"envs"`
			Files []string `json:"files"`
		} `json:"configMapGenerator"`
	}
)

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// manifests parses every YAML file under deploy/k8s into its documents.
func manifests(t *testing.T, root string) map[string][][]byte {
	t.Helper()
	docs := map[string][][]byte{}
	err := filepath.WalkDir(filepath.Join(root, "deploy", "k8s"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, doc := range docSeparator.Split(string(raw), -1) {
			var v map[string]any
			if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if v == nil {
				continue
			}
			docs[path] = append(docs[path], []byte(doc))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func TestKubernetesManifests(t *testing.T) {
	p, root := loadCompose(t, nil)
	docs := manifests(t, root)
	base := filepath.Join(root, "deploy", "k8s", "base")

	deployments := map[string]deployment{}
	scaled, budgeted := map[string]bool{}, map[string]bool{}
	for path, ds := range docs {
		helmValues := strings.Contains(path, string(filepath.Separator)+"helm"+string(filepath.Separator))
		for _, doc := range ds {
			var o object
			_ = yaml.Unmarshal(doc, &o)
			if !helmValues && (o.APIVersion == "" || o.Kind == "") {
				t.Errorf("%s: a document without apiVersion and kind", path)
			}
			switch o.Kind {
			case "Kustomization":
				checkKustomization(t, path, doc)
			case "Deployment":
				var d deployment
				if err := yaml.Unmarshal(doc, &d); err != nil {
					t.Errorf("%s: %v", path, err)
					continue
				}
				checkDeployment(t, path, d)
				if filepath.Dir(path) == base {
					deployments[d.Metadata.Name] = d
				}
			case "HorizontalPodAutoscaler", "PodDisruptionBudget":
				var s scaler
				_ = yaml.Unmarshal(doc, &s)
				if o.Kind == "HorizontalPodAutoscaler" && s.Spec.ScaleTargetRef.Kind == "Deployment" {
					scaled[s.Spec.ScaleTargetRef.Name] = true
				}
				if o.Kind == "PodDisruptionBudget" {
					budgeted[s.Spec.Selector.MatchLabels["app.kubernetes.io/name"]] = true
				}
			}
		}
	}

	configKeys := envFile(t, filepath.Join(base, "config.env"))
	readBySome := map[string]bool{}
	for _, name := range sortedNames(p) {
		svc := ours(p.Services[name])
		if svc == "" {
			continue
		}
		d, ok := deployments[svc]
		if !ok {
			t.Errorf("%s has no Deployment in deploy/k8s/base", svc)
			continue
		}
		if !scaled[svc] || !budgeted[svc] {
			t.Errorf("%s: autoscaler %v, disruption budget %v; want both", svc, scaled[svc], budgeted[svc])
		}
		c := d.Spec.Template.Spec.Containers[0]
		if c.Image != "doss/"+svc+":dev" {
			t.Errorf("%s runs image %s; the overlays retag doss/%s", svc, c.Image, svc)
		}
		dir := filepath.Join(root, "services", svc)
		if _, err := os.Stat(dir); err != nil {
			t.Logf("services/%s is not in this tree yet; its Kubernetes settings are checked once it is", svc)
			continue
		}
		reads, err := ServiceReads(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		given := map[string]bool{}
		for k := range configKeys {
			given[k] = true
			if _, ok := reads[k]; ok {
				readBySome[k] = true
			}
		}
		for _, e := range c.Env {
			given[e.Name] = true
			if _, ok := reads[e.Name]; !ok && settingKey.MatchString(e.Name) {
				t.Errorf("%s: sets %s, which it never reads", svc, e.Name)
			}
		}
		for k, r := range reads {
			local := strings.Contains(r.Default, "127.0.0.1") || strings.Contains(r.Default, "localhost")
			if (r.Required() || local) && !given[k] {
				t.Errorf("%s: %s is required in production (%s) and not given", svc, k, r.Pos)
			}
		}
	}
	for k := range configKeys {
		if !readBySome[k] {
			t.Errorf("base/config.env sets %s, which no service reads", k)
		}
	}
}

func checkDeployment(t *testing.T, path string, d deployment) {
	t.Helper()
	name := d.Metadata.Name
	pod := d.Spec.Template.Spec
	if len(pod.Containers) == 0 {
		t.Errorf("%s: Deployment %s has no containers", path, name)
	}
	podNonRoot := pod.SecurityContext != nil && isTrue(pod.SecurityContext.RunAsNonRoot)
	for _, c := range pod.Containers {
		where := path + ": " + name + "/" + c.Name
		ports := map[string]bool{}
		for _, p := range c.Ports {
			ports[p.Name] = true
		}
		for kind, p := range map[string]*probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path == "" {
				t.Errorf("%s: no HTTP %s probe", where, kind)
			} else if port, named := p.HTTPGet.Port.(string); named && !ports[port] {
				t.Errorf("%s: %s probe on port %q, which the container does not declare", where, kind, port)
			}
		}
		if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
			t.Errorf("%s: wants cpu and memory requests and a memory limit, has %+v", where, c.Resources)
		}
		sc := c.SecurityContext
		if sc == nil {
			sc = &securityContext{}
		}
		if !podNonRoot && !isTrue(sc.RunAsNonRoot) {
			t.Errorf("%s: runAsNonRoot is not set", where)
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: wants readOnlyRootFilesystem and no privilege escalation", where)
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// checkKustomization: every file it names exists, and every manifest next
// to it is named (a forgotten file would silently not be deployed).
func checkKustomization(t *testing.T, path string, doc []byte) {
	t.Helper()
	var k kustomization
	if err := yaml.Unmarshal(doc, &k); err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	dir := filepath.Dir(path)
	named := map[string]bool{}
	mustExist := func(rel string) {
		named[filepath.Clean(filepath.Join(dir, rel))] = true
		fi, err := os.Stat(filepath.Join(dir, rel))
		switch {
		case err != nil:
			t.Errorf("%s names %s, which does not exist", path, rel)
		case fi.IsDir():
			if _, err := os.Stat(filepath.Join(dir, rel, "kustomization.yaml")); err != nil {
				t.Errorf("%s names directory %s, which has no kustomization.yaml", path, rel)
			}
		}
	}
	for _, r := range k.Resources {
		mustExist(r)
	}
	for _, p := range k.Patches {
		mustExist(p.Path)
	}
	for _, g := range k.ConfigMapGenerator {
		for _, f := range append(g.Envs, g.Files...) {
			mustExist(f)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		full := filepath.Join(dir, e.Name())
		if e.IsDir() || e.Name() == "kustomization.yaml" || named[full] {
			continue
		}
		t.Errorf("%s does not name %s", path, e.Name())
	}
}

// envFile reads KEY=VALUE lines, skipping comments and blanks.
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: %q is not KEY=VALUE", path, line)
		}
		vars[k] = v
	}
	return vars
}
