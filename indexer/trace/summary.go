// Package trace is the correlation side of the indexer: it derives the
// per-trace summary documents from the indexed records, and answers trace,
// trace-list and session lookups from Elasticsearch, over HTTP and as a Go
// client for the CLI and the demo.
//
// A summary is derived from the records, never incremented: an aggregation
// over every record of the trace, written with an index (overwrite)
// operation under _id = trace id. Replays, duplicates and re-derivations
// therefore cannot double-count, and no server-side script is needed.
package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/elastic/go-elasticsearch/v8"
)

// Summary is the per-trace summary document.
type Summary struct {
	TraceID   string `json:"trace.id"`
	Timestamp string `json:"@timestamp,omitempty"`
	First     string `json:"first_timestamp,omitempty"`
	// FirstRecord is the earliest record's time (First may be a span's):
	// merging a newer record keeps RootService only if it is not earlier.
	// Unmapped, kept in _source.
	FirstRecord string   `json:"first_record_timestamp,omitempty"`
	Last        string   `json:"last_timestamp,omitempty"`
	DurationMS  float64  `json:"duration_ms"`
	Services    []string `json:"services"`
	// Versions are the releases (service.version) of the records, sorted:
	// a trace that crossed a canary says so.
	Versions    []string `json:"versions,omitempty"`
	RootService string   `json:"root_service,omitempty"`
	RecordCount int64    `json:"record_count"`
	ErrorCount  int64    `json:"error_count"`
	WorstLevel  string   `json:"worst_level,omitempty"`
	// SpanCount and ErrorSpanCount count the trace's stored spans (OTLP,
	// the span indices) and those with status error; RootSpan is
	// "service: name" of its earliest span without a parent. With spans,
	// First, Last and DurationMS cover the spans too (a span starts before
	// its first log line and ends after its last).
	SpanCount      int64  `json:"span_count"`
	ErrorSpanCount int64  `json:"error_span_count"`
	RootSpan       string `json:"root_span,omitempty"`
	// RootSpanTime is the root span's start: merging a span keeps RootSpan
	// only if it is not earlier. Unmapped, kept in _source.
	RootSpanTime    string   `json:"root_span_timestamp,omitempty"`
	SessionIDs      []string `json:"session.id,omitempty"`
	ConversationIDs []string `json:"gen_ai.conversation.id,omitempty"`
	UpdatedAt       string   `json:"updated_at"`
}

// levelRank orders record.Level values by severity.
var levelRank = map[string]int{"trace": 1, "debug": 2, "info": 3, "warn": 4, "error": 5, "fatal": 6}

// IsError reports whether a level counts as an error.
func IsError(level string) bool { return levelRank[level] >= levelRank["error"] }

// Store reads and writes the indices of one Names set.
type Store struct {
	es    *elasticsearch.Client
	names schema.Names
}

// NewStore returns a store; no request is sent.
func NewStore(es *elasticsearch.Client, names schema.Names) *Store {
	return &Store{es: es, names: names}
}

// Names returns the store's index names.
func (s *Store) Names() schema.Names { return s.names }

// MaxTracesPerQuery bounds one derivation aggregation.
const MaxTracesPerQuery = 500

// Refresh makes every acknowledged record of the log and span indices
// searchable, so a derivation that follows sees them all (the summary's
// correctness does not depend on refresh timing).
func (s *Store) Refresh(ctx context.Context) error {
	idx := s.names.Alias
	if s.names.SpansAlias != "" {
		idx += "," + s.names.SpansAlias
	}
	return s.do(ctx, http.MethodPost, "/"+idx+"/_refresh?ignore_unavailable=true&allow_no_indices=true", nil, nil)
}

// Derive computes the summaries of traceIDs from their records and spans.
// Traces with neither are omitted.
func (s *Store) Derive(ctx context.Context, traceIDs []string) ([]Summary, error) {
	var out []Summary
	for chunk := range slices.Chunk(traceIDs, MaxTracesPerQuery) {
		got, err := s.derive(ctx, chunk)
		if err != nil {
			return nil, err
		}
		if got, err = s.withSpans(ctx, chunk, got); err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

type bucket struct {
	Key   string `json:"key"`
	Count int64  `json:"doc_count"`
}

type topHits struct {
	Hits struct {
		Hits []struct {
			Fields map[string][]string `json:"fields"`
		} `json:"hits"`
	} `json:"hits"`
}

// canonicalTime writes a doc-value timestamp (trailing zeros trimmed) the
// way records carry it: all nine fractional digits, so summaries compare
// and sort as strings like the records do.
func canonicalTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format(record.TimeLayout)
}

// field is the first value of a doc-value field of the first hit.
func (h topHits) field(name string) string {
	if len(h.Hits.Hits) == 0 {
		return ""
	}
	if v := h.Hits.Hits[0].Fields[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// edge is a top_hits aggregation of the first (asc) or last (desc) record
// that reads fields from doc values, not _source: no stored source is
// loaded and decompressed for each trace of the round. @timestamp keeps
// its nanoseconds through the date_nanos format.
func edge(order string, fields ...string) any {
	dv := make([]any, 0, len(fields))
	for _, f := range fields {
		if f == "@timestamp" {
			dv = append(dv, map[string]any{"field": f, "format": "strict_date_optional_time_nanos"})
		} else {
			dv = append(dv, f)
		}
	}
	return map[string]any{"top_hits": map[string]any{"size": 1, "sort": []any{map[string]any{"@timestamp": order}},
		"_source": false, "docvalue_fields": dv}}
}

func (s *Store) derive(ctx context.Context, ids []string) ([]Summary, error) {
	terms := func(f string, n int) any { return map[string]any{"terms": map[string]any{"field": f, "size": n}} }
	q := map[string]any{
		"size":  0,
		"query": map[string]any{"terms": map[string]any{"trace.id": ids}},
		"aggs": map[string]any{"t": map[string]any{
			"terms": map[string]any{"field": "trace.id", "size": len(ids)},
			"aggs": map[string]any{
				"services": terms("service.name", 100),
				"versions": terms("service.version", 20),
				"levels":   terms("log.level", 10),
				"sessions": terms("session.id", 10),
				"convs":    terms("gen_ai.conversation.id", 10),
				"first":    edge("asc", "@timestamp", "service.name"),
				"last":     edge("desc", "@timestamp"),
			},
		}},
	}
	var res struct {
		Aggregations struct {
			T struct {
				Buckets []struct {
					bucket
					Services struct{ Buckets []bucket } `json:"services"`
					Versions struct{ Buckets []bucket } `json:"versions"`
					Levels   struct{ Buckets []bucket } `json:"levels"`
					Sessions struct{ Buckets []bucket } `json:"sessions"`
					Convs    struct{ Buckets []bucket } `json:"convs"`
					First    topHits                    `json:"first"`
					Last     topHits                    `json:"last"`
				} `json:"buckets"`
			} `json:"t"`
		} `json:"aggregations"`
	}
	if err := s.do(ctx, http.MethodPost, "/"+s.names.Alias+"/_search?ignore_unavailable=true&allow_no_indices=true", q, &res); err != nil {
		return nil, fmt.Errorf("derive summaries: %w", err)
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	out := make([]Summary, 0, len(res.Aggregations.T.Buckets))
	for _, b := range res.Aggregations.T.Buckets {
		sum := Summary{TraceID: b.Key, RecordCount: b.Count, UpdatedAt: now, Services: []string{}}
		for _, x := range b.Services.Buckets {
			sum.Services = append(sum.Services, x.Key)
		}
		slices.Sort(sum.Services)
		for _, x := range b.Versions.Buckets {
			sum.Versions = append(sum.Versions, x.Key)
		}
		slices.Sort(sum.Versions)
		for _, x := range b.Levels.Buckets {
			if IsError(x.Key) {
				sum.ErrorCount += x.Count
			}
			if levelRank[x.Key] > levelRank[sum.WorstLevel] {
				sum.WorstLevel = x.Key
			}
		}
		for _, x := range b.Sessions.Buckets {
			sum.SessionIDs = append(sum.SessionIDs, x.Key)
		}
		for _, x := range b.Convs.Buckets {
			sum.ConversationIDs = append(sum.ConversationIDs, x.Key)
		}
		// Doc values are per field path, so a nested {"service":{"name":…}}
		// source reads the same as "service.name".
		sum.First, sum.RootService = canonicalTime(b.First.field("@timestamp")), b.First.field("service.name")
		sum.FirstRecord = sum.First
		sum.Last = canonicalTime(b.Last.field("@timestamp"))
		sum.Timestamp = sum.First
		sum.setDuration()
		out = append(out, sum)
	}
	return out, nil
}

// setDuration is DurationMS from First and Last (unset when either is not
// a time).
func (s *Summary) setDuration() {
	t0, e0 := time.Parse(time.RFC3339Nano, s.First)
	t1, e1 := time.Parse(time.RFC3339Nano, s.Last)
	if e0 == nil && e1 == nil {
		s.DurationMS = float64(t1.Sub(t0)) / float64(time.Millisecond)
	}
}

// WriteSummaries overwrites the summary documents (index op, _id = trace id).
func (s *Store) WriteSummaries(ctx context.Context, sums []Summary) error {
	if len(sums) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, sum := range sums {
		fmt.Fprintf(&buf, `{"index":{"_index":%q,"_id":%q}}`+"\n", s.names.Traces, sum.TraceID)
		if err := enc.Encode(sum); err != nil {
			return err
		}
	}
	var res struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"items"`
	}
	if err := s.do(ctx, http.MethodPost, "/_bulk?filter_path=errors,items.*.status,items.*.error", &buf, &res); err != nil {
		return fmt.Errorf("write summaries: %w", err)
	}
	if res.Errors {
		for _, it := range res.Items {
			for _, v := range it {
				if v.Status >= 300 {
					return fmt.Errorf("write summaries: item status %d: %s", v.Status, v.Error)
				}
			}
		}
	}
	return nil
}
