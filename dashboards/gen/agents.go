package gen

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// agentFleet answers "are the agents doing their work, which tool or
// decision goes wrong, and what do they spend?" (metrics in agent/METRICS.md).
func agentFleet() *dashboard.DashboardBuilder {
	s := sel(`environment=~"$environment",job=~"$service"`)
	b := dashboard.NewDashboardBuilder("agentobs / Agent fleet").Uid("agentobs-agents").
		Description("Steps, decisions, tool calls, latency, token spend and load of the AI agents (perceive, decide, act).").
		Tags([]string{"agentobs"}).Refresh("30s").Time("now-1h", "now").Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).Readonly()
	promVars(b, "agentobs_agent_steps_total")
	// service is the scrape job: compose and Helm name each agent's job
	// after its service.name, the same value its logs carry.
	b.WithVariable(dashboard.NewQueryVariableBuilder("service").Label("Service").Datasource(promDS).
		Query(dashboard.StringOrMap{String: ptr(`label_values(agentobs_agent_steps_total{environment=~"$environment"}, job)`)}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).IncludeAll(true).AllValue(".*").Current(option("All", "$__all")))
	b.Link(dashboard.NewDashboardLinkBuilder("agentobs dashboards").Type(dashboard.DashboardLinkTypeDashboards).
		Tags([]string{"agentobs"}).AsDropdown(true).KeepTime(true).IncludeVars(false).Icon("external link").Tooltip("").Url("").TargetBlank(false))

	b.WithRow(dashboard.NewRowBuilder("Load"))
	b.WithPanel(singleStat(s, "Tasks in flight", "Tasks a worker is processing now, all selected agents.", "short",
		steps("green"), target{expr: `sum(agentobs_agent_tasks_in_flight{SEL})`, legend: "in flight"}))
	b.WithPanel(singleStat(s, "Steps per second", "Perceive, decide, act steps completed per second.", "ops",
		steps("red", 0.01, "green"), target{expr: `sum(rate(agentobs_agent_steps_total{SEL}[$__rate_interval]))`, legend: "steps/s"}))
	b.WithPanel(singleStat(s, "Task error ratio", "Share of finished tasks that ended in error.", "percentunit",
		steps("green", 0.01, "orange", 0.05, "red"), target{expr: `sum(rate(agentobs_agent_tasks_total{SEL,outcome="error"}[$__rate_interval])) / sum(rate(agentobs_agent_tasks_total{SEL}[$__rate_interval]))`, legend: "errors"}))
	b.WithPanel(singleStat(s, "Tool failure ratio", "Share of tool calls that did not succeed (error, timeout, canceled).", "percentunit",
		steps("green", 0.02, "orange", 0.1, "red"), target{expr: `sum(rate(agentobs_agent_tool_calls_total{SEL,outcome!="success"}[$__rate_interval])) / sum(rate(agentobs_agent_tool_calls_total{SEL}[$__rate_interval]))`, legend: "failures"}))
	b.WithPanel(singleStat(s, "Queue saturation", "Worst agent's task queue depth over capacity; at 100% new tasks are rejected.", "percentunit",
		steps("green", 0.5, "orange", 0.9, "red"), target{expr: `max(agentobs_agent_queue_depth{SEL} / agentobs_agent_queue_capacity{SEL})`, legend: "saturation"}))
	b.WithPanel(singleStat(s, "Slowest agent's last step", "Seconds since the agent that stepped least recently took a step; high while tasks are in flight means a stuck agent.", "s",
		steps("green", 60, "orange", 300, "red"), target{expr: `max(time() - agentobs_agent_last_step_timestamp_seconds{SEL})`, legend: "age"}))

	b.WithPanel(graph(s, "Steps per second by service", "Completed perceive, decide, act steps per agent service.", "ops", 12, 8,
		target{expr: `sum by (job) (rate(agentobs_agent_steps_total{SEL}[$__rate_interval]))`, legend: "{{job}}"},
	))
	b.WithPanel(graph(s, "Tasks in flight and queued", "Tasks being processed and tasks waiting for a worker, per service.", "short", 12, 8,
		target{expr: `sum by (job) (agentobs_agent_tasks_in_flight{SEL})`, legend: "{{job}} in flight"},
		target{expr: `sum by (job) (agentobs_agent_queue_depth{SEL})`, legend: "{{job}} queued"},
	))
	b.WithPanel(graph(s, "Tasks by outcome", "Finished tasks per second by outcome; rejected = queue full or draining.", "ops", 12, 8,
		target{expr: `sum by (outcome) (rate(agentobs_agent_tasks_total{SEL}[$__rate_interval]))`, legend: "{{outcome}}"},
	))
	b.WithPanel(graph(s, "Task duration", "Accept to finish, queueing included."+exemplarNote, "s", 12, 8,
		target{expr: `histogram_quantile(0.5, sum by (le) (rate(agentobs_agent_task_duration_seconds_bucket{SEL}[$__rate_interval])))`, legend: "p50", exemplar: true},
		target{expr: `histogram_quantile(0.95, sum by (le) (rate(agentobs_agent_task_duration_seconds_bucket{SEL}[$__rate_interval])))`, legend: "p95"},
	))

	b.WithRow(dashboard.NewRowBuilder("Decisions and tools"))
	b.WithPanel(graph(s, "Decisions by choice", "Decisions per second by policy and choice (explore vs exploit).", "ops", 8, 8,
		target{expr: `sum by (policy, choice) (rate(agentobs_agent_decisions_total{SEL}[$__rate_interval]))`, legend: "{{policy}} {{choice}}"},
	))
	b.WithPanel(graph(s, "Tool calls by tool", "Tool calls per second by tool.", "ops", 8, 8,
		target{expr: `sum by (tool) (rate(agentobs_agent_tool_calls_total{SEL}[$__rate_interval]))`, legend: "{{tool}}"},
	))
	b.WithPanel(graph(s, "Tool failures by tool", "Tool calls per second that did not succeed, by tool and outcome.", "ops", 8, 8,
		target{expr: `sum by (tool, outcome) (rate(agentobs_agent_tool_calls_total{SEL,outcome!="success"}[$__rate_interval]))`, legend: "{{tool}} {{outcome}}"},
	).Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps("green", 0.1, "red"))))
	b.WithPanel(graph(s, "Tool latency p95 by tool", "p95 of one tool call."+exemplarNote, "s", 12, 8,
		target{expr: `histogram_quantile(0.95, sum by (tool, le) (rate(agentobs_agent_tool_duration_seconds_bucket{SEL}[$__rate_interval])))`, legend: "{{tool}}", exemplar: true},
	))
	b.WithPanel(graph(s, "Peer delegations by outcome", "Calls to peer agents per second by outcome; rejected = the peer answered 429/503.", "ops", 12, 8,
		target{expr: `sum by (outcome) (rate(agentobs_agent_peer_calls_total{SEL}[$__rate_interval]))`, legend: "{{outcome}}"},
	))

	// Canary vs stable: every agent series carries version and track
	// (agent/METRICS.md); one line per release, so a canary is read side by
	// side with the stable fleet. alerts/rules/canary.yml alerts on them.
	b.WithRow(dashboard.NewRowBuilder("Canary vs stable"))
	b.WithPanel(graph(s, "Task error ratio by release", "Share of finished tasks that ended in error, per release track and version. AgentobsAgentCanaryErrorRatioWorse fires when the canary is 5 points worse with enough traffic.", "percentunit", 12, 8,
		target{expr: `sum by (track, version) (rate(agentobs_agent_tasks_total{SEL,outcome="error"}[$__rate_interval])) / sum by (track, version) (rate(agentobs_agent_tasks_total{SEL,outcome=~"success|error"}[$__rate_interval]))`, legend: "{{track}} {{version}}"},
	))
	b.WithPanel(graph(s, "Task duration p95 by release", "p95 of a task (accept to finish), per release track and version."+exemplarNote, "s", 12, 8,
		target{expr: `histogram_quantile(0.95, sum by (track, version, le) (rate(agentobs_agent_task_duration_seconds_bucket{SEL}[$__rate_interval])))`, legend: "{{track}} {{version}} p95", exemplar: true},
		target{expr: `histogram_quantile(0.5, sum by (track, version, le) (rate(agentobs_agent_task_duration_seconds_bucket{SEL}[$__rate_interval])))`, legend: "{{track}} {{version}} p50"},
	))
	b.WithPanel(graph(s, "Tokens per task by release", "LLM tokens (input and output) per finished task, per release: a new prompt or model shows here first.", "short", 12, 8,
		target{expr: `sum by (track, version) (rate(agentobs_agent_tokens_total{SEL}[$__rate_interval])) / sum by (track, version) (rate(agentobs_agent_tasks_total{SEL,outcome=~"success|error"}[$__rate_interval]))`, legend: "{{track}} {{version}}"},
	))
	b.WithPanel(graph(s, "Tool failure ratio by release", "Share of tool calls that failed or timed out, per release track and version.", "percentunit", 12, 8,
		target{expr: `sum by (track, version) (rate(agentobs_agent_tool_calls_total{SEL,outcome=~"error|timeout"}[$__rate_interval])) / sum by (track, version) (rate(agentobs_agent_tool_calls_total{SEL,outcome!="canceled"}[$__rate_interval]))`, legend: "{{track}} {{version}}"},
	))

	b.WithRow(dashboard.NewRowBuilder("Latency and spend"))
	b.WithPanel(heatmap.NewPanelBuilder().Title("Step latency heatmap").
		Description("Distribution of one perceive, decide, act step over time (histogram buckets)." + exemplarNote).
		Datasource(promDS).Unit("s").Span(12).Height(9).
		WithTarget(prometheus.NewDataqueryBuilder().Datasource(promDS).RefId("A").
			Expr(s(`sum by (le) (rate(agentobs_agent_step_duration_seconds_bucket{SEL}[$__rate_interval]))`)).
			Format(prometheus.PromQueryFormatHeatmap).LegendFormat("{{le}}").Range().Exemplar(true)).
		Calculate(false).RowsFrame(heatmap.NewRowsHeatmapOptionsBuilder().Layout(common.HeatmapCellLayoutLe)).
		YAxis(heatmap.NewYAxisConfigBuilder().Unit("s")).
		Color(heatmap.NewHeatmapColorOptionsBuilder().Mode(heatmap.HeatmapColorModeScheme).Scheme("Oranges").Steps(64).Exponent(0.5).Fill("dark-orange").Reverse(false)).
		CellValues(heatmap.NewCellValuesBuilder().Unit("short")).
		ExemplarsColor("rgba(255,0,255,0.7)").
		Tooltip(heatmap.NewHeatmapTooltipBuilder().Mode(common.TooltipDisplayModeSingle).YHistogram(true)).
		ShowLegend())
	b.WithPanel(graph(s, "Token usage", "LLM tokens per second of successful llm_call tool calls, by direction.", "suffix: tok/s", 12, 9,
		target{expr: `sum by (direction) (rate(agentobs_agent_tokens_total{SEL}[$__rate_interval]))`, legend: "{{direction}}"},
	))
	return b
}
