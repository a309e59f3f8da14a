package gen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"gopkg.in/yaml.v3"

	"github.com/agentobs/agentobs/dashboards/links"
	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
)

// fixture is a multi-service trace with an error, a record written just
// after its span ended, a second healthy trace and a record without trace,
// indexed through the indexer's installed templates.
type fixture struct {
	es             *elasticsearch.Client
	names          schema.Names
	traceA, traceB string
	spanStart      time.Time // of the span whose exit line comes late
	spanEnd        time.Time
	ids            map[string][]string // "A", "B", "none", "late", "error", "planner" → event ids
	all            []string
}

func newFixture(t *testing.T) *fixture {
	es := harness.RequireES(t)
	prefix := harness.Index(t)
	f := &fixture{es: es, names: schema.WithPrefix(prefix), ids: map[string][]string{},
		traceA: "4bf92f3577b34da6a3ce929d0e0e4736", traceB: "0af7651916cd43dd8448eb211c80319c"}
	ctx := context.Background()
	t.Cleanup(func() { schema.Uninstall(context.Background(), es, f.names) })
	s := schema.DefaultSettings()
	s.Replicas = 0
	if err := schema.Install(ctx, es, f.names, s, schema.Features{}, schema.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}

	base := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Millisecond).Add(123456 * time.Nanosecond)
	f.spanStart, f.spanEnd = base.Add(100*time.Millisecond), base.Add(900*time.Millisecond)
	type rec struct {
		at               time.Duration
		svc, level, msg  string
		trace, span, tag string
	}
	recs := []rec{
		{0, "planner-agent", "info", "task accepted", f.traceA, "00f067aa0ba902b7", "A planner"},
		{100 * time.Millisecond, "tool-runner", "debug", "calling search", f.traceA, "b7ad6b7169203331", "A"},
		{400 * time.Millisecond, "tool-runner", "error", "search failed: timeout", f.traceA, "b7ad6b7169203331", "A error"},
		{700 * time.Millisecond, "llm-gateway", "warn", "retrying llm_call", f.traceA, "53995c3f42cd8ad8", "A"},
		{1400 * time.Millisecond, "tool-runner", "info", "tool span closed", f.traceA, "b7ad6b7169203331", "A late"},
		{2 * time.Second, "planner-agent", "info", "task done", f.traceB, "e457b5a2e4d86bd1", "B planner"},
		{3 * time.Second, "planner-agent", "info", "heartbeat", "", "", "none planner"},
	}
	var bulk bytes.Buffer
	for i, r := range recs {
		rc := record.Record{Timestamp: base.Add(r.at), Message: r.msg, Level: record.Level(r.level), Service: r.svc,
			ServiceInstance: r.svc + "-0", TraceID: r.trace, SpanID: r.span, Dataset: "agentobs.fixture"}
		rc.EventID = publish.EventID("dashboards-fixture", uint64(i), []byte(r.msg))
		doc := rc.AppendJSON(nil)
		fmt.Fprintf(&bulk, `{"create":{"_index":%q,"_id":%q}}`+"\n%s\n", f.names.Index(rc.Timestamp), rc.EventID, doc)
		for _, tag := range strings.Fields(r.tag) {
			f.ids[tag] = append(f.ids[tag], rc.EventID)
		}
		f.all = append(f.all, rc.EventID)
	}
	summary := func(id, root string, services []string, first, last time.Time, n, errs int, worst string) {
		doc, _ := json.Marshal(map[string]any{"trace.id": id, "@timestamp": last.Format(time.RFC3339Nano),
			"first_timestamp": first.Format(time.RFC3339Nano), "last_timestamp": last.Format(time.RFC3339Nano),
			"duration_ms": float64(last.Sub(first)) / 1e6, "services": services, "root_service": root,
			"record_count": n, "error_count": errs, "worst_level": worst})
		fmt.Fprintf(&bulk, `{"index":{"_index":%q,"_id":%q}}`+"\n%s\n", f.names.Traces, id, doc)
	}
	// One span per trace (OTLP spans as the shipper encodes them; flat keys).
	span := func(id, trace, svc, status string, at time.Duration) {
		doc, _ := json.Marshal(map[string]any{"@timestamp": base.Add(at).Format(time.RFC3339Nano), "event.id": trace + id,
			"trace.id": trace, "span.id": id, "span.name": "execute_tool search", "span.kind": "internal", "service.name": svc,
			"event.duration": 300000000, "span.status.code": status, "event.kind": "span"})
		fmt.Fprintf(&bulk, `{"create":{"_index":%q,"_id":%q}}`+"\n%s\n", f.names.SpanNames().Index(base.Add(at)), trace+id, doc)
		f.ids["span "+status] = append(f.ids["span "+status], trace+id)
	}
	span("b7ad6b7169203331", f.traceA, "tool-runner", "error", 100*time.Millisecond)
	span("e457b5a2e4d86bd1", f.traceB, "planner-agent", "unset", 2*time.Second)
	summary(f.traceA, "planner-agent", []string{"planner-agent", "tool-runner", "llm-gateway"}, base, base.Add(1400*time.Millisecond), 5, 1, "error")
	summary(f.traceB, "planner-agent", []string{"planner-agent"}, base.Add(2*time.Second), base.Add(2*time.Second), 1, 0, "info")
	res, err := es.Bulk(bytes.NewReader(bulk.Bytes()), es.Bulk.WithRefresh("true"), es.Bulk.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var br struct {
		Errors bool
		Items  []map[string]struct{ Error json.RawMessage }
	}
	if err := json.NewDecoder(res.Body).Decode(&br); err != nil || res.IsError() || br.Errors {
		t.Fatalf("bulk: %s %v %+v", res.Status(), err, br.Items)
	}
	return f
}

// search runs a query DSL against index and returns the sorted _ids.
func (f *fixture) search(t *testing.T, index string, query map[string]any) []string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "size": 100})
	res, err := f.es.Search(f.es.Search.WithIndex(index), f.es.Search.WithBody(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.IsError() {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("search %s %s: %s %s", index, body, res.Status(), b)
	}
	var r struct {
		Hits struct {
			Hits []struct {
				ID string `json:"_id"`
			}
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range r.Hits.Hits {
		ids = append(ids, h.ID)
	}
	sort.Strings(ids)
	return ids
}

func sorted(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func (f *fixture) expect(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(sorted(want), ",") {
		t.Errorf("%s: found %d records %v, want %d %v", what, len(got), got, len(want), sorted(want))
	}
}

const all = "$__all"

// interpolate does what Grafana does to an Elasticsearch query before
// sending it: the custom "All" value raw, one value Lucene-escaped, several
// as ("a" OR "b"), ${v:raw} unchanged.
func interpolate(q string, vars map[string][]string, allValue map[string]string) string {
	esc := regexp.MustCompile(`([!*+\-=<>\s&|()\[\]{}^~?:\\/"])`)
	return varRef.ReplaceAllStringFunc(q, func(m string) string {
		sm := varRef.FindStringSubmatch(m)
		name := sm[1] + sm[2]
		v, ok := vars[name]
		if !ok {
			return m
		}
		switch {
		case len(v) == 1 && v[0] == all:
			return allValue[name]
		case strings.HasSuffix(m, ":raw}"):
			return strings.Join(v, ",")
		case len(v) == 1:
			return esc.ReplaceAllString(v[0], `\$1`)
		}
		var quoted []string
		for _, x := range v {
			quoted = append(quoted, `"`+esc.ReplaceAllString(x, `\$1`)+`"`)
		}
		return "(" + strings.Join(quoted, " OR ") + ")"
	})
}

var panelAll = map[string]string{"service": "*", "level": "*"}

func panelVars(service, level []string, trace string) map[string][]string {
	return map[string][]string{"service": service, "level": level, links.TraceVar: {trace}}
}

// TestPanelQueriesOnES runs the logs and trace panels' queries, as Grafana
// interpolates them, against the fixture in the real Elasticsearch.
func TestPanelQueriesOnES(t *testing.T) {
	f := newFixture(t)
	logs := func(name string, vars map[string][]string, want []string) {
		t.Helper()
		q := interpolate(LogsQuery, vars, panelAll)
		f.expect(t, name+" ("+q+")", f.search(t, f.names.Alias, links.ESQuery(q, time.Time{}, time.Now())), want)
	}
	logs("everything", panelVars([]string{all}, []string{all}, links.AllTraces), f.all)
	logs("one trace", panelVars([]string{all}, []string{all}, f.traceA), f.ids["A"])
	logs("one service (escaped)", panelVars([]string{"planner-agent"}, []string{all}, links.AllTraces), f.ids["planner"])
	logs("two levels", panelVars([]string{all}, []string{"error", "fatal"}, links.AllTraces), f.ids["error"])
	logs("service and trace", panelVars([]string{"planner-agent", "tool-runner"}, []string{all}, f.traceB), f.ids["B"])

	traces := func(name, query string, vars map[string][]string, want ...string) {
		t.Helper()
		q := interpolate(query, vars, panelAll)
		f.expect(t, name+" ("+q+")", f.search(t, f.names.Traces, links.ESQuery(q, time.Time{}, time.Now())), want)
	}
	traces("failing traces", FailingTracesQuery, panelVars([]string{all}, nil, links.AllTraces), f.traceA)
	traces("failing traces of a service", FailingTracesQuery, panelVars([]string{"llm-gateway"}, nil, links.AllTraces), f.traceA)
	traces("failing traces of a healthy trace", FailingTracesQuery, panelVars([]string{all}, nil, f.traceB))
	traces("trace summaries", TracesQuery, panelVars([]string{all}, nil, links.AllTraces), f.traceA, f.traceB)
	traces("selected trace summary", TracesQuery, panelVars([]string{all}, nil, f.traceB), f.traceB)

	spans := func(name, q string, want ...string) {
		t.Helper()
		f.expect(t, name+" ("+q+")", f.search(t, f.names.SpansAlias, links.ESQuery(q, time.Time{}, time.Now())), want)
	}
	spanA, spanB := f.ids["span error"][0], f.ids["span unset"][0]
	spans("all spans", interpolate(SpansQuery, panelVars([]string{all}, nil, links.AllTraces), panelAll), spanA, spanB)
	spans("spans of a trace", interpolate(SpansQuery, panelVars([]string{all}, nil, f.traceB), panelAll), spanB)
	spans("spans of a service", interpolate(SpansQuery, panelVars([]string{"tool-runner"}, nil, links.AllTraces), panelAll), spanA)
	spans("kibana error spans", "span.status.code:error", spanA)
}

// linkQuery extracts from a link's URL the query its target will run.
func linkQuery(t *testing.T, l links.Link) string {
	t.Helper()
	u, err := url.Parse(l.URL)
	if err != nil {
		t.Fatalf("%s: %v", l.Name, err)
	}
	switch {
	case strings.Contains(u.Path, "/d/"+links.LogsDashboard+"/"):
		id := u.Query().Get("var-" + links.TraceVar)
		return interpolate(LogsQuery, panelVars([]string{all}, []string{all}, id), panelAll)
	case strings.HasSuffix(u.Path, "/explore"):
		var panes map[string]struct {
			Datasource string
			Queries    []struct{ Query string }
		}
		if err := json.Unmarshal([]byte(u.Query().Get("panes")), &panes); err != nil {
			t.Fatalf("%s: panes: %v", l.Name, err)
		}
		for _, p := range panes {
			if p.Datasource == links.JaegerUID {
				return "jaeger:" + p.Queries[0].Query
			}
			return p.Queries[0].Query
		}
	case strings.HasPrefix(u.Fragment, "/view/"+links.TraceSearchID):
		m := regexp.MustCompile(`query:\(language:kuery,query:'((?:[^'!]|!.)*)'\)`).FindStringSubmatch(u.Fragment)
		if m == nil {
			t.Fatalf("%s: no KQL query in %s", l.Name, u.Fragment)
		}
		return strings.NewReplacer("!!", "!", "!'", "'").Replace(m[1])
	case strings.HasPrefix(u.Path, "/trace/"):
		return "jaeger:" + strings.TrimPrefix(u.Path, "/trace/")
	case strings.HasPrefix(u.Path, "/ui/traces/"):
		// The explorer's trace lookup selects the records whose trace.id
		// is the path's id (a term query, as the link's query string).
		return links.Query(strings.TrimPrefix(u.Path, "/ui/traces/"))
	}
	t.Fatalf("%s: unknown link %s", l.Name, l.URL)
	return ""
}

// TestLinksFindTrace: for the fixture trace, every link's query finds
// exactly that trace's records (and the trace backend links carry its id).
func TestLinksFindTrace(t *testing.T) {
	f := newFixture(t)
	ls := links.DefaultConfig().All(f.traceA)
	ls = append(ls, links.GrafanaDashboard("", f.traceA, "from=now-1h&to=now"))
	for _, l := range ls {
		q := linkQuery(t, l)
		if id, ok := strings.CutPrefix(q, "jaeger:"); ok {
			if id != f.traceA {
				t.Errorf("%s: opens trace %q, want %s", l.Name, id, f.traceA)
			}
			continue
		}
		// The dashboard link runs the logs panel's query with the trace
		// variable set; the others run the link's query as is.
		if l.Query != "" && !strings.HasPrefix(q, "service.name:") && q != l.Query {
			t.Errorf("%s: URL runs %q, link says %q", l.Name, q, l.Query)
		}
		f.expect(t, l.Name+" ("+q+")", f.search(t, f.names.Alias, links.ESQuery(q, time.Time{}, time.Now())), f.ids["A"])
	}

	// Trace to logs: the span's window widened by a second on each side
	// finds the record its service wrote after the span ended; the bare
	// span window would miss it.
	cfg := links.TraceToLogsConfig()
	q := strings.ReplaceAll(cfg.Query, links.GrafanaSpan, f.traceA)
	from, to := links.TraceToLogsWindow(f.spanStart, f.spanEnd)
	got := f.search(t, f.names.Alias, links.ESQuery(q, from, to))
	for _, id := range f.ids["late"] {
		if !contains(got, id) {
			t.Errorf("trace to logs (%s, %s..%s) misses the record written after the span ended", q, from, to)
		}
	}
	if bare := f.search(t, f.names.Alias, links.ESQuery(q, f.spanStart, f.spanEnd)); contains(bare, f.ids["late"][0]) {
		t.Errorf("fixture is wrong: the late record lies inside the bare span window")
	}
	if cfg.SpanStartTimeShift != "-1s" || cfg.SpanEndTimeShift != "1s" {
		t.Errorf("trace to logs shifts %s/%s, want -1s/1s", cfg.SpanStartTimeShift, cfg.SpanEndTimeShift)
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// TestCommittedLinksComeFromLinks: the links written into the provisioning
// file, the Jaeger UI config and the Kibana data view, once their tool has
// substituted a trace id, are exactly the links package's.
func TestCommittedLinksComeFromLinks(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	c := links.DefaultConfig()
	want := map[string]bool{}
	for _, l := range append(c.All(id), links.GrafanaDashboard("", id, "from="+links.DefaultLookBack+"&to=now"), links.Kibana("", id)) {
		want[l.URL] = true
	}
	check := func(where, u string) {
		t.Helper()
		if !want[u] {
			t.Errorf("%s links to %s, which the links package does not generate", where, u)
		}
	}
	// Grafana provisioning: $$ is a literal $, then Grafana substitutes the value.
	b, err := os.ReadFile(filepath.Join(root, "provisioning", "datasources", "agentobs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Datasources []struct {
			UID      string
			JSONData map[string]any `yaml:"jsonData"`
		}
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	grafana := func(s string) string {
		s = strings.ReplaceAll(s, "${"+links.ExplorerEnv+"}", c.ExplorerURL)
		s = strings.ReplaceAll(s, "$$", "$")
		s = strings.ReplaceAll(s, links.GrafanaValue, id)
		return strings.ReplaceAll(s, links.GrafanaSpan, id)
	}
	n := 0
	for _, ds := range doc.Datasources {
		var ls []any
		ls = append(ls, list(ds.JSONData["dataLinks"])...)
		ls = append(ls, list(ds.JSONData["exemplarTraceIdDestinations"])...)
		for _, l := range ls {
			lm := l.(map[string]any)
			u := grafana(str(lm["url"]))
			if str(lm["datasourceUid"]) == links.JaegerUID {
				// An exemplar destination passes the label value itself;
				// a data link's url is the query run on the data source.
				if _, exemplar := lm["name"]; !exemplar && u != id {
					t.Errorf("%s: internal Jaeger link queries %q", ds.UID, u)
				}
			} else {
				check("datasource "+ds.UID, u)
			}
			n++
		}
		if t2l, ok := ds.JSONData["tracesToLogsV2"].(map[string]any); ok {
			if got := grafana(str(t2l["query"])); got != links.Query(id) {
				t.Errorf("trace to logs query %q, want %q", got, links.Query(id))
			}
			n++
		}
	}
	// Jaeger UI link patterns.
	var ui struct{ LinkPatterns []struct{ Type, URL string } }
	b, err = os.ReadFile(filepath.Join(root, "jaeger", "ui-config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ui); err != nil {
		t.Fatal(err)
	}
	for _, p := range ui.LinkPatterns {
		check("jaeger ui-config", strings.ReplaceAll(p.URL, links.JaegerTrace, id))
		n++
	}
	// Kibana data view field format.
	for _, o := range KibanaObjects() {
		if o.Type != "index-pattern" {
			continue
		}
		var fm map[string]struct{ Params struct{ URLTemplate string } }
		_ = json.Unmarshal([]byte(str(o.Attributes["fieldFormatMap"])), &fm)
		check("kibana data view "+o.ID, strings.ReplaceAll(fm[links.TraceField].Params.URLTemplate, links.KibanaValue, id))
		n++
	}
	// Grafana table data links.
	for _, l := range traceLinks() {
		u := strings.ReplaceAll(strings.ReplaceAll(str(l["url"]), links.GrafanaValue, id), "${__url_time_range}", "from="+links.DefaultLookBack+"&to=now")
		u = strings.ReplaceAll(u, "${"+kibanaVar+"}", c.KibanaURL)
		u = strings.ReplaceAll(u, "${"+explorerVar+"}", c.ExplorerURL)
		if strings.HasPrefix(u, "/explore") {
			u = c.GrafanaURL + u
		}
		check("trace table data link", u)
		n++
	}
	if n < 10 {
		t.Fatalf("checked only %d links", n)
	}
}
