package helmchart

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	helmkube "helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/agentobs/agentobs/test/harness"
)

// The module versions whose published CRD YAML the all-on values need: the
// prometheus-operator's ServiceMonitor and PrometheusRule, KEDA's
// ScaledObject and TriggerAuthentication (their Go module zips carry them).
var crdSources = []struct{ module, dir string }{
	{"github.com/prometheus-operator/prometheus-operator@v0.85.0", "example/prometheus-operator-crd"},
	{"github.com/kedacore/keda/v2@v2.21.0", "config/crd/bases"},
}

// crdFiles are the CRDs the chart's optional objects need, by file name in
// those directories.
var crdFiles = []string{
	"monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml",
	"keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml",
}

const fieldManager = "agentobs-chart-test"

// cluster is one test's view of the shared control plane.
type cluster struct {
	t    *testing.T
	kube *harness.Kube
	cfg  *rest.Config
	cs   kubernetes.Interface
	dyn  dynamic.Interface
	disc discovery.CachedDiscoveryInterface
	rm   *restmapper.DeferredDiscoveryRESTMapper
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("installs the chart on a Kubernetes control plane (not in -short)")
	}
	done := step(t, "control plane")
	k := kube.Get(t, "Kubernetes control plane (scripts/kube.sh build)", harness.StartKube)
	done()
	cfg, err := clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	disc := memory.NewMemCacheClient(cs.Discovery())
	c := &cluster{t: t, kube: k, cfg: cfg, cs: cs, dyn: dyn, disc: disc, rm: restmapper.NewDeferredDiscoveryRESTMapper(disc)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control plane logs:%s", k.Logs())
		}
	})
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return c
}

// namespace creates a fresh namespace with the given labels and deletes it
// when the test ends.
func (c *cluster) namespace(name string, labels map[string]string) string {
	c.t.Helper()
	_, err := c.cs.CoreV1().Namespaces().Create(ctx(c.t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatalf("create namespace %s: %v", name, err)
	}
	c.t.Cleanup(func() {
		_ = c.cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// helm is a Helm SDK configuration for one namespace, storing releases in
// Secrets as the helm CLI does.
func (c *cluster) helm(ns string) *action.Configuration {
	c.t.Helper()
	cfg := new(action.Configuration)
	getter := helmkube.GetConfig(c.kube.Kubeconfig, "", ns)
	if err := cfg.Init(getter, ns, "secret", func(string, ...any) {}); err != nil {
		c.t.Fatal(err)
	}
	return cfg
}

var chartDir = filepath.Join(harness.RepoRoot(), "helm", "agentobs")

func loadChart(t *testing.T, path string) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(path)
	if err != nil {
		t.Fatalf("load chart %s: %v", path, err)
	}
	return ch
}

func values(t *testing.T, file string, overrides ...string) map[string]any {
	t.Helper()
	v := map[string]any{}
	if file != "" {
		fv, err := chartutil.ReadValuesFile(filepath.Join(chartDir, file))
		if err != nil {
			t.Fatal(err)
		}
		v = fv.AsMap()
	}
	for _, o := range overrides {
		ov, err := chartutil.ReadValues([]byte(o))
		if err != nil {
			t.Fatalf("values %q: %v", o, err)
		}
		v = chartutil.CoalesceTables(ov.AsMap(), v)
	}
	return v
}

// install runs `helm install --wait`: every Deployment and DaemonSet must get
// its Pods scheduled and Ready (kwok plays the kubelet).
func (c *cluster) install(ns, name string, ch *chart.Chart, vals map[string]any) *release.Release {
	c.t.Helper()
	in := action.NewInstall(c.helm(ns))
	in.Namespace, in.ReleaseName, in.Wait, in.Timeout = ns, name, true, 2*time.Minute
	done := step(c.t, "helm install --wait "+name)
	rel, err := in.RunWithContext(ctx(c.t), ch, vals)
	done()
	if err != nil {
		c.t.Fatalf("helm install %s: %v", name, err)
	}
	return rel
}

func (c *cluster) upgrade(ns, name string, ch *chart.Chart, vals map[string]any) (*release.Release, error) {
	c.t.Helper()
	up := action.NewUpgrade(c.helm(ns))
	up.Namespace, up.Wait, up.Timeout = ns, true, 2*time.Minute
	defer step(c.t, "helm upgrade --wait "+name)()
	return up.RunWithContext(ctx(c.t), name, ch, vals)
}

// object is one manifest of a release, decoded.
type object struct {
	u   *unstructured.Unstructured
	gvr schema.GroupVersionResource
	// namespaced is false for cluster-scoped kinds (ClusterRole…).
	namespaced bool
}

func (o object) String() string { return o.u.GetKind() + "/" + o.u.GetName() }

// objects decodes a rendered manifest stream in install order.
func (c *cluster) objects(manifest, ns string) []object {
	c.t.Helper()
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var out []object
	for _, k := range keys {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(docs[k]), &u.Object); err != nil {
			c.t.Fatalf("manifest %s: %v", k, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		m := c.mapping(u.GroupVersionKind())
		o := object{u: u, gvr: m.Resource, namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}
		if o.namespaced && u.GetNamespace() == "" {
			u.SetNamespace(ns)
		}
		out = append(out, o)
	}
	return out
}

func (c *cluster) mapping(gvk schema.GroupVersionKind) *meta.RESTMapping {
	c.t.Helper()
	m, err := c.rm.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) { // a CRD applied since the cache was filled
		c.rm.Reset()
		m, err = c.rm.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		c.t.Fatalf("%s: %v", gvk, err)
	}
	return m
}

func (c *cluster) resource(o object) dynamic.ResourceInterface {
	if o.namespaced {
		return c.dyn.Resource(o.gvr).Namespace(o.u.GetNamespace())
	}
	return c.dyn.Resource(o.gvr)
}

// strictDryRun asks the API server to create the object with strict field
// validation, without storing it: unknown or duplicate fields, schema
// violations (also the CRDs' structural schemas) and admission are errors,
// where `helm install` only warns about unknown fields.
func (c *cluster) strictDryRun(o object) error {
	_, err := c.resource(o).Create(ctx(c.t), o.u, metav1.CreateOptions{
		DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict", FieldManager: fieldManager})
	return err
}

// applyCRDs applies the operators' published CRDs once per control plane and
// waits until they are served.
var crds struct {
	sync.Mutex
	applied bool
}

func (c *cluster) applyCRDs() {
	c.t.Helper()
	crds.Lock()
	defer crds.Unlock()
	if !crds.applied {
		defer step(c.t, "apply CRDs")()
		if err := c.doApplyCRDs(); err != nil {
			c.t.Fatal(err)
		}
		crds.applied = true
	}
	c.rm.Reset()
}

func (c *cluster) doApplyCRDs() error {
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	var names []string
	for _, src := range crdSources {
		dir, err := moduleDir(src.module)
		if err != nil {
			return err
		}
		for _, file := range crdFiles {
			body, err := os.ReadFile(filepath.Join(dir, src.dir, file))
			if os.IsNotExist(err) {
				continue // the other module's file
			}
			if err != nil {
				return err
			}
			js, err := yaml.YAMLToJSON(body)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			var u unstructured.Unstructured
			if err := u.UnmarshalJSON(js); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			force := true
			if _, err := c.dyn.Resource(gvr).Patch(context.Background(), u.GetName(), types.ApplyPatchType, js,
				metav1.PatchOptions{FieldManager: fieldManager, Force: &force}); err != nil {
				return fmt.Errorf("apply CRD %s from %s: %w", u.GetName(), src.module, err)
			}
			names = append(names, u.GetName())
		}
	}
	if len(names) != len(crdFiles) {
		return fmt.Errorf("applied CRDs %v, want the 4 the chart uses", names)
	}
	for _, n := range names {
		harness.Eventually(c.t, time.Minute, func() (bool, string) {
			u, err := c.dyn.Resource(gvr).Get(context.Background(), n, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, cd := range conds {
				m, _ := cd.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, ""
				}
			}
			return false, "CRD " + n + " not Established"
		})
	}
	return nil
}

// moduleDir downloads a module zip through the Go module proxy (cached in
// GOMODCACHE) and returns where it was unpacked.
func moduleDir(modVersion string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", modVersion)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %v: %s%s", modVersion, err, out, stderr.Bytes())
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %v %s", modVersion, err, m.Error)
	}
	return m.Dir, nil
}

// uninstall runs `helm uninstall --wait` and then checks, through discovery
// of every resource type the server has, that nothing of the release is
// left: no object in its namespace (but the namespace's own default
// ServiceAccount and root-CA ConfigMap, and Events) and no cluster-scoped
// object labelled with the release.
func (c *cluster) uninstall(ns, name string) {
	c.t.Helper()
	un := action.NewUninstall(c.helm(ns))
	un.Wait, un.Timeout = true, 2*time.Minute
	done := step(c.t, "helm uninstall --wait "+name)
	if _, err := un.Run(name); err != nil {
		c.t.Fatalf("helm uninstall %s: %v", name, err)
	}
	done()
	defer step(c.t, "nothing left of "+name)()
	lists, err := c.cs.Discovery().ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		c.t.Fatalf("discovery: %v", err)
	}
	harness.Eventually(c.t, time.Minute, func() (bool, string) {
		var left []string
		for _, l := range lists {
			gv, _ := schema.ParseGroupVersion(l.GroupVersion)
			for _, r := range l.APIResources {
				if !hasVerb(r.Verbs, "list") || strings.Contains(r.Name, "/") || r.Kind == "Event" {
					continue
				}
				ri := c.dyn.Resource(gv.WithResource(r.Name))
				var list *unstructured.UnstructuredList
				var err error
				if r.Namespaced {
					list, err = ri.Namespace(ns).List(context.Background(), metav1.ListOptions{})
				} else {
					list, err = ri.List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + name})
				}
				if err != nil {
					if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
						continue
					}
					return false, fmt.Sprintf("list %s: %v", r.Name, err)
				}
				for _, it := range list.Items {
					if namespaceDefault(it) {
						continue
					}
					left = append(left, it.GetKind()+"/"+it.GetName())
				}
			}
		}
		return len(left) == 0, fmt.Sprintf("after helm uninstall %s: left behind %v", name, left)
	})
}

func namespaceDefault(u unstructured.Unstructured) bool {
	switch u.GetKind() + "/" + u.GetName() {
	case "ServiceAccount/default", "ConfigMap/kube-root-ca.crt":
		return true
	}
	return false
}

func hasVerb(verbs []string, v string) bool {
	for _, x := range verbs {
		if x == v {
			return true
		}
	}
	return false
}

// get reads one object of the release back from the server.
func (c *cluster) get(o object) (*unstructured.Unstructured, error) {
	return c.resource(o).Get(ctx(c.t), o.u.GetName(), metav1.GetOptions{})
}

// step logs how long a step of a test took when it ends (`defer
// step(t, what)()`): under -v the package's log says where its minutes go.
func step(t testing.TB, what string) func() {
	start := time.Now()
	return func() { t.Logf("step %s: %.1fs", what, time.Since(start).Seconds()) }
}
