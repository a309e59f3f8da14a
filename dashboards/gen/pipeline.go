package gen

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// pipelineOverview answers "is the pipeline moving every record from the
// edge to Elasticsearch, how late, and where does it lose or retry any?"
func pipelineOverview() *dashboard.DashboardBuilder {
	s := sel(`environment=~"$environment"`)
	b := dashboard.NewDashboardBuilder("agentobs / Pipeline overview").Uid("agentobs-pipeline").
		Description("Records per second through each stage, errors, retries, dead letters, Kafka consumer lag and end-to-end latency of the agentobs log pipeline.").
		Tags([]string{"agentobs"}).Refresh("30s").Time("now-1h", "now").Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).Readonly()
	promVars(b, "agentobs_indexer_records_consumed_total")
	b.Link(dashboard.NewDashboardLinkBuilder("agentobs dashboards").Type(dashboard.DashboardLinkTypeDashboards).
		Tags([]string{"agentobs"}).AsDropdown(true).KeepTime(true).IncludeVars(false).Icon("external link").Tooltip("").Url("").TargetBlank(false))

	b.WithRow(dashboard.NewRowBuilder("Health"))
	b.WithPanel(singleStat(s, "Elasticsearch reachable", "1 when the indexer's last Elasticsearch call succeeded, per indexer (minimum shown).", "bool_yes_no",
		steps("red", 1, "green"), target{expr: `min(agentobs_indexer_es_up{SEL})`, legend: "es up"}))
	b.WithPanel(singleStat(s, "Index freshness", "Seconds since the newest record was indexed (time() - agentobs_indexer_last_indexed_timestamp_seconds).", "s",
		steps("green", 30, "orange", 120, "red"), target{expr: `time() - max(agentobs_indexer_last_indexed_timestamp_seconds{SEL})`, legend: "age"}))
	b.WithPanel(singleStat(s, "Consumer lag", "Messages produced to Kafka and not yet indexed, every partition of the record topic and the span topic (per topic: the Kafka row).", "short",
		steps("green", 10000, "orange", 100000, "red"), target{expr: `sum(agentobs_indexer_consumer_lag_records{SEL})`, legend: "lag"}))
	b.WithPanel(singleStat(s, "Dead letters (1h)", "Records sent to the dead-letter topic in the last hour, all stages.", "short",
		steps("green", 1, "orange", 100, "red"), target{expr: `sum(increase(agentobs_indexer_dead_letters_total{SEL}[1h])) + sum(increase(agentobs_collector_dead_letters_total{SEL}[1h])) + sum(increase(agentobs_shipper_dead_letters_total{SEL}[1h]))`, legend: "dead letters"}))
	b.WithPanel(singleStat(s, "Records without trace", "Share of indexed records that carry no valid trace.id (cannot be correlated).", "percentunit",
		steps("green", 0.05, "orange", 0.2, "red"), target{expr: `sum(rate(agentobs_indexer_records_without_trace_total{SEL}[$__rate_interval])) / sum(rate(agentobs_indexer_records_total{SEL}[$__rate_interval]))`, legend: "without trace"}))
	b.WithPanel(singleStat(s, "Shipper queue saturation", "Shipper queue depth over capacity; at 100% the shipper stops reading (backpressure).", "percentunit",
		steps("green", 0.5, "orange", 0.9, "red"), target{expr: `max(agentobs_shipper_queue_depth{SEL} / agentobs_shipper_queue_capacity{SEL})`, legend: "saturation"}))

	b.WithPanel(graph(s, "Instances not ready", "Instances running but not ready, per component: agentobs_<component>_ready is 0 while /readyz answers 503 (starting, draining, or Kafka/Elasticsearch unreachable). Five minutes above 0 fires AgentobsComponentNotReady; instances that are down are not counted (see up).", "short", 12, 6,
		target{expr: `sum(1 - agentobs_collector_ready{SEL})`, legend: "collector"},
		target{expr: `sum(1 - agentobs_shipper_ready{SEL})`, legend: "shipper"},
		target{expr: `sum(1 - agentobs_indexer_ready{SEL})`, legend: "indexer"},
	).Decimals(0))
	b.WithPanel(graph(s, "End-to-end canary age", "Per front door (source), seconds since its newest canary record that is searchable in Elasticsearch was emitted (freshest indexer). Each front door sends one every 30s through its own path; over 2 minutes for 1 minute fires AgentobsCanaryStale. A front door that stopped cleanly has no line.", "s", 12, 6,
		target{expr: `min by (source) (agentobs_indexer_canary_age_seconds{SEL})`, legend: "{{source}}"},
	))
	b.WithPanel(graph(s, "Loss audit", "The indexer's last periodic loss audit (indexer audit): missing are producer sequence numbers found neither in Elasticsearch nor in the dead-letter topic (above 0 for 1 minute fires AgentobsRecordsMissing); refused are numbers a front door stamped and then answered 429 or 503 for, which the client sends again under new numbers (not lost). `indexer audit` lists them per producer.", "short", 24, 6,
		target{expr: `max(agentobs_indexer_records_missing{SEL})`, legend: "missing"},
		target{expr: `max(agentobs_indexer_records_refused{SEL})`, legend: "refused"},
	).Decimals(0))

	b.WithRow(dashboard.NewRowBuilder("Throughput"))
	b.WithPanel(graph(s, "Records per second by stage", "Each stage's rate: what the edge took in, what reached Kafka, what the indexer consumed and what Elasticsearch acknowledged. A gap between two lines is records queued (or lost) between them.", "recps", 16, 8,
		target{expr: `sum(rate(agentobs_collector_records_in_total{SEL}[$__rate_interval]))`, legend: "collector in"},
		target{expr: `sum(rate(agentobs_shipper_lines_read_total{SEL}[$__rate_interval]))`, legend: "shipper read"},
		target{expr: `sum(rate(agentobs_collector_records_produced_total{SEL,outcome="ok"}[$__rate_interval])) + sum(rate(agentobs_shipper_records_produced_total{SEL,outcome="ok"}[$__rate_interval]))`, legend: "produced to Kafka"},
		target{expr: `sum(rate(agentobs_indexer_records_consumed_total{SEL}[$__rate_interval]))`, legend: "indexer consumed"},
		target{expr: `sum(rate(agentobs_indexer_documents_indexed_total{SEL}[$__rate_interval]))`, legend: "indexed"},
	))
	b.WithPanel(graph(s, "Bytes per second by stage", "Bytes read by the shipper, produced to Kafka and consumed by the indexer.", "Bps", 8, 8,
		target{expr: `sum(rate(agentobs_shipper_read_bytes_total{SEL}[$__rate_interval]))`, legend: "shipper read"},
		target{expr: `sum(rate(agentobs_collector_produced_bytes_total{SEL}[$__rate_interval])) + sum(rate(agentobs_shipper_produced_bytes_total{SEL}[$__rate_interval]))`, legend: "produced"},
		target{expr: `sum(rate(agentobs_indexer_consumed_bytes_total{SEL}[$__rate_interval]))`, legend: "indexer consumed"},
	))

	b.WithRow(dashboard.NewRowBuilder("Errors, retries and dead letters"))
	b.WithPanel(graph(s, "Produce errors by reason", "Failed produce calls to Kafka at the edge, by stage and reason; the edge retries them (Fluent Bit FLB_RETRY, shipper backoff).", "ops", 8, 8,
		target{expr: `sum by (reason) (rate(agentobs_collector_produce_errors_total{SEL}[$__rate_interval]))`, legend: "collector {{reason}}"},
		target{expr: `sum by (reason) (rate(agentobs_shipper_produce_errors_total{SEL}[$__rate_interval]))`, legend: "shipper {{reason}}"},
	))
	b.WithPanel(graph(s, "Bulk retries by reason", "Bulk items the indexer retried against Elasticsearch, by reason (429, 5xx, timeouts).", "ops", 8, 8,
		target{expr: `sum by (reason) (rate(agentobs_indexer_bulk_retries_total{SEL}[$__rate_interval]))`, legend: "{{reason}}"},
	))
	b.WithPanel(graph(s, "Dead letters by reason", "Records sent to the dead-letter topic, by stage and reason: never dropped silently, but not in Elasticsearch either.", "ops", 8, 8,
		target{expr: `sum by (reason) (rate(agentobs_collector_dead_letters_total{SEL}[$__rate_interval]))`, legend: "collector {{reason}}"},
		target{expr: `sum by (reason) (rate(agentobs_shipper_dead_letters_total{SEL}[$__rate_interval]))`, legend: "shipper {{reason}}"},
		target{expr: `sum by (reason) (rate(agentobs_indexer_dead_letters_total{SEL}[$__rate_interval]))`, legend: "indexer {{reason}}"},
	))
	b.WithPanel(graph(s, "Duplicates, conflicts and bad input", "Duplicates Elasticsearch rejected by event.id (a replay, harmless), mapping conflicts quarantined, malformed shipper input and failed collector flushes (of the retries, those deferred without trying Kafka while it did not answer).", "ops", 12, 8,
		target{expr: `sum(rate(agentobs_indexer_duplicates_total{SEL}[$__rate_interval]))`, legend: "duplicates (replays)"},
		target{expr: `sum(rate(agentobs_indexer_conflicts_quarantined_total{SEL}[$__rate_interval]))`, legend: "conflicts quarantined"},
		target{expr: `sum by (kind) (rate(agentobs_shipper_bad_lines_total{SEL}[$__rate_interval]))`, legend: "shipper bad lines {{kind}}"},
		target{expr: `sum by (result) (rate(agentobs_collector_flushes_total{SEL,result!="ok"}[$__rate_interval]))`, legend: "collector flush {{result}}"},
		target{expr: `sum(rate(agentobs_collector_flushes_deferred_total{SEL}[$__rate_interval]))`, legend: "collector flush retry, deferred (Kafka not answering)"},
	))
	b.WithPanel(graph(s, "Redactions by rule", "Secrets redacted at the edge before leaving the host, by rule.", "ops", 12, 8,
		target{expr: `sum by (rule) (rate(agentobs_collector_redactions_total{SEL}[$__rate_interval]))`, legend: "collector {{rule}}"},
		target{expr: `sum by (rule) (rate(agentobs_shipper_redactions_total{SEL}[$__rate_interval]))`, legend: "shipper {{rule}}"},
	))

	b.WithRow(dashboard.NewRowBuilder("Kafka"))
	b.WithPanel(graph(s, "Consumer lag per partition (records)", "Messages in each partition not yet indexed, per topic (the record topic and the span topic, each consumed by its own group). One partition growing alone: a hot trace key or a stuck consumer.", "short", 12, 8,
		target{expr: `max by (topic, partition) (agentobs_indexer_consumer_lag_records{SEL})`, legend: "{{topic}} {{partition}}"},
	).Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps("green", 100000, "red"))))
	b.WithPanel(graph(s, "Consumer lag per partition (time)", "Age of the oldest message not yet indexed, per topic and partition.", "s", 12, 8,
		target{expr: `max by (topic, partition) (agentobs_indexer_consumer_lag_seconds{SEL})`, legend: "{{topic}} {{partition}}"},
	).Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps("green", 60, "red"))))
	b.WithPanel(graph(s, "Commit stall per topic", "Longest time a partition with lag has gone without its committed offset moving, per topic (worst indexer). /readyz fails past -health.stall-timeout (30s); a minute for a minute fires AgentobsIndexerStalled.", "s", 12, 8,
		target{expr: `max by (topic) (agentobs_indexer_commit_stall_seconds{SEL})`, legend: "{{topic}}"},
	).Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps("green", 60, "red"))))
	b.WithPanel(graph(s, "Partitions without a member per topic", "Partitions of each topic that its consumer group assigns to no indexer (topic_partitions − Σ assigned_partitions, from the brokers). Five minutes above 0 fires AgentobsIndexerPartitionsUnassigned.", "short", 12, 8,
		target{expr: `max by (topic) (agentobs_indexer_topic_partitions{SEL}) - sum by (topic) (agentobs_indexer_assigned_partitions{SEL})`, legend: "{{topic}}"},
	).Decimals(0))

	b.WithRow(dashboard.NewRowBuilder("Latency"))
	b.WithPanel(graph(s, "End-to-end latency", "From a record's @timestamp to Elasticsearch's acknowledgement, percentiles over all indexers."+exemplarNote, "s", 12, 8,
		target{expr: `histogram_quantile(0.5, sum by (le) (rate(agentobs_indexer_e2e_latency_seconds_bucket{SEL}[$__rate_interval])))`, legend: "p50", exemplar: true},
		target{expr: `histogram_quantile(0.95, sum by (le) (rate(agentobs_indexer_e2e_latency_seconds_bucket{SEL}[$__rate_interval])))`, legend: "p95"},
		target{expr: `histogram_quantile(0.99, sum by (le) (rate(agentobs_indexer_e2e_latency_seconds_bucket{SEL}[$__rate_interval])))`, legend: "p99"},
	).Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps("green", 30, "red"))))
	b.WithPanel(graph(s, "Stage latency p99", "p99 of a produce call (edge to Kafka acknowledgement), a Fluent Bit flush, a bulk request and an offset commit.", "s", 12, 8,
		target{expr: `histogram_quantile(0.99, sum by (le) (rate(agentobs_collector_produce_duration_seconds_bucket{SEL}[$__rate_interval])))`, legend: "collector produce"},
		target{expr: `histogram_quantile(0.99, sum by (le) (rate(agentobs_shipper_produce_duration_seconds_bucket{SEL}[$__rate_interval])))`, legend: "shipper produce"},
		target{expr: `histogram_quantile(0.99, sum by (le) (rate(agentobs_collector_flush_duration_seconds_bucket{SEL}[$__rate_interval])))`, legend: "collector flush"},
		target{expr: `histogram_quantile(0.99, sum by (le) (rate(agentobs_indexer_bulk_duration_seconds_bucket{SEL}[$__rate_interval])))`, legend: "indexer bulk"},
		target{expr: `histogram_quantile(0.99, sum by (le) (rate(agentobs_indexer_commit_duration_seconds_bucket{SEL}[$__rate_interval])))`, legend: "indexer commit"},
	))
	b.WithPanel(graph(s, "Bulk batch size p50", "Documents per bulk request; small batches under load mean the indexer flushes on time, not size.", "short", 12, 8,
		target{expr: `histogram_quantile(0.5, sum by (le) (rate(agentobs_indexer_bulk_batch_docs_bucket{SEL}[$__rate_interval])))`, legend: "p50 docs"},
	))
	b.WithPanel(graph(s, "Trace summaries and alerts written", "Per-trace summaries upserted and Alertmanager notifications received, by status.", "ops", 12, 8,
		target{expr: `sum(rate(agentobs_indexer_trace_summaries_written_total{SEL}[$__rate_interval]))`, legend: "trace summaries"},
		target{expr: `sum by (status) (rate(agentobs_indexer_alerts_received_total{SEL}[$__rate_interval]))`, legend: "alerts {{status}}"},
	))
	return b
}
