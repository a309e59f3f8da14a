// Package record is the canonical log record of agentobs: the one contract
// from the edge (collector plugin, shipper) through Kafka to the indexer.
//
// A record is shaped after Elastic Common Schema (ECS) field names with
// OpenTelemetry semantics; see ../../shared/PRODUCT.md ("The record").
// Every front door turns its input into a Record with Parse/FromMap; the
// publish package applies the edge Policy (redaction, truncation), stamps
// the event.id and encodes it with AppendJSON into a Kafka message. The
// indexer reads the encoded bytes back with Peek, which extracts only the
// fields it needs to route and correlate.
//
// This file holds the model; parse.go (with extract.go, docker.go, cri.go,
// otel.go, timeparse.go, scan.go), level.go, trace.go, encode.go, peek.go,
// policy.go (with redact.go) hold the logic. Nothing outside this package
// defines record fields.
//
// # Event identity
//
// Record.EventID holds the record's event.id; how it is minted from the
// record's source identity at each front door is decided in one place, the
// publish package (publish.EventID and the scheme functions beside it).
// A record that already carries an event.id (any non-empty string up to 128
// bytes, kept in Record.EventID by Parse) keeps it.
package record

import (
	"time"

	"github.com/agentobs/agentobs/internal/box"
)

// SchemaVersion is written to the Kafka header "agentobs.schema" and bumped
// whenever the encoded shape changes incompatibly.
const SchemaVersion = "1"

// ContentType is the content type of an encoded record on the wire.
const ContentType = "application/json"

// Canonical field names (ECS). The encoder writes them as flat dotted keys;
// Elasticsearch expands dotted keys into objects.
const (
	FieldTimestamp       = "@timestamp"
	FieldMessage         = "message"
	FieldLevel           = "log.level"
	FieldService         = "service.name"
	FieldServiceInstance = "service.instance.id"
	FieldTraceID         = "trace.id"
	FieldSpanID          = "span.id"
	FieldTraceFlags      = "trace.flags"
	FieldEventID         = "event.id"
	FieldDataset         = "event.dataset"
	// FieldInvalidTraceID keeps a trace id that failed validation (wrong
	// length, not hex, all zeros). It is never used for correlation.
	FieldInvalidTraceID = "agentobs.invalid_trace_id"
	// FieldInvalidSpanID is the span counterpart of FieldInvalidTraceID.
	FieldInvalidSpanID = "agentobs.invalid_span_id"
	// FieldFlags lists what the edge did to the record (see Flag*).
	FieldFlags = "agentobs.flags"
	// FieldProducerID and FieldProducerSeq support loss accounting: a stable
	// id per front-door instance and input, and a per-producer sequence.
	FieldProducerID  = "agentobs.producer.id"
	FieldProducerSeq = "agentobs.producer.seq"
	// FieldProducerDupID and FieldProducerDupSeq are the stamp of a later
	// copy of the record that Elasticsearch refused (409) because its
	// event.id was there: the indexer writes them onto the document so the
	// audit finds that copy's sequence number too.
	FieldProducerDupID  = "agentobs.producer.dup.id"
	FieldProducerDupSeq = "agentobs.producer.dup.seq"
	// FieldSource is the logical source of the record (Fluent Bit tag, file
	// path, "stdin", "http"); FieldFilePath and FieldOffset are set for files.
	FieldSource   = "agentobs.source"
	FieldFilePath = "log.file.path"
	FieldOffset   = "log.offset"
	FieldStream   = "log.stream"
	// FieldOriginalBytes is the length of a raw line that was truncated.
	FieldOriginalBytes = "agentobs.original_bytes"
	// FieldDroppedFields counts keys dropped by the policy's MaxFields cap.
	FieldDroppedFields = "agentobs.dropped_fields"
	// FieldSessionID and FieldConversationID group the records of one agent
	// session / GenAI conversation. Parse canonicalises the common spellings
	// (session_id, sessionId, {"session":{"id"}}, conversation_id, ...) to
	// these flat keys so Peek finds them at the top level.
	FieldSessionID      = "session.id"
	FieldConversationID = "gen_ai.conversation.id"
	// FieldServiceVersion is the release of the service that wrote the
	// record (ECS/OTel service.version), so a canary's records can be told
	// from the stable fleet's. Parse canonicalises it from a JSON field
	// (service.version, {"service":{"version"}}, service_version,
	// serviceVersion), an OTel resource attribute, or the pod labels
	// Fluent Bit's kubernetes filter adds (app.kubernetes.io/version, then
	// version); a pod label is copied, not moved.
	FieldServiceVersion = "service.version"
	// FieldCanary marks an end-to-end canary record (internal/publish,
	// canary.go): a record a front door injects periodically through its
	// own publish path to prove that path works up to Elasticsearch. Its
	// value is the canary's source, the front door instance that sent it
	// ("shipper/<host>", "collector/<source>/<instance>"). Every consumer
	// of user data (loss audit, coverage, search) excludes records that
	// have it; nothing else marks a canary.
	FieldCanary = "agentobs.canary"
	// FieldCanaryFinal is true on the last canary of a source that stopped
	// cleanly, so the indexer's prober stops expecting it.
	FieldCanaryFinal = "agentobs.canary_final"
)

// Flags describing what happened to a record at the edge. They are written to
// FieldFlags so a user can find every record that was altered.
const (
	FlagUnparsedJSON   = "unparsed_json"   // looked like JSON, did not parse; kept as message
	FlagTruncated      = "truncated"       // the raw line exceeded the size limit
	FlagInvalidUTF8    = "invalid_utf8"    // invalid UTF-8 bytes were replaced
	FlagRedacted       = "redacted"        // at least one secret was redacted
	FlagContentLimited = "content_limited" // a large gen_ai/tool field was truncated or hashed
	FlagNoTimestamp    = "no_timestamp"    // no usable time in the input; edge time used
	FlagDepthLimited   = "depth_limited"   // nesting or key count capped
)

// Level is the normalised severity vocabulary. Every input spelling (WARN,
// warning, W, syslog numbers, OTel severity numbers, pino numbers) maps to one
// of these.
type Level string

const (
	LevelTrace Level = "trace"
	LevelDebug Level = "debug"
	LevelInfo  Level = "info"
	LevelWarn  Level = "warn"
	LevelError Level = "error"
	LevelFatal Level = "fatal"
	// LevelUnknown is used when the input had no level at all.
	LevelUnknown Level = ""
)

// Record is one canonical log record.
type Record struct {
	Timestamp       time.Time // @timestamp, nanoseconds kept, always UTC when encoded
	Message         string    // message
	Level           Level     // log.level, normalised
	Service         string    // service.name
	ServiceInstance string    // service.instance.id
	TraceID         string    // trace.id: 32 lowercase hex, validated, or ""
	SpanID          string    // span.id: 16 lowercase hex, validated, or ""
	TraceFlags      string    // trace.flags: 2 lowercase hex from traceparent, or ""
	EventID         string    // event.id: deterministic, see EventID
	Dataset         string    // event.dataset

	// Fields holds every other field of the input, with its original key
	// (nested objects stay nested) plus metadata the edge adds under dotted
	// ECS keys (host.name, container.id, kubernetes.pod.name, log.file.path,
	// agentobs.*). Keys that were consumed into the typed fields above are
	// removed, so an encoded record never carries trace_id next to trace.id.
	Fields map[string]any

	// Flags lists Flag* values; encoded as FieldFlags.
	Flags []string
}

// Reset empties the record for reuse, keeping the Fields map and Flags slice
// storage, except a Fields map that held more than box.MaxReusedMap
// entries: that one is replaced by a new one. A caller that still holds the
// previous Fields must not Reset.
func (r *Record) Reset() {
	fields, flags := box.Emptied(r.Fields), r.Flags[:0]
	if fields == nil && r.Fields != nil {
		fields = make(map[string]any, 16)
	}
	*r = Record{Fields: fields, Flags: flags}
}

// HasFlag reports whether flag was recorded.
func (r *Record) HasFlag(flag string) bool {
	for _, f := range r.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// AddFlag records that the edge altered the record; duplicates are ignored.
func (r *Record) AddFlag(flag string) {
	for _, f := range r.Flags {
		if f == flag {
			return
		}
	}
	r.Flags = append(r.Flags, flag)
}

// fields returns Fields, made with room for hint fields if r has none:
// a Record keeps its map across Reset, so a reused one allocates it once.
func (r *Record) fields(hint int) map[string]any {
	if r.Fields == nil {
		r.Fields = make(map[string]any, hint)
	}
	return r.Fields
}

// Set stores an extra field, allocating Fields on first use.
func (r *Record) Set(key string, value any) {
	r.fields(8)[key] = value
}
