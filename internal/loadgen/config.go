// Package loadgen produces the log traffic of a fleet of simulated AI
// agents: slog-JSON lines shaped exactly like the reference agent's (time,
// level, msg, service.name, trace_id, span_id, gen_ai.* attributes), at a
// target rate, reproducible from a seed.
//
// It is the traffic source of the demo, the end-to-end tests and the
// benchmarks. Every line carries a unique "seq" and the run's
// "loadgen.run_id", and Run returns a Report of what was produced (records,
// traces, bytes, errors, lines without trace, per service), so a test at the
// far end of the pipeline (Kafka, Elasticsearch) can count exactly what must
// arrive. Traces are multi-service: a task enters one agent service and is
// delegated to one or two others, each writing several records, in time
// order, interleaved with other traces and with lines that have no trace.
package loadgen

import (
	"errors"
	"fmt"
	"time"
)

// Config describes one load-generation run.
type Config struct {
	// Seed makes the output reproducible: the same Config (with the same
	// Start) yields byte-identical lines. Default 1.
	Seed int64 `json:"seed"`
	// Rate is the target in records per second; 0 writes as fast as
	// possible. Default 0.
	Rate int `json:"rate"`
	// Records stops the run after this many records; 0 stops by Duration.
	Records int64 `json:"records"`
	// Duration stops the run after this long; 0 with Records 0 runs until
	// the context ends.
	Duration time.Duration `json:"duration"`
	// Services are the agent services traces travel through. Default
	// agent-planner, agent-researcher, agent-coder.
	Services []string `json:"services"`
	// RecordSize is the approximate length of a line in bytes; lines are
	// padded with a realistic text field up to it. 0 keeps lines at their
	// natural size (about 250-550 bytes); lines are never cut below it.
	RecordSize int `json:"record_size"`
	// ErrorRate is the fraction of traces that fail: a tool call fails
	// (WARN) and the task ends with an ERROR record. Default 0.02.
	ErrorRate float64 `json:"error_rate"`
	// NoTraceRate is the fraction of lines written outside any trace
	// (heartbeats, queue stats). Default 0.05.
	NoTraceRate float64 `json:"no_trace_rate"`
	// Concurrency is how many traces are in progress at once; their records
	// interleave like a busy fleet's. Default 16.
	Concurrency int `json:"concurrency"`
	// RunID is written to every line as loadgen.run_id so tests can find
	// their own records. Default "run-<seed>".
	RunID string `json:"run_id"`
	// Start is the timestamp of the first record; records are spaced by
	// 1/Rate (10µs when Rate is 0). Default: the time the run starts.
	Start time.Time `json:"start"`
	// RotateBytes, when writing to a file (RunFile), renames the file to
	// FILE.1, FILE.2, … and starts a new one once it would exceed this size,
	// always at a line boundary. 0 never rotates.
	RotateBytes int64 `json:"rotate_bytes"`
	// TraceIDSample is how many trace ids the Report lists. Default 100.
	TraceIDSample int `json:"trace_id_sample"`
	// TrackTraces makes the Report count records per trace id (memory grows
	// with the number of traces). Default false.
	TrackTraces bool `json:"track_traces"`
}

// DefaultServices are the agent services of a default run.
var DefaultServices = []string{"agent-planner", "agent-researcher", "agent-coder"}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{Seed: 1, Services: DefaultServices, ErrorRate: 0.02, NoTraceRate: 0.05,
		Concurrency: 16, TraceIDSample: 100}
}

// withDefaults fills zero values that have a default, so a test can write
// loadgen.Config{Records: 1000} and get a sensible run.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Seed == 0 {
		c.Seed = d.Seed
	}
	if len(c.Services) == 0 {
		c.Services = d.Services
	}
	if c.Concurrency == 0 {
		c.Concurrency = d.Concurrency
	}
	if c.TraceIDSample == 0 {
		c.TraceIDSample = d.TraceIDSample
	}
	if c.RunID == "" {
		c.RunID = fmt.Sprintf("run-%d", c.Seed)
	}
	return c
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate: %d is negative; 0 means as fast as possible", c.Rate))
	}
	if c.Records < 0 {
		errs = append(errs, fmt.Errorf("records: %d is negative", c.Records))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration: %v is negative", c.Duration))
	}
	if c.RecordSize < 0 || c.RecordSize > 1<<20 {
		errs = append(errs, fmt.Errorf("record_size: %d must be within [0, 1MiB]", c.RecordSize))
	}
	if c.ErrorRate < 0 || c.ErrorRate > 1 {
		errs = append(errs, fmt.Errorf("error_rate: %v must be within [0,1]", c.ErrorRate))
	}
	if c.NoTraceRate < 0 || c.NoTraceRate >= 1 {
		errs = append(errs, fmt.Errorf("no_trace_rate: %v must be within [0,1)", c.NoTraceRate))
	}
	if c.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("concurrency: %d is negative", c.Concurrency))
	}
	if c.RotateBytes < 0 {
		errs = append(errs, fmt.Errorf("rotate_bytes: %d is negative", c.RotateBytes))
	}
	for _, s := range c.Services {
		if s == "" || !jsonSafe(s) {
			errs = append(errs, fmt.Errorf("services: %q must be non-empty without quotes, backslashes or control characters", s))
		}
	}
	if !jsonSafe(c.RunID) {
		errs = append(errs, fmt.Errorf("run_id: %q must not contain quotes, backslashes or control characters", c.RunID))
	}
	return errors.Join(errs...)
}

// jsonSafe reports whether s can be written into a JSON string verbatim.
func jsonSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
