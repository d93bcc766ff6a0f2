package check

import (
	"fmt"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kubernetesSchemas are the object types of the Kubernetes version the
// manifests target, from its own API module (k8s.io/api, pinned in go.mod:
// v0.37 is Kubernetes 1.37): the version's schema in Go, in the module
// cache, never fetched at test time. A manifest is decoded strictly into
// its type, so a field the version does not have, a misspelt one, or a
// value of the wrong shape (a quantity, a port name) fails the test.
var kubernetesSchemas = map[string]func() any{
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"networking.k8s.io/v1/Ingress":           func() any { return &networkingv1.Ingress{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
}

// TestKubernetesSchemas renders the example overlay as `kubectl apply -k`
// would and checks every object against the targeted version's schema,
// then what a schema cannot say: each selector selects the pods it is for,
// each reference names an object that is there.
func TestKubernetesSchemas(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "deploy", "k8s", "overlays", "example"))
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	deployments := map[string]*appsv1.Deployment{}
	services := map[string]*corev1.Service{}
	var objects []any
	for _, r := range rendered.Resources() {
		id := r.GetApiVersion() + "/" + r.GetKind()
		newObject, ok := kubernetesSchemas[id]
		if !ok {
			t.Errorf("%s %s: no schema for %s in this test; add its type", r.GetKind(), r.GetName(), id)
			continue
		}
		raw, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj := newObject()
		if err := yaml.UnmarshalStrict(raw, obj); err != nil {
			t.Errorf("%s %s does not fit the %s schema: %v", r.GetKind(), r.GetName(), id, err)
			continue
		}
		objects = append(objects, obj)
		switch o := obj.(type) {
		case *appsv1.Deployment:
			deployments[o.Name] = o
		case *corev1.Service:
			services[o.Name] = o
		}
	}
	for _, obj := range objects {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			t.Run("Deployment "+o.Name, func(t *testing.T) { checkDeploymentSchema(t, o) })
		case *policyv1.PodDisruptionBudget:
			if selected(deployments, o.Spec.Selector) == 0 {
				t.Errorf("PodDisruptionBudget %s selects no Deployment's pods", o.Name)
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			ref := o.Spec.ScaleTargetRef
			_, ok := deployments[ref.Name]
			if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || !ok {
				t.Errorf("HorizontalPodAutoscaler %s scales %s %s, which is not rendered", o.Name, ref.Kind, ref.Name)
				continue
			}
			if o.Spec.MinReplicas == nil || *o.Spec.MinReplicas < 2 || o.Spec.MaxReplicas < *o.Spec.MinReplicas {
				t.Errorf("HorizontalPodAutoscaler %s: min %v max %d; want at least two replicas (a rolling restart keeps one serving)", o.Name, o.Spec.MinReplicas, o.Spec.MaxReplicas)
			}
		case *corev1.Service:
			if selected(deployments, &metav1.LabelSelector{MatchLabels: o.Spec.Selector}) == 0 {
				t.Errorf("Service %s selects no Deployment's pods", o.Name)
			}
		case *networkingv1.Ingress:
			for _, rule := range o.Spec.Rules {
				if rule.HTTP == nil {
					continue
				}
				for _, p := range rule.HTTP.Paths {
					be := p.Backend.Service
					if be == nil {
						t.Errorf("Ingress %s: path %s has no Service backend", o.Name, p.Path)
						continue
					}
					if err := servesPort(services[be.Name], be.Port); err != nil {
						t.Errorf("Ingress %s: path %s: %v", o.Name, p.Path, err)
					}
				}
			}
		}
	}
}

// selected counts the Deployments whose pods sel selects.
func selected(deployments map[string]*appsv1.Deployment, sel *metav1.LabelSelector) int {
	if sel == nil {
		return 0
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return 0
	}
	n := 0
	for _, d := range deployments {
		if s.Matches(labels.Set(d.Spec.Template.Labels)) {
			n++
		}
	}
	return n
}

func checkDeploymentSchema(t *testing.T, d *appsv1.Deployment) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("selector %v does not select its own pods (%v)", d.Spec.Selector, d.Spec.Template.Labels)
	}
	if len(d.Spec.Template.Spec.Containers) == 0 {
		t.Fatal("no containers")
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Image == "" {
			t.Errorf("container %s has no image", c.Name)
		}
		ports := map[string]bool{}
		for _, p := range c.Ports {
			ports[p.Name] = true
		}
		for what, pr := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if pr == nil || pr.HTTPGet == nil {
				continue
			}
			if port := pr.HTTPGet.Port; port.StrVal != "" && !ports[port.StrVal] {
				t.Errorf("container %s: %s probe on port %q, which it does not name", c.Name, what, port.StrVal)
			}
		}
	}
}

func servesPort(s *corev1.Service, port networkingv1.ServiceBackendPort) error {
	if s == nil {
		return fmt.Errorf("backend Service is not rendered")
	}
	for _, p := range s.Spec.Ports {
		if port.Name != "" && p.Name == port.Name || port.Number != 0 && p.Port == port.Number {
			return nil
		}
	}
	return fmt.Errorf("Service %s has no port %v", s.Name, port)
}

// TestKubernetesSchemasRefuse: the strict decoding is what catches a
// manifest the cluster would refuse or silently misread.
func TestKubernetesSchemasRefuse(t *testing.T) {
	for name, doc := range map[string]string{
		"misspelt field":    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicass: 2}\n",
		"field of 1.x+1":    "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80, wormhole: true}]}\n",
		"bad quantity":      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{name: c, resources: {limits: {memory: 12 parsecs}}}]}}}\n",
		"wrong value shape": "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {selector: [a, b]}\n",
	} {
		t.Run(name, func(t *testing.T) {
			var o object
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
				t.Fatal(err)
			}
			obj := kubernetesSchemas[o.APIVersion+"/"+o.Kind]()
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err == nil {
				t.Errorf("accepted:\n%s", doc)
			}
		})
	}
}
