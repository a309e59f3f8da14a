// Package charttest checks the agentobs Helm chart (helm/agentobs) with the
// Helm Go SDK: lint, render with default values and with every option on
// (ci/all-on-values.yaml), and decode every rendered manifest strictly into
// its Kubernetes API type, so a typo in a field name fails here instead of in
// a user's cluster. No cluster is needed.
package charttest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir  = "../agentobs"
	namespace = "observability"
	release   = "demo"
)

// ScaledObject and TriggerAuthentication: the subset of KEDA's keda.sh/v1alpha1
// the chart uses. Strict decoding rejects any field not declared here, so a
// new field must be checked against KEDA's CRD before it is added.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		PollingInterval *int32 `json:"pollingInterval"`
		CooldownPeriod  *int32 `json:"cooldownPeriod"`
		Triggers        []struct {
			Type              string            `json:"type"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
			} `json:"authenticationRef,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
}

type TriggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef"`
	} `json:"spec"`
}

// types maps apiVersion/kind to a constructor of the typed object.
var types = map[string]func() any{
	"apps/v1/Deployment":                       func() any { return &appsv1.Deployment{} },
	"apps/v1/DaemonSet":                        func() any { return &appsv1.DaemonSet{} },
	"v1/Service":                               func() any { return &corev1.Service{} },
	"v1/ConfigMap":                             func() any { return &corev1.ConfigMap{} },
	"v1/Pod":                                   func() any { return &corev1.Pod{} }, // helm test hooks
	"v1/ServiceAccount":                        func() any { return &corev1.ServiceAccount{} },
	"v1/Secret":                                func() any { return &corev1.Secret{} },
	"policy/v1/PodDisruptionBudget":            func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":       func() any { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":             func() any { return &networkingv1.Ingress{} },
	"rbac.authorization.k8s.io/v1/ClusterRole": func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
	"monitoring.coreos.com/v1/ServiceMonitor":         func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule":         func() any { return &monitoringv1.PrometheusRule{} },
	"keda.sh/v1alpha1/ScaledObject":                   func() any { return &ScaledObject{} },
	"keda.sh/v1alpha1/TriggerAuthentication":          func() any { return &TriggerAuthentication{} },
}

// Object is one rendered manifest, decoded.
type Object struct {
	File, Kind, Name, Namespace string
	Labels                      map[string]string
	Typed                       any
}

func (o Object) String() string { return fmt.Sprintf("%s/%s (%s)", o.Kind, o.Name, o.File) }

// Manifests is a rendered release.
type Manifests struct {
	Objects []Object
	Notes   string
}

func (m Manifests) ofKind(kind string) []Object {
	var out []Object
	for _, o := range m.Objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func (m Manifests) get(kind, name string) (Object, bool) {
	for _, o := range m.Objects {
		if o.Kind == kind && o.Name == name {
			return o, true
		}
	}
	return Object{}, false
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return ch
}

func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	if file == "" {
		return map[string]any{}
	}
	v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, file))
	if err != nil {
		t.Fatal(err)
	}
	return v.AsMap()
}

// renderValues renders the chart as `helm template` does (schema validation on)
// and returns the error instead of failing, for the negative tests.
func renderValues(ch *chart.Chart, vals map[string]any) (map[string]string, error) {
	opts := chartutil.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}
	caps := chartutil.DefaultCapabilities.Copy()
	rv, err := chartutil.ToRenderValuesWithSchemaValidation(ch, vals, opts, caps, false)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, rv)
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// render renders and strictly decodes every manifest: unknown fields,
// duplicate fields and unknown kinds are failures.
func render(t *testing.T, vals map[string]any) Manifests {
	t.Helper()
	files, err := renderValues(loadChart(t), vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	var m Manifests
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		body := files[name]
		switch {
		case strings.HasSuffix(name, "NOTES.txt"):
			m.Notes = body
			continue
		case strings.HasPrefix(filepath.Base(name), "_"):
			continue
		}
		for i, doc := range docSep.Split(body, -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Errorf("%s doc %d: not YAML: %v", name, i, err)
				continue
			}
			mk, ok := types[tm.APIVersion+"/"+tm.Kind]
			if !ok {
				t.Errorf("%s doc %d: unexpected %s %s", name, i, tm.APIVersion, tm.Kind)
				continue
			}
			typed := mk()
			if err := yaml.UnmarshalStrict([]byte(doc), typed); err != nil {
				t.Errorf("%s doc %d (%s): strict decode: %v", name, i, tm.Kind, err)
				continue
			}
			meta := typed.(metav1.Object)
			m.Objects = append(m.Objects, Object{File: name, Kind: tm.Kind, Name: meta.GetName(),
				Namespace: meta.GetNamespace(), Labels: meta.GetLabels(), Typed: typed})
		}
	}
	if len(m.Objects) == 0 {
		t.Fatal("nothing rendered")
	}
	return m
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// cases are the value sets every structural test runs against.
var cases = []struct{ name, file string }{
	{"default", ""},
	{"all-on", "ci/all-on-values.yaml"},
}

func forEachCase(t *testing.T, f func(t *testing.T, m Manifests, vals map[string]any)) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vals := readValues(t, c.file)
			f(t, render(t, vals), vals)
		})
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

// TestDump writes the rendered manifests to $CHART_DUMP/<case>/ for reading
// without a helm binary: CHART_DUMP=/tmp/chart go test ./helm/charttest -run Dump
func TestDump(t *testing.T) {
	dir := os.Getenv("CHART_DUMP")
	if dir == "" {
		t.Skip("CHART_DUMP not set")
	}
	for _, c := range cases {
		files, err := renderValues(loadChart(t), readValues(t, c.file))
		if err != nil {
			t.Fatal(err)
		}
		for name, body := range files {
			p := filepath.Join(dir, c.name, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
