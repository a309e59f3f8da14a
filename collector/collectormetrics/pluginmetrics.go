// Package collectormetrics builds the Prometheus metrics of the collector (the
// Fluent Bit output plugin): its own flush and decode metrics plus the
// shared-core edge and producer metrics it registers as component
// "collector". collector/internal/plugin registers them in the Fluent Bit
// process; alerts/promcheck builds the same registry to check that alert
// rules and dashboards read only series the collector exports. One
// constructor, so the two cannot drift; collector/METRICS.md lists them.
package collectormetrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
)

// Flush results as metric label values (and Fluent Bit return codes).
const (
	ResultOK    = "ok"
	ResultRetry = "retry"
	ResultError = "error"
)

// Results is the closed set of the result label, pre-created at 0.
var Results = []string{ResultOK, ResultRetry, ResultError}

// Metrics are the collector's metrics for every output instance of the
// process. Fluent Bit loads the plugin once and calls FLBPluginInit per
// [OUTPUT] section, so instances share one registry: the shared-core edge
// and producer metrics are process totals, the collector's own carry the
// bounded label output (the Instance property).
type Metrics struct {
	Edge     *publish.Metrics
	Producer *kafkaclient.ProducerMetrics

	RecordsIn     *prometheus.CounterVec   // output
	Flushes       *prometheus.CounterVec   // output, result
	Deferred      *prometheus.CounterVec   // output
	FlushDuration *prometheus.HistogramVec // output
	FlushRecords  *prometheus.HistogramVec // output
	DecodeErrors  *prometheus.CounterVec   // output
	Canaries      *prometheus.CounterVec   // output, outcome
	Marks         *prometheus.CounterVec   // output, outcome
	Producers     *prometheus.GaugeVec     // output
}

// New registers the collector metrics on reg (nil: unregistered).
func New(reg prometheus.Registerer, contentFields []string) *Metrics {
	const ns = "agentobs_collector"
	m := &Metrics{
		Edge:     publish.NewMetrics(reg, "collector", contentFields),
		Producer: kafkaclient.NewProducerMetrics(reg, "collector"),
		RecordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_records_in_total",
			Help: "Records Fluent Bit handed to the output (decoded from flushed chunks), counted again when a chunk is retried."}, []string{"output"}),
		Flushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_flushes_total",
			Help: "Flush calls by result: ok (every record acknowledged), retry (FLB_RETRY), error (FLB_ERROR)."}, []string{"output", "result"}),
		Deferred: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_flushes_deferred_total",
			Help: "Flush calls answered FLB_RETRY at once, without trying Kafka, while another flush tried a Kafka that had not answered (also counted as result retry)."}, []string{"output"}),
		FlushDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: ns + "_flush_duration_seconds",
			Help: "Time of one flush call from Fluent Bit's hand-over to its return code.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}, []string{"output"}),
		FlushRecords: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: ns + "_flush_records",
			Help: "Records per flushed chunk.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}, []string{"output"}),
		DecodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_decode_errors_total",
			Help: "Chunks with undecodable MessagePack (their undecodable tail is dead-lettered)."}, []string{"output"}),
	}
	// Registered with the others below; the constructor is publish's, so
	// the shipper's and the collector's canary counters cannot drift.
	m.Canaries, _ = publish.NewCanaryCounter(nil, "collector", "output")
	m.Marks, _ = publish.NewMarksCounter(nil, "collector", "output")
	m.Producers, _ = publish.NewLanesGauge(nil, "collector", "output")
	if reg != nil {
		reg.MustRegister(m.RecordsIn, m.Flushes, m.Deferred, m.FlushDuration, m.FlushRecords, m.DecodeErrors, m.Canaries, m.Marks, m.Producers)
	}
	return m
}

// Output are the collector metrics curried for one output instance.
type Output struct {
	RecordsIn     prometheus.Counter
	Flushes       map[string]prometheus.Counter // by result
	Deferred      prometheus.Counter
	FlushDuration prometheus.Observer
	FlushRecords  prometheus.Observer
	DecodeErrors  prometheus.Counter
	Canaries      map[string]prometheus.Counter // by outcome (publish.CanaryOK, publish.CanaryError)
	Marks         *prometheus.CounterVec        // by outcome (publish.MarksOutcomes), for publish.NewMarker
	Producers     prometheus.Gauge              // lanes (publish.NewLanes)
}

// ForOutput curries the metrics for the instance named name, creating every
// label value at 0 so that rate() and alerts see the series before the
// first flush.
func (m *Metrics) ForOutput(name string) *Output {
	o := &Output{
		RecordsIn:     m.RecordsIn.WithLabelValues(name),
		Flushes:       map[string]prometheus.Counter{},
		Deferred:      m.Deferred.WithLabelValues(name),
		FlushDuration: m.FlushDuration.WithLabelValues(name),
		FlushRecords:  m.FlushRecords.WithLabelValues(name),
		DecodeErrors:  m.DecodeErrors.WithLabelValues(name),
		Producers:     m.Producers.WithLabelValues(name),
	}
	for _, r := range Results {
		o.Flushes[r] = m.Flushes.WithLabelValues(name, r)
	}
	o.Canaries = map[string]prometheus.Counter{}
	for _, r := range publish.CanaryOutcomes {
		o.Canaries[r] = m.Canaries.WithLabelValues(name, r)
	}
	o.Marks = m.Marks.MustCurryWith(prometheus.Labels{"output": name})
	for _, r := range publish.MarksOutcomes {
		o.Marks.WithLabelValues(r)
	}
	return o
}
