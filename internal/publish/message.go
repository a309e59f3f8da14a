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
	switch keySource(r, strategy) {
	case keyTrace:
		return []byte(r.TraceID)
	case keyEvent:
		return []byte(r.EventID)
	}
	return nil
}

// What the key of a record is taken from (Key's decision, once).
const (
	keyNil = iota
	keyTrace
	keyEvent
)

func keySource(r *record.Record, strategy string) int {
	switch strategy {
	case KeyNone:
		return keyNil
	case KeyEventID:
	default:
		if record.ValidTraceID(r.TraceID) {
			return keyTrace
		}
	}
	if r.EventID != "" {
		return keyEvent
	}
	return keyNil
}

// RecordMessage is the Kafka message of an encoded record: key = trace id
// (else event.id), headers for correlation, value = value. Front doors get
// it from Edge.Message; tests use it to produce record fixtures.
func RecordMessage(topic string, r *record.Record, value []byte) kafka.Message {
	return recordMessage(topic, r, value, KeyTraceID)
}

func recordMessage(topic string, r *record.Record, value []byte, keyStrategy string) kafka.Message {
	// Every header value (and the key, which repeats one of them) is a
	// slice of one buffer: two allocations per message instead of eight.
	buf := make([]byte, 0, len(r.TraceID)+len(r.SpanID)+len(r.Service)+len(r.EventID)+
		len(record.SchemaVersion)+len(record.ContentType))
	h := make([]kafka.Header, 0, 6)
	add := func(key, v string) []byte {
		start := len(buf)
		buf = append(buf, v...)
		b := buf[start:len(buf):len(buf)]
		h = append(h, kafka.Header{Key: key, Value: b})
		return b
	}
	var trace, event []byte
	if r.TraceID != "" {
		trace = add(HeaderTraceID, r.TraceID)
	}
	if r.SpanID != "" {
		add(HeaderSpanID, r.SpanID)
	}
	if r.Service != "" {
		add(HeaderService, r.Service)
	}
	event = add(HeaderEventID, r.EventID)
	add(HeaderSchema, record.SchemaVersion)
	add(HeaderContentType, record.ContentType)
	var key []byte
	switch keySource(r, keyStrategy) {
	case keyTrace:
		key = trace
	case keyEvent:
		key = event
	}
	return kafka.Message{Topic: topic, Key: key, Value: value, Headers: h}
}
