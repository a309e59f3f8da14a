package gen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/agentobs/agentobs/alerts/promcheck"
	"github.com/agentobs/agentobs/dashboards/links"
)

// grafanaDashboards reads the committed dashboards as plain JSON, the way
// Grafana reads them.
func grafanaDashboards(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "grafana", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards under dashboards/grafana: %v", err)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: invalid JSON: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

// panels flattens top-level panels and the panels of collapsed rows.
func panels(d map[string]any) []map[string]any {
	var out []map[string]any
	for _, p := range list(d["panels"]) {
		pm := p.(map[string]any)
		out = append(out, pm)
		for _, c := range list(pm["panels"]) {
			out = append(out, c.(map[string]any))
		}
	}
	return out
}

func list(v any) []any { l, _ := v.([]any); return l }

func str(v any) string { s, _ := v.(string); return s }

// The schema version the generator targets (grafana-foundation-sdk v0.0.22,
// Grafana 11/12); Grafana migrates older versions on load, so a dashboard
// must declare the one its JSON is written for.
const wantSchemaVersion = 42

var defaultTitles = map[string]bool{"": true, "Panel Title": true, "New panel": true, "Row title": true}

// TestDashboardStructure checks what Grafana needs to load a dashboard
// without errors and what users need to read it.
func TestDashboardStructure(t *testing.T) {
	for file, d := range grafanaDashboards(t) {
		if v, _ := d["schemaVersion"].(float64); int(v) != wantSchemaVersion {
			t.Errorf("%s: schemaVersion %v, want %d", file, d["schemaVersion"], wantSchemaVersion)
		}
		for _, k := range []string{"uid", "title", "panels", "templating", "time", "tags", "description"} {
			if _, ok := d[k]; !ok {
				t.Errorf("%s: missing %q", file, k)
			}
		}
		if uid := str(d["uid"]); uid == "" || len(uid) > 40 {
			t.Errorf("%s: uid %q must be 1-40 characters", file, uid)
		}
		vars := map[string]bool{}
		for _, v := range list(d["templating"].(map[string]any)["list"]) {
			vars[str(v.(map[string]any)["name"])] = true
		}
		ids := map[float64]string{}
		for _, p := range panels(d) {
			title, typ := str(p["title"]), str(p["type"])
			id, ok := p["id"].(float64)
			if !ok {
				t.Errorf("%s: panel %q has no id", file, title)
			} else if prev, dup := ids[id]; dup {
				t.Errorf("%s: panel id %v used by %q and %q", file, id, prev, title)
			}
			ids[id] = title
			if defaultTitles[title] {
				t.Errorf("%s: panel %v (%s) has a default title %q", file, p["id"], typ, title)
			}
			if typ == "row" {
				continue
			}
			if str(p["description"]) == "" {
				t.Errorf("%s: panel %q has no description", file, title)
			}
			defaults, _ := p["fieldConfig"].(map[string]any)["defaults"].(map[string]any)
			if str(defaults["unit"]) == "" {
				t.Errorf("%s: panel %q has no unit", file, title)
			}
			if typ == "stat" || typ == "timeseries" {
				if th, _ := defaults["thresholds"].(map[string]any); len(list(th["steps"])) == 0 {
					t.Errorf("%s: panel %q has no thresholds", file, title)
				}
			}
			if len(list(p["targets"])) == 0 {
				t.Errorf("%s: panel %q has no query", file, title)
			}
			for _, tg := range list(p["targets"]) {
				tm := tg.(map[string]any)
				ds, _ := tm["datasource"].(map[string]any)
				if uid := str(ds["uid"]); !knownDS(uid, vars) {
					t.Errorf("%s: panel %q queries unknown data source %q", file, title, uid)
				}
				for _, q := range []string{str(tm["expr"]), str(tm["query"])} {
					for _, v := range usedVars(q) {
						if !vars[v] && !strings.HasPrefix(v, "__") {
							t.Errorf("%s: panel %q uses undefined variable $%s", file, title, v)
						}
					}
				}
			}
		}
	}
}

func knownDS(uid string, vars map[string]bool) bool {
	switch uid {
	case links.PrometheusUID, links.LogsUID, links.TracesUID, links.SpansUID, links.JaegerUID:
		return true
	}
	if strings.HasPrefix(uid, "${") && strings.HasSuffix(uid, "}") {
		return vars[strings.TrimSuffix(strings.TrimPrefix(uid, "${"), "}")]
	}
	return false
}

var varRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

func usedVars(s string) []string {
	var out []string
	for _, m := range varRef.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1]+m[2])
	}
	return out
}

// expandPromVars replaces Grafana's macros and variables by values that
// parse, the way Grafana would before sending the query.
func expandPromVars(expr string) string {
	for _, m := range []string{"$__rate_interval", "$__interval", "$__range"} {
		expr = strings.ReplaceAll(expr, m, "5m")
	}
	return varRef.ReplaceAllString(expr, "x")
}

// TestPromQL: every Prometheus expression parses, and every metric it reads
// is one a component exports (alerts/promcheck, shared with the rules).
func TestPromQL(t *testing.T) {
	exported := exportedMetrics(t)
	used := map[string][]string{}
	n := 0
	for file, d := range grafanaDashboards(t) {
		exprs := map[string]string{}
		for _, p := range panels(d) {
			for _, tg := range list(p["targets"]) {
				if e := str(tg.(map[string]any)["expr"]); e != "" {
					exprs[file+": "+str(p["title"])] = exprs[file+": "+str(p["title"])] + "\n" + e
					names, err := promcheck.MetricNames(expandPromVars(e))
					if err != nil {
						t.Errorf("%s: panel %q: %v\n%s", file, p["title"], err, e)
						continue
					}
					n++
					for _, name := range names {
						used[name] = append(used[name], file+": "+str(p["title"]))
					}
				}
			}
		}
		for _, v := range list(d["templating"].(map[string]any)["list"]) {
			vm := v.(map[string]any)
			q := str(vm["query"])
			if str(vm["type"]) != "query" || !strings.HasPrefix(q, "label_values(") {
				continue
			}
			metric := strings.TrimSpace(strings.SplitN(strings.SplitN(strings.TrimPrefix(q, "label_values("), ",", 2)[0], "{", 2)[0])
			used[metric] = append(used[metric], file+": variable "+str(vm["name"]))
		}
	}
	if n == 0 {
		t.Fatal("no PromQL expressions found")
	}
	var missing []string
	for name := range used {
		if !exported.Has(name) {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		t.Errorf("%s is read by %v but no component exports it", name, used[name])
	}
	t.Logf("%d expressions read %d metric names, all exported", n, len(used))
}
