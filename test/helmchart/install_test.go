package helmchart

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/agentobs/agentobs/test/harness"
)

// TestInstall: for the default values and for every feature on (with the
// operators' CRDs applied), every object of the chart passes strict
// server-side validation, `helm install --wait` succeeds (each Deployment and
// DaemonSet gets its Pods Ready on the fake nodes), every object is stored as
// rendered, and `helm uninstall` leaves nothing behind.
func TestInstall(t *testing.T) {
	t.Parallel()
	base := newCluster(t)
	for _, tc := range []struct {
		name, file string
		crds       bool
	}{
		{"default", "", false},
		{"all-on", "ci/all-on-values.yaml", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := base.sub(t)
			ns := c.namespace("install-"+tc.name, nil)
			rel := "ao-" + tc.name
			if tc.crds {
				c.applyCRDs()
			}
			ch := loadChart(t, chartDir)
			vals := values(t, tc.file)

			// Rendered against the server's capabilities (its version meets
			// the chart's kubeVersion), validated strictly, not stored.
			dry := action.NewInstall(c.helm(ns))
			dry.Namespace, dry.ReleaseName, dry.DryRun = ns, rel, true
			r, err := dry.RunWithContext(ctx(t), ch, vals)
			if err != nil {
				t.Fatalf("helm install --dry-run: %v", err)
			}
			objs := c.objects(r.Manifest, ns)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.u.GetKind()]++
				if err := c.strictDryRun(o); err != nil {
					t.Errorf("%s: strict server-side validation: %v", o, err)
				}
			}
			t.Logf("%d objects validated strictly: %v", len(objs), kinds)
			c.strictRejectsUnknownField(objs)

			r = c.install(ns, rel, ch, vals)
			for _, o := range c.objects(r.Manifest, ns) {
				got, err := c.get(o)
				if err != nil {
					t.Errorf("%s: installed but not readable: %v", o, err)
					continue
				}
				if got.GetLabels()["app.kubernetes.io/instance"] != rel {
					t.Errorf("%s: stored without its release label: %v", o, got.GetLabels())
				}
			}
			c.workloadsReady(ns)
			c.uninstall(ns, rel)
		})
	}
}

// strictRejectsUnknownField proves the strict check above can fail: the same
// Deployment with one unknown field is refused.
func (c *cluster) strictRejectsUnknownField(objs []object) {
	c.t.Helper()
	for _, o := range objs {
		if o.u.GetKind() != "Deployment" {
			continue
		}
		bad := object{u: o.u.DeepCopy(), gvr: o.gvr, namespaced: o.namespaced}
		bad.u.Object["spec"].(map[string]any)["replicaz"] = int64(2)
		err := c.strictDryRun(bad)
		if err == nil || !strings.Contains(err.Error(), `unknown field "spec.replicaz"`) {
			c.t.Errorf("a Deployment with spec.replicaz: err %v, want strict decoding to refuse it", err)
		}
		return
	}
	c.t.Error("no Deployment rendered")
}

// workloadsReady: every Deployment has all its replicas Ready, available and
// updated, every DaemonSet one Ready Pod per node. Polled: right after
// `helm upgrade --wait` old Pods may still be on their way out.
func (c *cluster) workloadsReady(ns string) {
	c.t.Helper()
	defer step(c.t, "workloads ready in "+ns)()
	harness.Eventually(c.t, time.Minute, func() (bool, string) {
		var problems []string
		deps, err := c.cs.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		if len(deps.Items) == 0 {
			problems = append(problems, "no Deployments")
		}
		for _, d := range deps.Items {
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			s := d.Status
			if s.Replicas != want || s.ReadyReplicas != want || s.AvailableReplicas != want || s.UpdatedReplicas != want {
				problems = append(problems, fmt.Sprintf("Deployment %s: pods %d ready %d available %d updated %d, want %d",
					d.Name, s.Replicas, s.ReadyReplicas, s.AvailableReplicas, s.UpdatedReplicas, want))
			}
		}
		nodes, err := c.cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		dss, err := c.cs.AppsV1().DaemonSets(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, ds := range dss.Items {
			if int(ds.Status.NumberReady) != len(nodes.Items) || ds.Status.DesiredNumberScheduled != ds.Status.NumberReady {
				problems = append(problems, fmt.Sprintf("DaemonSet %s: %d ready of %d desired, want one per node (%d)",
					ds.Name, ds.Status.NumberReady, ds.Status.DesiredNumberScheduled, len(nodes.Items)))
			}
		}
		return len(problems) == 0, "workloads not ready: " + strings.Join(problems, "; ")
	})
}

func (c *cluster) sub(t *testing.T) *cluster {
	cc := *c
	cc.t = t
	return &cc
}

// typed converts an object read through the dynamic client.
func typed[T any](t *testing.T, u map[string]any) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPodSecurityRestricted: every Pod of the chart but Fluent Bit (root,
// hostPath /var/log: privileged by design) is admitted in a namespace that
// enforces the "restricted" Pod Security Standard, and the test hooks too.
func TestPodSecurityRestricted(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ns := c.namespace("restricted", map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"})
	rel := "ao-psa"
	r := c.install(ns, rel, loadChart(t, chartDir), values(t, "", `fluentBit: {enabled: false}`,
		`agent: {canary: {enabled: true, version: 1.1.0}}`))
	c.workloadsReady(ns)
	for _, h := range r.Hooks {
		o := c.objects(h.Manifest, ns)[0]
		if err := c.strictDryRun(o); err != nil {
			t.Errorf("test hook %s in a restricted namespace: %v", h.Name, err)
		}
	}
	c.uninstall(ns, rel)
}

// TestServiceAccountPermissions asks the API server's authorizer (RBAC) what
// each component's ServiceAccount may do: Fluent Bit reads pods and
// namespaces for its kubernetes filter and nothing more; the other
// components need no API access and get none.
func TestServiceAccountPermissions(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ns := c.namespace("rbac", nil)
	rel := "ao-rbac"
	c.install(ns, rel, loadChart(t, chartDir), values(t, ""))
	type access struct {
		verb, resource string
		allowed        bool
	}
	readPods := []access{{"get", "pods", true}, {"list", "pods", true}, {"watch", "namespaces", true},
		{"list", "secrets", false}, {"get", "configmaps", false}, {"create", "pods", false}, {"delete", "pods", false}}
	none := []access{{"get", "pods", false}, {"list", "secrets", false}, {"get", "configmaps", false}}
	want := map[string][]access{
		rel + "-agentobs-fluent-bit": readPods,
		rel + "-agentobs-indexer":    none,
		rel + "-agentobs-shipper":    none,
		rel + "-agentobs-agent":      none,
	}
	sas, err := c.cs.CoreV1().ServiceAccounts(ns).List(ctx(t), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + rel})
	if err != nil {
		t.Fatal(err)
	}
	if len(sas.Items) != len(want) {
		t.Errorf("%d ServiceAccounts of the release, want %d", len(sas.Items), len(want))
	}
	for _, sa := range sas.Items {
		checks, ok := want[sa.Name]
		if !ok {
			t.Errorf("ServiceAccount %s: not expected; say what it may do", sa.Name)
			continue
		}
		for _, a := range checks {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               "system:serviceaccount:" + ns + ":" + sa.Name,
				Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + ns},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: a.verb, Resource: a.resource, Namespace: "kube-system"},
			}}
			res, err := c.cs.AuthorizationV1().SubjectAccessReviews().Create(ctx(t), sar, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status.Allowed != a.allowed {
				t.Errorf("%s may %s %s in another namespace: %v, want %v", sa.Name, a.verb, a.resource, res.Status.Allowed, a.allowed)
			}
		}
	}
	c.uninstall(ns, rel)
}
