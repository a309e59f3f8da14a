package charttest

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCanaryTrack: with agent.canary on, a second agent Deployment runs the
// canary release beside the stable one; the two select disjoint pods, the
// one Service selects both (traffic follows the replica counts), and each
// track's pods tell every signal their release: AGENT_RELEASE_VERSION and
// _TRACK, and the pod labels Fluent Bit's kubernetes filter copies.
func TestCanaryTrack(t *testing.T) {
	m := render(t, readValues(t, "ci/all-on-values.yaml"))
	get := func(name string) *appsv1.Deployment {
		t.Helper()
		o, ok := m.get("Deployment", name)
		if !ok {
			t.Fatalf("Deployment/%s not rendered", name)
		}
		return o.Typed.(*appsv1.Deployment)
	}
	stable, canary := get("demo-agentobs-agent"), get("demo-agentobs-agent-canary")
	svcObj, ok := m.get("Service", "demo-agentobs-agent")
	if !ok {
		t.Fatal("agent Service not rendered")
	}
	svc := &metav1.LabelSelector{MatchLabels: svcObj.Typed.(*corev1.Service).Spec.Selector}
	for _, c := range []struct {
		d              *appsv1.Deployment
		other          *appsv1.Deployment
		track, version string
		replicas       int32
		image          string
	}{
		{stable, canary, "stable", "0.1.0", 2, "ghcr.io/acme/agentobs/agent:0.1.0"},
		{canary, stable, "canary", "1.1.0-rc1", 1, "ghcr.io/acme/agentobs/agent:1.1.0-rc1"},
	} {
		pod := c.d.Spec.Template
		if !selects(c.d.Spec.Selector, pod.Labels) || selects(c.d.Spec.Selector, c.other.Spec.Template.Labels) {
			t.Errorf("%s: selector %v must select its own pods only", c.d.Name, c.d.Spec.Selector.MatchLabels)
		}
		if !selects(svc, pod.Labels) {
			t.Errorf("the agent Service does not select %s's pods", c.d.Name)
		}
		if pod.Labels["agentobs.io/track"] != c.track || pod.Labels["app.kubernetes.io/version"] != c.version {
			t.Errorf("%s: pod labels %v, want track %s and version %s", c.d.Name, pod.Labels, c.track, c.version)
		}
		if *c.d.Spec.Replicas != c.replicas {
			t.Errorf("%s: %d replicas, want %d", c.d.Name, *c.d.Spec.Replicas, c.replicas)
		}
		ctr := pod.Spec.Containers[0]
		if ctr.Image != c.image {
			t.Errorf("%s: image %s, want %s", c.d.Name, ctr.Image, c.image)
		}
		env := map[string]string{}
		for _, e := range ctr.Env {
			env[e.Name] = e.Value
		}
		if env["AGENT_RELEASE_TRACK"] != c.track || env["AGENT_RELEASE_VERSION"] != c.version || env["AGENT_NAME"] != "demo-agentobs-agent" {
			t.Errorf("%s: env %v", c.d.Name, env)
		}
		if _, ok := env["AGENT_POLICY_KIND"]; ok != (c.track == "canary") {
			t.Errorf("%s: the canary's extraEnv belongs to the canary only: %v", c.d.Name, env)
		}
	}

	if !strings.Contains(m.Notes, "Canary release 1.1.0-rc1") || !strings.Contains(m.Notes, "about 33 % of the traffic") {
		t.Errorf("NOTES.txt does not describe the canary: %s", m.Notes)
	}
	def := render(t, map[string]any{})
	if !strings.Contains(def.Notes, "Start a canary") {
		t.Errorf("NOTES.txt does not say how to start a canary: %s", def.Notes)
	}
	if _, ok := def.get("Deployment", "demo-agentobs-agent-canary"); ok {
		t.Error("canary Deployment rendered by default")
	}
}
