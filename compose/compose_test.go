// Package compose_test checks compose/docker-compose.yml with the Compose
// specification's own Go loader (the library `docker compose` uses), so the
// stack is right the first time a user runs `docker compose up` even though no
// Docker engine runs where the tests do.
package compose_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

const composeFile = "docker-compose.yml"

// load reads the file as `docker compose --profile P… config` would: .env,
// interpolation, normalisation, schema validation and consistency checks.
func load(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithWorkingDirectory("."), cli.WithDotEnv, cli.WithProfiles(profiles),
		cli.WithResolvedPaths(true), cli.WithConsistency(true))
	if err != nil {
		t.Fatalf("options: %v", err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load %s with profiles %v: %v", composeFile, profiles, err)
	}
	return p
}

// all is the project with every profile enabled.
func all(t *testing.T) *types.Project { return load(t, "*") }

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// oneShot: init jobs and the load generator run to completion and are never restarted.
func oneShot(s types.ServiceConfig) bool { return s.Restart == types.RestartPolicyNo }

func TestValidAndComposeSpec(t *testing.T) {
	raw, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := yaml.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	if _, ok := top["version"]; ok {
		t.Error("the Compose specification has no top-level version: key")
	}
	p := all(t)
	if p.Name != "agentobs" {
		t.Errorf("project name %q, want agentobs", p.Name)
	}
	for _, name := range []string{
		"kafka", "kafka-init", "elasticsearch", "kibana", "kibana-init", "prometheus", "alertmanager",
		"grafana", "jaeger", "fluent-bit", "shipper", "indexer", "agent-a", "agent-b",
	} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %s missing", name)
		}
	}
}

// TestProfiles: the default (.env) is the whole stack; core leaves the UIs out.
func TestProfiles(t *testing.T) {
	def := load(t, "ui")
	core := load(t, "core")
	for _, ui := range []string{"kibana", "kibana-init", "grafana"} {
		if _, ok := def.Services[ui]; !ok {
			t.Errorf("profile ui: %s missing", ui)
		}
		if _, ok := core.Services[ui]; ok {
			t.Errorf("profile core: %s present", ui)
		}
	}
	for name, s := range core.Services {
		for dep := range s.DependsOn {
			if _, ok := core.Services[dep]; !ok {
				t.Errorf("profile core: %s depends on %s, which the profile leaves out", name, dep)
			}
		}
	}
	env, err := os.ReadFile(".env")
	if err != nil || !strings.Contains(string(env), "COMPOSE_PROFILES=ui") {
		t.Errorf(".env must default COMPOSE_PROFILES=ui (err %v)", err)
	}
}

func TestHealthchecksAndOneShots(t *testing.T) {
	for name, s := range all(t).Services {
		switch {
		case oneShot(s):
			if s.HealthCheck != nil && !s.HealthCheck.Disable {
				t.Errorf("%s: a one-shot needs no healthcheck", name)
			}
		case s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0:
			t.Errorf("%s: long-running service without a healthcheck", name)
		default:
			if s.Restart != types.RestartPolicyUnlessStopped {
				t.Errorf("%s: restart %q, want unless-stopped", name, s.Restart)
			}
		}
	}
}

func TestDependsOn(t *testing.T) {
	p := all(t)
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			target, ok := p.Services[dep]
			if !ok {
				t.Errorf("%s depends on unknown service %s", name, dep)
				continue
			}
			want := types.ServiceConditionHealthy
			if oneShot(target) {
				want = types.ServiceConditionCompletedSuccessfully
			}
			if d.Condition != want {
				t.Errorf("%s → %s: condition %q, want %q", name, dep, d.Condition, want)
			}
		}
	}
}

// TestMountedRepoFiles: every bind mount and build input exists in the repository.
func TestMountedRepoFiles(t *testing.T) {
	root := repoRoot(t)
	p := all(t)
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				if !strings.HasPrefix(v.Source, root+string(filepath.Separator)) {
					t.Errorf("%s: bind mount %s is outside the repository", name, v.Source)
					continue
				}
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s: mounted repo path missing: %v", name, err)
				}
				if !v.ReadOnly {
					t.Errorf("%s: repo file %s should be mounted read-only", name, v.Source)
				}
			case types.VolumeTypeVolume:
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("%s: named volume %s not declared", name, v.Source)
				}
			}
		}
		if s.Build != nil {
			df := filepath.Join(s.Build.Context, s.Build.Dockerfile)
			if _, err := os.Stat(df); err != nil {
				t.Errorf("%s: Dockerfile missing: %v", name, err)
			}
		}
	}
	rules, _ := filepath.Glob(filepath.Join(root, "alerts", "rules", "*.yml"))
	if len(rules) == 0 {
		t.Error("prometheus: no alerts/rules/*.yml to load")
	}
}

var versionTag = regexp.MustCompile(`:v?\d+\.\d+(\.\d+)?(-[\w.]+)?$`)

// TestImagesPinned: third-party images carry an explicit version; our own
// images are built from the repository (tag dev) by the same file.
func TestImagesPinned(t *testing.T) {
	built := map[string]bool{}
	p := all(t)
	for _, s := range p.Services {
		if s.Build != nil {
			built[s.Image] = true
		}
	}
	for name, s := range p.Services {
		switch {
		case s.Image == "":
			t.Errorf("%s: no image", name)
		case strings.HasPrefix(s.Image, "agentobs/"):
			if !built[s.Image] {
				t.Errorf("%s: image %s is built by no service", name, s.Image)
			}
		case strings.Contains(s.Image, "bitnami"):
			t.Errorf("%s: Bitnami images were withdrawn; use the official image", name)
		case !versionTag.MatchString(s.Image):
			t.Errorf("%s: image %s is not pinned to a version", name, s.Image)
		}
	}
	es, kb := p.Services["elasticsearch"].Image, p.Services["kibana"].Image
	if es[strings.LastIndex(es, ":"):] != kb[strings.LastIndex(kb, ":"):] {
		t.Errorf("Elasticsearch %s and Kibana %s must be the same version", es, kb)
	}
}

func TestPortsDoNotCollide(t *testing.T) {
	seen := map[string]string{}
	for name, s := range all(t).Services {
		for _, port := range s.Ports {
			if port.Published == "" {
				continue
			}
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %s published on %q; bind it to 127.0.0.1 (no auth on this stack)", name, port.Published, port.HostIP)
			}
			key := port.Protocol + "/" + port.Published
			if other, dup := seen[key]; dup {
				t.Errorf("host port %s used by %s and %s", key, other, name)
			}
			seen[key] = name
		}
	}
	// The ports README.md documents are the ports the file publishes.
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for key, name := range seen {
		port := key[strings.Index(key, "/")+1:]
		if !strings.Contains(string(readme), ":"+port) && !strings.Contains(string(readme), "| "+port) {
			t.Errorf("README.md does not document port %s (%s)", port, name)
		}
	}
}

func TestResourceLimits(t *testing.T) {
	for name, s := range all(t).Services {
		if s.Deploy == nil || s.Deploy.Resources.Limits == nil ||
			s.Deploy.Resources.Limits.NanoCPUs == 0 || s.Deploy.Resources.Limits.MemoryBytes == 0 {
			t.Errorf("%s: needs deploy.resources.limits cpus and memory", name)
		}
	}
}

// TestAgentsCallEachOther: two or more agents, each with a peer that exists.
func TestAgentsCallEachOther(t *testing.T) {
	p := all(t)
	agents := 0
	for name, s := range p.Services {
		peers := s.Environment["AGENT_TOOLS_PEERS"]
		if peers == nil {
			continue
		}
		agents++
		for _, peer := range strings.Split(*peers, ",") {
			host := regexp.MustCompile(`//([^:/]+)`).FindStringSubmatch(peer)
			if host == nil {
				t.Errorf("%s: peer %q has no URL", name, peer)
				continue
			}
			if _, ok := p.Services[host[1]]; !ok || host[1] == name {
				t.Errorf("%s: peer %s is not another service", name, host[1])
			}
		}
		if s.Logging == nil || s.Logging.Driver != "fluentd" {
			t.Errorf("%s: logs must reach Fluent Bit through the fluentd log driver", name)
		} else if addr := s.Logging.Options["fluentd-address"]; !publishes(p.Services["fluent-bit"], addr) {
			t.Errorf("%s: fluentd-address %s is not a port fluent-bit publishes", name, addr)
		}
	}
	if agents < 2 {
		t.Errorf("%d agents with peers, want 2 or more", agents)
	}
}

func publishes(s types.ServiceConfig, addr string) bool {
	for _, p := range s.Ports {
		if p.HostIP+":"+p.Published == addr {
			return true
		}
	}
	return false
}

// TestPrometheusConfig: the scrape jobs the rules and dashboards name, the mounted rules, Alertmanager.
func TestPrometheusConfig(t *testing.T) {
	raw, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
		Alerting struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, sc := range cfg.ScrapeConfigs {
		jobs = append(jobs, sc.JobName)
	}
	for _, want := range []string{"agentobs-agent", "agentobs-shipper", "agentobs-indexer", "agentobs-collector"} {
		if !slices.Contains(jobs, want) {
			t.Errorf("prometheus.yml: scrape job %s missing", want)
		}
	}
	if !slices.Contains(cfg.RuleFiles, "/etc/prometheus/rules/*.yml") {
		t.Errorf("prometheus.yml: rule_files %v does not load the mounted alerts/rules", cfg.RuleFiles)
	}
	if len(cfg.Alerting.Alertmanagers) == 0 {
		t.Error("prometheus.yml: no Alertmanager")
	}
}

// TestFluentBitConfig: the compose config loads the plugin from where
// collector/Dockerfile puts it, and serves the port the healthcheck calls.
func TestFluentBitConfig(t *testing.T) {
	raw, err := os.ReadFile("fluent-bit/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Plugins  []string `yaml:"plugins"`
		Pipeline struct {
			Outputs []map[string]any `yaml:"outputs"`
		} `yaml:"pipeline"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile("../collector/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Plugins {
		if !strings.Contains(string(df), p) {
			t.Errorf("plugin %s is not where collector/Dockerfile puts it", p)
		}
	}
	if len(cfg.Pipeline.Outputs) != 1 || cfg.Pipeline.Outputs[0]["name"] != "agentobs" ||
		!strings.HasSuffix(fmt.Sprint(cfg.Pipeline.Outputs[0]["metrics_addr"]), ":2021") {
		t.Errorf("want one agentobs output with metrics_addr :2021 (healthcheck, scrape job), got %v", cfg.Pipeline.Outputs)
	}
}

// TestCanaryProfile: the canary profile adds a canary release of agent-a
// (same service name, track canary, its own version) that Prometheus finds
// in the agents' job by DNS only while it runs; without the profile it is
// not there and the stable agents say they are stable.
func TestCanaryProfile(t *testing.T) {
	def := load(t, "ui")
	if _, ok := def.Services["agent-a-canary"]; ok {
		t.Error("agent-a-canary runs without the canary profile")
	}
	env := func(s types.ServiceConfig, k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	for _, n := range []string{"agent-a", "agent-b"} {
		if s := def.Services[n]; env(s, "AGENT_RELEASE_TRACK") != "stable" || env(s, "AGENT_RELEASE_VERSION") == "" {
			t.Errorf("%s: release track %q version %q, want stable and a version", n, env(s, "AGENT_RELEASE_TRACK"), env(s, "AGENT_RELEASE_VERSION"))
		}
	}
	c, ok := load(t, "ui", "canary").Services["agent-a-canary"]
	if !ok {
		t.Fatal("profile canary: agent-a-canary missing")
	}
	stable := def.Services["agent-a"]
	if env(c, "AGENT_NAME") != env(stable, "AGENT_NAME") || env(c, "AGENT_RELEASE_TRACK") != "canary" ||
		env(c, "AGENT_RELEASE_VERSION") == env(stable, "AGENT_RELEASE_VERSION") {
		t.Errorf("agent-a-canary: name %q track %q version %q, want agent-a's name, canary, another version",
			env(c, "AGENT_NAME"), env(c, "AGENT_RELEASE_TRACK"), env(c, "AGENT_RELEASE_VERSION"))
	}
	raw, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName    string `yaml:"job_name"`
			DNSSDConfs []struct {
				Names []string `yaml:"names"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sc := range cfg.ScrapeConfigs {
		for _, d := range sc.DNSSDConfs {
			found = found || (sc.JobName == "agentobs-agent" && slices.Contains(d.Names, "agent-a-canary"))
		}
	}
	if !found {
		t.Error("prometheus.yml: job agentobs-agent does not discover agent-a-canary by DNS")
	}
}
