// Package links is the one place that builds every trace-id link of
// agentobs: from Grafana panels, exemplars and data sources, from Kibana's
// data view, and from the Jaeger UI, to the logs and spans of one trace.
//
// Every link is built from a trace-id placeholder in the templating syntax of
// the tool that renders it (Grafana's ${__value.raw}, Jaeger's #{traceID},
// Kibana's {{value}}), so the generator (../gen) writes them into dashboards
// and provisioning files, and tests build the same links from a real trace id
// and run the Elasticsearch query each one stands for (Link.ESQuery) against
// the real local cluster.
package links

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// Names shared by the dashboards, the provisioning files and the links.
const (
	// Data source UIDs fixed by the provisioning file (compose and Helm rely on them).
	PrometheusUID   = "prometheus"
	LogsUID         = "elasticsearch-logs"
	TracesUID       = "elasticsearch-traces"
	JaegerUID       = "jaeger"
	LogsDataViewID  = "agentobs-logs"          // Kibana data view over the log alias
	TraceSearchID   = "agentobs-trace-records" // Kibana saved search "all records of a trace"
	TracesDataView  = "agentobs-traces"        // Kibana data view over the trace summaries
	SpansUID        = "elasticsearch-spans"
	SpansDataView   = "agentobs-spans"       // Kibana data view over the span indices (OTLP spans)
	LogsDashboard   = "agentobs-logs-traces" // Grafana dashboard uid of "Logs and traces"
	logsDashSlug    = "agentobs-logs-and-traces"
	TraceVar        = "trace_id" // Grafana variable holding the selected trace
	TraceField      = "trace.id"
	TimestampField  = "@timestamp"
	AllTraces       = "*" // TraceVar's value when no trace is selected
	DefaultLookBack = "now-7d"
)

// Placeholders of the trace id in each templating language.
const (
	GrafanaValue = "${__value.raw}"     // Grafana data links and exemplar links
	GrafanaSpan  = "${__trace.traceId}" // Grafana trace-to-logs queries
	JaegerTrace  = "#{traceID}"         // Jaeger UI linkPatterns of type "traces"
	KibanaValue  = "{{value}}"          // Kibana url field format
)

// Widen is how far a trace-to-logs query reaches before a span's start and
// after its end: a log line is stamped by its writer's clock, which may be
// a little off the span's, and an exit message is often written after the
// span ended.
const Widen = time.Second

// Config holds the external base URLs of the UIs (for links leaving a UI);
// links inside Grafana are relative and need none.
type Config struct {
	GrafanaURL  string // default http://localhost:3000
	KibanaURL   string // default http://localhost:5601
	JaegerURL   string // default http://localhost:16686
	ExplorerURL string // the indexer's trace explorer; default http://localhost:9400
}

// DefaultConfig is what compose publishes on the host.
func DefaultConfig() Config {
	return Config{GrafanaURL: "http://localhost:3000", KibanaURL: "http://localhost:5601", JaegerURL: "http://localhost:16686",
		ExplorerURL: "http://localhost:9400"}
}

// ExplorerEnv is the environment variable holding the explorer's base URL
// where a tool expands environment variables (Grafana provisioning) or the
// import rewrites it (dashboards/kibana/import.sh).
const ExplorerEnv = "EXPLORER_URL"

// Explorer opens the trace in the indexer's trace explorer (/ui/): its span
// waterfall with every log line under its span, or its records in order.
func Explorer(base, id string) Link {
	return Link{Name: "Trace in the explorer", URL: base + "/ui/traces/" + id, Query: Query(id)}
}

// Link is one way to get from a trace id to its records.
type Link struct {
	Name string // shown to the user
	URL  string
	// Query is the Lucene/KQL query string the link's target runs against
	// the log indices ("" for a link to the trace backend).
	Query string
}

// Query is the query string that selects every record of a trace; it is
// both valid Lucene (Grafana) and KQL (Kibana).
func Query(traceID string) string { return TraceField + `:"` + traceID + `"` }

// sentinel stands for the placeholder while a URL is escaped, so the
// placeholder's braces stay raw for the tool that substitutes them.
const sentinel = "f00dfacef00dfacef00dfacef00dface"

func splice(build func(id string) string, placeholder string) string {
	return strings.ReplaceAll(build(sentinel), sentinel, placeholder)
}

// GrafanaDashboard opens the "Logs and traces" dashboard filtered to the trace;
// base "" gives a link relative to Grafana's root. timeRange is a query
// string fragment ("from=now-7d&to=now", or Grafana's ${__url_time_range}).
func GrafanaDashboard(base, id, timeRange string) Link {
	u := splice(func(s string) string {
		return base + "/d/" + LogsDashboard + "/" + logsDashSlug + "?var-" + TraceVar + "=" + s + "&" + timeRange
	}, id)
	return Link{Name: "Logs and traces dashboard", URL: u, Query: Query(id)}
}

// explore builds a Grafana Explore URL (schemaVersion 1 "panes" format).
func explore(base string, ds, dsType, query string, extra map[string]any) string {
	q := map[string]any{"refId": "A", "datasource": map[string]string{"type": dsType, "uid": ds}, "query": query}
	for k, v := range extra {
		q[k] = v
	}
	panes := map[string]any{"trace": map[string]any{
		"datasource": ds,
		"queries":    []any{q},
		"range":      map[string]string{"from": DefaultLookBack, "to": "now"},
	}}
	b, _ := json.Marshal(panes)
	return base + "/explore?schemaVersion=1&orgId=1&panes=" + url.QueryEscape(string(b))
}

// GrafanaExploreLogs opens Grafana Explore on the logs data source with the
// trace's query.
func GrafanaExploreLogs(base, id string) Link {
	u := splice(func(s string) string {
		return explore(base, LogsUID, "elasticsearch", Query(s), map[string]any{
			"metrics": []any{map[string]any{"id": "1", "type": "logs"}}, "timeField": TimestampField,
		})
	}, id)
	return Link{Name: "Logs in Explore", URL: u, Query: Query(id)}
}

// GrafanaExploreTrace opens the trace in Grafana Explore on the Jaeger data source.
func GrafanaExploreTrace(base, id string) Link {
	u := splice(func(s string) string { return explore(base, JaegerUID, "jaeger", s, map[string]any{"queryType": ""}) }, id)
	return Link{Name: "Spans in Explore (Jaeger)", URL: u}
}

// Jaeger opens the trace in Jaeger's own UI.
func Jaeger(base, id string) Link {
	return Link{Name: "Spans in Jaeger", URL: base + "/trace/" + id}
}

// Kibana opens the saved search "all records of a trace" in Discover with
// the trace's query (rison-encoded app state, Kibana 8).
func Kibana(base, id string) Link {
	u := splice(func(s string) string {
		return base + "/app/discover#/view/" + TraceSearchID +
			"?_g=(time:(from:" + DefaultLookBack + ",to:now))" +
			"&_a=(query:(language:kuery,query:'" + risonEscape(Query(s)) + "'))"
	}, id)
	return Link{Name: "Records in Kibana", URL: u, Query: Query(id)}
}

// risonEscape escapes a string for a single-quoted rison string.
func risonEscape(s string) string {
	return strings.NewReplacer("!", "!!", "'", "!'").Replace(s)
}

// TraceToLogs is Grafana's trace-to-logs configuration of the Jaeger data
// source: from a span to the records of its trace, the span's time range
// widened by Widen on each side.
type TraceToLogs struct {
	DatasourceUID      string `json:"datasourceUid" yaml:"datasourceUid"`
	SpanStartTimeShift string `json:"spanStartTimeShift" yaml:"spanStartTimeShift"`
	SpanEndTimeShift   string `json:"spanEndTimeShift" yaml:"spanEndTimeShift"`
	FilterByTraceID    bool   `json:"filterByTraceID" yaml:"filterByTraceID"`
	FilterBySpanID     bool   `json:"filterBySpanID" yaml:"filterBySpanID"`
	CustomQuery        bool   `json:"customQuery" yaml:"customQuery"`
	Query              string `json:"query" yaml:"query"`
}

// TraceToLogsConfig is the trace-to-logs link of the Jaeger data source.
func TraceToLogsConfig() TraceToLogs {
	return TraceToLogs{
		DatasourceUID:      LogsUID,
		SpanStartTimeShift: "-" + Widen.String(),
		SpanEndTimeShift:   Widen.String(),
		CustomQuery:        true,
		Query:              Query(GrafanaSpan),
	}
}

// TraceToLogsWindow is the time range the trace-to-logs query covers for a
// span from start to end.
func TraceToLogsWindow(start, end time.Time) (from, to time.Time) {
	return start.Add(-Widen), end.Add(Widen)
}

// ESQuery is the Elasticsearch query DSL a link's query string runs as, the
// way Grafana's Elasticsearch data source and Kibana send it: a
// query_string filter and, when from/to are set, a range on @timestamp.
func ESQuery(query string, from, to time.Time) map[string]any {
	filter := []any{map[string]any{"query_string": map[string]any{"query": query, "analyze_wildcard": true}}}
	if !from.IsZero() || !to.IsZero() {
		r := map[string]any{"format": "strict_date_optional_time_nanos"}
		if !from.IsZero() {
			r["gte"] = from.UTC().Format(time.RFC3339Nano)
		}
		if !to.IsZero() {
			r["lte"] = to.UTC().Format(time.RFC3339Nano)
		}
		filter = append(filter, map[string]any{"range": map[string]any{TimestampField: r}})
	}
	return map[string]any{"bool": map[string]any{"filter": filter}}
}

// All returns every link from a trace id (or placeholder) as a UI outside
// Grafana would render them (absolute URLs).
func (c Config) All(id string) []Link {
	return []Link{
		Explorer(c.ExplorerURL, id),
		GrafanaDashboard(c.GrafanaURL, id, "from="+DefaultLookBack+"&to=now"),
		GrafanaExploreLogs(c.GrafanaURL, id),
		GrafanaExploreTrace(c.GrafanaURL, id),
		Kibana(c.KibanaURL, id),
		Jaeger(c.JaegerURL, id),
	}
}
