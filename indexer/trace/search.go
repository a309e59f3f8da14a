package trace

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/agentobs/agentobs/internal/record"
)

// SearchQuery selects log records. Every filter is answered from the index
// (term, range and match queries); Text is a match on message.
type SearchQuery struct {
	From, To time.Time // @timestamp range; zero means open
	Service  string
	Level    string // exact log.level
	Version  string // service.version
	Text     string // words in message
	Size     int    // page size, default 50, at most 500
	Offset   int    // records skipped (from), at most 10000-Size
	Buckets  int    // histogram buckets over [From, To], default 60
}

// SearchResult is one page of records, newest first, and a hit histogram
// over the whole query (not just the page).
type SearchResult struct {
	Total     int64             `json:"total"`
	Records   []json.RawMessage `json:"records"`
	Histogram []Bucket          `json:"histogram"`
	Interval  string            `json:"interval"`
}

// Bucket is one histogram bar: records at or after Start, and how many of
// them are errors.
type Bucket struct {
	Start  time.Time `json:"start"`
	Count  int64     `json:"count"`
	Errors int64     `json:"errors"`
}

// NotCanary is the must_not clause that keeps end-to-end canary records
// (record.FieldCanary) out of what users see as their data: they are
// indexed to prove the write path, and counted by the canary prober only.
var NotCanary = map[string]any{"exists": map[string]any{"field": record.FieldCanary}}

// SearchMaxWindow bounds Offset+Size (Elasticsearch's max_result_window).
const SearchMaxWindow = 10000

// Search returns one page of matching records and their histogram.
func (s *Store) Search(ctx context.Context, sq SearchQuery) (*SearchResult, error) {
	if sq.Size <= 0 {
		sq.Size = 50
	}
	sq.Size = min(sq.Size, 500)
	sq.Offset = max(0, min(sq.Offset, SearchMaxWindow-sq.Size))
	if sq.Buckets <= 0 {
		sq.Buckets = 60
	}
	if sq.To.IsZero() {
		sq.To = time.Now()
	}
	if sq.From.IsZero() || !sq.From.Before(sq.To) {
		sq.From = sq.To.Add(-time.Hour)
	}
	filter := []any{map[string]any{"range": map[string]any{record.FieldTimestamp: map[string]any{
		"gte": sq.From.UTC().Format(time.RFC3339Nano), "lte": sq.To.UTC().Format(time.RFC3339Nano)}}}}
	for field, v := range map[string]string{record.FieldService: sq.Service, record.FieldLevel: sq.Level, record.FieldServiceVersion: sq.Version} {
		if v != "" {
			filter = append(filter, map[string]any{"term": map[string]any{field: v}})
		}
	}
	var must []any
	if sq.Text != "" {
		must = append(must, map[string]any{"match": map[string]any{record.FieldMessage: map[string]any{"query": sq.Text, "operator": "and"}}})
	}
	interval := histogramInterval(sq.To.Sub(sq.From), sq.Buckets)
	q := map[string]any{
		"query":            map[string]any{"bool": map[string]any{"filter": filter, "must": must, "must_not": NotCanary}},
		"size":             sq.Size,
		"from":             sq.Offset,
		"track_total_hits": true,
		"sort": []any{
			map[string]any{record.FieldTimestamp: map[string]any{"order": "desc", "format": "strict_date_optional_time_nanos"}},
			map[string]any{record.FieldEventID: "asc"},
		},
		"aggs": map[string]any{"hist": map[string]any{
			"date_histogram": map[string]any{"field": record.FieldTimestamp, "fixed_interval": fmt.Sprintf("%dms", interval.Milliseconds()),
				"min_doc_count": 0, "extended_bounds": map[string]any{"min": sq.From.UnixMilli(), "max": sq.To.UnixMilli()}},
			"aggs": map[string]any{"errors": map[string]any{"filter": map[string]any{"terms": map[string]any{record.FieldLevel: []string{"error", "fatal"}}}}},
		}},
	}
	var res struct {
		Hits recordHits `json:"hits"`
		Aggs struct {
			Hist struct {
				Buckets []struct {
					Key    int64 `json:"key"`
					Count  int64 `json:"doc_count"`
					Errors struct {
						Count int64 `json:"doc_count"`
					} `json:"errors"`
				} `json:"buckets"`
			} `json:"hist"`
		} `json:"aggregations"`
	}
	if err := s.do(ctx, http.MethodPost, "/"+s.names.Alias+"/_search?ignore_unavailable=true&allow_no_indices=true", q, &res); err != nil {
		return nil, fmt.Errorf("search records: %w", err)
	}
	out := &SearchResult{Total: res.Hits.Total.Value, Interval: interval.String(), Records: make([]json.RawMessage, 0, len(res.Hits.Hits))}
	for _, h := range res.Hits.Hits {
		out.Records = append(out.Records, h.Source)
	}
	for _, b := range res.Aggs.Hist.Buckets {
		out.Histogram = append(out.Histogram, Bucket{Start: time.UnixMilli(b.Key).UTC(), Count: b.Count, Errors: b.Errors.Count})
	}
	return out, nil
}

// histogramInterval is a whole-second (at least 1 s) bucket width giving at
// most n buckets over span.
func histogramInterval(span time.Duration, n int) time.Duration {
	d := span / time.Duration(n)
	return max(time.Second, (d + time.Second - 1).Truncate(time.Second))
}
