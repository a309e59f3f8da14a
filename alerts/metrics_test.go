package alerts_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentobs/agentobs/alerts/lint"
	"github.com/agentobs/agentobs/alerts/promcheck"
	indexer "github.com/agentobs/agentobs/indexer/app"
	"github.com/agentobs/agentobs/internal/edge"
	"github.com/agentobs/agentobs/internal/kafkax"
	"github.com/agentobs/agentobs/internal/telemetry"
	shipperapp "github.com/agentobs/agentobs/shipper/app"
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

// exported gathers what the components export, from their own registries:
// the indexer's and the shipper's metric constructors, the shared producer
// and edge metrics of the collector, and a scrape of a running agent (its
// metrics live in agent/internal, which only the agent may import). The
// collector's own series come from metrics_expected.txt until it offers an
// importable constructor.
func exported(t *testing.T) (gathered, all promcheck.Exported) {
	t.Helper()
	gathered = promcheck.Exported{}
	add := func(source string, register func(reg *prometheus.Registry)) {
		reg := telemetry.NewRegistry() // go_* and process_* as every component has them
		register(reg)
		if err := gathered.AddGatherer(reg, source); err != nil {
			t.Fatal(err)
		}
	}
	add("indexer/app.NewMetrics", func(reg *prometheus.Registry) {
		m := indexer.NewMetrics(reg)
		// Vectors keyed by open values appear once used; create one series each.
		m.Consumed.WithLabelValues("agentobs-logs", "0")
		m.LagRecords.WithLabelValues("0")
		m.LagSeconds.WithLabelValues("0")
		m.WithoutTrace.WithLabelValues("checkout")
		m.Records.WithLabelValues("checkout")
	})
	add("shipper/app.New", func(reg *prometheus.Registry) {
		cfg := shipperapp.DefaultConfig()
		cfg.HTTP.Ingest = true // any input: New only builds, it opens nothing
		a, err := shipperapp.New(cfg, shipperapp.Settings{Logger: slog.New(slog.DiscardHandler), Registry: reg})
		if err != nil {
			t.Fatalf("shipper app.New: %v", err)
		}
		_ = a // built, never run
	})
	add("internal/kafkax+edge (collector)", func(reg *prometheus.Registry) {
		kafkax.NewProducerMetrics(reg, "collector")
		edge.NewMetrics(reg, "collector", []string{"gen_ai.prompt"})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := freeAddr(t)
	agent := startAgent(t, addr, "0")
	if err := gathered.AddScrape(ctx, "http://"+addr+"/metrics", "agent scrape"); err != nil {
		t.Fatal(err)
	}
	agent.stop()

	all = promcheck.Exported{}
	for n, s := range gathered {
		all.Add(n, s)
	}
	if err := all.AddListFile("metrics_expected.txt", "metrics_expected.txt"); err != nil {
		t.Fatal(err)
	}
	for _, n := range promcheck.WellKnown {
		all.Add(n, "Prometheus")
	}
	return gathered, all
}

// TestRulesReferenceExportedMetrics fails when a rule reads a series that no
// component exports (a renamed metric, a typo): such a rule is silently
// empty and never fires.
func TestRulesReferenceExportedMetrics(t *testing.T) {
	rules := loadRules(t)
	gathered, all := exported(t)
	for _, r := range rules {
		if r.Record != "" {
			all.Add(r.Record, "rule "+r.File)
		}
	}
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
	// The hand-kept list must not repeat what a registry already gives.
	expected := promcheck.Exported{}
	if err := expected.AddListFile("metrics_expected.txt", ""); err != nil {
		t.Fatal(err)
	}
	for n := range expected {
		if src, ok := gathered[n]; ok {
			t.Errorf("metrics_expected.txt lists %s, which %s now exports: delete the line", n, src)
		}
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
