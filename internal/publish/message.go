package publish

import (
	"github.com/agentobs/agentobs/internal/record"
	"github.com/segmentio/kafka-go"
)

// Header names on every record message. Consumers can route and correlate
// without parsing the value; Fluent Bit's own Kafka output sets none.
const (
	HeaderTraceID     = "trace_id"
	HeaderSpanID      = "span_id"
	HeaderService     = "service.name"
	HeaderEventID     = "event.id"
	HeaderSchema      = "agentobs.schema"
	HeaderContentType = "content-type"
)

// Key strategies: what the Kafka message key of a record is.
const (
	KeyTraceID = "trace_id" // trace id, else event.id (default: one trace, one partition, in order)
	KeyEventID = "event_id" // always event.id: even spread, a retried record keeps its partition
	KeyNone    = "none"     // no key: the producer's balancer spreads records
)

// Key is the Kafka message key of r under strategy: by default the trace id
// when valid, so every record of a trace lands on one partition in order;
// otherwise the event id, which spreads trace-less records evenly and keeps
// a retried record on the same partition. nil when the record has neither
// (the producer then balances).
func Key(r *record.Record, strategy string) []byte {
	switch strategy {
	case KeyNone:
		return nil
	case KeyEventID:
	default:
		if record.ValidTraceID(r.TraceID) {
			return []byte(r.TraceID)
		}
	}
	if r.EventID != "" {
		return []byte(r.EventID)
	}
	return nil
}

// RecordMessage is the Kafka message of an encoded record: key = trace id
// (else event.id), headers for correlation, value = value. Front doors get
// it from Edge.Message; tests use it to produce record fixtures.
func RecordMessage(topic string, r *record.Record, value []byte) kafka.Message {
	return recordMessage(topic, r, value, KeyTraceID)
}

func recordMessage(topic string, r *record.Record, value []byte, keyStrategy string) kafka.Message {
	h := make([]kafka.Header, 0, 6)
	if r.TraceID != "" {
		h = append(h, kafka.Header{Key: HeaderTraceID, Value: []byte(r.TraceID)})
	}
	if r.SpanID != "" {
		h = append(h, kafka.Header{Key: HeaderSpanID, Value: []byte(r.SpanID)})
	}
	if r.Service != "" {
		h = append(h, kafka.Header{Key: HeaderService, Value: []byte(r.Service)})
	}
	h = append(h,
		kafka.Header{Key: HeaderEventID, Value: []byte(r.EventID)},
		kafka.Header{Key: HeaderSchema, Value: []byte(record.SchemaVersion)},
		kafka.Header{Key: HeaderContentType, Value: []byte(record.ContentType)})
	return kafka.Message{Topic: topic, Key: Key(r, keyStrategy), Value: value, Headers: h}
}
