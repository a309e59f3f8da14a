package app

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
)

// latency returns p50 and p95 of n runs of f, in milliseconds.
func latency(n int, f func() error) (p50, p95 float64, err error) {
	ds := make([]float64, 0, n)
	for range n {
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, 0, err
		}
		ds = append(ds, float64(time.Since(t0).Microseconds())/1000)
	}
	slices.Sort(ds)
	return ds[n/2], ds[(n*95)/100], nil
}

// TestExplorerLatency (AGENTOBS_EXPLORER_BENCH=1) logs the trace page's and
// search page's p50/p95 beside the bare Elasticsearch query. It asserts
// nothing about time; it measures.
func TestExplorerLatency(t *testing.T) {
	if testingShortOrUnset(t) {
		return
	}
	e := newEnv(t, 3)
	a, _ := e.start(e.cfg)
	base := "http://" + a.Addr()
	t0 := time.Now().Add(-5 * time.Minute).UTC()
	sizes := []int{100, 1000, 10000}
	var recs []*record.Record
	for k, n := range sizes {
		for i := range n {
			lvl := record.LevelInfo
			if i == n/2 {
				lvl = record.LevelError
			}
			recs = append(recs, rec(k*100000+i, traceID(500+k), "svc-"+fmt.Sprint(i%4), t0.Add(time.Duration(i)*time.Millisecond), lvl))
		}
	}
	e.produce(recs)
	harness.Eventually(t, 3*time.Minute, func() (bool, string) {
		c := e.count(nil)
		return c == len(recs), fmt.Sprintf("%d of %d indexed", c, len(recs))
	})
	get := func(url string) func() error {
		return func() error {
			res, err := http.Get(url)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			_, _ = io.Copy(io.Discard, res.Body)
			if res.StatusCode != 200 {
				return fmt.Errorf("%s: %s", url, res.Status)
			}
			return nil
		}
	}
	es := func(q string) func() error {
		return func() error {
			out := e.search("/"+e.names.Alias+"/_search", map[string]any{"size": 1000, "query": map[string]any{"term": map[string]any{"trace.id": q}},
				"sort": []any{map[string]any{"@timestamp": "asc"}}})
			if _, ok := out["hits"]; !ok {
				return fmt.Errorf("es: %v", out)
			}
			return nil
		}
	}
	for k, n := range sizes {
		id := traceID(500 + k)
		p50, p95, err := latency(20, get(base+"/ui/traces/"+id))
		if err != nil {
			t.Fatal(err)
		}
		e50, e95, err := latency(20, es(id))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("trace page, %5d records: p50 %.1f ms p95 %.1f ms | bare ES query (1000 records) p50 %.1f ms p95 %.1f ms", n, p50, p95, e50, e95)
	}
	p50, p95, err := latency(20, get(base+"/ui/?range=1h"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("search page over %d records: p50 %.1f ms p95 %.1f ms", len(recs), p50, p95)
}

func testingShortOrUnset(t *testing.T) bool {
	t.Helper()
	if testing.Short() || os.Getenv("AGENTOBS_EXPLORER_BENCH") != "1" {
		t.Skip("measurement: set AGENTOBS_EXPLORER_BENCH=1")
		return true
	}
	return false
}
