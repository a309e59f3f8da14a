package components

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/agentobs/agentobs/alerts/promcheck"
)

// Every component exports its readiness gauge and its own metrics; the
// collector's output-labelled series are there before any flush.
func TestExported(t *testing.T) {
	e, err := Exported()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"up", "go_goroutines", "process_resident_memory_bytes",
		"agentobs_agent_ready", "agentobs_agent_tasks_total", "agentobs_agent_step_duration_seconds_bucket",
		"agentobs_collector_ready", "agentobs_collector_records_in_total", "agentobs_collector_flush_records_bucket",
		"agentobs_collector_records_produced_total", "agentobs_collector_redactions_total",
		"agentobs_shipper_ready", "agentobs_shipper_lines_read_total", "agentobs_shipper_produce_duration_seconds_count",
		"agentobs_indexer_ready", "agentobs_indexer_records_consumed_total", "agentobs_indexer_e2e_latency_seconds_bucket",
		"agentobs_indexer_audit_runs_total", "agentobs_indexer_records_produced_total"}
	if m := e.Missing(want); len(m) > 0 {
		t.Errorf("not exported: %v", m)
	}
	if _, err := Registry("nope"); err == nil {
		t.Error("unknown component accepted")
	}
}

var docName = regexp.MustCompile(`agentobs_(agent|collector|shipper|indexer)_[a-z0-9_]*[a-z0-9]`)

// Each component's METRICS.md documents exactly the agentobs_<component>_*
// metrics its registry exports: a metric added without a line, or a line
// left behind by a rename, fails here.
func TestMetricsDocsMatchRegistries(t *testing.T) {
	for _, c := range Names {
		reg, err := Registry(c)
		if err != nil {
			t.Fatal(err)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		series := promcheck.Exported{}
		series.AddFamilies(mfs, c)
		families := map[string]bool{}
		for _, mf := range mfs {
			families[mf.GetName()] = true
		}
		path := filepath.Join("..", "..", "..", c, "METRICS.md")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		doc := map[string]bool{}
		for _, n := range docName.FindAllString(string(b), -1) {
			doc[n] = true
		}
		var undocumented, stale []string
		prefix := "agentobs_" + c + "_"
		for f := range families {
			if strings.HasPrefix(f, prefix) && !doc[f] {
				undocumented = append(undocumented, f)
			}
		}
		for n := range doc {
			if strings.HasPrefix(n, prefix) && !families[n] && !series.Has(n) {
				stale = append(stale, n)
			}
		}
		sort.Strings(undocumented)
		sort.Strings(stale)
		for _, n := range undocumented {
			t.Errorf("%s: %s is exported but not documented: add a row", path, n)
		}
		for _, n := range stale {
			t.Errorf("%s: mentions %s, which the %s does not export: fix or delete it", path, n, c)
		}
	}
}
