// Package shippermetrics holds the shipper's own Prometheus metrics (the produce
// and edge metrics come from internal/kafkaclient and internal/publish). Every name
// and label is documented in ../../METRICS.md; every closed label value is
// created at 0 so alerts see a series before the first event.
package shippermetrics

import (
	"github.com/agentobs/agentobs/shipper/internal/lines"
	"github.com/prometheus/client_golang/prometheus"
)

// Input names, the closed set of the input label.
const (
	InputFile  = "file"
	InputStdin = "stdin"
	InputHTTP  = "http"
)

// Rotation kinds.
const (
	RotationRename   = "rename"
	RotationTruncate = "truncate"
)

// Reasons a checkpointed file could not be drained after a restart, the
// closed set of the reason label of FilesUndrained and UndrainedBytes.
const (
	UndrainedDeleted   = "deleted"   // gone from its directory and the include dirs, bytes known unread
	UndrainedTruncated = "truncated" // shorter than the checkpoint: cut while the shipper was stopped
	UndrainedReplaced  = "replaced"  // same inode, other head bytes: deleted and the inode reused
)

// UndrainedReasons is the closed set of undrained reasons.
var UndrainedReasons = []string{UndrainedDeleted, UndrainedTruncated, UndrainedReplaced}

// HTTPCodes are the status codes POST /v1/logs answers with.
var HTTPCodes = []string{"200", "400", "401", "408", "413", "503"}

// Metrics are the shipper's input, queue and checkpoint metrics.
type Metrics struct {
	LinesRead        *prometheus.CounterVec // input
	ReadBytes        *prometheus.CounterVec // input
	BadLines         *prometheus.CounterVec // kind
	QueueDepth       prometheus.Gauge
	QueueCapacity    prometheus.Gauge
	CheckpointLag    prometheus.Gauge
	FilesWatched     prometheus.Gauge
	Rotations        *prometheus.CounterVec // kind
	CheckpointWrites *prometheus.CounterVec // outcome
	HTTPRequests     *prometheus.CounterVec // code
	LastAck          prometheus.Gauge
	DroppedRecords   *prometheus.CounterVec // reason
	FilesUndrained   *prometheus.CounterVec // reason
	UndrainedBytes   *prometheus.CounterVec // reason
}

// New registers the metrics with reg (nil: unregistered, for tests).
func New(reg prometheus.Registerer) *Metrics {
	const ns = "agentobs_shipper_"
	m := &Metrics{
		LinesRead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "lines_read_total",
			Help: "Lines read, by input (file, stdin, http)."}, []string{"input"}),
		ReadBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "read_bytes_total",
			Help: "Bytes read, newlines included, by input."}, []string{"input"}),
		BadLines: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "bad_lines_total",
			Help: "Bad input lines read past, by kind (binary, too_long, invalid_utf8, invalid_json, empty)."}, []string{"kind"}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "queue_depth",
			Help: "Batches waiting between the readers and the Kafka producer."}),
		QueueCapacity: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "queue_capacity",
			Help: "Capacity of the queue in batches (queue.size)."}),
		CheckpointLag: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "checkpoint_lag_bytes",
			Help: "Bytes of watched files not yet acknowledged by Kafka and checkpointed, summed over all files."}),
		FilesWatched: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "files_watched",
			Help: "Files currently tailed."}),
		Rotations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "rotations_total",
			Help: "File rotations detected, by kind (rename, truncate)."}, []string{"kind"}),
		CheckpointWrites: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "checkpoint_writes_total",
			Help: "Checkpoint file writes, by outcome (ok, error)."}, []string{"outcome"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "http_requests_total",
			Help: "POST /v1/logs requests, by status code."}, []string{"code"}),
		LastAck: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "last_ack_timestamp_seconds",
			Help: "Unix time of the last batch Kafka acknowledged."}),
		DroppedRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "dropped_records_total",
			Help: "Records given up on, by reason (dlq_failed: Kafka refused the record and its dead letter)."}, []string{"reason"}),
		FilesUndrained: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "files_undrained_total",
			Help: "Checkpointed files whose unread bytes could not be read after a restart, by reason (deleted, truncated, replaced)."}, []string{"reason"}),
		UndrainedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "undrained_bytes_total",
			Help: "Bytes known to be unread in those files (a lower bound: bytes written after the last look are unknown), by reason."}, []string{"reason"}),
	}
	for _, in := range []string{InputFile, InputStdin, InputHTTP} {
		m.LinesRead.WithLabelValues(in)
		m.ReadBytes.WithLabelValues(in)
	}
	for _, k := range lines.Kinds {
		m.BadLines.WithLabelValues(k)
	}
	for _, k := range []string{RotationRename, RotationTruncate} {
		m.Rotations.WithLabelValues(k)
	}
	for _, o := range []string{"ok", "error"} {
		m.CheckpointWrites.WithLabelValues(o)
	}
	for _, c := range HTTPCodes {
		m.HTTPRequests.WithLabelValues(c)
	}
	m.DroppedRecords.WithLabelValues("dlq_failed")
	for _, r := range UndrainedReasons {
		m.FilesUndrained.WithLabelValues(r)
		m.UndrainedBytes.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.LinesRead, m.ReadBytes, m.BadLines, m.QueueDepth, m.QueueCapacity, m.CheckpointLag,
			m.FilesWatched, m.Rotations, m.CheckpointWrites, m.HTTPRequests, m.LastAck, m.DroppedRecords,
			m.FilesUndrained, m.UndrainedBytes)
	}
	return m
}
