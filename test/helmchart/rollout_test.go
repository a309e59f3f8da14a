package helmchart

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/agentobs/agentobs/test/harness"
)

// TestRollout: changing the pod template of the indexer and the agent (as a
// new image or setting does) rolls both out: a new ReplicaSet becomes Ready,
// the old one is scaled to zero, and the indexer never has fewer available
// Pods than its replicas (maxSurge 1, maxUnavailable 0: the consumer group
// never shrinks during a rollout). Then a node drain: with the nodes cordoned,
// the eviction API lets one indexer go and refuses the second (the
// PodDisruptionBudget's minAvailable 1), and allows it again once the
// replacement runs.
//
// Not parallel: the drain cordons every node, and Pods of other tests would
// stay Pending meanwhile. Go runs it before the parallel tests start.
func TestRollout(t *testing.T) {
	c := newCluster(t)
	ns := c.namespace("rollout", nil)
	rel := "ao-roll"
	indexer, agent := rel+"-agentobs-indexer", rel+"-agentobs-agent"
	c.install(ns, rel, loadChart(t, chartDir), values(t, ""))
	before := map[string]string{indexer: c.currentRS(ns, indexer), agent: c.currentRS(ns, agent)}

	// Watch the indexer's Deployment through the upgrade: every status the
	// controller writes arrives as an event, so a dip in availability
	// cannot slip between two reads.
	d, err := c.cs.AppsV1().Deployments(ns).Get(ctx(t), indexer, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.cs.AppsV1().Deployments(ns).Watch(ctx(t), metav1.ListOptions{
		FieldSelector: "metadata.name=" + indexer, ResourceVersion: d.ResourceVersion})
	if err != nil {
		t.Fatalf("watch %s: %v", indexer, err)
	}
	var mu sync.Mutex
	minAvailable, maxPods, events := d.Status.AvailableReplicas, d.Status.Replicas, 0
	watchEnded := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok {
				continue
			}
			mu.Lock()
			events++
			minAvailable = min(minAvailable, d.Status.AvailableReplicas)
			maxPods = max(maxPods, d.Status.Replicas)
			mu.Unlock()
		}
		mu.Lock()
		watchEnded = true
		mu.Unlock()
	}()
	env := `[{name: AGENTOBS_ROLLOUT, value: "2"}]`
	if _, err := c.upgrade(ns, rel, loadChart(t, chartDir), values(t, "", "indexer: {extraEnv: "+env+"}", "agent: {extraEnv: "+env+"}")); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	c.workloadsReady(ns)
	mu.Lock()
	ended := watchEnded
	mu.Unlock()
	w.Stop()
	<-done
	if ended {
		t.Fatal("the watch on the indexer Deployment ended during the rollout: its statuses were not all seen")
	}

	for _, name := range []string{indexer, agent} {
		now := c.currentRS(ns, name)
		if now == before[name] {
			t.Errorf("%s: still on ReplicaSet %s after a pod template change", name, now)
			continue
		}
		old, err := c.cs.AppsV1().ReplicaSets(ns).Get(ctx(t), before[name], metav1.GetOptions{})
		if err != nil {
			t.Errorf("%s: old ReplicaSet %s: %v (revisionHistoryLimit should keep it)", name, before[name], err)
			continue
		}
		if *old.Spec.Replicas != 0 || old.Status.Replicas != 0 {
			t.Errorf("%s: old ReplicaSet %s not scaled down: spec %d status %d", name, old.Name, *old.Spec.Replicas, old.Status.Replicas)
		}
	}
	mu.Lock()
	t.Logf("indexer rollout: %d watch events, min available %d, max pods %d", events, minAvailable, maxPods)
	if minAvailable < 2 {
		t.Errorf("indexer rollout: available Pods dropped to %d, want never below the 2 replicas (maxUnavailable 0)", minAvailable)
	}
	if maxPods < 3 {
		t.Errorf("indexer rollout: at most %d Pods, want a surge to 3 (maxSurge 1)", maxPods)
	}
	mu.Unlock()

	drained := step(t, "drain under the PDB")
	c.drainRespectsPDB(ns, indexer)
	drained()
	c.uninstall(ns, rel)
}

// currentRS names the Deployment's ReplicaSet of its current revision.
func (c *cluster) currentRS(ns, deployment string) string {
	c.t.Helper()
	var name string
	harness.Eventually(c.t, time.Minute, func() (bool, string) {
		d, err := c.cs.AppsV1().Deployments(ns).Get(context.Background(), deployment, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		rev := d.Annotations["deployment.kubernetes.io/revision"]
		rss, err := c.cs.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, rs := range rss.Items {
			if metav1.IsControlledBy(&rs, d) && rs.Annotations["deployment.kubernetes.io/revision"] == rev {
				name = rs.Name
				return true, ""
			}
		}
		return false, "no ReplicaSet of " + deployment + " at revision " + rev
	})
	return name
}

func (c *cluster) drainRespectsPDB(ns, indexer string) {
	c.t.Helper()
	// The disruption controller's view: 2 healthy, 1 needed, 1 may go.
	pdbReady := func() (bool, string) {
		p, err := c.cs.PolicyV1().PodDisruptionBudgets(ns).Get(context.Background(), indexer, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		s := p.Status
		return s.ObservedGeneration == p.Generation && s.CurrentHealthy == 2 && s.DesiredHealthy == 1 && s.DisruptionsAllowed == 1,
			fmt.Sprintf("PDB %s: healthy %d desired %d allowed %d, want 2, 1, 1", indexer, s.CurrentHealthy, s.DesiredHealthy, s.DisruptionsAllowed)
	}
	harness.Eventually(c.t, time.Minute, pdbReady)
	nodes, err := c.cs.CoreV1().Nodes().List(ctx(c.t), metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	cordon := func(on bool) {
		for _, n := range nodes.Items {
			patch := []byte(`{"spec":{"unschedulable":` + map[bool]string{true: "true", false: "false"}[on] + `}}`)
			if _, err := c.cs.CoreV1().Nodes().Patch(context.Background(), n.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				c.t.Fatal(err)
			}
		}
	}
	cordon(true)
	c.t.Cleanup(func() { cordon(false) })

	pods := c.podsOf(ns, indexer)
	if len(pods) != 2 {
		c.t.Fatalf("indexer pods: %d, want 2", len(pods))
	}
	evict := func(p corev1.Pod) error {
		return c.cs.PolicyV1().Evictions(ns).Evict(ctx(c.t), &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: ns}})
	}
	if err := evict(pods[0]); err != nil {
		c.t.Fatalf("evict the first of 2 indexers (1 disruption allowed): %v", err)
	}
	if err := evict(pods[1]); !apierrors.IsTooManyRequests(err) {
		c.t.Fatalf("evict the last available indexer: err %v, want 429 (PDB minAvailable 1)", err)
	}
	cordon(false)
	harness.Eventually(c.t, time.Minute, pdbReady) // the replacement runs
	if err := evict(pods[1]); err != nil {
		c.t.Errorf("evict the second indexer once its replacement runs: %v", err)
	}
}

// podsOf lists the live (not terminating) Pods a Deployment or DaemonSet
// owns, following Pod → ReplicaSet → Deployment ownership, not labels.
func (c *cluster) podsOf(ns, workload string) []corev1.Pod {
	c.t.Helper()
	pods, err := c.cs.CoreV1().Pods(ns).List(ctx(c.t), metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && c.ownerWorkload(ns, p) == workload {
			out = append(out, p)
		}
	}
	return out
}

func (c *cluster) ownerWorkload(ns string, p corev1.Pod) string {
	ref := metav1.GetControllerOf(&p)
	if ref == nil {
		return ""
	}
	if ref.Kind != "ReplicaSet" {
		return ref.Name
	}
	rs, err := c.cs.AppsV1().ReplicaSets(ns).Get(ctx(c.t), ref.Name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	if d := metav1.GetControllerOf(rs); d != nil {
		return d.Name
	}
	return ""
}
