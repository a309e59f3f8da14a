package app

import (
	"bytes"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentobs/agentobs/indexer/bulk"
)

// SpanMetrics are the span pipeline's own counters: spans by service and
// status (the error-span rate per service is what the span alerts watch),
// and its dead letters apart from the records' (the span-ingest DLQ alert).
// Spans are not counted in records_total, whose without-trace ratio is the
// log records' correlation coverage.
type SpanMetrics struct {
	Spans       *prometheus.CounterVec // service, status
	DeadLetters *prometheus.CounterVec // reason
}

// SpanStatuses are the values of span.status.code (internal/record/otlpspan.go).
var SpanStatuses = []string{"unset", "ok", "error"}

func newSpanMetrics(reg prometheus.Registerer) *SpanMetrics {
	m := &SpanMetrics{
		Spans: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentobs_indexer_spans_total",
			Help: "Valid spans consumed from the span topic, by service (capped like records_total) and status (unset, ok, error)."}, []string{"service", "status"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentobs_indexer_span_dead_letters_total",
			Help: "Spans written to the dead-letter topic, by reason (also counted in dead_letters_total)."}, []string{"reason"}),
	}
	for _, r := range bulk.DeadLetterReasons {
		m.DeadLetters.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Spans, m.DeadLetters)
	}
	return m
}

// spanStatus reads span.status.code of an encoded span record; the shipper
// writes it as a flat key (record.AppendJSON), so a byte search suffices.
func spanStatus(doc []byte) string {
	switch {
	case bytes.Contains(doc, []byte(`"span.status.code":"error"`)):
		return "error"
	case bytes.Contains(doc, []byte(`"span.status.code":"ok"`)):
		return "ok"
	}
	return "unset"
}
