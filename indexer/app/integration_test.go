package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/bulk"
	"github.com/agentobs/agentobs/indexer/trace"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

// countIDs counts documents matching any of ids in field, in chunks.
func (e *env) countIDs(field string, ids []string) int {
	total := 0
	for chunk := range slices.Chunk(ids, 5000) {
		total += e.count(map[string]any{"terms": map[string]any{field: chunk}})
	}
	return total
}

func TestExactlyOnceWithDuplicatesAndReplay(t *testing.T) {
	e := newEnv(t, 3)
	const n = 6000
	base := time.Now().Add(-time.Minute).UTC()
	var recs []*record.Record
	var eventIDs, traced []string
	for i := range n {
		tid := ""
		if i%10 != 0 {
			tid = traceID(i / 20)
		}
		r := rec(i, tid, fmt.Sprintf("svc-%d", i%3), base.Add(time.Duration(i)*time.Millisecond), record.LevelInfo)
		recs = append(recs, r)
		eventIDs = append(eventIDs, r.EventID)
		if tid != "" {
			traced = append(traced, r.EventID)
		}
	}
	// Producer retries: every 5th record twice, before the indexer starts.
	withDups := append([]*record.Record{}, recs...)
	for i := 0; i < n; i += 5 {
		withDups = append(withDups, recs[i])
	}
	e.produce(withDups)
	a, _ := e.start(e.cfg)
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		got := int(testutil.ToFloat64(a.m.Indexed)) + int(testutil.ToFloat64(a.m.Duplicates))
		return got == len(withDups), fmt.Sprintf("indexed+duplicates %d of %d", got, len(withDups))
	})
	// A replay of everything.
	e.produce(recs)
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		d := int(testutil.ToFloat64(a.m.Duplicates))
		return d == n/5+n, fmt.Sprintf("duplicates %d want %d", d, n/5+n)
	})
	if got := e.count(nil); got != n {
		t.Fatalf("documents: %d, want exactly %d", got, n)
	}
	if got := e.countIDs("event.id", eventIDs); got != n {
		t.Errorf("found by event.id: %d of %d", got, n)
	}
	tids := map[string]bool{}
	for _, r := range recs {
		if r.TraceID != "" {
			tids[r.TraceID] = true
		}
	}
	var tl []string
	for id := range tids {
		tl = append(tl, id)
	}
	if got := e.countIDs("trace.id", tl); got != len(traced) {
		t.Errorf("found by trace.id: %d of %d", got, len(traced))
	}
	if got := int(testutil.ToFloat64(a.m.Indexed)); got != n {
		t.Errorf("indexed counter %d, want %d", got, n)
	}
	if w := testutil.ToFloat64(a.m.WithoutTrace.WithLabelValues("svc-0")); w == 0 {
		t.Errorf("records_without_trace not counted")
	}
}

func TestConflictQuarantineAndInvalidJSON(t *testing.T) {
	e := newEnv(t, 1)
	a, _ := e.start(e.cfg)
	now := time.Now().UTC()
	first := rec(1, traceID(1), "svc", now, record.LevelInfo)
	first.Fields["user"] = map[string]any{"age": 42}
	e.produce([]*record.Record{first})
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		return testutil.ToFloat64(a.m.Indexed) == 1, "first record not indexed"
	})
	bad := rec(2, traceID(1), "svc", now.Add(time.Millisecond), record.LevelError)
	bad.Fields["user"] = map[string]any{"age": "forty-two"}
	e.produce([]*record.Record{bad})
	e.produceRaw([]kafka.Message{{Topic: e.topic, Key: []byte("x"), Value: []byte(`{"message": "cut off`)}})
	ok := rec(3, traceID(1), "svc", now.Add(2*time.Millisecond), record.LevelInfo)
	e.produce([]*record.Record{ok})
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		return testutil.ToFloat64(a.m.Indexed) == 3, fmt.Sprintf("indexed %v, want 3 (the malformed message must not block)", testutil.ToFloat64(a.m.Indexed))
	})
	if got := e.count(map[string]any{"term": map[string]any{"_conflicts.user.age": `"forty-two"`}}); got != 1 {
		t.Errorf("quarantined value not searchable under _conflicts.user.age: %d", got)
	}
	if got := e.count(map[string]any{"term": map[string]any{"event.id": bad.EventID}}); got != 1 {
		t.Errorf("quarantined record not findable by event.id")
	}
	dl := harness.ConsumeAll(t, e.dlq, 2, 30*time.Second)
	reasons := map[string]kafka.Message{}
	for _, m := range dl {
		reasons[kafkaclient.Header(m, kafkaclient.HeaderDLQReason)] = m
	}
	mc, okc := reasons[bulk.ReasonMappingConflict]
	ij, oki := reasons[bulk.ReasonInvalidJSON]
	if !okc || !oki || len(dl) != 2 {
		t.Fatalf("dead letters: %d with reasons %v", len(dl), slices.Collect(func(y func(string) bool) {
			for k := range reasons {
				y(k)
			}
		}))
	}
	if !bytes.Equal(mc.Value, bad.AppendJSON(nil)) || kafkaclient.Header(mc, kafkaclient.HeaderDLQTopic) != e.topic ||
		kafkaclient.Header(mc, kafkaclient.HeaderDLQOffset) != "1" || !strings.Contains(kafkaclient.Header(mc, kafkaclient.HeaderDLQError), "user.age") {
		t.Errorf("conflict dead letter lacks original bytes or origin headers: %v", mc.Headers)
	}
	if string(ij.Value) != `{"message": "cut off` || kafkaclient.Header(ij, kafkaclient.HeaderDLQPartition) != "0" {
		t.Errorf("invalid JSON dead letter: %q %v", ij.Value, ij.Headers)
	}
	if testutil.ToFloat64(a.m.DeadLetters.WithLabelValues(bulk.ReasonInvalidJSON)) != 1 ||
		testutil.ToFloat64(a.m.Quarantined) != 1 {
		t.Errorf("dead-letter / quarantine counters wrong")
	}
}

func TestTwoIndexersOneGroup(t *testing.T) {
	e := newEnv(t, 4)
	const n = 20000
	base := time.Now().Add(-time.Hour).UTC()
	var recs []*record.Record
	for i := range n {
		recs = append(recs, rec(i, traceID(i/50), "svc", base.Add(time.Duration(i)*time.Microsecond), record.LevelInfo))
	}
	a1, _ := e.start(e.cfg)
	e.produce(recs[:n/2])
	a2, _ := e.start(e.cfg) // joins mid-stream: a rebalance
	// Produce the second half only once both members hold partitions, so
	// both must index some of it (otherwise the first indexer may finish
	// everything before the second has joined, and the test proves nothing).
	harness.Eventually(t, 60*time.Second, func() (bool, string) { return groupMembersAssigned(t, e.cfg.Group) })
	e.produce(recs[n/2:])
	total := func() int {
		return int(testutil.ToFloat64(a1.m.Indexed) + testutil.ToFloat64(a2.m.Indexed))
	}
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		return total() == n, fmt.Sprintf("indexed by both: %d of %d", total(), n)
	})
	if got := e.count(nil); got != n {
		t.Fatalf("documents %d want %d", got, n)
	}
	i1, i2 := testutil.ToFloat64(a1.m.Indexed), testutil.ToFloat64(a2.m.Indexed)
	t.Logf("indexer 1: %v docs, indexer 2: %v docs, duplicates %v+%v", i1, i2,
		testutil.ToFloat64(a1.m.Duplicates), testutil.ToFloat64(a2.m.Duplicates))
	if i1 == 0 || i2 == 0 {
		t.Errorf("one indexer did nothing: %v / %v", i1, i2)
	}
}

func TestTraceLookupSummaryReplayAndSession(t *testing.T) {
	e := newEnv(t, 3)
	a, _ := e.start(e.cfg)
	tid := traceID(7)
	base := time.Now().Add(-10 * time.Second).UTC().Truncate(time.Millisecond)
	services := []string{"planner", "tool-runner", "llm-gateway"}
	var recs []*record.Record
	for i := range 30 {
		lvl := record.LevelInfo
		if i == 17 || i == 23 {
			lvl = record.LevelError
		}
		r := rec(i, tid, services[i%3], base.Add(time.Duration(i)*time.Millisecond+time.Duration(i)), lvl)
		r.Fields["session.id"] = "sess-42"
		r.Fields[record.FieldServiceVersion] = "1.0.0"
		if services[i%3] == "llm-gateway" { // a canary release of one service
			r.Fields[record.FieldServiceVersion] = "2.0.0-canary"
		}
		recs = append(recs, r)
	}
	other := rec(100, traceID(8), "planner", base.Add(time.Second), record.LevelWarn)
	other.Fields["session.id"] = "sess-42"
	// Produce in reverse so arrival order is not time order; records of
	// different services with a key per service spread over partitions.
	var msgs []kafka.Message
	for i := len(recs) - 1; i >= 0; i-- {
		m := publish.RecordMessage(e.topic, recs[i], recs[i].AppendJSON(nil))
		m.Key = []byte(recs[i].Service)
		msgs = append(msgs, m)
	}
	e.produceRaw(msgs)
	e.produce([]*record.Record{other})
	var v trace.View
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		code := e.get(a, "/v1/traces/"+tid+"?size=7", &v)
		return code == 200 && v.Summary != nil && v.Summary.RecordCount == 30, fmt.Sprintf("status %d summary %+v", code, v.Summary)
	})
	checkSummary := func(s *trace.Summary) {
		t.Helper()
		if s.RecordCount != 30 || s.ErrorCount != 2 || s.WorstLevel != "error" || s.RootService != "planner" ||
			!slices.Equal(s.Services, []string{"llm-gateway", "planner", "tool-runner"}) ||
			!slices.Equal(s.Versions, []string{"1.0.0", "2.0.0-canary"}) ||
			s.First != recs[0].Timestamp.Format("2006-01-02T15:04:05.000000000Z07:00") {
			t.Errorf("summary wrong: %+v", s)
		}
	}
	checkSummary(v.Summary)
	// Every record, in time order, through the paging client. A summary
	// merged from created records is written without refreshing the log
	// indices, so the records become searchable with the next scheduled
	// refresh (index.refresh-interval), perhaps after the summary.
	c := &trace.Client{BaseURL: "http://" + a.Addr()}
	var full *trace.View
	harness.Eventually(t, 15*time.Second, func() (bool, string) {
		var err error
		full, err = c.Trace(context.Background(), tid, trace.Page{Size: 7})
		if err != nil {
			return false, err.Error()
		}
		return len(full.Records) == 30, fmt.Sprintf("records %d want 30", len(full.Records))
	})
	for i, raw := range full.Records {
		if !bytes.Contains(raw, []byte(`"event.id":"`+recs[i].EventID+`"`)) {
			t.Fatalf("record %d out of order: %s", i, raw)
		}
	}
	// Replay the topic: summary counts stay right.
	ra, err := New(e.cfg, Settings{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := ra.Replay(context.Background(), ReplayOptions{Topic: e.topic})
	ra.Close(context.Background())
	if err != nil || st.Duplicates != 31 || st.Indexed != 0 {
		t.Fatalf("replay: %+v %v", st, err)
	}
	s, err := a.Store().Trace(context.Background(), tid, trace.Page{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(s.Summary)
	// Session: both traces, in order.
	// Lists are searches over the summary index: near real time (its
	// refresh interval), so they may trail the summary write by a second.
	harness.Eventually(t, 15*time.Second, func() (bool, string) {
		var sv trace.View
		code := e.get(a, "/v1/sessions/sess-42", &sv)
		ok := code == 200 && len(sv.Traces) == 2 && sv.Traces[0].TraceID == tid && sv.Total == 31
		return ok, fmt.Sprintf("session lookup: %d %+v total %d", code, sv.Traces, sv.Total)
	})
	harness.Eventually(t, 15*time.Second, func() (bool, string) {
		var list struct{ Traces []trace.Summary }
		code := e.get(a, "/v1/traces?service=tool-runner&errors=true&since=1h", &list)
		return code == 200 && len(list.Traces) == 1 && list.Traces[0].TraceID == tid, fmt.Sprintf("trace list: %d %+v", code, list.Traces)
	})
	// By release: only the trace that crossed the canary.
	harness.Eventually(t, 15*time.Second, func() (bool, string) {
		var list struct{ Traces []trace.Summary }
		code := e.get(a, "/v1/traces?version=2.0.0-canary&since=1h", &list)
		return code == 200 && len(list.Traces) == 1 && list.Traces[0].TraceID == tid, fmt.Sprintf("trace list by version: %d %+v", code, list.Traces)
	})
	if code := e.get(a, "/v1/traces/"+traceID(999), nil); code != 404 {
		t.Errorf("unknown trace: %d", code)
	}
}

func TestAlertmanagerWebhook(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.cfg
	cfg.HTTPToken = "s3cret"
	a, _ := e.start(cfg)
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		return e.get(a, "/readyz", nil) == 200, "not ready"
	})
	if res, err := http.Get("http://" + a.Addr() + "/metrics"); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), "\nagentobs_indexer_ready 1\n") {
			t.Error("/metrics lacks agentobs_indexer_ready 1 while /readyz answers 200")
		}
	}
	payload := `{"version":"4","groupKey":"{}:{alertname=\"AgentErrors\"}","truncatedAlerts":0,"status":"firing","receiver":"indexer",
	"groupLabels":{"alertname":"AgentErrors"},"commonLabels":{"alertname":"AgentErrors","severity":"page"},"commonAnnotations":{},
	"externalURL":"http://127.0.0.1:9093","alerts":[{"status":"firing","labels":{"alertname":"AgentErrors","severity":"page","service":"planner"},
	"annotations":{"summary":"planner error rate high","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"},"startsAt":"2024-05-01T10:00:00.123Z",
	"endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"c0ffee"}]}`
	post := func(tok string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+"/v1/alerts", strings.NewReader(payload))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post(""); code != 401 {
		t.Errorf("without token: %d", code)
	}
	for range 2 { // a repeated notification is stored once
		if code := post("s3cret"); code != 200 {
			t.Fatalf("post: %d", code)
		}
	}
	res, _ := e.es.Indices.Refresh(e.es.Indices.Refresh.WithIndex(e.names.Alerts))
	res.Body.Close()
	out := e.search("/"+e.names.Alerts+"/_search", map[string]any{"query": map[string]any{"term": map[string]any{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}}})
	hits := out["hits"].(map[string]any)["hits"].([]any)
	if len(hits) != 1 {
		t.Fatalf("alert docs: %v", out)
	}
	src := hits[0].(map[string]any)["_source"].(map[string]any)
	if src["alertname"] != "AgentErrors" || src["status"] != "firing" || src["@timestamp"] != "2024-05-01T10:00:00.123Z" || src["message"] != "planner error rate high" {
		t.Errorf("alert doc: %v", src)
	}
	if testutil.ToFloat64(a.m.Alerts.WithLabelValues("firing")) != 2 {
		t.Errorf("alerts counter")
	}
}

// groupMembersAssigned reports whether the consumer group has two members
// that each own at least one partition.
func groupMembersAssigned(t *testing.T, group string) (bool, string) {
	cl, err := harness.KafkaConfig().Client()
	if err != nil {
		return false, err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil || len(res.Groups) != 1 {
		return false, fmt.Sprintf("describe group %s: %v", group, err)
	}
	g := res.Groups[0]
	owning := 0
	for _, m := range g.Members {
		for _, tp := range m.MemberAssignments.Topics {
			if len(tp.Partitions) > 0 {
				owning++
				break
			}
		}
	}
	return owning == 2, fmt.Sprintf("group %s state %s: %d members, %d owning partitions", group, g.GroupState, len(g.Members), owning)
}
