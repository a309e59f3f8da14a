package trace

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/agentobs/agentobs/internal/record"
)

// Coverage is the correlation coverage of one service: records indexed
// since a time and how many of them carry no trace.id.
type Coverage struct {
	Service      string `json:"service"`
	Records      int64  `json:"records"`
	WithoutTrace int64  `json:"without_trace"`
}

// Coverage returns the coverage per service (at most 100 services, most
// records first) of the records since the given time.
func (s *Store) Coverage(ctx context.Context, since time.Time) ([]Coverage, error) {
	q := map[string]any{
		"size": 0,
		"query": map[string]any{"bool": map[string]any{
			"filter":   map[string]any{"range": map[string]any{record.FieldTimestamp: map[string]any{"gte": since.UTC().Format(time.RFC3339Nano)}}},
			"must_not": NotCanary,
		}},
		"aggs": map[string]any{"svc": map[string]any{
			"terms": map[string]any{"field": record.FieldService, "size": 100, "missing": "(none)"},
			"aggs":  map[string]any{"untraced": map[string]any{"missing": map[string]any{"field": record.FieldTraceID}}},
		}},
	}
	var res struct {
		Aggs struct {
			Svc struct {
				Buckets []struct {
					Key      string `json:"key"`
					Count    int64  `json:"doc_count"`
					Untraced struct {
						Count int64 `json:"doc_count"`
					} `json:"untraced"`
				} `json:"buckets"`
			} `json:"svc"`
		} `json:"aggregations"`
	}
	if err := s.do(ctx, http.MethodPost, "/"+s.names.Alias+"/_search?ignore_unavailable=true&allow_no_indices=true", q, &res); err != nil {
		return nil, fmt.Errorf("coverage: %w", err)
	}
	out := make([]Coverage, 0, len(res.Aggs.Svc.Buckets))
	for _, b := range res.Aggs.Svc.Buckets {
		out = append(out, Coverage{Service: b.Key, Records: b.Count, WithoutTrace: b.Untraced.Count})
	}
	return out, nil
}
