package app

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentobs/agentobs/indexer/bulk"
	"github.com/prometheus/client_golang/prometheus"
)

// maxServiceLabels caps the distinct service label values; further services
// are counted as "other" so a misconfigured fleet cannot explode the series.
const maxServiceLabels = 200

// Metrics are the indexer's metrics (METRICS.md lists them).
type Metrics struct {
	Consumed         *prometheus.CounterVec // topic, partition
	ConsumedBytes    prometheus.Counter
	BatchDocs        prometheus.Histogram
	BulkDuration     prometheus.Histogram
	Indexed          prometheus.Counter
	Duplicates       prometheus.Counter
	DuplicateStamps  *prometheus.CounterVec // result
	Retries          *prometheus.CounterVec // reason
	DeadLetters      *prometheus.CounterVec // reason
	Quarantined      prometheus.Counter
	LagRecords       *prometheus.GaugeVec   // topic, partition
	LagSeconds       *prometheus.GaugeVec   // topic, partition
	WithoutTrace     *prometheus.CounterVec // service
	Records          *prometheus.CounterVec // service
	MissingEventID   prometheus.Counter
	E2ELatency       prometheus.Histogram
	CommitDuration   prometheus.Histogram
	ESUpGauge        prometheus.GaugeFunc // writer's view and real request outcomes (monitor.esReady)
	Summaries        prometheus.Counter
	SummaryLag       prometheus.Gauge
	SummaryErrors    prometheus.Counter
	SummaryDerived   prometheus.Counter
	SummaryRecovered prometheus.Counter
	Alerts           *prometheus.CounterVec // status
	LastIndexed      prometheus.Gauge
	InFlight         prometheus.Gauge
	Stage            *prometheus.HistogramVec // stage
	Buffered         prometheus.Gauge
	TargetBytes      prometheus.Gauge
	// From the brokers (one monitor per pipeline, told apart by topic):
	// see METRICS.md and consumerMetrics.
	GroupLag           *prometheus.GaugeVec   // topic
	TopicPartitions    *prometheus.GaugeVec   // topic
	AssignedPartitions *prometheus.GaugeVec   // topic
	StallSeconds       *prometheus.GaugeVec   // topic
	LagPolls           *prometheus.CounterVec // topic, outcome
	Rejoins            *prometheus.CounterVec // topic
	Span               *SpanMetrics
	RewindSkipped      *prometheus.CounterVec // topic
	RecordsSkipped     *prometheus.CounterVec // topic, reason: out_of_range
	PositionRepairs    *prometheus.CounterVec // topic

	writerUp atomic.Bool
	esUp     atomic.Pointer[func() float64]

	mu       sync.Mutex
	services map[string]bool
}

// NewMetrics registers the metrics with reg (nil: unregistered), every
// closed label set pre-created at 0.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "agentobs_indexer_"
	m := &Metrics{
		Consumed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "records_consumed_total",
			Help: "Kafka messages fetched, by topic and partition."}, []string{"topic", "partition"}),
		ConsumedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "consumed_bytes_total",
			Help: "Bytes of message values fetched."}),
		BatchDocs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "bulk_batch_docs",
			Help: "Documents per bulk request.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		BulkDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "bulk_duration_seconds",
			Help: "Latency of one _bulk request.", Buckets: prometheus.ExponentialBuckets(0.002, 2, 14)}),
		Indexed: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "documents_indexed_total",
			Help: "Documents created in Elasticsearch (including quarantined ones)."}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "duplicates_total",
			Help: "Records whose document already existed (409 on create): replays, producer retries, redeliveries."}),
		DuplicateStamps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "duplicate_stamps_total",
			Help: "Stamps of duplicates from another producer epoch written onto the document they duplicated, for the audit (result: written, failed)."}, []string{"result"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "bulk_retries_total",
			Help: "Documents re-sent after a retryable failure, by reason."}, []string{"reason"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "dead_letters_total",
			Help: "Records written to the dead-letter topic, by reason."}, []string{"reason"}),
		Quarantined: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "conflicts_quarantined_total",
			Help: "Documents indexed with conflicting fields moved under _conflicts."}),
		LagRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "consumer_lag_records",
			Help: "Per topic and partition assigned to this member: the broker's end offset minus the group's committed offset (polled every health.poll-interval)."}, []string{"topic", "partition"}),
		LagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "consumer_lag_seconds",
			Help: "Per topic and partition assigned to this member with lag: the larger of the age of the last fetched message and the time since the committed offset last moved; 0 without lag."}, []string{"topic", "partition"}),
		GroupLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "group_lag_records",
			Help: "The whole group's lag over every partition of the topic (the same on every member: take max across instances)."}, []string{"topic"}),
		TopicPartitions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "topic_partitions",
			Help: "Partitions of the topic (0 while it does not exist)."}, []string{"topic"}),
		AssignedPartitions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "assigned_partitions",
			Help: "Partitions of the topic the group coordinator assigns to this member."}, []string{"topic"}),
		StallSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "commit_stall_seconds",
			Help: "Longest time a partition of the topic assigned to this member with lag has gone without its committed offset moving (0: every partition progresses or has no lag)."}, []string{"topic"}),
		LagPolls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "lag_polls_total",
			Help: "Polls of the brokers for the topic's offsets and the group's assignment, by outcome (ok, error)."}, []string{"topic", "outcome"}),
		Rejoins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "group_rejoins_total",
			Help: "Times this member left and rejoined the topic's group because partitions of the topic had no member."}, []string{"topic"}),
		RewindSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "rewind_skipped_total",
			Help: "Messages of the topic fetched below the group's committed offset and skipped (already indexed): the group was positioned at its start offset because the coordinator answered without the committed offsets, e.g. while loading them after a broker restart."}, []string{"topic"}),
		RecordsSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "records_skipped_total",
			Help: "Records of the topic the group never indexed because Kafka no longer had them when it got there, by reason (out_of_range: deleted by retention before they were indexed). Lost; AgentobsIndexerRecordsSkipped fires."}, []string{"topic", "reason"}),
		PositionRepairs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "position_repairs_total",
			Help: "Partitions of the topic that started above the group's committed offset (the start offset applied to a group that had committed, e.g. -kafka.start-offset latest while the coordinator loaded its offsets) and were put back at it, so nothing was skipped."}, []string{"topic"}),
		WithoutTrace: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "records_without_trace_total",
			Help: "Records without a valid trace.id, by service (capped at 200 values, then \"other\")."}, []string{"service"}),
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "records_total",
			Help: "Valid records consumed, by service (coverage = without_trace / total)."}, []string{"service"}),
		MissingEventID: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "records_without_event_id_total",
			Help: "Records without event.id; the id was derived from topic, partition and offset."}),
		E2ELatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "e2e_latency_seconds",
			Help: "Now minus the log record's @timestamp when Elasticsearch acknowledged it, with trace_id exemplars (log records only: a span's @timestamp is its start).", Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}),
		CommitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "commit_duration_seconds",
			Help: "Latency of one offset commit.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		Summaries: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "trace_summaries_written_total",
			Help: "Per-trace summary documents written (merged from created records, or re-derived)."}),
		SummaryDerived: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "trace_summaries_derived_total",
			Help: "Traces re-derived from all their records (duplicates, quarantined records, recovery, merges in doubt): a refresh and an aggregation each round that has any."}),
		SummaryLag: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "trace_summary_lag_seconds",
			Help: "Age of the oldest acknowledged record whose trace is not summarised yet (document commits do not wait for it)."}),
		SummaryErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "trace_summary_errors_total",
			Help: "Failed summary rounds, cursor reads, cursor stores and log read-backs (all retried)."}),
		SummaryRecovered: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "trace_summary_recovered_records_total",
			Help: "Records read back from Kafka after a crash or rebalance because they were committed before their traces were summarized."}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "alerts_received_total",
			Help: "Alertmanager alerts stored, by status."}, []string{"status"}),
		LastIndexed: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "last_indexed_timestamp_seconds",
			Help: "Unix time of the last bulk request that Elasticsearch acknowledged."}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "bulk_in_flight",
			Help: "Batches being written."}),
		Stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: ns + "stage_duration_seconds",
			Help:    "Time spent per step between fetch and commit, by stage: fetch_wait (one message from the reader), decode (one record checked and made a bulk item), bulk_build (one request body encoded), summary (one summary round: refresh, derive, write). The bulk request and the commit are bulk_duration_seconds and commit_duration_seconds.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 14)}, []string{"stage"}),
		Buffered: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "buffered_bytes",
			Help: "Bytes of fetched records held until Elasticsearch acknowledged them (bounded by fetch.max-buffered-bytes)."}),
		TargetBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "bulk_target_bytes",
			Help: "Request size the batcher aims for now: bulk.max-bytes, halved on each 429 down to bulk.min-bytes, grown back after clean requests."}),
		services: map[string]bool{},
		Span:     newSpanMetrics(reg),
	}
	for _, st := range Stages {
		m.Stage.WithLabelValues(st)
	}
	for _, r := range []string{"written", "failed"} {
		m.DuplicateStamps.WithLabelValues(r)
	}
	for _, r := range bulk.RetryReasons {
		m.Retries.WithLabelValues(r)
	}
	for _, r := range bulk.DeadLetterReasons {
		m.DeadLetters.WithLabelValues(r)
	}
	for _, s := range []string{"firing", "resolved"} {
		m.Alerts.WithLabelValues(s)
	}
	m.writerUp.Store(true)
	m.ESUpGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "agentobs_indexer_es_up",
		Help: "1 when Elasticsearch answers: the last request reached it, none has waited longer than health.es-hang-timeout, and bulk retries are not exhausted; else 0."},
		func() float64 {
			if f := m.esUp.Load(); f != nil {
				return (*f)()
			}
			if m.writerUp.Load() {
				return 1
			}
			return 0
		})
	if reg != nil {
		reg.MustRegister(m.Consumed, m.ConsumedBytes, m.BatchDocs, m.BulkDuration, m.Indexed, m.Duplicates, m.DuplicateStamps, m.Retries,
			m.DeadLetters, m.Quarantined, m.LagRecords, m.LagSeconds, m.WithoutTrace, m.Records, m.MissingEventID,
			m.E2ELatency, m.CommitDuration, m.ESUpGauge, m.Summaries, m.SummaryDerived, m.SummaryLag, m.SummaryErrors, m.SummaryRecovered, m.Alerts,
			m.LastIndexed, m.InFlight, m.Stage, m.Buffered, m.TargetBytes,
			m.GroupLag, m.TopicPartitions, m.AssignedPartitions, m.StallSeconds, m.LagPolls, m.Rejoins, m.RewindSkipped, m.RecordsSkipped, m.PositionRepairs)
	}
	return m
}

// service maps a service name to its label value, capping distinct values.
func (m *Metrics) service(s string) string {
	if s == "" {
		return "unknown"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.services[s] {
		return s
	}
	if len(m.services) >= maxServiceLabels {
		return "other"
	}
	s = strings.Clone(s) // s may point into a whole record
	m.services[s] = true
	return s
}

// bulk.Observer.
func (m *Metrics) Bulk(d time.Duration, docs int, err error) {
	m.BulkDuration.Observe(d.Seconds())
	m.BatchDocs.Observe(float64(docs))
	if err == nil {
		m.LastIndexed.SetToCurrentTime()
	}
}

// Built observes the bulk_build stage (bulk.Observer).
func (m *Metrics) Built(d time.Duration) {
	m.Stage.WithLabelValues(StageBulkBuild).Observe(d.Seconds())
}

// Target sets bulk_target_bytes (bulk.Observer).
func (m *Metrics) Target(n int) { m.TargetBytes.Set(float64(n)) }

// Stages of stage_duration_seconds: a closed set.
const (
	StageFetchWait = "fetch_wait"
	StageDecode    = "decode"
	StageBulkBuild = "bulk_build"
	StageSummary   = "summary"
)

// Stages lists every stage label value.
var Stages = []string{StageFetchWait, StageDecode, StageBulkBuild, StageSummary}

// Retry counts re-sent documents (bulk.Observer).
func (m *Metrics) Retry(reason string, n int) { m.Retries.WithLabelValues(reason).Add(float64(n)) }

// ESUp records the bulk writer's view of Elasticsearch (bulk.Observer);
// es_up combines it with the outcomes of every request (setESUp).
func (m *Metrics) ESUp(up bool) { m.writerUp.Store(up) }

// setESUp makes es_up answer f at each scrape.
func (m *Metrics) setESUp(f func() float64) { m.esUp.Store(&f) }

func partitionLabel(p int) string { return strconv.Itoa(p) }

// consumerMetrics are one pipeline's broker-polled metrics: the vectors
// above with its topic's label fixed. The record and the span pipeline
// each have one, so dashboards and alerts see both under the same names.
type consumerMetrics struct {
	groupLag, topicParts, assigned, stall prometheus.Gauge
	lagRecords, lagSeconds                *prometheus.GaugeVec // partition
	polls                                 map[string]prometheus.Counter
	rejoins                               prometheus.Counter
	// The topic's source counts these (groupSource, jumpGuard).
	rewindSkipped, outOfRange, repairs prometheus.Counter
}

// consumer returns topic's consumerMetrics, every series of its closed
// label sets created at 0.
func (m *Metrics) consumer(topic string) consumerMetrics {
	t := prometheus.Labels{"topic": topic}
	c := consumerMetrics{groupLag: m.GroupLag.With(t), topicParts: m.TopicPartitions.With(t),
		assigned: m.AssignedPartitions.With(t), stall: m.StallSeconds.With(t),
		lagRecords: m.LagRecords.MustCurryWith(t), lagSeconds: m.LagSeconds.MustCurryWith(t),
		polls: map[string]prometheus.Counter{}, rejoins: m.Rejoins.With(t),
		rewindSkipped: m.RewindSkipped.With(t), outOfRange: m.RecordsSkipped.WithLabelValues(topic, skippedOutOfRange),
		repairs: m.PositionRepairs.With(t)}
	for _, o := range []string{"ok", "error"} {
		c.polls[o] = m.LagPolls.WithLabelValues(topic, o)
	}
	return c
}
