// Package publish is the one place a record becomes a Kafka message, the
// last step of both front doors (the collector plugin and the shipper)
// before Kafka: it mints the event.id from the source identity (eventid.go),
// applies the edge policy (secret redaction, content limits), stamps the
// producer id and sequence used for loss accounting, encodes the canonical
// record, enforces the size policy, and chooses the topic, key and headers
// (message.go). One implementation, two front doors: a record leaves either
// door in exactly the same shape. The record package is the model, parsing
// and encoding; kafkaclient is the connection, producer, dead letters and
// admin.
package publish

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Oversize actions.
const (
	OversizeTruncate = "truncate" // cut the message and drop the largest fields until it fits; flagged
	OversizeDLQ      = "dlq"      // send the record to the dead-letter topic instead
)

// Config is the edge configuration shared by collector and shipper.
type Config struct {
	// Topic is where records go. Default "agentobs-logs".
	Topic string `yaml:"topic"`
	// TopicField names a record field whose value selects the topic (e.g.
	// "event.dataset"); records without it go to Topic. Default "" (off).
	TopicField string `yaml:"topic_field"`
	// DLQTopic receives records that can never be delivered. Default "agentobs-logs-dlq".
	DLQTopic string `yaml:"dlq_topic"`
	// MaxRecordBytes caps an encoded record. Default 1000000 (below Kafka's
	// default message.max.bytes of 1048588 with room for headers).
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// Oversize is what happens to a larger record: "truncate" (default) or "dlq".
	Oversize string `yaml:"oversize"`
	// KeyStrategy is the Kafka message key: "trace_id" (default: the trace
	// id, else event.id), "event_id" or "none".
	KeyStrategy string `yaml:"key_strategy"`
	// Policy is the redaction and content policy.
	Policy record.PolicyConfig `yaml:"policy"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{Topic: kafkaclient.DefaultTopic, DLQTopic: kafkaclient.DefaultDLQTopic, MaxRecordBytes: 1_000_000,
		Oversize: OversizeTruncate, KeyStrategy: KeyTraceID, Policy: record.DefaultPolicyConfig()}
}

// RegisterFlags binds c to flags (topic, dlq-topic, record.max-bytes, …) under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.Topic, prefix+"kafka.topic", c.Topic, "topic records are produced to")
	fs.StringVar(&c.TopicField, prefix+"kafka.topic-field", c.TopicField, "record field whose value selects the topic (empty: always -kafka.topic)")
	fs.StringVar(&c.DLQTopic, prefix+"kafka.dlq-topic", c.DLQTopic, "dead-letter topic")
	fs.StringVar(&c.KeyStrategy, prefix+"kafka.key-strategy", c.KeyStrategy, "message key: trace_id (trace id, else event.id), event_id or none")
	fs.IntVar(&c.MaxRecordBytes, prefix+"record.max-bytes", c.MaxRecordBytes, "largest encoded record; larger ones are truncated or dead-lettered")
	fs.StringVar(&c.Oversize, prefix+"record.oversize", c.Oversize, "what to do with a larger record: truncate or dlq")
	fs.BoolVar(&c.Policy.Redact, prefix+"redact", c.Policy.Redact, "redact secrets (tokens, keys, passwords) before records leave the host")
	config.NewStringList(fs, &c.Policy.ExtraPatterns, prefix+"redact.extra-patterns", c.Policy.ExtraPatterns, "extra regular expressions to redact")
	fs.IntVar(&c.Policy.MaxContentBytes, prefix+"content.max-bytes", c.Policy.MaxContentBytes, "largest gen_ai prompt/completion/tool content field")
	fs.StringVar(&c.Policy.ContentMode, prefix+"content.mode", c.Policy.ContentMode, "what to do with larger content: truncate or hash")
	config.NewStringList(fs, &c.Policy.ContentFields, prefix+"content.fields", c.Policy.ContentFields, "content fields the limit applies to")
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Topic == "" {
		errs = append(errs, errors.New("kafka.topic: required"))
	}
	if c.DLQTopic == "" {
		errs = append(errs, errors.New("kafka.dlq-topic: required"))
	}
	if c.MaxRecordBytes < 1024 {
		errs = append(errs, fmt.Errorf("record.max-bytes: %d, want >= 1024", c.MaxRecordBytes))
	}
	switch c.KeyStrategy {
	case KeyTraceID, KeyEventID, KeyNone:
	default:
		errs = append(errs, fmt.Errorf("kafka.key-strategy: %q, want trace_id, event_id or none", c.KeyStrategy))
	}
	if c.Oversize != OversizeTruncate && c.Oversize != OversizeDLQ {
		errs = append(errs, fmt.Errorf("record.oversize: %q, want truncate or dlq", c.Oversize))
	}
	if err := c.Policy.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Metrics are the edge counters of one component.
type Metrics struct {
	Redactions  *prometheus.CounterVec // rule
	Content     *prometheus.CounterVec // field
	Structure   *prometheus.CounterVec // kind
	Oversize    *prometheus.CounterVec // action
	DeadLetters *prometheus.CounterVec // reason
	Flagged     *prometheus.CounterVec // flag
}

// Dead-letter reasons at the edge, a closed set.
var DeadLetterReasons = []string{"too_large", "rejected", "invalid", ReasonUnknownTopic}

// ReasonUnknownTopic is the dead-letter reason of a record whose topic
// field (TopicField) named a topic Kafka does not have.
const ReasonUnknownTopic = "unknown_topic"

// RefusalReason is the dead-letter reason of a record Kafka refused for
// good with cause: too_large, unknown_topic (UnknownTopics confirmed it),
// else rejected.
func RefusalReason(cause error) string {
	switch r, _ := kafkaclient.Classify(cause); {
	case r == "too_large":
		return "too_large"
	case errors.Is(cause, kafka.UnknownTopicOrPartition):
		return ReasonUnknownTopic
	}
	return "rejected"
}

// NewMetrics registers agentobs_<component>_… edge counters, every closed
// label value pre-created at 0.
func NewMetrics(reg prometheus.Registerer, component string, contentFields []string) *Metrics {
	ns := "agentobs_" + component
	m := &Metrics{
		Redactions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_redactions_total", Help: "Secrets redacted before leaving the host, by rule."}, []string{"rule"}),
		Content:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_content_limited_total", Help: "Large gen_ai/tool content fields truncated or hashed, by field."}, []string{"field"}),
		Structure:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_structure_limited_total", Help: "Records whose nesting depth or key count was capped, by kind."}, []string{"kind"}),
		Oversize:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_oversize_records_total", Help: "Records over the size limit, by action taken."}, []string{"action"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_dead_letters_total",
			Help: "Records sent to the dead-letter topic, by reason."}, []string{"reason"}),
		Flagged: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_records_flagged_total",
			Help: "Records the edge altered or could not parse fully, by flag (unparsed_json, invalid_utf8, truncated, ...)."}, []string{"flag"}),
	}
	for _, r := range record.PolicyRules {
		m.Redactions.WithLabelValues(r)
	}
	for _, f := range contentFields {
		m.Content.WithLabelValues(f)
	}
	for _, k := range []string{record.LimitDepth, record.LimitFields} {
		m.Structure.WithLabelValues(k)
	}
	for _, a := range []string{OversizeTruncate, OversizeDLQ} {
		m.Oversize.WithLabelValues(a)
	}
	for _, r := range DeadLetterReasons {
		m.DeadLetters.WithLabelValues(r)
	}
	for _, f := range []string{record.FlagUnparsedJSON, record.FlagTruncated, record.FlagInvalidUTF8, record.FlagRedacted,
		record.FlagContentLimited, record.FlagNoTimestamp, record.FlagDepthLimited} {
		m.Flagged.WithLabelValues(f)
	}
	if reg != nil {
		reg.MustRegister(m.Redactions, m.Content, m.Structure, m.Oversize, m.DeadLetters, m.Flagged)
	}
	return m
}

func (m *Metrics) Redacted(rule string)        { m.Redactions.WithLabelValues(rule).Inc() }
func (m *Metrics) ContentLimited(field string) { m.Content.WithLabelValues(field).Inc() }
func (m *Metrics) Limited(kind string)         { m.Structure.WithLabelValues(kind).Inc() }

// Edge turns records into Kafka messages. Safe for concurrent use.
type Edge struct {
	cfg        Config
	component  string
	producerID string
	// producerIDValue is producerID boxed once: a per-record rec.Set of the
	// string would allocate its interface value for every record.
	producerIDValue any
	seq             atomic.Uint64
	policy          *record.Policy
	m               *Metrics
	canary          bool // set on a Canary's edge: the only one that may mark a record as a canary
}

// New builds the edge for component. producerID identifies this front-door
// instance and input for loss accounting (e.g. "shipper/<host>/files"); it
// must be stable across restarts of the same instance, and sequence numbers
// restart from startSeq (the shipper persists it; the plugin starts at 0 and
// a restart shows as a new epoch in the producer id).
func New(cfg Config, component, producerID string, startSeq uint64, m *Metrics) (*Edge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m = NewMetrics(nil, component, cfg.Policy.ContentFields)
	}
	p, err := record.NewPolicy(cfg.Policy, m)
	if err != nil {
		return nil, fmt.Errorf("edge policy: %w", err)
	}
	e := &Edge{cfg: cfg, component: component, producerID: producerID, producerIDValue: producerID, policy: p, m: m}
	e.seq.Store(startSeq)
	return e, nil
}

// WithProducer returns an edge for another producer (its own id and
// sequence, starting after startSeq) that shares this edge's compiled policy,
// configuration and metrics: a front door with many producers (the shipper
// has one per file generation) compiles the redaction rules once.
func (e *Edge) WithProducer(producerID string, startSeq uint64) *Edge {
	n := &Edge{cfg: e.cfg, component: e.component, producerID: producerID, producerIDValue: producerID, policy: e.policy, m: e.m}
	n.seq.Store(startSeq)
	return n
}

// Seq is the last sequence number handed out.
func (e *Edge) Seq() uint64 { return e.seq.Load() }

// Message finalises rec (policy, producer stamp), encodes it into buf[:0]
// and returns the message to produce (topic, key, headers) and the grown
// buffer. rec.EventID must be set by the caller with this package's scheme
// for its input (LineEventID, ChunkIDs): it depends on the source identity. When
// the record is over the size limit and the policy is "dlq", the message is
// addressed to the dead-letter topic with the reason in its headers; dead is
// true then.
func (e *Edge) Message(rec *record.Record, buf []byte) (msg kafka.Message, out []byte, dead bool) {
	return e.MessageSeq(rec, buf, e.NextSeq())
}

// NextSeq hands out the next sequence number of this producer.
func (e *Edge) NextSeq() uint64 { return e.seq.Add(1) }

// MessageSeq is Message with the sequence number chosen by the caller (one
// NextSeq handed out). A front door that sends the same records again
// stamps them with the numbers of the first attempt: the plugin does so for
// a chunk Fluent Bit retries, so records of a failed attempt that Kafka
// never stored leave no gap in the sequence for the audit to report.
func (e *Edge) MessageSeq(rec *record.Record, buf []byte, seq uint64) (msg kafka.Message, out []byte, dead bool) {
	return e.MessageScratch(rec, buf, seq, nil)
}

// MessageScratch is MessageSeq with the message's key and header values
// in s (nil: allocated) instead of memory of their own; they stay valid
// until s.Reset.
func (e *Edge) MessageScratch(rec *record.Record, buf []byte, seq uint64, s *Scratch) (msg kafka.Message, out []byte, dead bool) {
	e.policy.Apply(rec)
	if !e.canary {
		unmarkCanary(rec)
	}
	rec.Set(record.FieldProducerID, e.producerIDValue)
	rec.Set(record.FieldProducerSeq, s.seq(seq))
	for _, f := range rec.Flags {
		e.m.Flagged.WithLabelValues(f).Inc()
	}
	topic := e.cfg.Topic
	if e.cfg.TopicField != "" {
		// Cloned: a record's strings may alias its input (the plugin decodes
		// Fluent Bit's buffer in place, freed when the flush returns), while
		// a producer whose Send timed out may still hold the message.
		if v, ok := rec.Fields[e.cfg.TopicField].(string); ok && v != "" {
			topic = strings.Clone(v)
		} else if e.cfg.TopicField == record.FieldDataset && rec.Dataset != "" {
			topic = strings.Clone(rec.Dataset)
		}
	}
	if s != nil {
		buf = s.enc.AppendJSON(buf[:0], rec)
	} else {
		buf = rec.AppendJSON(buf[:0])
	}
	if len(buf) > e.cfg.MaxRecordBytes {
		if e.cfg.Oversize == OversizeDLQ {
			e.m.Oversize.WithLabelValues(OversizeDLQ).Inc()
			e.m.DeadLetters.WithLabelValues("too_large").Inc()
			orig := recordMessage(topic, rec, buf, KeyTraceID, nil)
			orig.Offset = -1
			return kafkaclient.DeadLetter(e.cfg.DLQTopic, orig, e.component, "too_large",
				fmt.Errorf("record of %d bytes exceeds record.max-bytes %d", len(buf), e.cfg.MaxRecordBytes)), buf, true
		}
		e.m.Oversize.WithLabelValues(OversizeTruncate).Inc()
		buf = shrink(rec, buf, e.cfg.MaxRecordBytes)
	}
	return recordMessage(topic, rec, buf, e.cfg.KeyStrategy, s), buf, false
}

// unmarkCanary removes a canary marker a user record brought with it (flat
// or nested): only a Canary marks canaries, and a marked user record would
// vanish from the audit, the search and the coverage.
func unmarkCanary(rec *record.Record) {
	if len(rec.Fields) == 0 {
		return
	}
	delete(rec.Fields, record.FieldCanary)
	delete(rec.Fields, record.FieldCanaryFinal)
	if a, ok := rec.Fields["agentobs"].(map[string]any); ok {
		delete(a, "canary")
		delete(a, "canary_final")
	}
}

// DeadLetter addresses msg (a record message Kafka refused permanently) to
// the dead-letter topic, counted by reason.
func (e *Edge) DeadLetter(msg kafka.Message, reason string, cause error) kafka.Message {
	e.m.DeadLetters.WithLabelValues(reason).Inc()
	msg.Offset = -1
	return kafkaclient.DeadLetter(e.cfg.DLQTopic, msg, e.component, reason, cause)
}

// shrink makes an oversize record fit: first drop the largest extra fields
// (recording their names), then cut the message. The correlation fields and
// event.id always survive, so the record stays findable by its trace.
func shrink(rec *record.Record, buf []byte, limit int) []byte {
	rec.AddFlag(record.FlagTruncated)
	rec.Set("agentobs.original_record_bytes", len(buf))
	var dropped []string
	for len(buf) > limit && len(rec.Fields) > 0 {
		bigKey, bigSize := "", 0
		for k, v := range rec.Fields {
			if k == record.FieldProducerID || k == record.FieldProducerSeq || k == "agentobs.original_record_bytes" || k == "agentobs.dropped_large_fields" {
				continue
			}
			if s := approxSize(v); s > bigSize || (s == bigSize && k < bigKey) {
				bigKey, bigSize = k, s
			}
		}
		if bigKey == "" || bigSize < 64 {
			break
		}
		delete(rec.Fields, bigKey)
		dropped = append(dropped, bigKey)
		rec.Set("agentobs.dropped_large_fields", dropped)
		buf = rec.AppendJSON(buf[:0])
	}
	for over := len(buf) - limit; over > 0 && rec.Message != ""; over = len(buf) - limit {
		keep := len(rec.Message) - over - 64
		if keep < 0 {
			keep = 0
		}
		rec.Message = strings.ToValidUTF8(rec.Message[:keep], "") + "…[truncated]"
		buf = rec.AppendJSON(buf[:0])
	}
	return buf
}

func approxSize(v any) int {
	switch t := v.(type) {
	case string:
		return len(t)
	case []byte:
		return len(t)
	case map[string]any, []any, map[any]any:
		r := record.Record{Fields: map[string]any{"x": t}}
		return len(r.AppendJSON(nil))
	}
	return 8
}
