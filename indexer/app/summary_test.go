package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/trace"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

// groupPosition is the sum over the topic's partitions of group's
// committed offsets (0 for a partition without one).
func (e *env) groupPosition(group string, partitions int) int64 {
	e.t.Helper()
	c, err := e.cfg.Kafka.Client()
	if err != nil {
		e.t.Fatal(err)
	}
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	res, err := c.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{e.topic: ids}})
	if err != nil {
		e.t.Fatalf("offsets of %s: %v", group, err)
	}
	var sum int64
	for _, p := range res.Topics[e.topic] {
		sum += max(p.CommittedOffset, 0)
	}
	return sum
}

// recordCount is the summary's record count of id, -1 without a summary.
func recordCount(t *testing.T, a *App, id string) int {
	t.Helper()
	v, err := a.Store().Trace(context.Background(), id, trace.Page{Size: 1})
	if err != nil || v.Summary == nil {
		return -1
	}
	return int(v.Summary.RecordCount)
}

// Document commits do not wait for trace summaries, and a crash between
// the commit and the summary loses nothing: the next member reads the
// records between the summary cursor and the committed offset back from
// Kafka and re-derives their traces, without new traffic.
func TestSummariesOffTheCommitPathRecoveredAfterCrash(t *testing.T) {
	const parts = 2
	e := newEnv(t, parts)
	ta, tb := traceID(501), traceID(502)
	base := time.Now().Add(-time.Minute).UTC()
	batch := func(id string, from, n int) []*record.Record {
		var out []*record.Record
		for i := from; i < from+n; i++ {
			out = append(out, rec(i, id, "planner", base.Add(time.Duration(i)*time.Millisecond), record.LevelInfo))
		}
		return out
	}

	// 1. A normal run: trace A summarized, the cursor stored up to it.
	a1, stop1 := e.start(e.cfg)
	e.produce(batch(ta, 0, 10))
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		n, cur := recordCount(t, a1, ta), e.groupPosition(e.cfg.SummaryGroup(), parts)
		return n == 10 && cur == 10, fmt.Sprintf("summary of A counts %d of 10, cursor at %d of 10", n, cur)
	})
	stop1()

	// 2. Summaries that never come round: documents are still committed.
	// Then a crash (the drain is cut at once, so no summary is flushed).
	cfg2 := e.cfg
	cfg2.SummaryInterval = time.Hour
	a2, err := New(cfg2, Settings{Logger: testLogger(), ShutdownTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop2 := harness.RunStage(t, a2)
	e.produce(append(batch(ta, 10, 5), batch(tb, 100, 10)...))
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		docs := e.groupPosition(e.cfg.Group, parts)
		return docs == 25, fmt.Sprintf("documents committed %d of 25", docs)
	})
	stop2()
	if n, m := recordCount(t, a1, ta), recordCount(t, a1, tb); n != 10 || m != -1 {
		t.Fatalf("before recovery: summary of A counts %d (want 10, the crash came before its round), B %d (want none)", n, m)
	}
	if cur := e.groupPosition(e.cfg.SummaryGroup(), parts); cur != 10 {
		t.Fatalf("summary cursor at %d, want 10 (nothing summarized after the crash)", cur)
	}

	// 3. The next member, with no new traffic, finds the 15 records.
	a3, _ := e.start(e.cfg)
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		n, m, cur := recordCount(t, a3, ta), recordCount(t, a3, tb), e.groupPosition(e.cfg.SummaryGroup(), parts)
		return n == 15 && m == 10 && cur == 25, fmt.Sprintf("summaries A %d of 15, B %d of 10, cursor %d of 25", n, m, cur)
	})
	if got := testutil.ToFloat64(a3.Metrics().SummaryRecovered); got != 15 {
		t.Errorf("recovered records %v, want 15", got)
	}
}
