package loadgen

import "time"

// Report is what a run produced, for the far end of the pipeline to check
// against. The CLI prints it as JSON.
type Report struct {
	RunID string `json:"run_id"`
	Seed  int64  `json:"seed"`
	// Records, Bytes: lines written and their total size, newlines included.
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// Traces is the number of distinct traces with at least one line;
	// ErrorTraces of them end with an ERROR "task failed" record.
	Traces      int64 `json:"traces"`
	ErrorTraces int64 `json:"error_traces"`
	// ErrorRecords and WarnRecords count lines at those levels.
	ErrorRecords int64 `json:"error_records"`
	WarnRecords  int64 `json:"warn_records"`
	// NoTraceRecords counts lines without trace_id.
	NoTraceRecords int64 `json:"no_trace_records"`
	// FirstSeq and LastSeq bound the "seq" values written (1..Records).
	FirstSeq int64 `json:"first_seq"`
	LastSeq  int64 `json:"last_seq"`
	// PerService counts lines by service.name.
	PerService map[string]int64 `json:"per_service"`
	// TraceIDs are the first Config.TraceIDSample trace ids, in order.
	TraceIDs []string `json:"trace_ids"`
	// TraceRecords counts lines per trace id when Config.TrackTraces is set.
	TraceRecords map[string]int64 `json:"trace_records,omitempty"`
	// Files lists the files written by RunFile, rotated ones first.
	Files []string `json:"files,omitempty"`
	// Elapsed is the wall time of the run; RecordsPerSecond and
	// BytesPerSecond the achieved rates.
	Elapsed          time.Duration `json:"elapsed_ns"`
	RecordsPerSecond float64       `json:"records_per_second"`
	BytesPerSecond   float64       `json:"bytes_per_second"`
}

func (r *Report) finish(elapsed time.Duration) {
	r.Elapsed = elapsed
	if s := elapsed.Seconds(); s > 0 {
		r.RecordsPerSecond = float64(r.Records) / s
		r.BytesPerSecond = float64(r.Bytes) / s
	}
}
