package charttest

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// TestAgentSpansToShipper: both agent tracks export their spans to the
// chart's shipper Service with the shipper's token as a mounted file, the
// shipper writes them to kafka.spansTopic and the indexer reads it, and the
// NetworkPolicies let the agents reach the shipper even when its sources
// are restricted.
func TestAgentSpansToShipper(t *testing.T) {
	m := render(t, readValues(t, "ci/all-on-values.yaml"))
	container := func(name string) corev1.Container {
		t.Helper()
		o, ok := m.get("Deployment", name)
		if !ok {
			t.Fatalf("Deployment/%s not rendered", name)
		}
		return o.Typed.(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
	}
	mounted := func(c corev1.Container, path string) bool {
		for _, vm := range c.VolumeMounts {
			if strings.HasPrefix(path, vm.MountPath+"/") {
				return true
			}
		}
		return false
	}
	for _, name := range []string{"demo-agentobs-agent", "demo-agentobs-agent-canary"} {
		c := container(name)
		env := envOf(c)
		if env["AGENT_OTLP_ENDPOINT"] != "http://demo-agentobs-shipper:9401" {
			t.Errorf("%s: AGENT_OTLP_ENDPOINT=%q, want the shipper Service", name, env["AGENT_OTLP_ENDPOINT"])
		}
		if f := env["AGENT_OTLP_TOKEN_FILE"]; f == "" || !mounted(c, f) {
			t.Errorf("%s: AGENT_OTLP_TOKEN_FILE=%q is not on a mounted volume", name, f)
		}
	}
	sh := container("demo-agentobs-shipper")
	if env := envOf(sh); env["SHIPPER_OTLP_SPANS_TOPIC"] != "agentobs-spans" || !mounted(sh, env["SHIPPER_HTTP_TOKEN_FILE"]) {
		t.Errorf("shipper env %v: want SHIPPER_OTLP_SPANS_TOPIC and a mounted SHIPPER_HTTP_TOKEN_FILE", env)
	}
	if env := envOf(container("demo-agentobs-indexer")); env["INDEXER_KAFKA_SPANS_TOPIC"] != "agentobs-spans" {
		t.Errorf("indexer INDEXER_KAFKA_SPANS_TOPIC=%q", env["INDEXER_KAFKA_SPANS_TOPIC"])
	}

	o, _ := m.get("NetworkPolicy", "demo-agentobs-shipper")
	agentPod := map[string]string{"app.kubernetes.io/name": "agentobs", "app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "agent"}
	let := false
	for _, r := range o.Typed.(*networkingv1.NetworkPolicy).Spec.Ingress {
		for _, p := range r.From {
			let = let || (p.PodSelector != nil && len(p.PodSelector.MatchLabels) > 0 && selects(p.PodSelector, agentPod))
		}
	}
	if !let {
		t.Errorf("the shipper's NetworkPolicy does not let the agent pods in: %+v", o.Typed)
	}
	o, _ = m.get("NetworkPolicy", "demo-agentobs-agent")
	out := false
	for _, r := range o.Typed.(*networkingv1.NetworkPolicy).Spec.Egress {
		for _, p := range r.Ports {
			out = out || p.Port.IntVal == 9401
		}
	}
	if !out {
		t.Error("the agents' NetworkPolicy does not let them reach the shipper's port")
	}

	// Without the chart's shipper the agents fall back to otlpEndpoint.
	vals := readValues(t, "ci/all-on-values.yaml")
	vals["shipper"].(map[string]any)["enabled"] = false
	m = render(t, vals)
	if o, ok := m.get("Deployment", "demo-agentobs-agent"); ok {
		if env := envOf(o.Typed.(*appsv1.Deployment).Spec.Template.Spec.Containers[0]); env["AGENT_OTLP_ENDPOINT"] != "" {
			t.Errorf("shipper disabled: AGENT_OTLP_ENDPOINT=%q, want unset", env["AGENT_OTLP_ENDPOINT"])
		}
	}
}
