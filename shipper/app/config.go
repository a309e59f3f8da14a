package app

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/internal/telemetry"
	"github.com/agentobs/agentobs/shipper/internal/ingest"
	"github.com/agentobs/agentobs/shipper/internal/tail"
)

// Config is the shipper's configuration. Each flag's name is also its YAML
// path (files.include ⇒ files: {include: …}) and, with the SHIPPER_ prefix,
// its environment variable (SHIPPER_FILES_INCLUDE).
type Config struct {
	// Host is part of every event.id source and the producer ids, so two
	// hosts with the same file path never share ids. Default os.Hostname().
	Host string `yaml:"host"`
	// Service is service.name of lines that name none. Default "".
	Service string `yaml:"service"`
	// LogLevel of the shipper's own logs. Default info.
	LogLevel string `yaml:"log_level"`
	// Stdin reads lines from standard input; the shipper exits when it
	// ends (after delivering them) unless other inputs are enabled. Default false.
	Stdin bool `yaml:"stdin"`
	// HTTPAddr serves /metrics, /healthz, /readyz and, with HTTP.Ingest,
	// POST /v1/ndjson, /v1/logs and /v1/traces. Default 127.0.0.1:9401; ""
	// disables it.
	HTTPAddr string `yaml:"http_addr"`
	// HTTPLimits bound slow and numerous clients (flags http.read-header-timeout,
	// http.body-timeout, http.idle-timeout, http.max-requests); defaults in
	// telemetry.DefaultLimits: 10s, 30s, 2m, 256.
	HTTPLimits telemetry.Limits `yaml:"http_limits"`
	// QueueSize is how many batches wait for Kafka at most (memory bound:
	// about queue.size × files.batch-bytes). Default 64.
	QueueSize int `yaml:"queue_size"`
	// QueueMaxBytes bounds, in bytes, what the shipper holds for Kafka:
	// batches from the moment a reader hands them over until Kafka
	// acknowledged them (queued, being produced, retried), values, keys,
	// headers and per-message overhead. A reader that would pass it waits
	// (files and stdin stop reading, HTTP answers 503). 0 disables the
	// byte bound. Default 8 MiB: twice what four senders have in flight
	// with 1 MiB batches, which keeps Kafka busy; more only holds memory.
	QueueMaxBytes int64 `yaml:"queue_max_bytes"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes, so
	// garbage cannot push RSS far above what the queue holds. Default 0:
	// derived, 2 × queue.max-bytes + 64 MiB (80 MiB). -1: no limit.
	// The GOMEMLIMIT env var wins.
	MemoryLimit int64 `yaml:"memory_limit"`
	// Senders is how many batches are produced concurrently; batches of one
	// file always go through the same sender, in order. Default 4.
	Senders int `yaml:"senders"`
	// ShutdownTimeout bounds the final flush on SIGTERM. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	Files    tail.Config                `yaml:"files"`
	HTTP     ingest.Config              `yaml:"http"`
	OTLP     ingest.OTLPConfig          `yaml:"otlp"`
	Kafka    kafkaclient.Config         `yaml:"kafka"`
	Producer kafkaclient.ProducerConfig `yaml:"producer"`
	Edge     publish.Config             `yaml:"edge"`
	// Marks publishes each producer's high-water mark (flags
	// kafka.marks-topic, marks.interval; defaults <kafka.topic>-marks, 30s).
	Marks publish.MarksConfig `yaml:"marks"`
	// Canary sends an end-to-end canary record through the queue and
	// producer every canary.interval (default 30s; 0 disables), source
	// "shipper/<host>".
	Canary publish.CanaryConfig `yaml:"canary"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{Host: host, LogLevel: "info", HTTPAddr: "127.0.0.1:9401", HTTPLimits: telemetry.DefaultLimits(), QueueSize: 64, QueueMaxBytes: 8 << 20, Senders: 4,
		ShutdownTimeout: 30 * time.Second, Files: tail.DefaultConfig(), HTTP: ingest.DefaultConfig(), OTLP: ingest.DefaultOTLPConfig(),
		Kafka: kafkaclient.DefaultConfig(), Producer: kafkaclient.DefaultProducerConfig(), Edge: publish.DefaultConfig(),
		Marks: publish.DefaultMarksConfig(), Canary: publish.DefaultCanaryConfig()}
}

// RegisterFlags binds c to the shipper's flags, with c's values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Host, "host", c.Host, "host name: part of every event.id and producer id (default the machine's host name)")
	fs.StringVar(&c.Service, "service", c.Service, "service.name of lines that carry none")
	fs.StringVar(&c.LogLevel, "log.level", c.LogLevel, "log level: debug, info, warn or error")
	fs.BoolVar(&c.Stdin, "stdin", c.Stdin, "read lines from standard input (exit after delivering them, unless other inputs are on)")
	fs.StringVar(&c.HTTPAddr, "http.addr", c.HTTPAddr, `listen address of /metrics, /healthz, /readyz and the HTTP ingest ("" disables)`)
	fs.IntVar(&c.QueueSize, "queue.size", c.QueueSize, "batches waiting for Kafka at most; when full, readers pause and HTTP gets 503")
	fs.Int64Var(&c.QueueMaxBytes, "queue.max-bytes", c.QueueMaxBytes, "bytes of records read but not yet acknowledged by Kafka at most (queued, in flight, retried); when reached, readers pause and HTTP gets 503 (0: no byte bound)")
	fs.Int64Var(&c.MemoryLimit, "memory.limit", c.MemoryLimit, "Go soft memory limit in bytes (0: 2 × queue.max-bytes + 64 MiB; -1: none; GOMEMLIMIT wins)")
	fs.IntVar(&c.Senders, "queue.senders", c.Senders, "batches produced concurrently (one file's batches stay in order)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long the final flush may take on SIGTERM")

	f := &c.Files
	config.NewStringList(fs, &f.Include, "files.include", f.Include, "glob patterns of files to tail, comma separated (e.g. /var/log/containers/*.log)")
	config.NewStringList(fs, &f.Exclude, "files.exclude", f.Exclude, "glob patterns (full path or base name) of files not to tail")
	fs.StringVar(&f.Format, "files.format", f.Format, "line format: auto, json, docker, cri or text")
	fs.StringVar(&f.StartAt, "files.start-at", f.StartAt, "where files found at start-up without a checkpoint begin: beginning or end (new files always from the beginning)")
	fs.DurationVar(&f.PollInterval, "files.poll-interval", f.PollInterval, "how often globs are re-read and idle files checked for data, rotation and truncation")
	fs.BoolVar(&f.Inotify, "files.inotify", f.Inotify, "read new lines when a file is written (inotify, Linux) instead of at the next poll; the poll stays as the fallback")
	fs.StringVar(&f.CheckpointDir, "files.checkpoint-dir", f.CheckpointDir, "directory of the checkpoint file (must survive restarts: a volume in containers)")
	fs.DurationVar(&f.CheckpointInterval, "files.checkpoint-interval", f.CheckpointInterval, "how often acknowledged positions are written")
	fs.IntVar(&f.MaxLineBytes, "files.max-line-bytes", f.MaxLineBytes, "longer lines are cut to this size (counted as too_long); applies to stdin and HTTP too")
	fs.IntVar(&f.BatchRecords, "files.batch-records", f.BatchRecords, "most records per batch")
	fs.IntVar(&f.BatchBytes, "files.batch-bytes", f.BatchBytes, "most bytes per batch")

	h := &c.HTTP
	fs.BoolVar(&h.Ingest, "http.ingest", h.Ingest, "accept POST /v1/ndjson (NDJSON or a JSON array) and OTLP/HTTP POST /v1/logs and /v1/traces on http.addr")
	fs.Var(&h.Token, "http.token", "bearer token the HTTP ingest and OTLP/gRPC require (prefer http.token-file or SHIPPER_HTTP_TOKEN)")
	fs.StringVar(&h.TokenFile, "http.token-file", h.TokenFile, "file holding the bearer token")
	fs.Int64Var(&h.MaxBodyBytes, "http.max-body-bytes", h.MaxBodyBytes, "largest request body, on the wire and decompressed (OTLP/gRPC: largest message); larger ones get 413")
	fs.DurationVar(&h.EnqueueWait, "http.enqueue-wait", h.EnqueueWait, "how long a request waits for room in the queue before 503")
	fs.DurationVar(&h.AckTimeout, "http.ack-timeout", h.AckTimeout, "how long a request waits for Kafka's acknowledgement before 503")
	c.HTTPLimits.RegisterFlags(fs, "http.")

	fs.StringVar(&c.OTLP.GRPCAddr, "otlp.grpc-addr", c.OTLP.GRPCAddr, `OTLP/gRPC listen address, e.g. 127.0.0.1:4317 ("" disables); token, size bound and queue as the HTTP ingest`)
	fs.StringVar(&c.OTLP.SpansTopic, "otlp.spans-topic", c.OTLP.SpansTopic, "topic OTLP spans are produced to")

	c.Kafka.RegisterFlags(fs, "kafka.")
	c.Edge.RegisterFlags(fs, "")
	c.Marks.RegisterFlags(fs, "")
	c.Canary.RegisterFlags(fs, "")
	c.Producer.RegisterFlags(fs, "kafka.")
}

// EffectiveMemoryLimit is MemoryLimit with 0 resolved to the derived
// value (none without a byte bound); -1 (or below) means none.
func (c Config) EffectiveMemoryLimit() int64 {
	if c.MemoryLimit != 0 || c.QueueMaxBytes <= 0 {
		return c.MemoryLimit
	}
	return 2*c.QueueMaxBytes + 64<<20
}

// Validate reports every problem, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	if c.Host == "" {
		errs = append(errs, errors.New("host: required (the machine has no host name; set -host)"))
	}
	if len(c.Files.Include) == 0 && !c.Stdin && !c.HTTP.Ingest && c.OTLP.GRPCAddr == "" {
		errs = append(errs, errors.New("no input: set files.include, stdin, http.ingest or otlp.grpc-addr"))
	}
	if c.HTTP.Ingest && c.HTTPAddr == "" {
		errs = append(errs, errors.New("http.ingest needs http.addr"))
	}
	if c.QueueSize < 1 || c.Senders < 1 || c.QueueSize < c.Senders {
		errs = append(errs, fmt.Errorf("queue.size %d / queue.senders %d: want senders >= 1 and size >= senders", c.QueueSize, c.Senders))
	}
	if c.QueueMaxBytes < 0 || (c.QueueMaxBytes > 0 && c.QueueMaxBytes < int64(c.Files.BatchBytes)) {
		errs = append(errs, fmt.Errorf("queue.max-bytes %d: want 0 (no byte bound) or at least files.batch-bytes (%d)", c.QueueMaxBytes, c.Files.BatchBytes))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown-timeout: must be positive"))
	}
	if _, err := record.ParseFormat(c.Files.Format); err != nil {
		errs = append(errs, fmt.Errorf("files.format: %w", err))
	}
	errs = append(errs, c.Files.Validate(), c.HTTP.Validate(), c.OTLP.Validate(), c.HTTPLimits.Validate("http."), c.Kafka.Validate(), c.Producer.Validate(), c.Edge.Validate(), c.Marks.Validate(), c.Canary.Validate())
	return errors.Join(errs...)
}
