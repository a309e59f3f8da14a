package rig

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/elastic/go-elasticsearch/v8"
)

// RegisterTargets writes a Prometheus file_sd file so the local stack's
// Prometheus scrapes the given addresses as job (its config watches
// <stack>/prometheus/targets/*.json). Returns a function that removes it.
func RegisterTargets(stackDir, name, job string, addrs ...string) (func(), error) {
	dir := filepath.Join(stackDir, "prometheus", "targets")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b, _ := json.Marshal([]map[string]any{{"targets": addrs, "labels": map[string]string{"job": job}}})
	path := filepath.Join(dir, name+".json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return func() { os.Remove(path) }, nil
}

// esJSON runs a search-like request and decodes the response.
func esJSON(ctx context.Context, cl *elasticsearch.Client, index, body string, out any) error {
	res, err := cl.Search(cl.Search.WithContext(ctx), cl.Search.WithIndex(index), cl.Search.WithBody(strings.NewReader(body)),
		cl.Search.WithIgnoreUnavailable(true), cl.Search.WithAllowNoIndices(true))
	if err != nil {
		return fmt.Errorf("search %s: %w", index, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		var e map[string]any
		_ = json.NewDecoder(res.Body).Decode(&e)
		return fmt.Errorf("search %s: %s: %v", index, res.Status(), e)
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// Refresh makes everything indexed so far searchable.
func Refresh(ctx context.Context, cl *elasticsearch.Client, index string) error {
	res, err := cl.Indices.Refresh(cl.Indices.Refresh.WithContext(ctx), cl.Indices.Refresh.WithIndex(index),
		cl.Indices.Refresh.WithIgnoreUnavailable(true), cl.Indices.Refresh.WithAllowNoIndices(true))
	if err != nil {
		return fmt.Errorf("refresh %s: %w", index, err)
	}
	res.Body.Close()
	return nil
}

// Tally is what a run left in Elasticsearch: documents, distinct load
// generator sequence numbers, and so lost and duplicated records.
type Tally struct {
	Docs     int64 // documents of the run
	Distinct int64 // distinct seq values among them
}

// CountRun counts the documents of one load generator run (field
// loadgen.run_id) and their distinct seq values, exactly: a composite
// aggregation pages through every seq, so nothing is estimated.
func CountRun(ctx context.Context, cl *elasticsearch.Client, index, runID string) (Tally, error) {
	var t Tally
	q := fmt.Sprintf(`{"term":{"loadgen.run_id":%q}}`, runID)
	var after string
	for {
		body := `{"size":0,"track_total_hits":true,"query":` + q + `,"aggs":{"seqs":{"composite":{"size":10000,"sources":[{"seq":{"terms":{"field":"seq"}}}]` + after + `}}}}`
		var r struct {
			Hits struct {
				Total struct {
					Value int64 `json:"value"`
				} `json:"total"`
			} `json:"hits"`
			Aggregations struct {
				Seqs struct {
					AfterKey map[string]any `json:"after_key"`
					Buckets  []struct {
						DocCount int64 `json:"doc_count"`
					} `json:"buckets"`
				} `json:"seqs"`
			} `json:"aggregations"`
		}
		if err := esJSON(ctx, cl, index, body, &r); err != nil {
			return t, err
		}
		t.Docs = r.Hits.Total.Value
		t.Distinct += int64(len(r.Aggregations.Seqs.Buckets))
		if len(r.Aggregations.Seqs.Buckets) == 0 || r.Aggregations.Seqs.AfterKey == nil {
			return t, nil
		}
		ak, _ := json.Marshal(r.Aggregations.Seqs.AfterKey)
		after = `,"after":` + string(ak)
	}
}
