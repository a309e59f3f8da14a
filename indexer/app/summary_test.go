package app

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/schema"
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
	return e.topicPosition(group, e.topic, partitions)
}

// topicPosition is the sum of group's committed offsets on topic.
func (e *env) topicPosition(group, topic string, partitions int) int64 {
	e.t.Helper()
	c, err := e.cfg.Kafka.Client()
	if err != nil {
		e.t.Fatal(err)
	}
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	res, err := c.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		e.t.Fatalf("offsets of %s: %v", group, err)
	}
	var sum int64
	for _, p := range res.Topics[topic] {
		sum += max(p.CommittedOffset, 0)
	}
	return sum
}

// summaryOf is the stored summary of id, nil without one.
func summaryOf(t *testing.T, a *App, id string) *trace.Summary {
	t.Helper()
	v, err := a.Store().Trace(context.Background(), id, trace.Page{Size: 1})
	if err != nil {
		return nil
	}
	return v.Summary
}

// recordCount is the summary's record count of id, -1 without a summary.
func recordCount(t *testing.T, a *App, id string) int {
	t.Helper()
	if s := summaryOf(t, a, id); s != nil {
		return int(s.RecordCount)
	}
	return -1
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
	// The cut drain stops the shutdown's summary round, but a merge whose
	// bulk request was already sent when its context ended is applied by
	// Elasticsearch all the same (its answer is lost). B, a new trace, is
	// created blind in a request of its own before A is read and merged:
	// A may count 10 or 15, B none or 10. Either way the cursor did not
	// move, so the next member must read the 15 records back and
	// re-derive their traces.
	if n, m := recordCount(t, a1, ta), recordCount(t, a1, tb); !(n == 10 || n == 15) || !(m == -1 || m == 10) {
		t.Fatalf("before recovery: summary of A counts %d (want 10, or 15 if the cut round's write was applied), B %d (want none, or 10)", n, m)
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

// Summaries merged from created records equal the ones derived from every
// stored record: traces fed in two waves across partitions (the second
// merges into existing summaries and moves a root service), with levels,
// releases, sessions and conversations.
func TestMergedSummariesEqualDerived(t *testing.T) {
	e := newEnv(t, 3)
	a, _ := e.start(e.cfg)
	base := time.Now().Add(-time.Minute).UTC()
	services := []string{"planner", "tool-runner", "llm-gateway"}
	levels := []record.Level{record.LevelInfo, record.LevelDebug, record.LevelWarn, record.LevelError, record.LevelInfo}
	const traces = 12
	wave := func(from, n int, shift time.Duration) []*record.Record {
		var out []*record.Record
		for tr := range traces {
			for i := from; i < from+n; i++ {
				r := rec(1000*tr+i, traceID(600+tr), services[(tr+i)%3], base.Add(shift+time.Duration(i)*time.Millisecond), levels[(tr*i)%5])
				r.Fields[record.FieldServiceVersion] = fmt.Sprintf("1.%d", i%2)
				r.Fields["session.id"] = fmt.Sprintf("s-%d", tr%4)
				if i%3 == 0 {
					r.Fields["gen_ai.conversation.id"] = fmt.Sprintf("c-%d-%d", tr, i%2)
				}
				out = append(out, r)
			}
		}
		return out
	}
	count := func(n int) {
		harness.Eventually(t, 60*time.Second, func() (bool, string) {
			for tr := range traces {
				if c := recordCount(t, a, traceID(600+tr)); c != n {
					return false, fmt.Sprintf("trace %d counts %d of %d", tr, c, n)
				}
			}
			return true, ""
		})
	}
	e.produce(wave(0, 10, 0))
	count(10)
	e.produce(wave(10, 8, -time.Second)) // earlier than the first wave: new first record and root service
	count(18)

	ids := make([]string, traces)
	for i := range ids {
		ids[i] = traceID(600 + i)
	}
	checkMergedEqualDerived(t, a.Store(), ids)
	// The merge path did the work: no duplicate or quarantined record here.
	written, der := testutil.ToFloat64(a.Metrics().Summaries), testutil.ToFloat64(a.Metrics().SummaryDerived)
	if written < 2*traces || der >= written {
		t.Errorf("summaries written %v, derived %v: want the merges to write most", written, der)
	}
}

// checkMergedEqualDerived compares the stored summary of each trace in ids
// (merged round by round) with the one derived afresh from every stored
// record and span, field by field (the time of the last write aside; the
// session and conversation ids as sets).
func checkMergedEqualDerived(t *testing.T, st *trace.Store, ids []string) {
	t.Helper()
	ctx := context.Background()
	if err := st.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	derived, err := st.Derive(ctx, ids)
	if err != nil || len(derived) != len(ids) {
		t.Fatalf("derive: %d summaries of %d, %v", len(derived), len(ids), err)
	}
	for _, d := range derived {
		v, err := st.Trace(ctx, d.TraceID, trace.Page{Size: 1})
		if err != nil || v.Summary == nil {
			t.Fatalf("summary of %s: %v", d.TraceID, err)
		}
		m := *v.Summary
		m.UpdatedAt, d.UpdatedAt = "", ""
		slices.Sort(m.SessionIDs)
		slices.Sort(d.SessionIDs)
		slices.Sort(m.ConversationIDs)
		slices.Sort(d.ConversationIDs)
		if !reflect.DeepEqual(m, d) {
			t.Errorf("trace %s merged:\n %+v\nderived:\n %+v", d.TraceID, m, d)
		}
	}
}

// Merges racing on the same summaries (members during a rebalance, a
// derivation in between) lose no count: a write is conditional on the
// version read, and one that lost is merged again from a fresh read.
func TestConcurrentMergesAddUp(t *testing.T) {
	es := harness.RequireES(t)
	names := schema.WithPrefix(harness.Index(t))
	st := trace.NewStore(es, names)
	const writers, traces = 3, 200
	ctx := context.Background()
	t0 := time.Now().UTC()
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Writers 0 and 1 create the summaries blind (all three race
			// to create them: the losers' creates are refused and must
			// be merged from a read); writer 2 reads first.
			parts, known := map[string]*trace.Partial{}, map[string]struct{}{}
			for i := range traces {
				p := &trace.Partial{}
				p.Add(trace.Fact{Level: "info", Service: fmt.Sprintf("w%d", w), Time: t0.Add(time.Duration(w) * time.Second)})
				parts[traceID(i)] = p
				if w == 2 {
					known[traceID(i)] = struct{}{}
				}
			}
			left, err := st.MergeSummaries(ctx, parts, known)
			if len(left) > 0 {
				err = fmt.Errorf("%d left: %w", len(left), err)
			}
			errs[w] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range traces {
		v, err := st.Trace(ctx, traceID(i), trace.Page{Size: 1})
		if err != nil || v.Summary == nil {
			t.Fatalf("summary %d: %v", i, err)
		}
		if s := v.Summary; s.RecordCount != writers || len(s.Services) != writers || s.RootService != "w0" {
			t.Fatalf("summary %d: %+v, want %d records from %d services, root w0", i, s, writers, writers)
		}
	}
}
