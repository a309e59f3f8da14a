package schema

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file; run go test ./indexer/schema -update and review the diff\n%s", name, got)
	}
}

func TestTemplatesGolden(t *testing.T) {
	n, s := DefaultNames(), DefaultSettings()
	golden(t, "index_template.json", IndexTemplate(n, false))
	golden(t, "index_template_datastream.json", IndexTemplate(n, true))
	golden(t, "log_settings.json", LogSettings(s))
	golden(t, "log_mappings.json", LogMappings(s))
	golden(t, "trace_mappings.json", TraceMappings())
	golden(t, "alert_mappings.json", AlertMappings())
}

func TestNames(t *testing.T) {
	n := DefaultNames()
	if err := n.Validate(); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2024, 3, 9, 23, 59, 59, 999999999, time.FixedZone("x", -3600))
	if got := n.Index(ts); got != "agentobs-logs-2024.03.10" {
		t.Errorf("Index = %s", got)
	}
	x := NewIndexer(n)
	if got := x.Index(ts); got != "agentobs-logs-2024.03.10" {
		t.Errorf("Indexer.Index = %s", got)
	}
	if got := x.Index(ts.Add(time.Hour)); got != "agentobs-logs-2024.03.10" {
		t.Errorf("Indexer.Index = %s", got)
	}
	if got := x.Index(ts.Add(-2 * time.Hour)); got != "agentobs-logs-2024.03.09" {
		t.Errorf("Indexer.Index = %s", got)
	}
	if n.Glob() != "agentobs-logs-*" {
		t.Errorf("Glob = %s", n.Glob())
	}
	for _, bad := range []Names{
		{IndexPattern: "agentobs-logs", Alias: "a", Traces: "t", Alerts: "x"},
		{IndexPattern: "Agentobs-{2006}", Alias: "a", Traces: "t", Alerts: "x"},
		{IndexPattern: "agentobs-logs-{2006}", Alias: "agentobs-logs-x", Traces: "t", Alerts: "x"},
		{IndexPattern: "a-{2006}", Alias: "a", Traces: "", Alerts: "x"},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
