package app

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/agentobs/agentobs/indexer/audit"
	"github.com/agentobs/agentobs/indexer/canary"
	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/esclient"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/telemetry"
)

// Config is everything a user sets. Every field's default is in DefaultConfig.
type Config struct {
	Kafka kafkaclient.Config `yaml:"kafka"`
	// Topic is the record topic. Default "agentobs-logs".
	Topic string `yaml:"topic"`
	// DLQTopic receives records that cannot be indexed. Default "agentobs-logs-dlq".
	DLQTopic string `yaml:"dlq_topic"`
	// SpansTopic is the span topic (OTLP spans from the shipper), indexed
	// into index.spans by a second pipeline in the consumer group Group +
	// "-spans". Default "agentobs-spans"; "" disables it.
	SpansTopic string `yaml:"spans_topic"`
	// MarksTopic holds the front doors' high-water marks, read by the loss
	// audit (created at start like DLQTopic). Default "" = "<kafka.topic>-marks",
	// the front doors' default.
	MarksTopic string `yaml:"marks_topic"`
	// Group is the consumer group. Default "agentobs-indexer".
	Group string `yaml:"group"`
	// StartOffset is where a group without committed offsets starts:
	// "earliest" (default: nothing already in the topic is skipped) or "latest".
	StartOffset string `yaml:"start_offset"`
	// SessionTimeout is how long the group waits for a silent member (one
	// killed without leaving) before handing its partitions to others;
	// heartbeats go every tenth of it. Default 10s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// MaxFetchBytes bounds one fetch response. Default 16 MiB.
	MaxFetchBytes int `yaml:"max_fetch_bytes"`

	ES         esclient.Config `yaml:"es"`
	Names      schema.Names    `yaml:"index"`
	Index      schema.Settings `yaml:"index_settings"`
	DataStream bool            `yaml:"data_stream"` // default false; see schema.Options
	Retention  string          `yaml:"retention"`   // default "" (keep); ILM delete age when ILM exists
	// InstallTemplates installs the templates and indices at start. Default true.
	InstallTemplates bool `yaml:"install_templates"`

	Bulk BulkConfig `yaml:"bulk"`
	// CommitInterval is how often finished offsets are committed. Default 1s.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// MaxPending bounds fetched records whose offsets are not committable
	// yet; fetching pauses at this number. Default 200000 (an offset costs
	// about 40 bytes while it waits).
	MaxPending int `yaml:"max_pending"`
	// MaxBufferedBytes bounds the bytes of fetched records held in memory
	// until Elasticsearch acknowledged them (queues, batches, requests in
	// flight and their retries); fetching pauses at this bound. Default 32 MiB.
	MaxBufferedBytes int `yaml:"max_buffered_bytes"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes: the
	// collector runs more often as the heap nears it, so short-lived
	// garbage (bodies, responses) cannot push RSS far above what is live.
	// Default 0: derived, 2 × (fetch.max-buffered-bytes + bulk.workers ×
	// bulk.max-bytes) + 64 MiB. -1: no limit. The GOMEMLIMIT env var wins.
	MemoryLimit int64 `yaml:"memory_limit"`

	// SummaryEnabled keeps per-trace summary documents. Default true.
	SummaryEnabled bool `yaml:"summary_enabled"`
	// SummaryInterval is how often touched traces are re-derived. Default 2s.
	SummaryInterval time.Duration `yaml:"summary_interval"`

	// Health bounds readiness: lag, stalls, hung requests (see health.go).
	Health HealthConfig `yaml:"health"`

	// Audit is the periodic loss audit (see indexer/audit). Defaults: every
	// 5m over the last 1h, leaving out the last 2m.
	Audit audit.Config `yaml:"audit"`
	// Canary is the end-to-end canary prober (see indexer/canary). Defaults:
	// every 15s; a source is forgotten 15m after its newest canary.
	Canary canary.Config `yaml:"canary"`

	// HTTPAddr serves /metrics, /healthz, /readyz and the API. Default 127.0.0.1:9400.
	HTTPAddr string `yaml:"http_addr"`
	// HTTPToken, when set, is required as a bearer token on POST /v1/alerts
	// and the /v1 lookups. Default "" (open). HTTPTokenFile reads it from a file.
	HTTPToken     config.Secret `yaml:"http_token"`
	HTTPTokenFile string        `yaml:"http_token_file"`
	// HTTPLimits bound slow and numerous clients (flags http.read-header-timeout,
	// http.body-timeout, http.idle-timeout, http.max-requests); defaults in
	// telemetry.DefaultLimits: 10s, 30s, 2m, 256.
	HTTPLimits telemetry.Limits `yaml:"http_limits"`
	// UI is the trace explorer at /ui/ (behind HTTPToken too).
	UI UIConfig `yaml:"ui"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `yaml:"log_level"`
}

// BulkConfig bounds batches.
type BulkConfig struct {
	// MaxDocs flushes a batch at this many documents. Default 10000.
	MaxDocs int `yaml:"max_docs"`
	// MaxBytes flushes a batch at this many bytes of sources. Default 8 MiB.
	// It is the ceiling of an adaptive target: each 429 from Elasticsearch
	// halves the target, each clean request grows it back by an eighth.
	MaxBytes int `yaml:"max_bytes"`
	// MinBytes is the floor of the adaptive target. Default 256 KiB.
	MinBytes int `yaml:"min_bytes"`
	// FlushInterval flushes a partial batch this long after its first record. Default 200ms.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Workers is the number of bulk requests in flight. Default 3.
	Workers int `yaml:"workers"`
	// MaxDocBytes is the largest record indexed; larger ones are dead-lettered
	// as too_large. Default 10 MiB (Elasticsearch's http.max_content_length is 100 MiB).
	MaxDocBytes int `yaml:"max_doc_bytes"`
	// InitialBackoff and MaxBackoff bound retry delays. Defaults 100ms, 10s.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		Kafka: kafkaclient.DefaultConfig(), Topic: kafkaclient.DefaultTopic, DLQTopic: kafkaclient.DefaultDLQTopic, SpansTopic: kafkaclient.DefaultSpansTopic,
		Group: "agentobs-indexer", StartOffset: "earliest", SessionTimeout: 10 * time.Second, MaxFetchBytes: 16 << 20,
		ES: esclient.DefaultConfig(), Names: schema.DefaultNames(), Index: schema.DefaultSettings(), InstallTemplates: true,
		Bulk: BulkConfig{MaxDocs: 10000, MaxBytes: 8 << 20, MinBytes: 256 << 10, FlushInterval: 200 * time.Millisecond, Workers: 3,
			MaxDocBytes: 10 << 20, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second},
		CommitInterval: time.Second, MaxPending: 200000, MaxBufferedBytes: 32 << 20,
		SummaryEnabled: true, SummaryInterval: 2 * time.Second,
		Audit: audit.DefaultConfig(), Canary: canary.DefaultConfig(), Health: DefaultHealthConfig(),
		HTTPAddr: "127.0.0.1:9400", UI: UIConfig{Enabled: true}, HTTPLimits: telemetry.DefaultLimits(), LogLevel: "info",
	}
}

// RegisterFlags binds c to the indexer's flags (dotted names; env INDEXER_*).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Kafka.RegisterFlags(fs, "kafka.")
	fs.StringVar(&c.Topic, "kafka.topic", c.Topic, "topic of records to index")
	fs.StringVar(&c.DLQTopic, "kafka.dlq-topic", c.DLQTopic, "dead-letter topic for records that cannot be indexed")
	fs.StringVar(&c.SpansTopic, "kafka.spans-topic", c.SpansTopic, `span topic (OTLP spans), indexed into index.spans by its own pipeline and group (kafka.group + "-spans"); "" disables`)
	fs.StringVar(&c.MarksTopic, "kafka.marks-topic", c.MarksTopic, "topic of the front doors' high-water marks, read by the loss audit to see loss at the end of a sequence (default: <kafka.topic>-marks)")
	fs.StringVar(&c.Group, "kafka.group", c.Group, "consumer group id (indexers in one group share the partitions)")
	fs.StringVar(&c.StartOffset, "kafka.start-offset", c.StartOffset, "where a new group starts: earliest or latest")
	fs.DurationVar(&c.SessionTimeout, "kafka.session-timeout", c.SessionTimeout, "group session timeout (how soon a dead member's partitions move)")
	fs.IntVar(&c.MaxFetchBytes, "kafka.max-fetch-bytes", c.MaxFetchBytes, "most bytes per fetch response")
	c.ES.RegisterFlags(fs, "es.")
	c.Names.RegisterFlags(fs, "index.")
	fs.IntVar(&c.Index.Shards, "index.shards", c.Index.Shards, "primary shards per log index")
	fs.IntVar(&c.Index.Replicas, "index.replicas", c.Index.Replicas, "replicas per index (0 on a single node)")
	fs.StringVar(&c.Index.RefreshInterval, "index.refresh-interval", c.Index.RefreshInterval, "refresh interval of the log indices")
	fs.IntVar(&c.Index.FieldLimit, "index.field-limit", c.Index.FieldLimit, "mapped fields per log index; more are kept in _source, not indexed")
	fs.IntVar(&c.Index.IgnoreAbove, "index.ignore-above", c.Index.IgnoreAbove, "longest unknown string indexed as a keyword")
	fs.BoolVar(&c.DataStream, "index.data-stream", c.DataStream, "write to a data stream named -index.alias (needs the data-streams module; breaks dedup across rollovers)")
	fs.StringVar(&c.Retention, "index.retention", c.Retention, "delete log indices after this age via ILM when the cluster has ILM (e.g. 30d; empty: keep)")
	fs.BoolVar(&c.InstallTemplates, "index.install", c.InstallTemplates, "install index templates and indices at start")
	fs.IntVar(&c.Bulk.MaxDocs, "bulk.max-docs", c.Bulk.MaxDocs, "documents per bulk request")
	fs.IntVar(&c.Bulk.MaxBytes, "bulk.max-bytes", c.Bulk.MaxBytes, "bytes of documents per bulk request (the ceiling: each 429 halves the target, clean requests grow it back)")
	fs.IntVar(&c.Bulk.MinBytes, "bulk.min-bytes", c.Bulk.MinBytes, "smallest bulk request target after repeated 429s")
	fs.DurationVar(&c.Bulk.FlushInterval, "bulk.flush-interval", c.Bulk.FlushInterval, "longest wait before a partial batch is sent")
	fs.IntVar(&c.Bulk.Workers, "bulk.workers", c.Bulk.Workers, "bulk requests in flight")
	fs.IntVar(&c.Bulk.MaxDocBytes, "bulk.max-doc-bytes", c.Bulk.MaxDocBytes, "largest record indexed; larger ones are dead-lettered (too_large)")
	fs.DurationVar(&c.Bulk.InitialBackoff, "bulk.initial-backoff", c.Bulk.InitialBackoff, "first retry delay")
	fs.DurationVar(&c.Bulk.MaxBackoff, "bulk.max-backoff", c.Bulk.MaxBackoff, "longest retry delay")
	fs.DurationVar(&c.CommitInterval, "commit.interval", c.CommitInterval, "how often finished offsets are committed")
	fs.IntVar(&c.MaxPending, "commit.max-pending", c.MaxPending, "fetched but uncommittable records (or traces waiting for a summary round) at which fetching pauses")
	fs.Int64Var(&c.MemoryLimit, "memory.limit", c.MemoryLimit, "Go soft memory limit in bytes (0: 2 × (fetch.max-buffered-bytes + bulk.workers × bulk.max-bytes) + 64 MiB; -1: none; GOMEMLIMIT wins)")
	fs.IntVar(&c.MaxBufferedBytes, "fetch.max-buffered-bytes", c.MaxBufferedBytes, "bytes of fetched records held until Elasticsearch acknowledged them; fetching pauses at this bound (the indexer's memory is about twice this plus the Kafka reader's fetches)")
	fs.BoolVar(&c.SummaryEnabled, "summary.enabled", c.SummaryEnabled, "keep per-trace summary documents")
	fs.DurationVar(&c.SummaryInterval, "summary.interval", c.SummaryInterval, "how often touched traces are re-derived")
	c.Audit.RegisterFlags(fs, "audit.")
	c.Canary.RegisterFlags(fs, "")
	c.Health.RegisterFlags(fs, "health.")
	fs.StringVar(&c.HTTPAddr, "http.addr", c.HTTPAddr, "listen address of /metrics, /healthz, /readyz and the /v1 API (empty: off)")
	fs.Var(&c.HTTPToken, "http.token", "bearer token required by the /v1 API (empty: open; prefer -http.token-file or the env var)")
	fs.StringVar(&c.HTTPTokenFile, "http.token-file", c.HTTPTokenFile, "file holding the bearer token")
	c.HTTPLimits.RegisterFlags(fs, "http.")
	fs.BoolVar(&c.UI.Enabled, "ui.enabled", c.UI.Enabled, "serve the trace explorer at /ui/ on http.addr")
	fs.StringVar(&c.UI.KibanaURL, "ui.kibana-url", c.UI.KibanaURL, "Kibana base URL for the explorer's \"open in Kibana\" links (empty: none)")
	fs.StringVar(&c.UI.GrafanaURL, "ui.grafana-url", c.UI.GrafanaURL, "Grafana base URL for the explorer's \"open in Grafana\" links (empty: none)")
	fs.StringVar(&c.UI.PrometheusURL, "ui.prometheus-url", c.UI.PrometheusURL, "Prometheus base URL the Alerts page asks for exemplar trace ids of an alert's expression (/api/v1/query_exemplars; empty: the error traces of the alert's service instead)")
	fs.StringVar(&c.LogLevel, "log.level", c.LogLevel, "log level: debug, info, warn, error")
}

// EffectiveMemoryLimit is MemoryLimit with 0 resolved to the derived value;
// -1 (or below) means none.
func (c Config) EffectiveMemoryLimit() int64 {
	if c.MemoryLimit != 0 {
		return c.MemoryLimit
	}
	return 2*(int64(c.MaxBufferedBytes)+int64(c.Bulk.Workers)*int64(c.Bulk.MaxBytes)) + 64<<20
}

// Validate reports every problem at once, each naming the key and the fix.
func (c Config) Validate() error {
	errs := []error{c.Kafka.Validate(), c.ES.Validate(), c.Names.Validate(), c.Audit.Validate(), c.Canary.Validate(), c.Health.Validate(), c.HTTPLimits.Validate("http.")}
	if c.Topic == "" {
		errs = append(errs, errors.New("kafka.topic: required"))
	}
	if mt := c.MarksTopicName(); mt == c.Topic || mt == c.DLQTopic {
		errs = append(errs, errors.New("kafka.marks-topic: must not be the record or dead-letter topic"))
	}
	if c.DLQTopic == "" || c.DLQTopic == c.Topic {
		errs = append(errs, errors.New("kafka.dlq-topic: required and different from kafka.topic"))
	}
	if c.SpansTopic != "" && (c.SpansTopic == c.Topic || c.SpansTopic == c.DLQTopic) {
		errs = append(errs, errors.New("kafka.spans-topic: must differ from kafka.topic and kafka.dlq-topic"))
	}
	if c.SpansTopic != "" && c.Names.Spans == "" {
		errs = append(errs, errors.New("index.spans: required while kafka.spans-topic is set"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("kafka.group: required"))
	}
	if c.StartOffset != "earliest" && c.StartOffset != "latest" {
		errs = append(errs, fmt.Errorf("kafka.start-offset: %q is not earliest or latest", c.StartOffset))
	}
	if c.SessionTimeout < 6*time.Second {
		errs = append(errs, fmt.Errorf("kafka.session-timeout: %s is below the broker's default minimum 6s", c.SessionTimeout))
	}
	if c.MaxFetchBytes < 1<<20 {
		errs = append(errs, errors.New("kafka.max-fetch-bytes: want >= 1048576"))
	}
	if c.Index.Shards < 1 || c.Index.Replicas < 0 {
		errs = append(errs, errors.New("index.shards >= 1 and index.replicas >= 0 required"))
	}
	if c.Index.FieldLimit < 100 {
		errs = append(errs, fmt.Errorf("index.field-limit: %d, want >= 100", c.Index.FieldLimit))
	}
	if c.Index.IgnoreAbove < 1 || c.Index.IgnoreAbove > 32766 {
		errs = append(errs, errors.New("index.ignore-above: want 1..32766 (Lucene's term limit)"))
	}
	b := c.Bulk
	if b.MaxDocs < 1 || b.MaxDocs > 100000 {
		errs = append(errs, fmt.Errorf("bulk.max-docs: %d, want 1..100000", b.MaxDocs))
	}
	if b.MaxBytes < 1024 || b.MaxBytes > 90<<20 {
		errs = append(errs, fmt.Errorf("bulk.max-bytes: %d, want 1 KiB..90 MiB (below http.max_content_length)", b.MaxBytes))
	}
	if b.MinBytes < 1024 || b.MinBytes > b.MaxBytes {
		errs = append(errs, fmt.Errorf("bulk.min-bytes: %d, want 1 KiB..bulk.max-bytes", b.MinBytes))
	}
	if c.MaxBufferedBytes < 2*b.MaxBytes {
		errs = append(errs, fmt.Errorf("fetch.max-buffered-bytes: %d, want >= 2 × bulk.max-bytes = %d (room for a batch being filled while one is written)", c.MaxBufferedBytes, 2*b.MaxBytes))
	}
	if c.MemoryLimit > 0 && c.MemoryLimit < int64(c.MaxBufferedBytes) {
		errs = append(errs, fmt.Errorf("memory.limit: %d is below fetch.max-buffered-bytes %d; the collector would run without pause", c.MemoryLimit, c.MaxBufferedBytes))
	}
	if b.MaxDocBytes < 1024 || b.MaxDocBytes > 90<<20 {
		errs = append(errs, fmt.Errorf("bulk.max-doc-bytes: %d, want 1 KiB..90 MiB", b.MaxDocBytes))
	}
	if b.FlushInterval <= 0 {
		errs = append(errs, errors.New("bulk.flush-interval: must be positive"))
	}
	if b.Workers < 1 || b.Workers > 64 {
		errs = append(errs, fmt.Errorf("bulk.workers: %d, want 1..64", b.Workers))
	}
	if b.InitialBackoff <= 0 || b.MaxBackoff < b.InitialBackoff {
		errs = append(errs, errors.New("bulk.initial-backoff must be positive and <= bulk.max-backoff"))
	}
	if c.CommitInterval <= 0 {
		errs = append(errs, errors.New("commit.interval: must be positive"))
	}
	if c.MaxPending < b.MaxDocs*(b.Workers+2) {
		errs = append(errs, fmt.Errorf("commit.max-pending: %d, want >= bulk.max-docs × (bulk.workers+2) = %d", c.MaxPending, b.MaxDocs*(b.Workers+2)))
	}
	if c.SummaryInterval <= 0 {
		errs = append(errs, errors.New("summary.interval: must be positive"))
	}
	if c.HTTPToken != "" && c.HTTPTokenFile != "" {
		errs = append(errs, errors.New("http.token and http.token-file: set one"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// MarksTopicName is the marks topic: MarksTopic, or the front doors'
// default for Topic.
func (c Config) MarksTopicName() string {
	if c.MarksTopic != "" {
		return c.MarksTopic
	}
	return publish.MarksTopicFor(c.Topic)
}

// spanPipeline is the span pipeline's view of c: the span topic, consumed
// by the group Group + "-spans".
func (c Config) spanPipeline() Config {
	c.Topic, c.Group = c.SpansTopic, c.Group+"-spans"
	return c
}

// SummaryGroup is the consumer group whose committed offsets are the trace
// summaries' cursor (no member joins it): <kafka.group>-summaries.
func (c Config) SummaryGroup() string { return c.Group + "-summaries" }

// UIConfig configures the trace explorer.
type UIConfig struct {
	// Enabled serves /ui/. Default true.
	Enabled bool `yaml:"enabled"`
	// KibanaURL and GrafanaURL add "open in" links to trace pages.
	KibanaURL  string `yaml:"kibana_url"`
	GrafanaURL string `yaml:"grafana_url"`
	// PrometheusURL is asked for the exemplar trace ids of an alert's
	// expression on the Alerts page. Default "" (no exemplars: the error
	// traces of the alert's service instead).
	PrometheusURL string `yaml:"prometheus_url"`
}
