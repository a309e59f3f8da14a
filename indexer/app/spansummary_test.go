package app

import (
	"fmt"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

// spanOf is span i of a trace as the shipper's OTLP receiver stores it: a
// child of the trace's root span unless root.
func spanOf(topic, traceID, service string, i int, root bool, status string, start time.Time, d time.Duration) kafka.Message {
	r := &record.Record{Timestamp: start, Service: service, TraceID: traceID, SpanID: fmt.Sprintf("%016x", 0x100+i),
		EventID: traceID + fmt.Sprintf("%016x", 0x100+i),
		Fields: map[string]any{record.FieldSpanName: fmt.Sprintf("step %d", i), record.FieldStatusCode: status,
			record.FieldEventEnd: start.Add(d).Format(record.TimeLayout)}}
	if !root {
		r.Fields[record.FieldParentID] = fmt.Sprintf("%016x", 0x100)
	}
	return publish.RecordMessage(topic, r, r.AppendJSON(nil))
}

// spanCount is the summary's span count of id, -1 without a summary.
func spanCount(t *testing.T, a *App, id string) int {
	t.Helper()
	if s := summaryOf(t, a, id); s != nil {
		return int(s.SpanCount)
	}
	return -1
}

// crashWithUnsummarizedSpans runs two indexers on cfg (a span topic of one
// partition): the first summarizes trace ta's record and spans 0-2 and
// stores the span cursor at 3; the second commits spans 3-4 of ta and
// crashes before any summary round. It returns the spans of a trace.
func crashWithUnsummarizedSpans(t *testing.T, e *env, cfg Config, ta string) (spans func(id string, from, n int) []kafka.Message) {
	t.Helper()
	base := time.Now().Add(-time.Minute).UTC()
	spans = func(id string, from, n int) []kafka.Message {
		var out []kafka.Message
		for i := from; i < from+n; i++ {
			out = append(out, spanOf(cfg.SpansTopic, id, "planner", i, i == 0, "unset", base.Add(time.Duration(i)*time.Millisecond), 5*time.Millisecond))
		}
		return out
	}

	// 1. A normal run: trace A's record and three spans summarized, the
	// cursor stored on the span topic too.
	a1, stop1 := e.start(cfg)
	e.produce([]*record.Record{rec(0, ta, "planner", base, record.LevelInfo)})
	e.produceRaw(spans(ta, 0, 3))
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		n, sp := recordCount(t, a1, ta), spanCount(t, a1, ta)
		rc, sc := e.groupPosition(cfg.SummaryGroup(), 1), e.topicPosition(cfg.SummaryGroup(), cfg.SpansTopic, 1)
		return n == 1 && sp == 3 && rc == 1 && sc == 3,
			fmt.Sprintf("summary of A: %d of 1 records, %d of 3 spans; cursor at %d of 1 on records, %d of 3 on spans", n, sp, rc, sc)
	})
	stop1()

	// 2. Two more spans of A committed, then a crash before any round.
	cfg2 := cfg
	cfg2.SummaryInterval = time.Hour
	a2, err := New(cfg2, Settings{Logger: testLogger(), ShutdownTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop2 := harness.RunStage(t, a2)
	e.produceRaw(spans(ta, 3, 2))
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		c := e.topicPosition(cfg.Group+"-spans", cfg.SpansTopic, 1)
		return c == 5, fmt.Sprintf("spans committed %d of 5", c)
	})
	stop2()
	if cur := e.topicPosition(cfg.SummaryGroup(), cfg.SpansTopic, 1); cur != 3 {
		t.Fatalf("span cursor at %d, want 3 (nothing summarized after the crash)", cur)
	}
	return spans
}

// Spans are under the summary cursor like records: spans committed by the
// span pipeline but not yet counted when the indexer dies are read back
// from Kafka by the next member that fetches their partition, and their
// trace re-derived — before, they were counted only when that same trace
// got another span (a later record merges and does not recount spans).
func TestSpansUnderTheSummaryCursorRecoveredAfterCrash(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.cfg
	cfg.SpansTopic = harness.Topic(t, 1)
	ta, tb := traceID(701), traceID(702)
	spans := crashWithUnsummarizedSpans(t, e, cfg, ta)

	// 3. The next member gets one record of A (merged: it does not recount
	// spans) and a span of another trace B on the same partition: fetching
	// that partition finds A's two uncounted spans behind the cursor.
	a3, _ := e.start(cfg)
	e.produce([]*record.Record{rec(1, ta, "planner", time.Now().Add(-time.Minute).UTC(), record.LevelInfo)})
	e.produceRaw(spans(tb, 0, 1))
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		n, sp, spb, cur := recordCount(t, a3, ta), spanCount(t, a3, ta), spanCount(t, a3, tb), e.topicPosition(cfg.SummaryGroup(), cfg.SpansTopic, 1)
		return n == 2 && sp == 5 && spb == 1 && cur == 6,
			fmt.Sprintf("A: %d of 2 records, %d of 5 spans; B: %d of 1 spans; span cursor %d of 6", n, sp, spb, cur)
	})
	if got := testutil.ToFloat64(a3.Metrics().SummaryRecovered); got != 2 {
		t.Errorf("recovered records %v, want the 2 spans", got)
	}
}

// The span topic's partitions are adopted by the summarizer when the
// group assigns them, as the record topic's are: the next member finds
// the spans committed but not summarized before a crash without any new
// span on their partition (found: adopted only at a partition's first
// fetch, so they stayed uncounted until the next span arrived there).
func TestSpansRecoveredOnAssignmentWithoutNewSpans(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.cfg
	cfg.SpansTopic = harness.Topic(t, 1)
	ta := traceID(711)
	crashWithUnsummarizedSpans(t, e, cfg, ta)

	a3, _ := e.start(cfg)
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		sp, cur := spanCount(t, a3, ta), e.topicPosition(cfg.SummaryGroup(), cfg.SpansTopic, 1)
		return sp == 5 && cur == 5, fmt.Sprintf("A: %d of 5 spans; span cursor %d of 5", sp, cur)
	})
	if got := testutil.ToFloat64(a3.Metrics().SummaryRecovered); got != 2 {
		t.Errorf("recovered records %v, want the 2 spans", got)
	}
}

// Summaries merged from created spans (and records) equal the ones derived
// from every stored span and record: traces with spans and records, and
// traces with spans only, fed in waves; the second wave brings an earlier
// root span (the root span and, for a spans-only trace, the root service
// move), error spans and another service.
func TestMergedSpanSummariesEqualDerived(t *testing.T) {
	e := newEnv(t, 2)
	cfg := e.cfg
	cfg.SpansTopic = harness.Topic(t, 2)
	a, _ := e.start(cfg)
	base := time.Now().Add(-time.Minute).UTC()
	const traces = 8
	id := func(tr int) string { return traceID(800 + tr) }
	statuses := []string{"unset", "ok", "error", "unset"}
	wave := func(from, n int, shift time.Duration, service string) []kafka.Message {
		var out []kafka.Message
		for tr := range traces {
			for i := from; i < from+n; i++ {
				out = append(out, spanOf(cfg.SpansTopic, id(tr), service, i, i == from, statuses[(tr+i)%4],
					base.Add(shift+time.Duration(tr*100+i)*time.Millisecond), time.Duration(10+i)*time.Millisecond))
			}
		}
		return out
	}
	count := func(spans int) {
		harness.Eventually(t, 60*time.Second, func() (bool, string) {
			for tr := range traces {
				if c := spanCount(t, a, id(tr)); c != spans {
					return false, fmt.Sprintf("trace %d counts %d of %d spans", tr, c, spans)
				}
			}
			return true, ""
		})
	}
	e.produceRaw(wave(0, 5, 0, "planner"))
	var recs []*record.Record // records for the even traces only
	for tr := 0; tr < traces; tr += 2 {
		for i := range 3 {
			recs = append(recs, rec(10*tr+i, id(tr), "llm-gateway", base.Add(time.Duration(tr*100+i+1)*time.Millisecond), record.LevelInfo))
		}
	}
	e.produce(recs)
	count(5)
	e.produceRaw(wave(5, 4, -time.Second, "tool-runner")) // a root span a second earlier, another service
	count(9)

	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		for tr := 0; tr < traces; tr += 2 {
			if c := recordCount(t, a, id(tr)); c != 3 {
				return false, fmt.Sprintf("trace %d counts %d of 3 records", tr, c)
			}
		}
		return true, ""
	})
	ids := make([]string, traces)
	for i := range ids {
		ids[i] = id(i)
	}
	checkMergedEqualDerived(t, a.Store(), ids)
	// The merge path did the work: spans are no longer re-derived.
	if der := testutil.ToFloat64(a.Metrics().SummaryDerived); der != 0 {
		t.Errorf("traces re-derived %v, want 0: created spans and records are merged", der)
	}
}
