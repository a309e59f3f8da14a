package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/agentobs/agentobs/indexer/app"
	"github.com/agentobs/agentobs/indexer/trace"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
)

// explorerRequests is how many times each page and query is timed.
const explorerRequests = 20

// explorer measures the trace explorer (the indexer's /ui/): the trace page
// of traces of 100, 1 000 and 10 000 records and the search page over the
// whole index (those traces and the main corpus), each beside the bare
// Elasticsearch query of the same data, p50 and p95 of explorerRequests
// requests one after another. The figures go to the notes: they are
// latencies with no reference ratio or goal.
func (s *Suite) explorer(ctx context.Context) error {
	if err := s.source(ctx); err != nil {
		return err
	}
	topic := s.topic("explorer")
	if err := s.env.CreateTopic(ctx, topic, s.opt.Partitions); err != nil {
		return err
	}
	sizes := []int{100, 1000, 10000}
	ids := make([]string, len(sizes))
	t0 := time.Now().Add(-10 * time.Minute).UTC()
	msgs := slices.Clone(s.srcMsgs)
	for k, n := range sizes {
		ids[k] = fmt.Sprintf("%032x", 0xe0000+k)
		for i := range n {
			lvl := record.LevelInfo
			if i == n/2 {
				lvl = record.LevelError
			}
			r := &record.Record{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), Message: fmt.Sprintf("step %d of the agent loop", i),
				Level: lvl, Service: fmt.Sprintf("svc-%d", i%4), TraceID: ids[k], SpanID: fmt.Sprintf("%016x", i+1),
				EventID: publish.EventID("bench-explorer", uint64(k*100000+i), []byte(ids[k])), Fields: map[string]any{"seq": i}}
			msgs = append(msgs, publish.RecordMessage(topic, r, r.AppendJSON(nil)))
		}
	}
	s.prog.Step(fmt.Sprintf("explorer: producing %d records (the main corpus and traces of 100, 1 000, 10 000)", len(msgs)), 0, nil)
	if err := s.env.Produce(ctx, topic, msgs); err != nil {
		return err
	}

	names := s.env.Names("ex", fmt.Sprint(s.seq()))
	defer s.env.DropIndices(s.es, names)
	cfg := s.inProcConfig(topic, names)
	a, err := app.New(cfg, app.Settings{Logger: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), ShutdownTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer a.Close(context.Background())
	if err := a.Listen(); err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	defer func() { cancel(); <-done }()
	base := "http://" + a.Addr()
	st := a.Store()
	s.prog.Step("explorer: indexing and summarizing", float64(len(msgs)), nil)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		n, err := s.countDocs(ctx, names.Alias)
		ready := err == nil && n == len(msgs)
		for _, id := range ids {
			if !ready {
				break
			}
			v, err := st.Trace(ctx, id, trace.Page{Size: 1})
			ready = err == nil && v.Summary != nil && v.Summary.RecordCount == v.Total
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("explorer: %d of %d documents indexed (or summaries missing) after 10 minutes (%v)", n, len(msgs), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}

	var parts []string
	for k, n := range sizes {
		page, err := timed(get(base + "/ui/traces/" + ids[k]))
		if err != nil {
			return err
		}
		// The page's record query, as the lookup sends it (first page).
		bare, err := timed(s.esQuery(ctx, names.Alias, map[string]any{"size": trace.DefaultPageSize, "track_total_hits": true,
			"query": map[string]any{"term": map[string]any{record.FieldTraceID: ids[k]}},
			"sort": []any{map[string]any{"@timestamp": map[string]any{"order": "asc", "format": "strict_date_optional_time_nanos"}},
				map[string]any{"event.id": "asc"}}}))
		if err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf("trace page of %d records %s (bare Elasticsearch query of its first 1 000 %s)", n, page, bare))
	}
	search, err := timed(get(base + "/ui/?range=24h"))
	if err != nil {
		return err
	}
	to := time.Now()
	bare, err := timed(func() error {
		_, err := st.Search(ctx, trace.SearchQuery{From: to.Add(-24 * time.Hour), To: to, Size: 50})
		return err
	})
	if err != nil {
		return err
	}
	parts = append(parts, fmt.Sprintf("search page over the whole index (%d records, newest 50 and the histogram) %s (its Elasticsearch query %s)", len(msgs), search, bare))
	s.res.Notes = append(s.res.Notes, fmt.Sprintf("Trace explorer, p50/p95 of %d requests in a row: %s.", explorerRequests, strings.Join(parts, "; ")))
	s.prog.Logf("explorer: %s", strings.Join(parts, "; "))
	return nil
}

// timed runs f explorerRequests times and formats p50/p95 in milliseconds.
func timed(f func() error) (string, error) {
	ds := make([]float64, 0, explorerRequests)
	for range explorerRequests {
		t0 := time.Now()
		if err := f(); err != nil {
			return "", err
		}
		ds = append(ds, float64(time.Since(t0).Microseconds())/1000)
	}
	slices.Sort(ds)
	return fmt.Sprintf("%.1f/%.1f ms", ds[len(ds)/2], ds[len(ds)*95/100]), nil
}

// get fetches url and fails on anything but 200.
func get(url string) func() error {
	return func() error {
		res, err := http.Get(url)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, res.Status)
		}
		return nil
	}
}

// esQuery runs a search on index and reads the whole answer.
func (s *Suite) esQuery(ctx context.Context, index string, q map[string]any) func() error {
	body, _ := json.Marshal(q)
	return func() error {
		res, err := s.es.Search(s.es.Search.WithContext(ctx), s.es.Search.WithIndex(index), s.es.Search.WithBody(bytes.NewReader(body)))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		if res.IsError() {
			return fmt.Errorf("search %s: %s", index, res.Status())
		}
		return nil
	}
}

// countDocs is the number of documents of index after a refresh.
func (s *Suite) countDocs(ctx context.Context, index string) (int, error) {
	if res, err := s.es.Indices.Refresh(s.es.Indices.Refresh.WithContext(ctx), s.es.Indices.Refresh.WithIndex(index)); err == nil {
		res.Body.Close()
	}
	res, err := s.es.Count(s.es.Count.WithContext(ctx), s.es.Count.WithIndex(index))
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var c struct {
		Count int `json:"count"`
	}
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil {
		return 0, err
	}
	return c.Count, nil
}
