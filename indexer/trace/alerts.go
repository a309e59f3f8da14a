package trace

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Alert is one stored Alertmanager notification (indexer/webhook writes them).
type Alert struct {
	Timestamp string `json:"@timestamp"`
	Status    string `json:"status"`
	AlertName string `json:"alertname"`
	Severity  string `json:"severity"`
	Message   string `json:"message"`
	StartsAt  string `json:"starts_at"`
	EndsAt    string `json:"ends_at,omitempty"`
	// GeneratorURL is the rule's link in Prometheus (its expression in g0.expr).
	GeneratorURL string `json:"generator_url,omitempty"`
	Service      struct {
		Name string `json:"name"`
	} `json:"service"`
	Trace struct {
		ID string `json:"id"`
	} `json:"trace"`
}

// Alerts returns the alert notifications since the given time, newest first.
func (s *Store) Alerts(ctx context.Context, since time.Time, limit int) ([]Alert, error) {
	limit = max(1, min(limit, 1000))
	q := map[string]any{
		"query": map[string]any{"range": map[string]any{"@timestamp": map[string]any{"gte": since.UTC().Format(time.RFC3339Nano)}}},
		"sort":  []any{map[string]any{"@timestamp": "desc"}}, "size": limit,
	}
	var res struct {
		Hits struct {
			Hits []struct {
				Source Alert `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := s.do(ctx, http.MethodPost, "/"+s.names.Alerts+"/_search?ignore_unavailable=true&allow_no_indices=true", q, &res); err != nil {
		return nil, fmt.Errorf("search alerts: %w", err)
	}
	out := make([]Alert, 0, len(res.Hits.Hits))
	for _, h := range res.Hits.Hits {
		out = append(out, h.Source)
	}
	return out, nil
}
