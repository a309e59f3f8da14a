package gen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/agentobs/agentobs/dashboards/links"
	"github.com/agentobs/agentobs/indexer/schema"
)

// mappedFields flattens an index mapping to its dotted field paths (field
// aliases included: trace_id is a real, queryable name).
func mappedFields(m map[string]any) map[string]bool {
	out := map[string]bool{}
	var walk func(prefix string, props map[string]any)
	walk = func(prefix string, props map[string]any) {
		for name, v := range props {
			f, _ := v.(map[string]any)
			if sub, ok := f["properties"].(map[string]any); ok {
				walk(prefix+name+".", sub)
				continue
			}
			out[prefix+name] = true
		}
	}
	walk("", m["properties"].(map[string]any))
	return out
}

// templateFields are the fields the indexer's templates map, by index kind.
func templateFields() map[string]map[string]bool {
	return map[string]map[string]bool{
		"logs":   mappedFields(schema.LogMappings(schema.DefaultSettings())),
		"traces": mappedFields(schema.TraceMappings()),
		"spans":  mappedFields(schema.SpanMappings(schema.DefaultSettings())),
	}
}

var (
	grafanaVar = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	// queryField finds field names in Lucene/KQL: name: or name > (the
	// value of _exists_: is a field too).
	queryField = regexp.MustCompile(`(?:^|[\s(])(_exists_:)?([A-Za-z@][\w.@]*)\s*(:|[<>]=?)`)
	existsOf   = regexp.MustCompile(`_exists_:([\w.@]+)`)
)

// queryFields returns the fields a Lucene or KQL query names.
func queryFields(q string) []string {
	q = grafanaVar.ReplaceAllString(q, "X")
	var out []string
	for _, m := range queryField.FindAllStringSubmatch(q, -1) {
		if m[2] != "_exists_" && m[2] != "NOT" && m[2] != "AND" && m[2] != "OR" {
			out = append(out, m[2])
		}
	}
	for _, m := range existsOf.FindAllStringSubmatch(q, -1) {
		out = append(out, m[1])
	}
	return out
}

// use records that where reads field of an index kind.
type fieldUses map[string]map[string][]string // kind → field → where

func (u fieldUses) add(kind, field, where string) {
	if u[kind] == nil {
		u[kind] = map[string][]string{}
	}
	u[kind][field] = append(u[kind][field], where)
}

func dsKind(uid string) string {
	switch uid {
	case links.TracesUID:
		return "traces"
	case links.SpansUID:
		return "spans"
	case links.LogsUID, "${logs}":
		return "logs"
	}
	return ""
}

// TestESFieldsInTemplate: every Elasticsearch field a Grafana panel,
// variable, data source or Kibana object uses is mapped by the index
// templates the indexer installs (indexer/schema).
func TestESFieldsInTemplate(t *testing.T) {
	uses := fieldUses{}
	for file, d := range grafanaDashboards(t) {
		for _, p := range panels(d) {
			where := file + ": " + str(p["title"])
			for _, tg := range list(p["targets"]) {
				tm := tg.(map[string]any)
				ds, _ := tm["datasource"].(map[string]any)
				kind := dsKind(str(ds["uid"]))
				if kind == "" {
					continue
				}
				for _, f := range queryFields(str(tm["query"])) {
					uses.add(kind, f, where+" query")
				}
				uses.add(kind, str(tm["timeField"]), where+" timeField")
				for _, a := range append(list(tm["metrics"]), list(tm["bucketAggs"])...) {
					if f := str(a.(map[string]any)["field"]); f != "" {
						uses.add(kind, f, where+" aggregation")
					}
				}
				if kind == "traces" || kind == "spans" {
					fc, _ := p["fieldConfig"].(map[string]any)
					for _, o := range list(fc["overrides"]) {
						m := o.(map[string]any)["matcher"].(map[string]any)
						uses.add(kind, str(m["options"]), where+" override")
					}
					for _, tr := range list(p["transformations"]) {
						opts, _ := tr.(map[string]any)["options"].(map[string]any)
						for _, k := range []string{"indexByName", "renameByName"} {
							for f := range opts[k].(map[string]any) {
								uses.add(kind, f, where+" "+k)
							}
						}
					}
				}
			}
		}
		for _, v := range list(d["templating"].(map[string]any)["list"]) {
			vm := v.(map[string]any)
			ds, _ := vm["datasource"].(map[string]any)
			if kind := dsKind(str(ds["uid"])); kind != "" {
				var q struct{ Field string }
				if err := json.Unmarshal([]byte(str(vm["query"])), &q); err != nil || q.Field == "" {
					t.Errorf("%s: variable %s: query %q is not an Elasticsearch terms query", file, vm["name"], vm["query"])
				}
				uses.add(kind, q.Field, file+": variable "+str(vm["name"]))
			}
		}
	}
	for _, f := range LogsFields {
		uses.add("logs", f, "gen.LogsFields")
	}
	for _, f := range TracesFields {
		uses.add("traces", f, "gen.TracesFields")
	}
	for _, f := range SpansFields {
		uses.add("spans", f, "gen.SpansFields")
	}
	provisionedFields(t, uses)
	kibanaFields(t, uses)

	mapped := templateFields()
	for kind, fields := range uses {
		names := make([]string, 0, len(fields))
		for f := range fields {
			names = append(names, f)
		}
		sort.Strings(names)
		for _, f := range names {
			if !mapped[kind][f] {
				t.Errorf("%s field %q (used by %v) is not in the indexer's template", kind, f, fields[f])
			}
		}
		t.Logf("%s: %d fields used, all mapped", kind, len(names))
	}
	if len(uses["logs"]) < 5 || len(uses["traces"]) < 5 || len(uses["spans"]) < 5 {
		t.Fatalf("too few fields found (%d logs, %d traces, %d spans): the extraction is broken", len(uses["logs"]), len(uses["traces"]), len(uses["spans"]))
	}
}

func provisionedFields(t *testing.T, uses fieldUses) {
	b, err := os.ReadFile(filepath.Join(root, "provisioning", "datasources", "agentobs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Datasources []struct {
			UID      string         `yaml:"uid"`
			JSONData map[string]any `yaml:"jsonData"`
		}
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, ds := range doc.Datasources {
		kind := dsKind(ds.UID)
		if kind == "" {
			continue
		}
		for _, k := range []string{"timeField", "logMessageField", "logLevelField"} {
			if f := str(ds.JSONData[k]); f != "" {
				uses.add(kind, f, "datasource "+ds.UID+" "+k)
			}
		}
		for _, l := range ds.JSONData["dataLinks"].([]any) {
			uses.add(kind, str(l.(map[string]any)["field"]), "datasource "+ds.UID+" dataLinks")
		}
	}
}

// kibanaFields reads the committed NDJSON: data view time fields and field
// formats, saved search queries, columns and sorts, visualization aggs.
func kibanaFields(t *testing.T, uses fieldUses) {
	b, err := os.ReadFile(filepath.Join(root, "kibana", "agentobs.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{links.LogsDataViewID: "logs", links.TracesDataView: "traces", links.SpansDataView: "spans"}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var o SavedObject
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("kibana NDJSON: %v", err)
		}
		where := "kibana " + o.Type + " " + o.ID
		kind := ""
		for _, r := range o.References {
			if r.Type == "index-pattern" {
				kind = kinds[r.ID]
			}
		}
		switch o.Type {
		case "index-pattern":
			kind = kinds[o.ID]
			uses.add(kind, str(o.Attributes["timeFieldName"]), where)
			var fm map[string]any
			_ = json.Unmarshal([]byte(str(o.Attributes["fieldFormatMap"])), &fm)
			for f := range fm {
				uses.add(kind, f, where+" fieldFormatMap")
			}
		case "search":
			for _, c := range list(o.Attributes["columns"]) {
				uses.add(kind, str(c), where+" columns")
			}
			for _, s := range list(o.Attributes["sort"]) {
				uses.add(kind, str(list(s)[0]), where+" sort")
			}
			fallthrough
		case "visualization":
			var ss struct{ Query struct{ Query string } }
			meta := o.Attributes["kibanaSavedObjectMeta"].(map[string]any)
			_ = json.Unmarshal([]byte(str(meta["searchSourceJSON"])), &ss)
			for _, f := range queryFields(ss.Query.Query) {
				uses.add(kind, f, where+" query")
			}
			var vis struct {
				Aggs []struct{ Params map[string]any }
			}
			_ = json.Unmarshal([]byte(str(o.Attributes["visState"])), &vis)
			for _, a := range vis.Aggs {
				if f := str(a.Params["field"]); f != "" {
					uses.add(kind, f, where+" aggregation")
				}
			}
		}
		if kind == "" && o.Type != "dashboard" {
			t.Errorf("%s reads no known data view", where)
		}
	}
}

func TestQueryFields(t *testing.T) {
	f := func(q string, want ...string) {
		t.Helper()
		if got := strings.Join(queryFields(q), ","); got != strings.Join(want, ",") {
			t.Errorf("queryFields(%q) = %s, want %s", q, got, strings.Join(want, ","))
		}
	}
	f(LogsQuery, "service.name", "log.level", "trace.id", "event.id", "trace.id")
	f("error_count > 0", "error_count")
	f("error_count:>0 AND services:$service", "error_count", "services")
	f(`log.level:(error or fatal)`, "log.level")
}
