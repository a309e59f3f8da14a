package trace

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/agentobs/agentobs/internal/record"
)

// withSpans adds the span side to the summaries of ids derived from their
// records: span and error-span counts, the root span, the services that
// only spans name, and the time range widened to the spans'. A trace with
// spans and no records gets a summary of its own. Like the record side it
// is one aggregation over the span indices, counted, never incremented.
func (s *Store) withSpans(ctx context.Context, ids []string, sums []Summary) ([]Summary, error) {
	if s.names.SpansAlias == "" {
		return sums, nil
	}
	q := map[string]any{
		"size":  0,
		"query": map[string]any{"terms": map[string]any{record.FieldTraceID: ids}},
		"aggs": map[string]any{"t": map[string]any{
			"terms": map[string]any{"field": record.FieldTraceID, "size": len(ids)},
			"aggs": map[string]any{
				"errors":   map[string]any{"filter": map[string]any{"term": map[string]any{record.FieldStatusCode: "error"}}},
				"services": map[string]any{"terms": map[string]any{"field": "service.name", "size": 100}},
				"roots": map[string]any{"filter": map[string]any{"bool": map[string]any{"must_not": map[string]any{"exists": map[string]any{"field": record.FieldParentID}}}},
					"aggs": map[string]any{"first": edge("asc", "@timestamp", "service.name", record.FieldSpanName)}},
				"first": edge("asc", "@timestamp"),
				"end":   map[string]any{"top_hits": map[string]any{"size": 1, "sort": []any{map[string]any{record.FieldEventEnd: "desc"}}, "_source": false, "docvalue_fields": []any{map[string]any{"field": record.FieldEventEnd, "format": "strict_date_optional_time_nanos"}}}},
			},
		}},
	}
	var res struct {
		Aggregations struct {
			T struct {
				Buckets []struct {
					bucket
					Errors struct {
						Count int64 `json:"doc_count"`
					} `json:"errors"`
					Services struct{ Buckets []bucket } `json:"services"`
					Roots    struct {
						First topHits `json:"first"`
					} `json:"roots"`
					First topHits `json:"first"`
					End   topHits `json:"end"`
				} `json:"buckets"`
			} `json:"t"`
		} `json:"aggregations"`
	}
	if err := s.do(ctx, http.MethodPost, "/"+s.names.SpansAlias+"/_search?ignore_unavailable=true&allow_no_indices=true", q, &res); err != nil {
		return nil, fmt.Errorf("derive span summaries: %w", err)
	}
	at := make(map[string]int, len(sums))
	for i, sum := range sums {
		at[sum.TraceID] = i
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, b := range res.Aggregations.T.Buckets {
		i, ok := at[b.Key]
		if !ok {
			sums = append(sums, Summary{TraceID: b.Key, UpdatedAt: now, Services: []string{}})
			i = len(sums) - 1
		}
		sum := &sums[i]
		sum.SpanCount, sum.ErrorSpanCount = b.Count, b.Errors.Count
		for _, x := range b.Services.Buckets {
			if !slices.Contains(sum.Services, x.Key) {
				sum.Services = append(sum.Services, x.Key)
			}
		}
		slices.Sort(sum.Services)
		if svc, name := b.Roots.First.field("service.name"), b.Roots.First.field(record.FieldSpanName); name != "" {
			sum.RootSpan, sum.RootSpanTime = rootSpanName(svc, name), canonicalTime(b.Roots.First.field("@timestamp"))
			if sum.RootService == "" || !ok {
				sum.RootService = svc
			}
		}
		// Widen the time range to the spans'; all times carry nine
		// fractional digits, so they compare as strings.
		if first := canonicalTime(b.First.field("@timestamp")); first != "" && (sum.First == "" || first < sum.First) {
			sum.First = first
		}
		if end := canonicalTime(b.End.field(record.FieldEventEnd)); end != "" && end > sum.Last {
			sum.Last = end
		}
		sum.Timestamp = sum.First
		sum.setDuration()
	}
	return sums, nil
}
