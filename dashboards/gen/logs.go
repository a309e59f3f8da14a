package gen

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	es "github.com/grafana/grafana-foundation-sdk/go/elasticsearch"
	"github.com/grafana/grafana-foundation-sdk/go/logs"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/agentobs/agentobs/dashboards/links"
)

// The Lucene queries of the "Logs and traces" panels, exported so the tests
// run them (after Grafana's variable interpolation) against Elasticsearch.
//
// trace_id is a text box whose empty state is "*". A plain trace.id:* would
// hide records without a trace, so the second branch admits those: every
// record has an event.id, which matches "*" and never a trace id (an event
// id is a hash of the record's source, not a trace id). The :raw format
// keeps the "*" unescaped; a trace id is hex and needs no escaping.
const (
	LogsQuery = `service.name:$service AND log.level:$level AND ` +
		`(trace.id:${trace_id:raw} OR (NOT _exists_:trace.id AND event.id:${trace_id:raw}))`
	FailingTracesQuery = `error_count:>0 AND services:$service AND trace.id:${trace_id:raw}`
	TracesQuery        = `services:$service AND trace.id:${trace_id:raw}`
	// SpansQuery reads the span indices (OTLP spans, one document each).
	SpansQuery = `service.name:$service AND trace.id:${trace_id:raw}`
)

// Elasticsearch fields the dashboards read, besides those in the queries.
var (
	LogsFields   = []string{"@timestamp", "message", "log.level", "service.name", "service.instance.id", "trace.id", "span.id", "event.id"}
	TracesFields = []string{"@timestamp", "trace.id", "root_service", "services", "first_timestamp", "last_timestamp", "duration_ms", "record_count", "error_count", "worst_level"}
	SpansFields  = []string{"@timestamp", "trace.id", "span.id", "parent.id", "span.name", "span.kind", "service.name", "event.duration", "span.status.code", "span.status.message"}
)

const (
	kibanaVar   = "kibana_url"
	explorerVar = "explorer_url"
)

var (
	logsDS   = dsRef("elasticsearch", "${logs}")
	tracesDS = dsRef("elasticsearch", links.TracesUID)
	spansDS  = dsRef("elasticsearch", links.SpansUID)
)

// logsAndTraces answers "what happened in this service, at this level, in
// this trace?": log volume, the records themselves, and the failing traces,
// every trace id a link to the same dashboard filtered to it, to its spans
// and to Kibana.
func logsAndTraces() *dashboard.DashboardBuilder {
	b := dashboard.NewDashboardBuilder("agentobs / Logs and traces").Uid(links.LogsDashboard).
		Description("Log records of the agent fleet by service, level and trace, and the traces that failed. Click a trace id to see all its records, its spans in Jaeger, or the same records in Kibana.").
		Tags([]string{"agentobs"}).Refresh("1m").Time("now-1h", "now").Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).Readonly()

	b.WithVariable(dashboard.NewDatasourceVariableBuilder("logs").Label("Logs data source").Type("elasticsearch").
		Regex("/[Ll]ogs/").Current(option("Elasticsearch logs", links.LogsUID)))
	b.WithVariable(dashboard.NewQueryVariableBuilder("service").Label("Service").Datasource(logsDS).
		Query(dashboard.StringOrMap{String: ptr(`{"find": "terms", "field": "service.name", "size": 500}`)}).
		Definition(`{"find": "terms", "field": "service.name", "size": 500}`).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).IncludeAll(true).AllValue("*").Current(option("All", "$__all")))
	b.WithVariable(dashboard.NewCustomVariableBuilder("level").Label("Level").
		Values(dashboard.StringOrMap{String: ptr("trace,debug,info,warn,error,fatal")}).
		Multi(true).IncludeAll(true).AllValue("*").Current(option("All", "$__all")))
	b.WithVariable(dashboard.NewTextBoxVariableBuilder(links.TraceVar).Label("Trace id").
		Description("32 hex digits; * for all records.").
		DefaultValue(dashboard.StringOrMap{String: ptr(links.AllTraces)}).Current(option(links.AllTraces, links.AllTraces)))
	b.WithVariable(dashboard.NewConstantVariableBuilder(kibanaVar).Value(dashboard.StringOrMap{String: ptr(links.DefaultConfig().KibanaURL)}))
	b.WithVariable(dashboard.NewConstantVariableBuilder(explorerVar).Value(dashboard.StringOrMap{String: ptr(links.DefaultConfig().ExplorerURL)}))

	trace := "${" + links.TraceVar + "}"
	b.Link(dashboard.NewDashboardLinkBuilder("Trace " + trace + " in the explorer").Type(dashboard.DashboardLinkTypeLink).
		Url(links.Explorer("${"+explorerVar+"}", trace).URL).Icon("external link").Tooltip("Open the selected trace in the trace explorer: its span waterfall with every log line under its span").
		Tags([]string{}).AsDropdown(false).KeepTime(false).IncludeVars(false).TargetBlank(true))
	b.Link(dashboard.NewDashboardLinkBuilder("Spans of trace " + trace + " (Jaeger)").Type(dashboard.DashboardLinkTypeLink).
		Url(links.GrafanaExploreTrace("", trace).URL).Icon("external link").Tooltip("Open the selected trace in Explore on the Jaeger data source").
		Tags([]string{}).AsDropdown(false).KeepTime(false).IncludeVars(false).TargetBlank(true))
	b.Link(dashboard.NewDashboardLinkBuilder("Records of trace " + trace + " (Kibana)").Type(dashboard.DashboardLinkTypeLink).
		Url(links.Kibana("${"+kibanaVar+"}", trace).URL).Icon("external link").Tooltip("Open the selected trace's records in Kibana Discover").
		Tags([]string{}).AsDropdown(false).KeepTime(false).IncludeVars(false).TargetBlank(true))
	b.Link(dashboard.NewDashboardLinkBuilder("agentobs dashboards").Type(dashboard.DashboardLinkTypeDashboards).
		Tags([]string{"agentobs"}).AsDropdown(true).KeepTime(true).IncludeVars(false).Icon("external link").Tooltip("").Url("").TargetBlank(false))

	b.WithPanel(timeseries.NewPanelBuilder().Title("Log volume by level").
		Description("Records per interval by log.level, for the selected services and trace.").
		Datasource(logsDS).Unit("short").Span(24).Height(7).
		WithTarget(esQuery(logsDS, LogsQuery,
			[]es.MetricAggregation{{Count: &es.Count{Type: es.MetricAggregationTypeCount, Id: "1"}}},
			[]es.BucketAggregation{
				{Terms: &es.Terms{Type: es.BucketAggregationTypeTerms, Id: "3", Field: ptr("log.level"),
					Settings: &es.ElasticsearchTermsSettings{Size: ptr("10"), Order: ptr(es.TermsOrderDesc), OrderBy: ptr("_count"), MinDocCount: ptr("1")}}},
				{DateHistogram: &es.DateHistogram{Type: es.BucketAggregationTypeDateHistogram, Id: "2", Field: ptr("@timestamp"),
					Settings: &es.ElasticsearchDateHistogramSettings{Interval: ptr("auto"), MinDocCount: ptr("0")}}},
			})).
		DrawStyle(common.GraphDrawStyleBars).FillOpacity(80).Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
		Legend(common.NewVizLegendOptionsBuilder().ShowLegend(true).DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementRight)).
		Thresholds(greenOnly()).
		OverrideByName("error", color("red")).OverrideByName("fatal", color("dark-red")).OverrideByName("warn", color("orange")))

	b.WithPanel(logs.NewPanelBuilder().Title("Log records").
		Description("Records matching service, level and trace id, newest first. Expand one and click its trace.id for all records of the trace or its spans.").
		Datasource(logsDS).Span(24).Height(14).Unit("short").
		WithTarget(esQuery(logsDS, LogsQuery,
			[]es.MetricAggregation{{Logs: &es.Logs{Type: es.MetricAggregationTypeLogs, Id: "1", Settings: &es.ElasticsearchLogsSettings{Limit: ptr("500")}}}}, nil)).
		ShowTime(true).WrapLogMessage(true).EnableLogDetails(true).SortOrder(common.LogsSortOrderDescending).
		DedupStrategy(common.LogsDedupStrategyNone).ShowCommonLabels(false).ShowLabels(false).PrettifyLogMessage(false))

	b.WithPanel(spansTable())

	b.WithPanel(traceTable("Recent failing traces",
		"Traces with at least one error record, newest first, from the per-trace summary index. Click a trace id to filter this dashboard to it, or open its spans or its records in Kibana.",
		FailingTracesQuery, 14))
	b.WithPanel(traceTable("Trace summaries",
		"Summaries of the selected trace (or of all recent traces when trace id is *): services, time span, record and error counts.",
		TracesQuery, 10))
	return b
}

func color(c string) []dashboard.DynamicConfigValue {
	return []dashboard.DynamicConfigValue{{Id: "color", Value: map[string]any{"mode": "fixed", "fixedColor": c}}}
}

func esQuery(ds common.DataSourceRef, q string, metrics []es.MetricAggregation, buckets []es.BucketAggregation) cog.Builder[variants.Dataquery] {
	if buckets == nil {
		buckets = []es.BucketAggregation{}
	}
	return es.NewDataqueryBuilder().Datasource(ds).RefId("A").Query(q).TimeField(links.TimestampField).Metrics(metrics).BucketAggs(buckets)
}

// traceLinks are the data links of a trace.id cell: the trace in the
// explorer, this dashboard filtered to the trace, its spans, its records in
// Kibana.
func traceLinks() []map[string]any {
	out := []map[string]any{}
	for _, l := range []links.Link{
		links.Explorer("${"+explorerVar+"}", links.GrafanaValue),
		links.GrafanaDashboard("", links.GrafanaValue, "${__url_time_range}"),
		links.GrafanaExploreTrace("", links.GrafanaValue),
		links.Kibana("${"+kibanaVar+"}", links.GrafanaValue),
	} {
		out = append(out, map[string]any{"title": l.Name, "url": l.URL, "targetBlank": l.Name != "Logs and traces dashboard"})
	}
	return out
}

func traceTable(title, desc, query string, h uint32) *table.PanelBuilder {
	return table.NewPanelBuilder().Title(title).Description(desc).Datasource(tracesDS).Span(24).Height(h).Unit("short").
		WithTarget(esQuery(tracesDS, query,
			[]es.MetricAggregation{{RawData: &es.RawData{Type: es.MetricAggregationTypeRawData, Id: "1", Settings: &es.ElasticsearchRawDataSettings{Size: ptr("100")}}}}, nil)).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"indexByName":   indexByName(TracesFields),
			"excludeByName": map[string]any{"_id": true, "_index": true, "_type": true, "highlight": true, "sort": true, "updated_at": true, "session.id": true, "gen_ai.conversation.id": true, "trace_id": true},
			"renameByName":  map[string]any{"trace.id": "trace id", "root_service": "root service", "first_timestamp": "first record", "last_timestamp": "last record", "duration_ms": "duration", "record_count": "records", "error_count": "errors", "worst_level": "worst level"},
		}}).
		Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps("green"))).
		OverrideByName("trace.id", []dashboard.DynamicConfigValue{{Id: "links", Value: traceLinks()}}).
		OverrideByName("duration_ms", []dashboard.DynamicConfigValue{{Id: "unit", Value: "ms"}}).
		OverrideByName("error_count", []dashboard.DynamicConfigValue{
			{Id: "thresholds", Value: map[string]any{"mode": "absolute", "steps": steps("green", 1, "red")}},
			{Id: "custom.cellOptions", Value: map[string]any{"type": "color-text"}},
		}).
		SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("first record").Desc(true)})
}

// spansTable lists the spans (OTLP, from the span indices) of the selected
// services and trace, newest first, errors in red; every trace id links on.
func spansTable() *table.PanelBuilder {
	order := map[string]any{}
	for i, f := range SpansFields {
		order[f] = i
	}
	return table.NewPanelBuilder().Title("Spans").
		Description("Spans (OTLP, stored by the indexer in agentobs-spans-*) of the selected services and trace, newest first; errors in red. Select a trace id for its spans only; the trace lookup (indexer /v1/traces/{id}, /ui/) shows them as a tree with the log records under each span.").
		Datasource(spansDS).Span(24).Height(12).Unit("short").
		WithTarget(esQuery(spansDS, SpansQuery,
			[]es.MetricAggregation{{RawData: &es.RawData{Type: es.MetricAggregationTypeRawData, Id: "1", Settings: &es.ElasticsearchRawDataSettings{Size: ptr("200")}}}}, nil)).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"indexByName":   order,
			"excludeByName": map[string]any{"_id": true, "_index": true, "_type": true, "highlight": true, "sort": true},
			"renameByName":  map[string]any{"trace.id": "trace id", "span.name": "span", "event.duration": "duration", "span.status.code": "status"},
		}}).
		Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps("green"))).
		OverrideByName("trace.id", []dashboard.DynamicConfigValue{{Id: "links", Value: traceLinks()}}).
		OverrideByName("event.duration", []dashboard.DynamicConfigValue{{Id: "unit", Value: "ns"}}).
		OverrideByName("span.status.code", []dashboard.DynamicConfigValue{
			{Id: "mappings", Value: []any{map[string]any{"type": "value", "options": map[string]any{"error": map[string]any{"color": "red", "index": 0}}}}},
			{Id: "custom.cellOptions", Value: map[string]any{"type": "color-text"}},
		}).
		SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("@timestamp").Desc(true)})
}

func indexByName(fields []string) map[string]any {
	m := map[string]any{}
	order := []string{"trace.id", "root_service", "services", "first_timestamp", "duration_ms", "record_count", "error_count", "worst_level", "last_timestamp", "@timestamp"}
	for i, f := range order {
		m[f] = i
	}
	_ = fields
	return m
}
