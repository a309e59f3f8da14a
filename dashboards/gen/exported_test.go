package gen

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentobs/agentobs/alerts/promcheck"
	"github.com/agentobs/agentobs/internal/edge"
	"github.com/agentobs/agentobs/internal/kafkax"
	"github.com/agentobs/agentobs/internal/record"
)

// repo is the module root, seen from dashboards/gen.
const repo = "../.."

var components = []string{"agent", "collector", "shipper", "indexer"}

// exportedMetrics is the set of series names the components export: the
// registries of the shared constructors (internal/edge, internal/kafkax)
// built for each component, each component's METRICS.md table, and the
// metric names its code builds from a `const ns = "agentobs_<c>…"` prefix
// (the component packages are internal, so their registries cannot be
// built from here).
//
// TODO(lead): fold metricsDoc and sourceNames into alerts/promcheck so the
// alert rule check uses the same set.
func exportedMetrics(t *testing.T) promcheck.Exported {
	t.Helper()
	e := promcheck.Exported{}
	for _, n := range promcheck.WellKnown {
		e.Add(n, "prometheus")
	}
	for _, c := range []string{"collector", "shipper"} {
		reg := prometheus.NewRegistry()
		edge.NewMetrics(reg, c, record.DefaultContentFields)
		kafkax.NewProducerMetrics(reg, c)
		if err := e.AddGatherer(reg, "internal/edge+kafkax ("+c+")"); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range components {
		path := filepath.Join(repo, c, "METRICS.md")
		if _, err := os.Stat(path); err == nil {
			if err := metricsDoc(e, path, c+"/METRICS.md"); err != nil {
				t.Fatal(err)
			}
		}
		if err := sourceNames(e, filepath.Join(repo, c), c+" source"); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

var docRow = regexp.MustCompile("^\\|\\s*`(agentobs_[a-z0-9_]+)`\\s*\\|\\s*([a-z ]+)")

// metricsDoc adds the names of a METRICS.md table: | `name` | type | …
func metricsDoc(e promcheck.Exported, path, source string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := docRow.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		addTyped(e, m[1], m[2], source)
	}
	return sc.Err()
}

func addTyped(e promcheck.Exported, name, typ, source string) {
	switch {
	case strings.Contains(typ, "histogram"):
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			e.Add(name+s, source)
		}
	case strings.Contains(typ, "summary"):
		for _, s := range []string{"", "_sum", "_count"} {
			e.Add(name+s, source)
		}
	default:
		e.Add(name, source)
	}
}

var (
	nsConst  = regexp.MustCompile(`const ns = "(agentobs_[a-z0-9_]+)"`)
	nsMetric = regexp.MustCompile(`prometheus\.New(\w+)\(prometheus\.\w+Opts\{Name: ns \+ "([a-z0-9_]+)"`)
)

// sourceNames adds the names built as ns + "suffix" in the non-test Go
// files of dir that declare `const ns = "agentobs_…"`.
func sourceNames(e promcheck.Exported, dir, source string) error {
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		ns := nsConst.FindSubmatch(b)
		if ns == nil {
			return nil
		}
		prefix := strings.TrimSuffix(string(ns[1]), "_") + "_"
		for _, m := range nsMetric.FindAllSubmatch(b, -1) {
			typ := strings.ToLower(string(m[1]))
			addTyped(e, prefix+strings.TrimPrefix(string(m[2]), "_"), typ, source)
		}
		return nil
	})
}
