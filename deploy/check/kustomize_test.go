package check

import (
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// TestKustomizeOverlay renders the example overlay as `kubectl apply -k`
// would and checks what would be applied: everything in the namespace,
// images retagged, the generated ConfigMap merged and referenced by its
// hashed name, every Deployment still passing the Deployment checks.
func TestKustomizeOverlay(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rendered, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, "deploy", "k8s", "overlays", "example"))
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	kinds := map[string]int{}
	configMap := ""
	var config struct {
		Data map[string]string `json:"data"`
	}
	var deployments []deployment
	for _, r := range rendered.Resources() {
		kinds[r.GetKind()]++
		if r.GetKind() != "Namespace" && r.GetNamespace() != "doss" {
			t.Errorf("%s %s is in namespace %q, not doss", r.GetKind(), r.GetName(), r.GetNamespace())
		}
		raw, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		switch r.GetKind() {
		case "ConfigMap":
			configMap = r.GetName()
			if err := yaml.Unmarshal(raw, &config); err != nil {
				t.Fatal(err)
			}
		case "Deployment":
			var d deployment
			if err := yaml.Unmarshal(raw, &d); err != nil {
				t.Fatal(err)
			}
			checkDeployment(t, "overlays/example", d)
			deployments = append(deployments, d)
		}
	}
	for kind, want := range map[string]int{"Deployment": 5, "HorizontalPodAutoscaler": 5, "PodDisruptionBudget": 5, "Service": 1, "Ingress": 1, "ConfigMap": 1, "Namespace": 1} {
		if kinds[kind] != want {
			t.Errorf("%d %s rendered, want %d", kinds[kind], kind, want)
		}
	}
	if !strings.HasPrefix(configMap, "doss-config-") {
		t.Errorf("ConfigMap %q: want the generated doss-config-<hash>, so a change rolls the pods", configMap)
	}
	if config.Data["DOSS_ENV"] != "prod" || config.Data["DOSS_S3_REGION"] != "eu-central-1" || config.Data["DOSS_NATS_REPLICAS"] != "3" {
		t.Errorf("ConfigMap data %v: want base (prod, 3 stream replicas) merged with the overlay (region)", config.Data)
	}
	for _, d := range deployments {
		c := d.Spec.Template.Spec.Containers[0]
		if !strings.HasSuffix(c.Image, ":1.0.0") {
			t.Errorf("%s runs %s; the overlay tags 1.0.0", d.Metadata.Name, c.Image)
		}
		refs := 0
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == configMap {
				refs++
			}
		}
		if refs != 1 {
			t.Errorf("%s does not take its settings from %s", d.Metadata.Name, configMap)
		}
	}
}
