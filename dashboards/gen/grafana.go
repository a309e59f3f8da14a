// Package gen generates every file under dashboards/ that carries a query or
// a link: the Grafana dashboards (with grafana-foundation-sdk), the Grafana
// provisioning files, Jaeger's UI link configuration and the Kibana saved
// objects. The committed files are its output; gen_test.go fails when they
// differ and rewrites them with -update.
package gen

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/agentobs/agentobs/dashboards/links"
)

// Dashboard is one generated Grafana dashboard.
type Dashboard struct {
	File  string // under dashboards/grafana/
	Model dashboard.Dashboard
}

// Dashboards builds every Grafana dashboard.
func Dashboards() ([]Dashboard, error) {
	var out []Dashboard
	for _, d := range []struct {
		file  string
		build func() *dashboard.DashboardBuilder
	}{
		{"pipeline-overview.json", pipelineOverview},
		{"agent-fleet.json", agentFleet},
		{"logs-and-traces.json", logsAndTraces},
	} {
		m, err := d.build().Build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.file, err)
		}
		numberPanels(&m)
		out = append(out, Dashboard{File: d.file, Model: m})
	}
	return out, nil
}

// numberPanels gives every panel and row a unique id in layout order; the
// SDK leaves ids to the caller and Grafana needs them unique for links to
// a panel (viewPanel=ID) to be stable.
func numberPanels(d *dashboard.Dashboard) {
	id := uint32(0)
	next := func() uint32 { id++; return id }
	for i := range d.Panels {
		p := &d.Panels[i]
		if p.Panel != nil {
			n := next()
			p.Panel.Id = &n
		}
		if p.RowPanel != nil {
			p.RowPanel.Id = next()
			for j := range p.RowPanel.Panels {
				n := next()
				p.RowPanel.Panels[j].Id = &n
			}
		}
	}
}

// MarshalDashboard is the committed form of a dashboard: indented JSON with
// a final newline.
func MarshalDashboard(d dashboard.Dashboard) ([]byte, error) {
	return encodeJSON(d, true)
}

func ptr[T any](v T) *T { return &v }

func dsRef(typ, uid string) common.DataSourceRef { return common.DataSourceRef{Type: &typ, Uid: &uid} }

// Variables shared by the Prometheus dashboards.
const (
	promDSVar = "${datasource}"
	envVar    = "environment" // Prometheus label set by the scrape config (compose, Helm)
)

var promDS = dsRef("prometheus", promDSVar)

// promVars are the datasource and environment variables; environment is a
// label the scrape configs of compose and Helm attach to every target. With
// "All" its matcher is .*, which also matches series without the label.
func promVars(b *dashboard.DashboardBuilder, envFrom string) {
	b.WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Prometheus").Type("prometheus").
		Current(option("prometheus", links.PrometheusUID)))
	b.WithVariable(dashboard.NewQueryVariableBuilder(envVar).Label("Environment").Datasource(promDS).
		Query(dashboard.StringOrMap{String: ptr(fmt.Sprintf("label_values(%s, %s)", envFrom, envVar))}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).IncludeAll(true).AllValue(".*").Current(option("All", "$__all")))
}

func option(text, value string) dashboard.VariableOption {
	return dashboard.VariableOption{Selected: ptr(true), Text: dashboard.StringOrArrayOfString{String: &text}, Value: dashboard.StringOrArrayOfString{String: &value}}
}

// sel expands SEL in an expression to the label matchers every query of a
// dashboard carries.
func sel(matchers string) func(string) string {
	return func(expr string) string { return strings.ReplaceAll(expr, "SEL", matchers) }
}

// target is one PromQL query of a panel.
type target struct {
	expr, legend string
	exemplar     bool
}

func promQueries(s func(string) string, ts []target) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], 0, len(ts))
	for i, t := range ts {
		q := prometheus.NewDataqueryBuilder().Datasource(promDS).RefId(string(rune('A' + i))).
			Expr(s(t.expr)).LegendFormat(t.legend).Range()
		if t.exemplar {
			q.Exemplar(true)
		}
		out = append(out, q)
	}
	return out
}

// graph is a time series panel over PromQL queries.
func graph(s func(string) string, title, desc, unit string, w, h uint32, ts ...target) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().Title(title).Description(desc).Datasource(promDS).Unit(unit).
		Span(w).Height(h).Targets(promQueries(s, ts)).FillOpacity(10).Min(0).
		Legend(common.NewVizLegendOptionsBuilder().ShowLegend(true).DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending)).
		Thresholds(greenOnly())
}

// singleStat is a stat panel with thresholds.
func singleStat(s func(string) string, title, desc, unit string, steps []dashboard.Threshold, t target) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Title(title).Description(desc).Datasource(promDS).Unit(unit).Span(4).Height(4).
		Targets(promQueries(s, []target{t})).
		Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)).
		ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeArea).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
}

func greenOnly() *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps("green"))
}

// steps builds threshold steps: a base color, then value/color pairs.
func steps(base string, pairs ...any) []dashboard.Threshold {
	out := []dashboard.Threshold{{Value: nil, Color: base}}
	for i := 0; i+1 < len(pairs); i += 2 {
		v := toFloat(pairs[i])
		out = append(out, dashboard.Threshold{Value: &v, Color: pairs[i+1].(string)})
	}
	return out
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case float64:
		return x
	}
	panic(fmt.Sprintf("threshold %v", v))
}

// exemplarLinks are shown on every exemplar of a latency panel: the data
// source's exemplar destinations (provisioning) open the trace in Jaeger and
// the logs dashboard.
const exemplarNote = " Dots are exemplars: click one for its trace in Jaeger or its records in the Logs and traces dashboard."
