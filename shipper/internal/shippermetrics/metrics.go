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
	InputOTLP  = "otlp" // the OTLP receiver (its records are counted by agentobs_shipper_otlp_received_total)
)

// Refusal reasons of the HTTP and gRPC ingest, the closed set of the reason
// label of agentobs_shipper_ingest_refused_total.
const (
	RefusedUnauthorized        = "unauthorized"           // missing or wrong bearer token (401)
	RefusedTooLarge            = "too_large"              // body (or its decompressed form) over http.max-body-bytes (413)
	RefusedBodyTimeout         = "body_timeout"           // body not received within http.body-timeout (408)
	RefusedBadEncoding         = "bad_encoding"           // Content-Encoding gzip, but not gzip data (400)
	RefusedUnsupportedEncoding = "unsupported_encoding"   // Content-Encoding other than gzip or identity (415)
	RefusedUnsupportedMedia    = "unsupported_media_type" // Content-Type the path does not take (415)
	RefusedBadBody             = "bad_body"               // body that does not decode as its content type (400)
	RefusedQueueFull           = "queue_full"             // no room in the queue in time (429/503)
	RefusedNotDelivered        = "not_delivered"          // Kafka did not acknowledge in time (503)
)

// RefusedReasons lists every refusal reason.
var RefusedReasons = []string{RefusedUnauthorized, RefusedTooLarge, RefusedBodyTimeout, RefusedBadEncoding, RefusedUnsupportedEncoding,
	RefusedUnsupportedMedia, RefusedBadBody, RefusedQueueFull, RefusedNotDelivered}

// OTLP signals, the closed set of the signal label.
const (
	SignalLogs  = "logs"
	SignalSpans = "spans"
)

// GRPCCodes are the gRPC status codes the OTLP/gRPC receiver answers with.
var GRPCCodes = []string{"OK", "InvalidArgument", "Unauthenticated", "ResourceExhausted", "Unavailable"}

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

// HTTPCodes are the status codes the HTTP ingest answers with.
var HTTPCodes = []string{"200", "400", "401", "408", "413", "415", "429", "503"}

// Metrics are the shipper's input, queue and checkpoint metrics.
type Metrics struct {
	LinesRead        *prometheus.CounterVec // input
	ReadBytes        *prometheus.CounterVec // input
	BadLines         *prometheus.CounterVec // kind
	QueueDepth       prometheus.Gauge
	QueueCapacity    prometheus.Gauge
	QueueBytes       prometheus.Gauge
	QueueMaxBytes    prometheus.Gauge
	CheckpointLag    prometheus.Gauge
	FilesWatched     prometheus.Gauge
	Rotations        *prometheus.CounterVec // kind
	CheckpointWrites *prometheus.CounterVec // outcome
	HTTPRequests     *prometheus.CounterVec // code
	LastAck          prometheus.Gauge
	DroppedRecords   *prometheus.CounterVec // reason
	FilesUndrained   *prometheus.CounterVec // reason
	UndrainedBytes   *prometheus.CounterVec // reason
	IngestRefused    *prometheus.CounterVec // reason
	IngestJoined     prometheus.Counter
	OTLPReceived     *prometheus.CounterVec // signal
	GRPCRequests     *prometheus.CounterVec // code
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
		QueueBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "queue_bytes",
			Help: "Bytes of batches read but not yet acknowledged by Kafka (queued, being produced or retried); readers wait while it would pass queue.max-bytes."}),
		QueueMaxBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "queue_max_bytes",
			Help: "The byte bound of the queue (queue.max-bytes; 0: none)."}),
		CheckpointLag: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "checkpoint_lag_bytes",
			Help: "Bytes of watched files not yet acknowledged by Kafka and checkpointed, summed over all files."}),
		FilesWatched: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "files_watched",
			Help: "Files currently tailed."}),
		Rotations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "rotations_total",
			Help: "File rotations detected, by kind (rename, truncate)."}, []string{"kind"}),
		CheckpointWrites: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "checkpoint_writes_total",
			Help: "Checkpoint file writes, by outcome (ok, error)."}, []string{"outcome"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "http_requests_total",
			Help: "HTTP ingest requests (POST /v1/ndjson, /v1/logs, /v1/traces), by status code."}, []string{"code"}),
		LastAck: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "last_ack_timestamp_seconds",
			Help: "Unix time of the last batch Kafka acknowledged."}),
		DroppedRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "dropped_records_total",
			Help: "Records given up on, by reason (dlq_failed: Kafka refused the record and its dead letter)."}, []string{"reason"}),
		FilesUndrained: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "files_undrained_total",
			Help: "Checkpointed files whose unread bytes could not be read after a restart, by reason (deleted, truncated, replaced)."}, []string{"reason"}),
		UndrainedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "undrained_bytes_total",
			Help: "Bytes known to be unread in those files (a lower bound: bytes written after the last look are unknown), by reason."}, []string{"reason"}),
		IngestJoined: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "ingest_joined_total",
			Help: "NDJSON requests sent again (same Idempotency-Key and body) while their first attempt's batch still waited for Kafka: they waited for that batch instead of queueing a second copy."}),
		IngestRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "ingest_refused_total",
			Help: "HTTP and gRPC ingest requests refused, nothing of them stored, by reason."}, []string{"reason"}),
		OTLPReceived: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "otlp_received_total",
			Help: "OTLP log records and spans decoded from export requests (HTTP and gRPC), by signal (logs, spans)."}, []string{"signal"}),
		GRPCRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "grpc_requests_total",
			Help: "OTLP/gRPC export calls, by status code."}, []string{"code"}),
	}
	for _, r := range RefusedReasons {
		m.IngestRefused.WithLabelValues(r)
	}
	for _, s := range []string{SignalLogs, SignalSpans} {
		m.OTLPReceived.WithLabelValues(s)
	}
	for _, c := range GRPCCodes {
		m.GRPCRequests.WithLabelValues(c)
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
		reg.MustRegister(m.LinesRead, m.ReadBytes, m.BadLines, m.QueueDepth, m.QueueCapacity, m.QueueBytes, m.QueueMaxBytes, m.CheckpointLag,
			m.FilesWatched, m.Rotations, m.CheckpointWrites, m.HTTPRequests, m.LastAck, m.DroppedRecords,
			m.FilesUndrained, m.UndrainedBytes, m.IngestRefused, m.IngestJoined, m.OTLPReceived, m.GRPCRequests)
	}
	return m
}
