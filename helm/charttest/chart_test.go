package charttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// TestLint is `helm lint --strict` for each value set: no warning, no error.
func TestLint(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion("v1.33.0")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		l := lint.AllWithKubeVersionAndSchemaValidation(chartDir, readValues(t, c.file), namespace, kv, false)
		for _, msg := range l.Messages {
			if msg.Severity >= support.WarningSev {
				t.Errorf("%s: %v", c.name, msg)
			}
		}
	}
}

// TestSchemaRejects: values.schema.json and the template checks turn mistakes
// into install-time errors with a message, not into broken pods.
func TestSchemaRejects(t *testing.T) {
	ch := loadChart(t)
	for _, c := range []struct {
		name string
		vals string
		want string
	}{
		{"typo in a key", "indexr: {replicas: 3}", "indexr"},
		{"string replicas", "indexer: {replicas: two}", "replicas"},
		{"unknown SASL mechanism", "kafka: {sasl: {mechanism: GSSAPI, existingSecret: s}}", "mechanism"},
		{"broker without port", "kafka: {brokers: [kafka]}", "brokers"},
		{"SASL without a Secret", "kafka: {sasl: {mechanism: PLAIN}}", "kafka.sasl.existingSecret"},
		{"CA without TLS", "kafka: {tls: {existingSecret: ca}}", "kafka.tls.enabled"},
		{"canary without a version", "agent: {canary: {enabled: true}}", "agent.canary.version"},
		{"canary version with spaces", "agent: {canary: {enabled: true, version: 'new one'}}", "version"},
	} {
		vals, err := chartutil.ReadValues([]byte(c.vals))
		if err != nil {
			t.Fatal(err)
		}
		_, err = renderValues(ch, vals)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one naming %q", c.name, err, c.want)
		}
	}
}

// TestRenders: the expected objects exist, every name is a valid Kubernetes
// name, and NOTES.txt renders.
func TestRenders(t *testing.T) {
	forEachCase(t, func(t *testing.T, m Manifests, vals map[string]any) {
		for _, want := range []string{
			"Deployment/demo-agentobs-indexer", "Deployment/demo-agentobs-shipper", "Deployment/demo-agentobs-agent",
			"DaemonSet/demo-agentobs-fluent-bit", "ConfigMap/demo-agentobs-fluent-bit", "PodDisruptionBudget/demo-agentobs-indexer",
			"NetworkPolicy/demo-agentobs-indexer", "NetworkPolicy/demo-agentobs-shipper", "NetworkPolicy/demo-agentobs-agent",
			"NetworkPolicy/demo-agentobs-fluent-bit", "ServiceAccount/demo-agentobs-indexer", "Service/demo-agentobs-indexer",
		} {
			kind, name, _ := strings.Cut(want, "/")
			if _, ok := m.get(kind, name); !ok {
				t.Errorf("%s not rendered", want)
			}
		}
		for _, o := range m.Objects {
			if errs := validation.IsDNS1123Subdomain(o.Name); len(errs) > 0 {
				t.Errorf("%s: invalid name: %v", o, errs)
			}
			if o.Namespace != namespace && !strings.HasPrefix(o.Kind, "Cluster") {
				t.Errorf("%s: namespace %q, want the release's", o, o.Namespace)
			}
		}
		if !strings.Contains(m.Notes, "/v1/alerts") || strings.Contains(m.Notes, "<no value>") {
			t.Errorf("NOTES.txt: %q", m.Notes)
		}
	})
}

// TestAllOnRendersOptionals: every optional object appears when turned on.
func TestAllOnRendersOptionals(t *testing.T) {
	m := render(t, readValues(t, "ci/all-on-values.yaml"))
	for _, kind := range []string{"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"} {
		if len(m.ofKind(kind)) == 0 {
			t.Errorf("all-on: no %s", kind)
		}
	}
	// The explorer: its Ingress routes /ui to the indexer Service's port, and
	// the indexer gets the explorer's URLs.
	if ings := m.ofKind("Ingress"); len(ings) != 1 {
		t.Errorf("all-on: %d Ingresses want 1 (the explorer)", len(ings))
	} else {
		ing := ings[0].Typed.(*networkingv1.Ingress)
		svc, ok := m.get("Service", "demo-agentobs-indexer")
		paths := ing.Spec.Rules[0].HTTP.Paths
		if !ok || paths[0].Path != "/ui" || paths[0].Backend.Service.Name != svc.Name ||
			paths[0].Backend.Service.Port.Number != svc.Typed.(*corev1.Service).Spec.Ports[0].Port {
			t.Errorf("explorer Ingress %+v does not route /ui to the indexer Service", paths)
		}
	}
	if o, ok := m.get("Deployment", "demo-agentobs-indexer"); ok {
		env := envOf(o.Typed.(*appsv1.Deployment).Spec.Template.Spec.Containers[0])
		if env["INDEXER_UI_PROMETHEUS_URL"] == "" || env["INDEXER_UI_KIBANA_URL"] == "" || env["INDEXER_UI_GRAFANA_URL"] == "" {
			t.Errorf("all-on: the indexer lacks the explorer's URLs: %v", env)
		}
	}
	def := render(t, map[string]any{})
	for _, kind := range []string{"ScaledObject", "ServiceMonitor", "PrometheusRule", "Ingress"} {
		if len(def.ofKind(kind)) != 0 {
			t.Errorf("default: %s rendered, but its CRD is optional", kind)
		}
	}
}

// TestStandardLabels: app.kubernetes.io/* on every object and pod template.
func TestStandardLabels(t *testing.T) {
	want := []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
		"app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "helm.sh/chart"}
	check := func(what string, l map[string]string) {
		for _, k := range want {
			if l[k] == "" {
				t.Errorf("%s: label %s missing", what, k)
			}
		}
		for k, v := range l {
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				t.Errorf("%s: label key %q: %v", what, k, errs)
			}
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				t.Errorf("%s: label %s=%q: %v", what, k, v, errs)
			}
		}
	}
	forEachCase(t, func(t *testing.T, m Manifests, _ map[string]any) {
		for _, o := range m.Objects {
			check(o.String(), o.Labels)
			if pt := podTemplate(o); pt != nil {
				check(o.String()+" pod template", pt.Labels)
			}
		}
	})
}

func podTemplate(o Object) *corev1.PodTemplateSpec {
	switch w := o.Typed.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template
	case *appsv1.DaemonSet:
		return &w.Spec.Template
	}
	return nil
}

func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(l))
}

// TestSelectorsMatchPods: workload selectors match their own pods and no
// other workload's; Services, PDBs, NetworkPolicies and ServiceMonitors each
// select something that is rendered.
func TestSelectorsMatchPods(t *testing.T) {
	forEachCase(t, func(t *testing.T, m Manifests, _ map[string]any) {
		type pod struct {
			owner  string
			labels map[string]string
		}
		var pods []pod
		for _, o := range m.Objects {
			if pt := podTemplate(o); pt != nil {
				pods = append(pods, pod{o.String(), pt.Labels})
			}
		}
		matching := func(sel *metav1.LabelSelector) []string {
			var out []string
			for _, p := range pods {
				if selects(sel, p.labels) {
					out = append(out, p.owner)
				}
			}
			return out
		}
		for _, o := range m.Objects {
			var sel *metav1.LabelSelector
			switch w := o.Typed.(type) {
			case *appsv1.Deployment:
				sel = w.Spec.Selector
			case *appsv1.DaemonSet:
				sel = w.Spec.Selector
			case *corev1.Service:
				sel = &metav1.LabelSelector{MatchLabels: w.Spec.Selector}
			case *policyv1.PodDisruptionBudget:
				sel = w.Spec.Selector
			case *networkingv1.NetworkPolicy:
				sel = &w.Spec.PodSelector
			case *monitoringv1.ServiceMonitor:
				n := 0
				for _, svc := range m.ofKind("Service") {
					if selects(&w.Spec.Selector, svc.Labels) {
						n++
						checkEndpointPorts(t, o, w, svc.Typed.(*corev1.Service))
					}
				}
				if n != 1 {
					t.Errorf("%s selects %d Services, want 1", o, n)
				}
				continue
			default:
				continue
			}
			got := matching(sel)
			if len(got) == 2 && strings.Fields(got[1])[0] == strings.Fields(got[0])[0]+"-canary" && podTemplate(o) == nil {
				got = got[:1] // the agent's Service and policies select both release tracks, by design
			}
			if len(got) != 1 {
				t.Errorf("%s selects pods of %v, want exactly one workload", o, got)
			}
			if pt := podTemplate(o); pt != nil && (len(got) != 1 || got[0] != o.String()) {
				t.Errorf("%s: its selector does not match its own pod template", o)
			}
		}
	})
}

func checkEndpointPorts(t *testing.T, o Object, sm *monitoringv1.ServiceMonitor, svc *corev1.Service) {
	for _, ep := range sm.Spec.Endpoints {
		found := false
		for _, p := range svc.Spec.Ports {
			found = found || p.Name == ep.Port
		}
		if !found {
			t.Errorf("%s: endpoint port %q is not a port of Service %s", o, ep.Port, svc.Name)
		}
	}
}

// existingRefs are the Secrets the values declare as existing (created by the user).
func existingRefs(vals map[string]any) map[string]bool {
	out := map[string]bool{}
	v := chartutil.Values(vals)
	for _, path := range []string{"kafka.tls.existingSecret", "kafka.sasl.existingSecret",
		"elasticsearch.auth.existingSecret", "elasticsearch.tls.existingSecret", "shipper.tokenSecret.name"} {
		if s, err := v.PathValue(path); err == nil && s != "" {
			out["Secret/"+s.(string)] = true
		}
	}
	if ps, ok := vals["imagePullSecrets"].([]any); ok {
		for _, p := range ps {
			out["Secret/"+p.(map[string]any)["name"].(string)] = true
		}
	}
	return out
}

// TestReferencesResolve: every ConfigMap, Secret and ServiceAccount a pod, a
// binding or a KEDA object names is rendered or declared existing in values;
// every Service targets a named container port.
func TestReferencesResolve(t *testing.T) {
	forEachCase(t, func(t *testing.T, m Manifests, vals map[string]any) {
		have := existingRefs(vals)
		for _, o := range m.Objects {
			have[o.Kind+"/"+o.Name] = true
		}
		need := func(from Object, ref string) {
			if !have[ref] {
				t.Errorf("%s references %s, which is neither rendered nor declared existing", from, ref)
			}
		}
		for _, o := range m.Objects {
			switch w := o.Typed.(type) {
			case *ScaledObject:
				need(o, w.Spec.ScaleTargetRef.Kind+"/"+w.Spec.ScaleTargetRef.Name)
				for _, tr := range w.Spec.Triggers {
					if tr.AuthenticationRef != nil {
						need(o, "TriggerAuthentication/"+tr.AuthenticationRef.Name)
					}
				}
			case *TriggerAuthentication:
				for _, r := range w.Spec.SecretTargetRef {
					need(o, "Secret/"+r.Name)
				}
			case *rbacv1.ClusterRoleBinding:
				need(o, w.RoleRef.Kind+"/"+w.RoleRef.Name)
				for _, s := range w.Subjects {
					need(o, s.Kind+"/"+s.Name)
				}
			}
			pt := podTemplate(o)
			if pt == nil {
				continue
			}
			spec := pt.Spec
			need(o, "ServiceAccount/"+spec.ServiceAccountName)
			for _, s := range spec.ImagePullSecrets {
				need(o, "Secret/"+s.Name)
			}
			for _, v := range spec.Volumes {
				if v.ConfigMap != nil {
					need(o, "ConfigMap/"+v.ConfigMap.Name)
				}
				if v.Secret != nil {
					need(o, "Secret/"+v.Secret.SecretName)
				}
			}
			for _, c := range spec.Containers {
				mounted := map[string]bool{}
				for _, vm := range c.VolumeMounts {
					mounted[vm.Name] = true
				}
				for _, v := range spec.Volumes {
					if !mounted[v.Name] {
						t.Errorf("%s: volume %s is mounted by no container", o, v.Name)
					}
				}
				for _, e := range c.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						need(o, "Secret/"+e.ValueFrom.SecretKeyRef.Name)
					}
					if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
						need(o, "ConfigMap/"+e.ValueFrom.ConfigMapKeyRef.Name)
					}
				}
			}
		}
		for _, svc := range m.ofKind("Service") {
			s := svc.Typed.(*corev1.Service)
			for _, p := range s.Spec.Ports {
				if !containerPortNamed(m, s.Spec.Selector, p.TargetPort.StrVal) {
					t.Errorf("%s: targetPort %q is no named port of the selected pods", svc, p.TargetPort.String())
				}
			}
		}
	})
}

func containerPortNamed(m Manifests, sel map[string]string, name string) bool {
	for _, o := range m.Objects {
		pt := podTemplate(o)
		if pt == nil || !selects(&metav1.LabelSelector{MatchLabels: sel}, pt.Labels) {
			continue
		}
		for _, c := range pt.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == name {
					return true
				}
			}
		}
	}
	return false
}

// TestPodSecurityProbesResources: non-root (Fluent Bit: root without
// capabilities, documented), read-only root filesystem, no privilege
// escalation, all capabilities dropped, the three probes and resources.
func TestPodSecurityProbesResources(t *testing.T) {
	forEachCase(t, func(t *testing.T, m Manifests, _ map[string]any) {
		for _, o := range m.Objects {
			pt := podTemplate(o)
			if pt == nil {
				continue
			}
			ps := pt.Spec.SecurityContext
			fluentBit := strings.HasSuffix(o.Name, "fluent-bit")
			if !fluentBit && (ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0) {
				t.Errorf("%s: pod must run as non-root", o)
			}
			if ps == nil || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: seccompProfile RuntimeDefault missing", o)
			}
			if fluentBit != (pt.Spec.AutomountServiceAccountToken != nil && *pt.Spec.AutomountServiceAccountToken) {
				t.Errorf("%s: only Fluent Bit (kubernetes filter) mounts an API token", o)
			}
			for _, c := range pt.Spec.Containers {
				sc := c.SecurityContext
				switch {
				case sc == nil:
					t.Errorf("%s/%s: no securityContext", o, c.Name)
					continue
				case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
					t.Errorf("%s/%s: root filesystem not read-only", o, c.Name)
				case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
					t.Errorf("%s/%s: privilege escalation allowed", o, c.Name)
				case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
					t.Errorf("%s/%s: capabilities must drop ALL and add none", o, c.Name)
				case sc.Privileged != nil && *sc.Privileged:
					t.Errorf("%s/%s: privileged", o, c.Name)
				}
				if c.LivenessProbe == nil || c.ReadinessProbe == nil || c.StartupProbe == nil {
					t.Errorf("%s/%s: needs liveness, readiness and startup probes", o, c.Name)
				}
				if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() ||
					c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
					t.Errorf("%s/%s: needs CPU and memory requests and limits", o, c.Name)
				}
				if strings.HasSuffix(c.Image, ":") || !strings.Contains(c.Image, ":") {
					t.Errorf("%s/%s: image %q has no tag", o, c.Name, c.Image)
				}
			}
		}
	})
}

// TestIndexerRollout: surge one, never fewer ready; a PDB; KEDA owns replicas when on.
func TestIndexerRollout(t *testing.T) {
	forEachCase(t, func(t *testing.T, m Manifests, vals map[string]any) {
		o, ok := m.get("Deployment", "demo-agentobs-indexer")
		if !ok {
			t.Fatal("no indexer Deployment")
		}
		d := o.Typed.(*appsv1.Deployment)
		ru := d.Spec.Strategy.RollingUpdate
		if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
			ru.MaxSurge.String() != "1" || ru.MaxUnavailable.String() != "0" {
			t.Errorf("indexer strategy %+v, want RollingUpdate maxSurge 1 maxUnavailable 0", d.Spec.Strategy)
		}
		if pdb, ok := m.get("PodDisruptionBudget", "demo-agentobs-indexer"); !ok ||
			pdb.Typed.(*policyv1.PodDisruptionBudget).Spec.MinAvailable == nil {
			t.Error("indexer PodDisruptionBudget with minAvailable missing")
		}
		sos := m.ofKind("ScaledObject")
		if len(sos) > 0 {
			so := sos[0].Typed.(*ScaledObject)
			if d.Spec.Replicas != nil {
				t.Error("with KEDA on, the Deployment must not set replicas (KEDA's HPA owns them)")
			}
			env := envOf(d.Spec.Template.Spec.Containers[0])
			// One trigger per consumer group of the indexer: the record
			// topic's, and the span topic's (group + "-spans") when set.
			want := [][2]string{{env["INDEXER_KAFKA_GROUP"], env["INDEXER_KAFKA_TOPIC"]}}
			if st := env["INDEXER_KAFKA_SPANS_TOPIC"]; st != "" {
				want = append(want, [2]string{env["INDEXER_KAFKA_GROUP"] + "-spans", st})
			}
			if len(so.Spec.Triggers) != len(want) {
				t.Fatalf("ScaledObject has %d triggers, want %d (one per consumer group %v)", len(so.Spec.Triggers), len(want), want)
			}
			for i, w := range want {
				md := so.Spec.Triggers[i].Metadata
				if so.Spec.Triggers[i].Type != "kafka" || md["consumerGroup"] != w[0] ||
					md["topic"] != w[1] || md["bootstrapServers"] != env["INDEXER_KAFKA_BROKERS"] {
					t.Errorf("ScaledObject trigger %v does not measure the indexer's group/topic %v on brokers %q", md, w, env["INDEXER_KAFKA_BROKERS"])
				}
				if md["sasl"] != "scram_sha512" || md["tls"] != "enable" {
					t.Errorf("ScaledObject: sasl %q tls %q, want scram_sha512/enable for all-on", md["sasl"], md["tls"])
				}
			}
		} else if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
			t.Error("default indexer replicas must be at least 2 (with a PDB of minAvailable 1)")
		}
	})
}

func envOf(c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, e := range c.Env {
		out[e.Name] = e.Value
	}
	return out
}

// TestSecretsAreFilesNotEnv: with credentials on, passwords and API keys reach
// the binaries as mounted files (…_FILE), never as environment values.
func TestSecretsAreFilesNotEnv(t *testing.T) {
	m := render(t, readValues(t, "ci/all-on-values.yaml"))
	o, _ := m.get("Deployment", "demo-agentobs-indexer")
	c := o.Typed.(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
	env := envOf(c)
	for _, want := range []string{"INDEXER_KAFKA_SASL_PASSWORD_FILE", "INDEXER_ES_API_KEY_FILE", "INDEXER_KAFKA_TLS_CA_FILE", "INDEXER_ES_CA_FILE"} {
		path := env[want]
		if path == "" {
			t.Errorf("indexer: %s not set", want)
			continue
		}
		mounted := false
		for _, vm := range c.VolumeMounts {
			mounted = mounted || strings.HasPrefix(path, vm.MountPath+"/")
		}
		if !mounted {
			t.Errorf("indexer: %s=%s is on no mounted volume", want, path)
		}
	}
	for _, e := range c.Env {
		if strings.Contains(e.Name, "PASSWORD") && !strings.HasSuffix(e.Name, "_FILE") {
			t.Errorf("indexer: secret in env %s", e.Name)
		}
	}
}

// TestServiceMonitorJobs: the Prometheus job names the alert rules use.
func TestServiceMonitorJobs(t *testing.T) {
	m := render(t, readValues(t, "ci/all-on-values.yaml"))
	var jobs []string
	for _, o := range m.ofKind("ServiceMonitor") {
		sm := o.Typed.(*monitoringv1.ServiceMonitor)
		for _, svc := range m.ofKind("Service") {
			if selects(&sm.Spec.Selector, svc.Labels) {
				jobs = append(jobs, svc.Labels[sm.Spec.JobLabel])
			}
		}
		if sm.Labels["release"] != "kube-prometheus-stack" {
			t.Errorf("%s: serviceMonitor.labels not applied", o)
		}
	}
	slices.Sort(jobs)
	want := []string{"agentobs-agent", "agentobs-collector", "agentobs-indexer", "agentobs-shipper"}
	if !slices.Equal(jobs, want) {
		t.Errorf("jobs %v, want %v", jobs, want)
	}
}

// TestNetworkPolicies: every workload is covered by a default-deny policy for
// both directions; the indexer may reach Kafka and Elasticsearch and only the
// configured sources may reach it.
func TestNetworkPolicies(t *testing.T) {
	forEachCase(t, func(t *testing.T, m Manifests, vals map[string]any) {
		for _, o := range m.Objects {
			pt := podTemplate(o)
			if pt == nil {
				continue
			}
			covered := false
			for _, npo := range m.ofKind("NetworkPolicy") {
				np := npo.Typed.(*networkingv1.NetworkPolicy)
				if selects(&np.Spec.PodSelector, pt.Labels) && len(np.Spec.PolicyTypes) == 2 {
					covered = true
				}
			}
			if !covered {
				t.Errorf("%s: no Ingress+Egress NetworkPolicy selects its pods", o)
			}
		}
		o, _ := m.get("NetworkPolicy", "demo-agentobs-indexer")
		np := o.Typed.(*networkingv1.NetworkPolicy)
		ports := map[int32]bool{}
		for _, r := range np.Spec.Egress {
			for _, p := range r.Ports {
				ports[p.Port.IntVal] = true
			}
		}
		kafkaPort, esPort := int32(9092), int32(9200)
		if vals["kafka"] != nil {
			kafkaPort = 9093
		}
		if !ports[53] || !ports[kafkaPort] || !ports[esPort] {
			t.Errorf("indexer egress ports %v, want DNS, Kafka %d and Elasticsearch %d", ports, kafkaPort, esPort)
		}
		restricted := len(np.Spec.Ingress) == 1 && len(np.Spec.Ingress[0].From) > 0
		if wantRestricted := vals["networkPolicy"] != nil; restricted != wantRestricted {
			t.Errorf("indexer ingress restricted=%v, want %v: %+v", restricted, wantRestricted, np.Spec.Ingress)
		}
	})
}

// TestPrometheusRuleIsTheRepoRules: one source of truth for alerts.
func TestPrometheusRuleIsTheRepoRules(t *testing.T) {
	m := render(t, readValues(t, "ci/all-on-values.yaml"))
	prs := m.ofKind("PrometheusRule")
	if len(prs) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(prs))
	}
	got := normalize(t, prs[0].Typed.(*monitoringv1.PrometheusRule).Spec.Groups)
	files, _ := filepath.Glob("../../alerts/rules/*.yml")
	if len(files) == 0 {
		t.Fatal("no alerts/rules/*.yml")
	}
	var want []any
	for _, f := range files {
		var doc struct {
			Groups []monitoringv1.RuleGroup `json:"groups"`
		}
		if err := yaml.UnmarshalStrict(mustRead(t, f), &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want = append(want, normalize(t, doc.Groups).([]any)...)
	}
	if !reflect.DeepEqual(got, any(want)) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("PrometheusRule groups differ from alerts/rules (run helm/sync.sh):\n got %s\nwant %s", g, w)
	}
}

func normalize(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCopiesInSync: helm/agentobs/files mirrors its sources byte for byte.
func TestCopiesInSync(t *testing.T) {
	for _, c := range []struct{ src, dst, glob string }{
		{"../../alerts/rules", "../agentobs/files/rules", "*.yml"},
		{"../../dashboards/grafana", "../agentobs/files/dashboards", "*.json"},
		{"../../dashboards/provisioning/datasources", "../agentobs/files/datasources", "*.yaml"},
	} {
		src, _ := filepath.Glob(filepath.Join(c.src, c.glob))
		dst, _ := filepath.Glob(filepath.Join(c.dst, c.glob))
		if len(src) == 0 {
			t.Errorf("%s/%s: no source files", c.src, c.glob)
		}
		names := func(paths []string) []string {
			var out []string
			for _, p := range paths {
				out = append(out, filepath.Base(p))
			}
			return out
		}
		if !slices.Equal(names(src), names(dst)) {
			t.Errorf("%s has %v, its copy %s has %v: run helm/sync.sh", c.src, names(src), c.dst, names(dst))
			continue
		}
		for i := range src {
			if !bytes.Equal(mustRead(t, src[i]), mustRead(t, dst[i])) {
				t.Errorf("%s differs from %s: run helm/sync.sh", dst[i], src[i])
			}
		}
	}
}

// TestDashboards: one sidecar ConfigMap per dashboard, valid JSON, and the
// datasource ConfigMap with every URL placeholder filled.
func TestDashboards(t *testing.T) {
	m := render(t, readValues(t, "ci/all-on-values.yaml"))
	files, _ := filepath.Glob("../agentobs/files/dashboards/*.json")
	n := 0
	for _, o := range m.ofKind("ConfigMap") {
		cm := o.Typed.(*corev1.ConfigMap)
		if cm.Labels["grafana_dashboard"] == "1" {
			n++
			for name, body := range cm.Data {
				var d map[string]any
				if err := json.Unmarshal([]byte(body), &d); err != nil || d["uid"] == nil {
					t.Errorf("%s: %s is not a dashboard with a uid: %v", o, name, err)
				}
			}
			if cm.Annotations["grafana_folder"] != "agentobs" {
				t.Errorf("%s: folder annotation missing", o)
			}
		}
		if cm.Labels["grafana_datasource"] == "1" {
			for _, body := range cm.Data {
				for _, ph := range []string{"${PROMETHEUS_URL}", "${ELASTICSEARCH_URL}", "${JAEGER_URL}"} {
					if strings.Contains(body, ph) {
						t.Errorf("%s: placeholder %s left", o, ph)
					}
				}
			}
		}
	}
	if n != len(files) || n == 0 {
		t.Errorf("%d dashboard ConfigMaps for %d dashboards", n, len(files))
	}
}

// TestFluentBitConfig: the DaemonSet's ConfigMap is the repo's config, every
// ${VAR} it uses is set on the container, and the plugin path is the image's.
func TestFluentBitConfig(t *testing.T) {
	forEachCase(t, func(t *testing.T, m Manifests, _ map[string]any) {
		cmo, _ := m.get("ConfigMap", "demo-agentobs-fluent-bit")
		cfg := cmo.Typed.(*corev1.ConfigMap).Data["fluent-bit.yaml"]
		if strings.TrimSpace(cfg) != strings.TrimSpace(string(mustRead(t, "../agentobs/files/fluent-bit/fluent-bit.yaml"))) {
			t.Error("ConfigMap fluent-bit.yaml is not files/fluent-bit/fluent-bit.yaml")
		}
		var parsed map[string]any
		if err := yaml.Unmarshal([]byte(cfg), &parsed); err != nil {
			t.Fatalf("fluent-bit.yaml: %v", err)
		}
		dso, _ := m.get("DaemonSet", "demo-agentobs-fluent-bit")
		env := map[string]bool{}
		for _, e := range dso.Typed.(*appsv1.DaemonSet).Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = true
		}
		for _, v := range regexpVars.FindAllStringSubmatch(cfg, -1) {
			if !env[v[1]] {
				t.Errorf("fluent-bit.yaml uses ${%s}, which the DaemonSet does not set", v[1])
			}
		}
		if df, err := os.ReadFile("../../collector/Dockerfile"); err == nil {
			for _, p := range parsed["plugins"].([]any) {
				if !strings.Contains(string(df), p.(string)) {
					t.Errorf("plugin %s is not where collector/Dockerfile puts it", p)
				}
			}
		}
	})
}

var regexpVars = regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)

// TestFluentBitConfigMatchesCollector: the chart's Kubernetes config keeps the
// collector's reference config (collector/fluent-bit/fluent-bit.yaml) in what
// they share — plugin path, input, filter and output plugins — and sets only
// properties the plugin reads (collector/internal/plugin Keys).
func TestFluentBitConfigMatchesCollector(t *testing.T) {
	type section = map[string]any
	type config struct {
		Plugins  []string `json:"plugins"`
		Pipeline struct {
			Inputs  []section `json:"inputs"`
			Filters []section `json:"filters"`
			Outputs []section `json:"outputs"`
		} `json:"pipeline"`
	}
	read := func(path string) config {
		var c config
		if err := yaml.Unmarshal(mustRead(t, path), &c); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return c
	}
	ref := read("../../collector/fluent-bit/fluent-bit.yaml")
	ours := read("../agentobs/files/fluent-bit/fluent-bit.yaml")
	if !slices.Equal(ref.Plugins, ours.Plugins) {
		t.Errorf("plugins %v, collector's %v", ours.Plugins, ref.Plugins)
	}
	names := func(ss []section) (out []string) {
		for _, s := range ss {
			out = append(out, fmt.Sprint(s["name"]))
		}
		return out
	}
	for _, c := range []struct {
		what string
		a, b []section
	}{
		{"inputs", ours.Pipeline.Inputs, ref.Pipeline.Inputs},
		{"filters", ours.Pipeline.Filters, ref.Pipeline.Filters},
		{"outputs", ours.Pipeline.Outputs, ref.Pipeline.Outputs},
	} {
		if !slices.Equal(names(c.a), names(c.b)) {
			t.Errorf("%s %v, collector's %v", c.what, names(c.a), names(c.b))
		}
	}
	if len(ours.Pipeline.Inputs) > 0 && len(ref.Pipeline.Inputs) > 0 {
		for _, k := range []string{"path", "tag"} {
			if ours.Pipeline.Inputs[0][k] != ref.Pipeline.Inputs[0][k] {
				t.Errorf("input %s %v, collector's %v", k, ours.Pipeline.Inputs[0][k], ref.Pipeline.Inputs[0][k])
			}
		}
	}
	src := string(mustRead(t, "../../collector/internal/plugin/config.go"))
	i := strings.Index(src, "var Keys = []string{")
	if i < 0 {
		t.Fatal("collector/internal/plugin/config.go: var Keys not found")
	}
	known := map[string]bool{"name": true, "match": true, "match_regex": true, "workers": true, "retry_limit": true}
	for _, q := range regexp.MustCompile(`"([A-Za-z_]+)"`).FindAllStringSubmatch(src[i:i+strings.Index(src[i:], "}")], -1) {
		known[strings.ToLower(q[1])] = true
	}
	for _, out := range ours.Pipeline.Outputs {
		for k := range out {
			if !known[strings.ToLower(k)] {
				t.Errorf("output property %q is not one the plugin reads", k)
			}
		}
	}
}

// TestShipperShutdownFitsItsGracePeriod: the shipper's final flush ends 5 s
// before its pod's grace period (a shutdown while Kafka is away would
// otherwise end in SIGKILL), also for a grace period set in values.
func TestShipperShutdownFitsItsGracePeriod(t *testing.T) {
	for _, c := range []struct {
		vals map[string]any
		want string
	}{
		{nil, "25s"},
		{map[string]any{"shipper": map[string]any{"terminationGracePeriodSeconds": 60}}, "55s"},
		{map[string]any{"shipper": map[string]any{"terminationGracePeriodSeconds": 3}}, "5s"},
	} {
		o, ok := render(t, c.vals).get("Deployment", "demo-agentobs-shipper")
		if !ok {
			t.Fatal("Deployment/demo-agentobs-shipper not rendered")
		}
		d := o.Typed.(*appsv1.Deployment)
		if got := envOf(d.Spec.Template.Spec.Containers[0])["SHIPPER_SHUTDOWN_TIMEOUT"]; got != c.want {
			t.Errorf("%v: SHIPPER_SHUTDOWN_TIMEOUT %q, want %q", c.vals, got, c.want)
		}
	}
}
