package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/faultproxy"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestBufferedBytesBound: while Elasticsearch is unreachable the indexer
// fetches only up to fetch.max-buffered-bytes of records and then stops
// (backpressure instead of memory), and once it is back every record is
// indexed exactly once.
func TestBufferedBytesBound(t *testing.T) {
	e := newEnv(t, 1)
	px, err := faultproxy.New("127.0.0.1:0", strings.TrimPrefix(e.cfg.ES.Addresses[0], "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	cfg := e.cfg
	cfg.ES.Addresses = []string{px.URL()}
	const budget = 1 << 20
	cfg.MaxBufferedBytes = budget
	cfg.Bulk.MaxBytes, cfg.Bulk.MinBytes, cfg.Bulk.MaxDocs = 256<<10, 64<<10, 100
	cfg.MaxPending = 100000
	a, _ := e.start(cfg)

	base := time.Now().Add(-time.Minute).UTC()
	pad := strings.Repeat("x", 8<<10)
	mk := func(from, n int) []*record.Record {
		var recs []*record.Record
		for i := from; i < from+n; i++ {
			r := rec(i, traceID(i/10), "svc", base.Add(time.Duration(i)*time.Millisecond), record.LevelInfo)
			r.Fields["pad"] = pad
			recs = append(recs, r)
		}
		return recs
	}
	e.produce(mk(0, 10))
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		got := int(testutil.ToFloat64(a.m.Indexed))
		return got == 10, fmt.Sprintf("indexed %d of 10 before the outage", got)
	})

	px.Cut()
	const n = 1000 // 8 MiB of records, eight times the budget
	e.produce(mk(10, n))
	consumed := func() int { return int(testutil.ToFloat64(a.m.Consumed.WithLabelValues(e.topic, "0"))) }
	last, stable := -1, 0
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		c := consumed()
		if c == last && c > 10 {
			stable++
		} else {
			stable = 0
		}
		last = c
		time.Sleep(200 * time.Millisecond)
		return stable >= 10, fmt.Sprintf("consumed %d, still moving", c)
	})
	held := float64(consumed() - 10)
	perRecord := float64(8<<10 + recordOverhead)
	if limit := float64(budget)/perRecord + 1; held > limit {
		t.Errorf("fetched %v records during the outage, the budget allows %v", held, limit)
	}
	if held < float64(budget)/perRecord/2 {
		t.Errorf("fetched only %v records during the outage: the budget (%v) was not used", held, float64(budget)/perRecord)
	}
	if b := testutil.ToFloat64(a.m.Buffered); b > budget || b == 0 {
		t.Errorf("buffered_bytes %v, want in (0, %d]", b, budget)
	}

	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 120*time.Second, func() (bool, string) {
		got := int(testutil.ToFloat64(a.m.Indexed))
		return got == n+10, fmt.Sprintf("indexed %d of %d after the outage", got, n+10)
	})
	if got := e.count(nil); got != n+10 {
		t.Fatalf("documents: %d, want exactly %d", got, n+10)
	}
	if b := testutil.ToFloat64(a.m.Buffered); b != 0 {
		t.Errorf("buffered_bytes %v after everything was acknowledged, want 0", b)
	}
}
