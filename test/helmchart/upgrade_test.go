package helmchart

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The chart's version has stayed 0.1.0, so "the previous chart version" is
// the chart as of an earlier commit, packaged into testdata with
// `git archive --format=tar.gz --prefix=agentobs/ <commit>:helm/agentobs`:
//
//	90237f0  the chart before the OTLP ports of the shipper (canary track already in)
//	cb289fd  the chart before the canary track (the agent Deployment's selector changed since)
const (
	previousChart  = "testdata/agentobs-0.1.0-90237f0.tgz"
	preCanaryChart = "testdata/agentobs-0.1.0-cb289fd.tgz"
)

// TestUpgradeFromPreviousChart: a release of the earlier chart upgrades in
// place to this one with changed values (more indexers and shippers, a canary
// agent beside the stable ones): every Deployment rolls to Ready, objects the
// new chart no longer renders are deleted, and the uninstall is clean.
func TestUpgradeFromPreviousChart(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ns := c.namespace("upgrade", nil)
	rel := "ao-up"
	old := c.install(ns, rel, loadChart(t, filepath.Join(".", previousChart)), values(t, ""))
	c.workloadsReady(ns)

	changed := values(t, "", `
indexer: {replicas: 3}
shipper: {replicas: 2}
agent: {replicas: 3, canary: {enabled: true, replicas: 1, version: 1.1.0-rc1}}
`)
	r, err := c.upgrade(ns, rel, loadChart(t, chartDir), changed)
	if err != nil {
		t.Fatalf("helm upgrade from %s: %v", previousChart, err)
	}
	if r.Version != 2 || r.Info.Status != "deployed" {
		t.Errorf("release after upgrade: revision %d status %s", r.Version, r.Info.Status)
	}
	c.workloadsReady(ns)
	for name, want := range map[string]int32{rel + "-agentobs-indexer": 3, rel + "-agentobs-shipper": 2,
		rel + "-agentobs-agent": 3, rel + "-agentobs-agent-canary": 1} {
		d, err := c.cs.AppsV1().Deployments(ns).Get(ctx(t), name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("after upgrade: %v", err)
			continue
		}
		if d.Status.ReadyReplicas != want {
			t.Errorf("%s: %d ready, want %d", name, d.Status.ReadyReplicas, want)
		}
	}
	kept := map[string]bool{}
	for _, o := range c.objects(r.Manifest, ns) {
		kept[o.String()] = true
		if _, err := c.get(o); err != nil {
			t.Errorf("%s: rendered by the upgrade but not stored: %v", o, err)
		}
	}
	for _, o := range c.objects(old.Manifest, ns) {
		if kept[o.String()] {
			continue
		}
		if _, err := c.get(o); err == nil {
			t.Errorf("%s: dropped by the new chart but still in the cluster", o)
		}
	}
	c.uninstall(ns, rel)
}

// TestUpgradeFromPreCanaryChart holds the chart README to its word: from a
// chart without release tracks the upgrade fails on the agent Deployment's
// immutable selector, and after deleting that Deployment once (the README's
// step) it succeeds.
func TestUpgradeFromPreCanaryChart(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ns := c.namespace("upgrade-precanary", nil)
	rel := "ao-pre"
	c.install(ns, rel, loadChart(t, filepath.Join(".", preCanaryChart)), values(t, ""))
	_, err := c.upgrade(ns, rel, loadChart(t, chartDir), values(t, ""))
	if err == nil || !strings.Contains(err.Error(), "field is immutable") {
		t.Fatalf("upgrade without deleting the agent Deployment: err %v, want the immutable selector refused (README: delete it once)", err)
	}
	if err := c.cs.AppsV1().Deployments(ns).Delete(context.Background(), rel+"-agentobs-agent", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := c.upgrade(ns, rel, loadChart(t, chartDir), values(t, ""))
	if err != nil {
		t.Fatalf("upgrade after deleting the agent Deployment: %v", err)
	}
	if r.Info.Status != "deployed" {
		t.Errorf("status %s", r.Info.Status)
	}
	c.workloadsReady(ns)
	c.uninstall(ns, rel)
}
