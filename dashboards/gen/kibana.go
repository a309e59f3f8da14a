package gen

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/agentobs/agentobs/dashboards/links"
)

// Kibana saved object ids (stable, so a re-import overwrites them).
const (
	KibanaErrorsSearch   = "agentobs-errors-by-service"
	KibanaReleaseSearch  = "agentobs-logs-by-release"
	KibanaFailingTraces  = "agentobs-failing-traces"
	KibanaErrorSpans     = "agentobs-error-spans"
	KibanaVolumeLevel    = "agentobs-volume-by-level"
	KibanaVolumeService  = "agentobs-volume-by-service"
	KibanaDashboard      = "agentobs-logs-overview"
	KibanaTraceRecordsQ  = links.TraceField + ":*"
	kibanaVersion        = "8.19.0"
	kibanaSearchIndexRef = "kibanaSavedObjectMeta.searchSourceJSON.index"
)

// SavedObject is one line of the Kibana saved objects NDJSON.
type SavedObject struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Attributes map[string]any `json:"attributes"`
	References []Reference    `json:"references"`
}

// Reference is a saved object reference.
type Reference struct {
	Name string `json:"name"`
	Type string `json:"type"`
	ID   string `json:"id"`
}

func jsonString(v any) string {
	b, err := encodeJSON(v, false)
	if err != nil {
		panic(err)
	}
	return string(bytes.TrimSuffix(b, []byte("\n")))
}

// encodeJSON marshals without HTML escaping (URLs stay readable), with a
// final newline.
func encodeJSON(v any, indent bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	err := enc.Encode(v)
	return buf.Bytes(), err
}

// traceIDFormat renders trace.id as a link to the trace in the explorer
// (its spans and every record; Kibana substitutes {{value}}, URL-encoded).
// The base is compose's; import.sh rewrites it to $EXPLORER_URL when set.
func traceIDFormat() string {
	return jsonString(map[string]any{links.TraceField: map[string]any{"id": "url", "params": map[string]any{
		"type": "a", "urlTemplate": links.Explorer(links.DefaultConfig().ExplorerURL, links.KibanaValue).URL, "labelTemplate": links.KibanaValue, "openLinkInCurrentTab": true,
	}}})
}

func dataView(id, title, name string) SavedObject {
	return SavedObject{Type: "index-pattern", ID: id, References: []Reference{}, Attributes: map[string]any{
		"title": title, "name": name, "timeFieldName": links.TimestampField, "fieldFormatMap": traceIDFormat(),
		"allowHidden": false,
	}}
}

func searchSource(query string) map[string]any {
	return map[string]any{"searchSourceJSON": jsonString(map[string]any{
		"query": map[string]any{"query": query, "language": "kuery"}, "filter": []any{}, "indexRefName": kibanaSearchIndexRef,
	})}
}

func search(id, title, desc, dataView, query string, columns []string, sort [][]string) SavedObject {
	return SavedObject{Type: "search", ID: id,
		References: []Reference{{Name: kibanaSearchIndexRef, Type: "index-pattern", ID: dataView}},
		Attributes: map[string]any{
			"title": title, "description": desc, "columns": columns, "sort": sort, "grid": map[string]any{},
			"hideChart": false, "isTextBasedQuery": false, "kibanaSavedObjectMeta": searchSource(query),
		}}
}

// volume is a stacked bar chart of record counts over time split by field.
func volume(id, title, field string, size int) SavedObject {
	vis := map[string]any{
		"title": title, "type": "histogram",
		"aggs": []any{
			map[string]any{"id": "1", "enabled": true, "type": "count", "params": map[string]any{}, "schema": "metric"},
			map[string]any{"id": "2", "enabled": true, "type": "date_histogram", "schema": "segment",
				"params": map[string]any{"field": links.TimestampField, "interval": "auto", "min_doc_count": 1, "extended_bounds": map[string]any{}}},
			map[string]any{"id": "3", "enabled": true, "type": "terms", "schema": "group",
				"params": map[string]any{"field": field, "size": size, "order": "desc", "orderBy": "1", "otherBucket": true, "otherBucketLabel": "Other", "missingBucket": false}},
		},
		"params": map[string]any{
			"type": "histogram", "grid": map[string]any{"categoryLines": false},
			"categoryAxes": []any{map[string]any{"id": "CategoryAxis-1", "type": "category", "position": "bottom", "show": true,
				"scale": map[string]any{"type": "linear"}, "labels": map[string]any{"show": true, "filter": true, "truncate": 100}, "title": map[string]any{}}},
			"valueAxes": []any{map[string]any{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value", "position": "left", "show": true,
				"scale": map[string]any{"type": "linear", "mode": "normal"}, "labels": map[string]any{"show": true, "rotate": 0, "filter": false, "truncate": 100},
				"title": map[string]any{"text": "Records"}}},
			"seriesParams": []any{map[string]any{"show": true, "type": "histogram", "mode": "stacked", "data": map[string]any{"label": "Records", "id": "1"},
				"valueAxis": "ValueAxis-1", "drawLinesBetweenPoints": true, "lineWidth": 2, "showCircles": true}},
			"addTooltip": true, "addLegend": true, "legendPosition": "right", "times": []any{}, "addTimeMarker": false,
			"labels":        map[string]any{"show": false},
			"thresholdLine": map[string]any{"show": false, "value": 10, "width": 1, "style": "full", "color": "#E7664C"},
		},
	}
	return SavedObject{Type: "visualization", ID: id,
		References: []Reference{{Name: kibanaSearchIndexRef, Type: "index-pattern", ID: links.LogsDataViewID}},
		Attributes: map[string]any{
			"title": title, "description": "", "visState": jsonString(vis), "uiStateJSON": "{}", "version": 1,
			"kibanaSavedObjectMeta": map[string]any{"searchSourceJSON": jsonString(map[string]any{
				"query": map[string]any{"query": "", "language": "kuery"}, "filter": []any{}, "indexRefName": kibanaSearchIndexRef,
			})},
		}}
}

// KibanaObjects are the saved objects: data views, saved searches,
// visualizations and the dashboard, in dependency order.
func KibanaObjects() []SavedObject {
	objs := []SavedObject{
		dataView(links.LogsDataViewID, "agentobs-logs", "agentobs logs"),
		dataView(links.TracesDataView, "agentobs-traces", "agentobs trace summaries"),
		dataView(links.SpansDataView, "agentobs-spans", "agentobs spans"),
		search(KibanaErrorsSearch, "agentobs: errors by service",
			"Error and fatal records, grouped by service (sorted by service, newest first). Click a trace.id for all records of its trace.",
			links.LogsDataViewID, "log.level:(error or fatal)",
			[]string{"service.name", "log.level", "message", "trace.id"}, [][]string{{"service.name", "asc"}, {links.TimestampField, "desc"}}),
		search(KibanaReleaseSearch, "agentobs: agent logs by release",
			"Records that name their release (service.version), grouped by service and version, newest first: compare a canary with stable. Narrow with service.version:\"<version>\" and log.level:error.",
			links.LogsDataViewID, "service.version:*",
			[]string{"service.name", "service.version", "log.level", "message", "trace.id"},
			[][]string{{"service.name", "asc"}, {"service.version", "asc"}, {links.TimestampField, "desc"}}),
		search(links.TraceSearchID, "agentobs: all records of a trace",
			"Every record of one trace in time order across services. Links from Grafana, Jaeger and trace.id cells open it with trace.id:\"<id>\".",
			links.LogsDataViewID, KibanaTraceRecordsQ,
			[]string{"service.name", "log.level", "span.id", "message"}, [][]string{{links.TimestampField, "asc"}}),
		search(KibanaFailingTraces, "agentobs: top failing traces",
			"Traces with errors from the per-trace summary index, most errors first.",
			links.TracesDataView, "error_count > 0",
			[]string{"trace.id", "root_service", "services", "error_count", "worst_level", "record_count", "duration_ms"},
			[][]string{{"error_count", "desc"}, {links.TimestampField, "desc"}}),
		search(KibanaErrorSpans, "agentobs: error spans",
			"Spans (OTLP, from the span indices) with status error, newest first. Click a trace.id for all records of its trace.",
			links.SpansDataView, "span.status.code:error",
			[]string{"service.name", "span.name", "span.status.message", "event.duration", "trace.id"}, [][]string{{links.TimestampField, "desc"}}),
		volume(KibanaVolumeLevel, "agentobs: log volume by level", "log.level", 6),
		volume(KibanaVolumeService, "agentobs: log volume by service", "service.name", 20),
	}
	type panel struct {
		id, typ    string
		x, y, w, h int
	}
	panels := []panel{
		{KibanaVolumeLevel, "visualization", 0, 0, 24, 12},
		{KibanaVolumeService, "visualization", 24, 0, 24, 12},
		{KibanaFailingTraces, "search", 0, 12, 48, 15},
		{KibanaErrorsSearch, "search", 0, 27, 48, 15},
		{KibanaErrorSpans, "search", 0, 42, 48, 15},
	}
	var pj []any
	refs := []Reference{}
	for i, p := range panels {
		idx := fmt.Sprintf("p%d", i+1)
		pj = append(pj, map[string]any{"version": kibanaVersion, "type": p.typ, "panelIndex": idx,
			"gridData":         map[string]any{"x": p.x, "y": p.y, "w": p.w, "h": p.h, "i": idx},
			"embeddableConfig": map[string]any{"enhancements": map[string]any{}}, "panelRefName": "panel_" + idx})
		refs = append(refs, Reference{Name: idx + ":panel_" + idx, Type: p.typ, ID: p.id})
	}
	objs = append(objs, SavedObject{Type: "dashboard", ID: KibanaDashboard, References: refs, Attributes: map[string]any{
		"title":       "agentobs: logs overview",
		"description": "Record volume by level and by service, the traces with most errors, recent errors by service and recent error spans. Every trace.id opens all records of that trace.",
		"panelsJSON":  jsonString(pj), "optionsJSON": jsonString(map[string]any{"useMargins": true, "syncColors": false, "syncCursor": true, "syncTooltips": false, "hidePanelTitles": false}),
		"timeRestore": true, "timeFrom": "now-24h", "timeTo": "now", "refreshInterval": map[string]any{"pause": false, "value": 60000},
		"version": 1, "kibanaSavedObjectMeta": map[string]any{"searchSourceJSON": jsonString(map[string]any{"query": map[string]any{"query": "", "language": "kuery"}, "filter": []any{}})},
	}})
	return objs
}

// KibanaNDJSON is the import file: one saved object per line.
func KibanaNDJSON() ([]byte, error) {
	var buf bytes.Buffer
	for _, o := range KibanaObjects() {
		b, err := encodeJSON(o, false)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

func marshalJSON(v any) ([]byte, error) { return encodeJSON(v, true) }

// Files returns every generated file by its path under dashboards/.
func Files() (map[string][]byte, error) {
	out := map[string][]byte{}
	ds, err := Dashboards()
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if out["grafana/"+d.File], err = MarshalDashboard(d.Model); err != nil {
			return nil, err
		}
	}
	for path, f := range map[string]func() ([]byte, error){
		"provisioning/datasources/agentobs.yaml": DataSources,
		"provisioning/dashboards/agentobs.yaml":  DashboardProvider,
		"jaeger/ui-config.json":                  func() ([]byte, error) { return JaegerUIConfig(links.DefaultConfig()) },
		"kibana/agentobs.ndjson":                 KibanaNDJSON,
	} {
		if out[path], err = f(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return out, nil
}
