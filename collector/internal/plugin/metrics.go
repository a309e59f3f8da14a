package plugin

import (
	"github.com/agentobs/agentobs/internal/edge"
	"github.com/agentobs/agentobs/internal/kafkax"
	"github.com/prometheus/client_golang/prometheus"
)

// Flush results as metric label values (and Fluent Bit return codes).
const (
	ResultOK    = "ok"
	ResultRetry = "retry"
	ResultError = "error"
)

// Metrics are the collector's metrics for every output instance of the
// process. Fluent Bit loads the plugin once and calls FLBPluginInit per
// [OUTPUT] section, so instances share one registry: the shared-core edge
// and producer metrics are process totals, the collector's own carry the
// bounded label output (the Instance property).
type Metrics struct {
	Edge     *edge.Metrics
	Producer *kafkax.ProducerMetrics

	RecordsIn     *prometheus.CounterVec   // output
	Flushes       *prometheus.CounterVec   // output, result
	FlushDuration *prometheus.HistogramVec // output
	FlushRecords  *prometheus.HistogramVec // output
	DecodeErrors  *prometheus.CounterVec   // output
}

// NewMetrics registers the collector metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer, contentFields []string) *Metrics {
	const ns = "agentobs_collector"
	m := &Metrics{
		Edge:     edge.NewMetrics(reg, "collector", contentFields),
		Producer: kafkax.NewProducerMetrics(reg, "collector"),
		RecordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_records_in_total",
			Help: "Records Fluent Bit handed to the output (decoded from flushed chunks), counted again when a chunk is retried."}, []string{"output"}),
		Flushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_flushes_total",
			Help: "Flush calls by result: ok (every record acknowledged), retry (FLB_RETRY), error (FLB_ERROR)."}, []string{"output", "result"}),
		FlushDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: ns + "_flush_duration_seconds",
			Help: "Time of one flush call from Fluent Bit's hand-over to its return code.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}, []string{"output"}),
		FlushRecords: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: ns + "_flush_records",
			Help: "Records per flushed chunk.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}, []string{"output"}),
		DecodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_decode_errors_total",
			Help: "Chunks with undecodable MessagePack (their undecodable tail is dead-lettered)."}, []string{"output"}),
	}
	if reg != nil {
		reg.MustRegister(m.RecordsIn, m.Flushes, m.FlushDuration, m.FlushRecords, m.DecodeErrors)
	}
	return m
}

// outputMetrics are the collector metrics curried for one instance, with
// every label value created at 0 when the instance starts.
type outputMetrics struct {
	recordsIn     prometheus.Counter
	flushes       map[string]prometheus.Counter
	flushDuration prometheus.Observer
	flushRecords  prometheus.Observer
	decodeErrors  prometheus.Counter
}

func (m *Metrics) forOutput(name string) *outputMetrics {
	o := &outputMetrics{
		recordsIn:     m.RecordsIn.WithLabelValues(name),
		flushes:       map[string]prometheus.Counter{},
		flushDuration: m.FlushDuration.WithLabelValues(name),
		flushRecords:  m.FlushRecords.WithLabelValues(name),
		decodeErrors:  m.DecodeErrors.WithLabelValues(name),
	}
	for _, r := range []string{ResultOK, ResultRetry, ResultError} {
		o.flushes[r] = m.Flushes.WithLabelValues(name, r)
	}
	return o
}
