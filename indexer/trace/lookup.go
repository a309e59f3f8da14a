package trace

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/agentobs/agentobs/internal/esclient"
)

// ErrNotFound: no summary and no record for the id.
var ErrNotFound = errors.New("not found")

// View is a trace or session lookup result: the summaries and one page of
// records in time order (ties broken by event.id, so paging is stable).
type View struct {
	ID      string            `json:"id"`
	Kind    string            `json:"kind"` // trace | session
	Summary *Summary          `json:"summary,omitempty"`
	Traces  []Summary         `json:"traces,omitempty"` // sessions: every trace, in order
	Total   int64             `json:"total"`
	Records []json.RawMessage `json:"records"`
	// Spans is the trace's span tree with the page's records under their
	// spans (traces only; absent when the trace has no stored spans).
	Spans     *SpanTree `json:"spans,omitempty"`
	NextPage  string    `json:"next_page,omitempty"`
	FetchedAt string    `json:"fetched_at"`
}

// Page selects records: Size per page (default 1000, at most 10000) and
// After, the NextPage cursor of the previous page.
type Page struct {
	Size  int
	After string
}

// DefaultPageSize and MaxPageSize bound record pages.
const (
	DefaultPageSize = 1000
	MaxPageSize     = 10000
)

// Trace returns the summary of a trace and a page of its records.
func (s *Store) Trace(ctx context.Context, id string, p Page) (*View, error) {
	v := &View{ID: id, Kind: "trace"}
	var doc struct {
		Found  bool     `json:"found"`
		Source *Summary `json:"_source"`
	}
	err := s.do(ctx, http.MethodGet, "/"+s.names.Traces+"/_doc/"+url.PathEscape(id), nil, &doc)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	v.Summary = doc.Source
	q := map[string]any{"term": map[string]any{"trace.id": id}}
	if err := s.records(ctx, q, p, v); err != nil {
		return nil, err
	}
	spans, err := s.spans(ctx, id)
	if err != nil {
		return nil, err
	}
	v.Spans = BuildSpanTree(spans, v.Records)
	if v.Summary == nil && v.Total == 0 && v.Spans == nil {
		return nil, ErrNotFound
	}
	return v, nil
}

// Session returns every trace of an agent session or GenAI conversation
// (matched on session.id or gen_ai.conversation.id), in order of their first
// record, and a page of all its records in time order.
func (s *Store) Session(ctx context.Context, id string, p Page) (*View, error) {
	v := &View{ID: id, Kind: "session"}
	match := map[string]any{"bool": map[string]any{"minimum_should_match": 1, "should": []any{
		map[string]any{"term": map[string]any{"session.id": id}},
		map[string]any{"term": map[string]any{"gen_ai.conversation.id": id}},
	}}}
	sums, err := s.searchSummaries(ctx, match, []any{map[string]any{"first_timestamp": "asc"}}, MaxPageSize)
	if err != nil {
		return nil, err
	}
	v.Traces = sums
	if err := s.records(ctx, match, p, v); err != nil {
		return nil, err
	}
	if len(v.Traces) == 0 && v.Total == 0 {
		return nil, ErrNotFound
	}
	return v, nil
}

// ListQuery filters the trace list.
type ListQuery struct {
	Service string    // traces that touched this service
	Version string    // traces with records of this release (service.version)
	Errors  bool      // only traces with errors
	Since   time.Time // last record at or after
	Limit   int       // default 50, at most 1000
}

// List returns matching trace summaries, most recent first.
func (s *Store) List(ctx context.Context, lq ListQuery) ([]Summary, error) {
	var filter []any
	if lq.Service != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"services": lq.Service}})
	}
	if lq.Version != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"versions": lq.Version}})
	}
	if lq.Errors { // an error record or an error span
		filter = append(filter, map[string]any{"bool": map[string]any{"minimum_should_match": 1, "should": []any{
			map[string]any{"range": map[string]any{"error_count": map[string]any{"gt": 0}}},
			map[string]any{"range": map[string]any{"error_span_count": map[string]any{"gt": 0}}},
		}}})
	}
	if !lq.Since.IsZero() {
		filter = append(filter, map[string]any{"range": map[string]any{"last_timestamp": map[string]any{"gte": lq.Since.UTC().Format(time.RFC3339Nano)}}})
	}
	if lq.Limit <= 0 {
		lq.Limit = 50
	}
	lq.Limit = min(lq.Limit, 1000)
	return s.searchSummaries(ctx, map[string]any{"bool": map[string]any{"filter": filter}},
		[]any{map[string]any{"last_timestamp": "desc"}}, lq.Limit)
}

func (s *Store) searchSummaries(ctx context.Context, query any, sort []any, size int) ([]Summary, error) {
	var res struct {
		Hits struct {
			Hits []struct {
				Source Summary `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	q := map[string]any{"query": query, "sort": sort, "size": size}
	if err := s.do(ctx, http.MethodPost, "/"+s.names.Traces+"/_search?ignore_unavailable=true", q, &res); err != nil {
		return nil, fmt.Errorf("search summaries: %w", err)
	}
	out := make([]Summary, 0, len(res.Hits.Hits))
	for _, h := range res.Hits.Hits {
		out = append(out, h.Source)
	}
	return out, nil
}

func (s *Store) records(ctx context.Context, query any, p Page, v *View) error {
	if p.Size <= 0 {
		p.Size = DefaultPageSize
	}
	p.Size = min(p.Size, MaxPageSize)
	q := map[string]any{
		"query":            query,
		"size":             p.Size,
		"track_total_hits": true,
		"sort": []any{
			map[string]any{"@timestamp": map[string]any{"order": "asc", "format": "strict_date_optional_time_nanos"}},
			map[string]any{"event.id": "asc"},
		},
	}
	if p.After != "" {
		raw, err := base64.RawURLEncoding.DecodeString(p.After)
		if err != nil || !json.Valid(raw) {
			return fmt.Errorf("page: invalid cursor")
		}
		q["search_after"] = json.RawMessage(raw)
	}
	var res struct {
		Hits recordHits `json:"hits"`
	}
	if err := s.do(ctx, http.MethodPost, "/"+s.names.Alias+"/_search?ignore_unavailable=true&allow_no_indices=true", q, &res); err != nil {
		return fmt.Errorf("search records: %w", err)
	}
	v.Total = res.Hits.Total.Value
	v.Records = make([]json.RawMessage, 0, len(res.Hits.Hits))
	for _, h := range res.Hits.Hits {
		v.Records = append(v.Records, h.Source)
	}
	if n := len(res.Hits.Hits); n == p.Size {
		v.NextPage = base64.RawURLEncoding.EncodeToString(res.Hits.Hits[n-1].Sort)
	}
	v.FetchedAt = time.Now().UTC().Format(time.RFC3339Nano)
	return nil
}

// recordHits is the hits part of a search answer over records.
type recordHits struct {
	Total struct {
		Value int64 `json:"value"`
	} `json:"total"`
	Hits []struct {
		Source json.RawMessage `json:"_source"`
		Sort   json.RawMessage `json:"sort"`
	} `json:"hits"`
}

// do is esclient.Do with 404 on a GET mapped to ErrNotFound.
func (s *Store) do(ctx context.Context, method, path string, in, out any) error {
	err := esclient.Do(ctx, s.es, method, path, in, out)
	var se *esclient.StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound && method == http.MethodGet {
		return ErrNotFound
	}
	return err
}
