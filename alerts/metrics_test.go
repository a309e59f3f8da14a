package alerts_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentobs/agentobs/alerts/lint"
	"github.com/agentobs/agentobs/alerts/promcheck"
	"github.com/agentobs/agentobs/alerts/promcheck/components"
	indexer "github.com/agentobs/agentobs/indexer/app"
	"github.com/agentobs/agentobs/test/harness"
)

func loadRules(t *testing.T) []lint.Rule {
	t.Helper()
	rules, err := lint.Load("rules/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exported is what the components export (alerts/promcheck/components: the
// real registries of every component) plus the recording rules' outputs.
func exported(t *testing.T, rules []lint.Rule) promcheck.Exported {
	t.Helper()
	all, err := components.Exported()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Record != "" {
			all.Add(r.Record, "rule "+r.File)
		}
	}
	addFluentBit(t, all)
	return all
}

// addFluentBit adds Fluent Bit's own series (rules read
// fluentbit_output_*), scraped from the real Fluent Bit the plugin is
// tested in: a dummy input into a null output, its monitoring server on
// loopback.
func addFluentBit(t *testing.T, e promcheck.Exported) {
	t.Helper()
	fb := harness.FluentBit(t)
	host, port, _ := net.SplitHostPort(harness.FreeAddr(t))
	conf := filepath.Join(t.TempDir(), "fluent-bit.conf")
	body := fmt.Sprintf("[SERVICE]\n    HTTP_Server On\n    HTTP_Listen %s\n    HTTP_Port %s\n    Log_Level error\n\n"+
		"[INPUT]\n    Name dummy\n\n[OUTPUT]\n    Name null\n    Match *\n", host, port)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fb, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	url := "http://" + net.JoinHostPort(host, port) + "/api/v2/metrics/prometheus"
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = e.AddScrape(ctx, url, "Fluent Bit "+fb)
		cancel()
		if err == nil {
			return
		}
	}
	t.Fatalf("scrape Fluent Bit's metrics: %v", err)
}

// TestRulesReferenceExportedMetrics fails when a rule reads a series that no
// component exports (a renamed metric, a typo): such a rule is silently
// empty and never fires.
func TestRulesReferenceExportedMetrics(t *testing.T) {
	rules := loadRules(t)
	all := exported(t, rules)
	for _, r := range rules {
		names, err := promcheck.MetricNames(r.Expr)
		if err != nil {
			t.Errorf("%s: %s: %v", r.File, r.Name(), err)
			continue
		}
		for _, n := range all.Missing(names) {
			t.Errorf("%s: group %s: rule %s reads %s, which no component exports (fix the name, or export it)", r.File, r.Group, r.Name(), n)
		}
	}
}

// TestAgentRegistryMatchesBinary: components builds the agent's registry
// from agent/agentmetrics and the readiness gauge the way agent/serve.go
// wires them; a scrape of the real binary must show the same agentobs_agent_*
// series, so a metric wired only in serve.go (or dropped from it) is caught.
func TestAgentRegistryMatchesBinary(t *testing.T) {
	reg, err := components.Registry("agent")
	if err != nil {
		t.Fatal(err)
	}
	built := promcheck.Exported{}
	if err := built.AddGatherer(reg, "agent registry"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := harness.FreeAddr(t)
	agent := startAgent(t, addr, "0")
	defer agent.stop()
	scraped := promcheck.Exported{}
	if err := scraped.AddScrape(ctx, "http://"+addr+"/metrics", "agent scrape"); err != nil {
		t.Fatal(err)
	}
	own := func(e promcheck.Exported) []string {
		var out []string
		for n := range e {
			if strings.HasPrefix(n, "agentobs_agent_") {
				out = append(out, n)
			}
		}
		sort.Strings(out)
		return out
	}
	if got, want := own(scraped), own(built); !slices.Equal(got, want) {
		t.Errorf("the running agent exports %v\nbut components.Registry(\"agent\") builds %v", got, want)
	}
	if len(own(built)) == 0 {
		t.Fatal("no agentobs_agent_* series built")
	}
}

// The ingestion SLO counts records under one bucket boundary of the
// indexer's e2e latency histogram: if the indexer's buckets change, the SLI
// silently becomes 100% bad. Keep the rule and the buckets in step.
func TestSLOThresholdIsAnIndexerBucket(t *testing.T) {
	reg := prometheus.NewRegistry()
	indexer.NewMetrics(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var bounds []string
	for _, mf := range mfs {
		if mf.GetName() == "agentobs_indexer_e2e_latency_seconds" {
			for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
				bounds = append(bounds, strconv.FormatFloat(b.GetUpperBound(), 'f', -1, 64))
			}
		}
	}
	slo := readFile(t, "rules/slo.yml")
	const le = "20.48"
	if !slices.Contains(bounds, le) {
		t.Fatalf("agentobs_indexer_e2e_latency_seconds has buckets %v, none at le=%s that rules/slo.yml uses", bounds, le)
	}
	if want := fmt.Sprintf(`le="%s"`, le); !containsN(slo, want, 7) {
		t.Errorf("rules/slo.yml should select %s in its 7 SLI windows", want)
	}
}

func containsN(s, sub string, n int) bool {
	c := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			c++
		}
	}
	return c == n
}
