package helmchart

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/agentobs/agentobs/test/harness"
)

// TestSelectorsSelectTheirPods checks every selector of the chart against the
// Pods the controllers really made, where "meant to" comes from ownership
// (Pod → ReplicaSet → Deployment, or DaemonSet), never from the labels under
// test. The canary track is on, so the stable and canary agents share one
// Service while each Deployment keeps to its own Pods:
//   - each Deployment's and DaemonSet's selector: exactly the Pods it owns;
//   - each Service: EndpointSlices with exactly the Ready Pods of its
//     workload (and of `<name>-canary`), each with the named target port;
//   - each NetworkPolicy: exactly the Pods of its component (stable and
//     canary), every Pod of the release under some policy (default deny), and
//     the agents' peer rule (delegation) admitting both tracks;
//   - each PodDisruptionBudget: exactly its Deployment's Pods.
func TestSelectorsSelectTheirPods(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ns := c.namespace("selectors", nil)
	rel := "ao-sel"
	r := c.install(ns, rel, loadChart(t, chartDir), values(t, "",
		`agent: {replicas: 3, canary: {enabled: true, replicas: 2, version: 2.0.0-canary}}`))
	c.workloadsReady(ns)

	pods, err := c.cs.CoreV1().Pods(ns).List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{} // pod → owning workload
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		live = append(live, p)
		owner[p.Name] = c.ownerWorkload(ns, p)
	}
	podsOfWorkloads := func(names ...string) []string {
		var out []string
		for p, w := range owner {
			if slices.Contains(names, w) {
				out = append(out, p)
			}
		}
		sort.Strings(out)
		return out
	}
	selected := func(sel *metav1.LabelSelector) []string {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			t.Fatalf("selector %v: %v", sel, err)
		}
		var out []string
		for _, p := range live {
			if s.Matches(labels.Set(p.Labels)) {
				out = append(out, p.Name)
			}
		}
		sort.Strings(out)
		return out
	}
	same := func(what string, got, want []string) {
		t.Helper()
		if len(want) == 0 {
			t.Errorf("%s: no Pods expected at all; the test would prove nothing", what)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s selects %v, want %v", what, got, want)
		}
	}

	objs := c.objects(r.Manifest, ns)
	counts := map[string]int{}
	for _, o := range objs {
		name := o.u.GetName()
		switch o.u.GetKind() {
		case "Deployment", "DaemonSet":
			same(o.String(), selected(specSelector(t, o.u.Object)), podsOfWorkloads(name))
		case "PodDisruptionBudget":
			same(o.String(), selected(specSelector(t, o.u.Object)), podsOfWorkloads(name))
		case "Service":
			c.serviceEndpoints(ns, name, podsOfWorkloads(name, name+"-canary"))
		case "NetworkPolicy":
			np := typed[networkingv1.NetworkPolicy](t, o.u.Object)
			mine := podsOfWorkloads(name, name+"-canary")
			same(o.String(), selected(&np.Spec.PodSelector), mine)
			// Peer rules the chart writes for its own Pods (they name the
			// release) must take whole workloads, both tracks of one.
			var peers []networkingv1.NetworkPolicyPeer
			for _, in := range np.Spec.Ingress {
				peers = append(peers, in.From...)
			}
			for _, eg := range np.Spec.Egress {
				peers = append(peers, eg.To...)
			}
			for _, p := range peers {
				if p.PodSelector == nil || p.NamespaceSelector != nil || p.PodSelector.MatchLabels["app.kubernetes.io/instance"] != rel {
					continue
				}
				got := selected(p.PodSelector)
				var whole []string
				for _, pod := range got {
					w := strings.TrimSuffix(owner[pod], "-canary")
					whole = append(whole, w, w+"-canary")
				}
				same(o.String()+" peer", got, podsOfWorkloads(whole...))
			}
			for _, p := range selected(&np.Spec.PodSelector) {
				counts[p]++
			}
		}
	}
	for _, p := range live {
		if counts[p.Name] == 0 {
			t.Errorf("pod %s (%s) is under no NetworkPolicy: not default-deny", p.Name, owner[p.Name])
		}
	}

	// The canary track, as the agents' own labels say it.
	tracks := map[string]int{}
	for _, p := range live {
		if strings.HasPrefix(owner[p.Name], rel+"-agentobs-agent") {
			tr := p.Labels["agentobs.io/track"]
			tracks[tr+"/"+p.Labels["app.kubernetes.io/version"]]++
			want := "stable"
			if owner[p.Name] == rel+"-agentobs-agent-canary" {
				want = "canary"
			}
			if tr != want {
				t.Errorf("pod %s of %s: track %q, want %q", p.Name, owner[p.Name], tr, want)
			}
		}
	}
	if tracks["canary/2.0.0-canary"] != 2 || tracks["stable/0.1.0"] != 3 {
		t.Errorf("agent pods by track/version: %v, want 3 stable/0.1.0 and 2 canary/2.0.0-canary", tracks)
	}
	c.uninstall(ns, rel)
}

// specSelector is spec.selector of a workload or PDB.
func specSelector(t *testing.T, obj map[string]any) *metav1.LabelSelector {
	t.Helper()
	spec, _ := obj["spec"].(map[string]any)
	raw, ok := spec["selector"].(map[string]any)
	if !ok {
		t.Fatalf("%v: no spec.selector", obj["metadata"])
	}
	return typed[metav1.LabelSelector](t, raw)
}

// serviceEndpoints waits until the Service's EndpointSlices (written by the
// endpointslice controller from the Service's selector and named target
// port) list exactly the wanted Pods as ready.
func (c *cluster) serviceEndpoints(ns, svc string, want []string) {
	c.t.Helper()
	if len(want) == 0 {
		c.t.Errorf("Service %s: no Pods of its workload to expect", svc)
		return
	}
	harness.Eventually(c.t, 30*time.Second, func() (bool, string) {
		sl, err := c.cs.DiscoveryV1().EndpointSlices(ns).List(context.Background(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, s := range sl.Items {
			if len(s.Ports) == 0 {
				continue // the named target port matched no container port
			}
			for _, e := range s.Endpoints {
				if e.TargetRef != nil && e.Conditions.Ready != nil && *e.Conditions.Ready {
					got = append(got, e.TargetRef.Name)
				}
			}
		}
		sort.Strings(got)
		return slices.Equal(got, want), fmt.Sprintf("Service %s: ready endpoints %v, want %v", svc, got, want)
	})
}
