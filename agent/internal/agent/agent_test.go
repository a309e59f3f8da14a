package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/agentobs/agentobs/agent/agentmetrics"
	"github.com/agentobs/agentobs/agent/internal/env"
	"github.com/agentobs/agentobs/agent/internal/executor"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/internal/telemetry"
)

// syncBuffer is a log sink shared by the agent's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// fastConfig is a deterministic agent whose tools answer in about a
// millisecond.
func fastConfig(name string) Config {
	c := DefaultConfig()
	c.Name, c.ID = name, name+"-0"
	c.Version, c.Track = "2.0.0-rc1", TrackCanary
	c.Env.Rate = 0
	c.DrainTimeout = 5 * time.Second
	for _, t := range []*executor.ToolConfig{&c.Executor.Search, &c.Executor.Calculator, &c.Executor.HTTPFetch, &c.Executor.LLMCall} {
		t.Latency, t.Spread = time.Millisecond, 0
	}
	c.Executor.Search.FailureRate = 0.3 // exercise the error paths
	return c
}

type testAgent struct {
	*Agent
	exp  *tracetest.InMemoryExporter
	logs *syncBuffer
	reg  *prometheus.Registry
	stop func()
}

// start runs an agent with an in-memory span exporter and a JSON logger
// built by the shared telemetry package, as main does.
func start(t *testing.T, cfg Config, exp *tracetest.InMemoryExporter) *testAgent {
	t.Helper()
	if exp == nil {
		exp = tracetest.NewInMemoryExporter()
	}
	res := resource.NewSchemaless(semconv.ServiceName(cfg.Name))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
	logs := &syncBuffer{}
	logger, err := telemetry.NewLogger(logs, "debug")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	a, err := New(cfg, Settings{Logger: logger, Registerer: reg, TracerProvider: tp,
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitFor(t, a.Accepting)
	ta := &testAgent{Agent: a, exp: exp, logs: logs, reg: reg}
	var once sync.Once
	ta.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			_ = tp.ForceFlush(context.Background()) // Shutdown would empty the in-memory exporter
		})
	}
	t.Cleanup(ta.stop)
	return ta
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
	}
}

func (a *testAgent) finished() float64 {
	var n float64
	for _, o := range agentmetrics.Outcomes {
		n += testutil.ToFloat64(a.metrics.Tasks.WithLabelValues(o))
	}
	return n
}

// TestLogsCarryTheirSpansTraceContext runs an agent over a seeded task
// stream and checks the central promise of the reference agent: every log
// line written inside a span carries that span's trace_id and span_id, the
// exported spans agree, and the pipeline's record core parses them.
func TestLogsCarryTheirSpansTraceContext(t *testing.T) {
	a := start(t, fastConfig("agent-a"), nil)
	src := env.NewSource(env.Config{Seed: 3, Readings: 8, Noise: 0.1, SpikeRate: 0.1, MaxSteps: 3}, "t")
	const tasks = 30
	for range tasks {
		if err := a.Submit(context.Background(), src.Next(), SourceEnv, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return a.finished() == tasks })
	a.stop()

	spans := map[string]tracetest.SpanStub{} // by span id
	for _, s := range a.exp.GetSpans() {
		spans[s.SpanContext.SpanID().String()] = s
	}
	names := map[string]bool{}
	for _, s := range spans {
		names[strings.Fields(s.Name)[0]] = true
	}
	for _, n := range []string{"invoke_agent", "perceive", "decide", "act", "execute_tool", "chat"} {
		if !names[n] {
			t.Errorf("no %s span among %v", n, names)
		}
	}

	p := record.NewParser(record.ParseOptions{})
	sc := bufio.NewScanner(bytes.NewReader(a.logs.Bytes()))
	var inSpan, total int
	for sc.Scan() {
		line := sc.Bytes()
		total++
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		_, hasTask := m["task.id"]
		_, hasStep := m["agent.step"]
		tid, _ := m["trace_id"].(string)
		sid, _ := m["span_id"].(string)
		if tid == "" {
			if hasTask || hasStep {
				t.Fatalf("task line without trace context: %s", line)
			}
			continue
		}
		inSpan++
		span, ok := spans[sid]
		if !ok {
			t.Fatalf("line names span %s that was not exported: %s", sid, line)
		}
		if span.SpanContext.TraceID().String() != tid {
			t.Fatalf("line trace %s, its span's trace %s", tid, span.SpanContext.TraceID())
		}
		if m["service.name"] != "agent-a" || m["gen_ai.agent.id"] != "agent-a-0" ||
			m["service.version"] != "2.0.0-rc1" || m["agent.track"] != TrackCanary {
			t.Fatalf("line without service, version, track and agent id: %s", line)
		}
		if strings.Fields(span.Name)[0] != "invoke_agent" && !hasStep {
			t.Fatalf("step line without agent.step: %s", line)
		}
		var rec record.Record
		p.Parse(line, &rec)
		if rec.TraceID != tid || rec.SpanID != sid || rec.Service != "agent-a" || rec.Level == record.LevelUnknown ||
			rec.Fields[record.FieldServiceVersion] != "2.0.0-rc1" {
			t.Fatalf("record core parsed %+v from %s", rec, line)
		}
	}
	if inSpan < tasks*4 {
		t.Fatalf("only %d of %d lines inside spans", inSpan, total)
	}
}

// TestMetricsExposedWithExemplars scrapes the agent's registry the way
// Prometheus does (OpenMetrics) and parses the result.
func TestMetricsExposedWithExemplars(t *testing.T) {
	a := start(t, fastConfig("agent-m"), nil)
	done := make(chan executor.TaskResponse, 1)
	if err := a.Submit(context.Background(), env.Task{ID: "x", Kind: "summarize", Readings: []float64{1}, Steps: 2}, SourceHTTP, done); err != nil {
		t.Fatal(err)
	}
	<-done
	srv := httptest.NewServer(promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(body.String(), `agentobs_agent_step_duration_seconds_bucket`) || !strings.Contains(body.String(), `# {trace_id="`) {
		t.Fatalf("no step histogram exemplar with trace_id in:\n%s", body)
	}

	resp, err = http.Get(srv.URL) // the classic text format
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	want := map[string]int{ // family → series count (closed label sets pre-created)
		"agentobs_agent_steps_total":                   1,
		"agentobs_agent_tasks_total":                   4,
		"agentobs_agent_tasks_received_total":          3,
		"agentobs_agent_decisions_total":               4,
		"agentobs_agent_tool_calls_total":              16,
		"agentobs_agent_tool_duration_seconds":         4,
		"agentobs_agent_step_duration_seconds":         1,
		"agentobs_agent_task_duration_seconds":         1,
		"agentobs_agent_tokens_total":                  2,
		"agentobs_agent_peer_calls_total":              5,
		"agentobs_agent_peer_call_duration_seconds":    1,
		"agentobs_agent_tasks_in_flight":               1,
		"agentobs_agent_queue_depth":                   1,
		"agentobs_agent_queue_capacity":                1,
		"agentobs_agent_last_step_timestamp_seconds":   1,
		"agentobs_agent_percepts_total":                2,
		"agentobs_agent_policy_info":                   2,
		"agentobs_agent_config_reloads_total":          2,
		"agentobs_agent_config_last_reload_successful": 1,
	}
	for name, n := range want {
		f, ok := families[name]
		if !ok {
			t.Errorf("metric %s missing", name)
			continue
		}
		if len(f.Metric) != n {
			t.Errorf("%s has %d series, want %d", name, len(f.Metric), n)
		}
	}
	for name, f := range families {
		if _, ok := want[name]; !ok {
			t.Errorf("metric %s is not listed in the test (and in agent/METRICS.md?)", name)
		}
		for _, m := range f.Metric {
			got := map[string]string{}
			for _, l := range m.Label {
				got[l.GetName()] = l.GetValue()
			}
			if got["version"] != "2.0.0-rc1" || got["track"] != TrackCanary {
				t.Errorf("%s series %v lacks version=2.0.0-rc1, track=canary", name, got)
			}
		}
	}
	if v := families["agentobs_agent_steps_total"].Metric[0].GetCounter().GetValue(); v != 2 {
		t.Errorf("steps_total = %v, want 2", v)
	}
}

// TestTwoAgentsShareOneTrace delegates every task of agent A to agent B
// over HTTP and checks that one trace covers both services, with B's
// server span a child of A's client span.
func TestTwoAgentsShareOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	b := start(t, fastConfig("agent-b"), exp)
	bSrv := httptest.NewServer(b.Handler())
	defer bSrv.Close()

	cfgA := fastConfig("agent-a")
	cfgA.Executor.Peers = []string{"agent-b=" + bSrv.URL}
	cfgA.Policy.Arms = []string{"delegate"}
	a := start(t, cfgA, exp)
	aSrv := httptest.NewServer(a.Handler())
	defer aSrv.Close()

	resp, err := http.Post(aSrv.URL+"?wait=true", "application/json",
		strings.NewReader(`{"id":"task-1","kind":"compute","readings":[0.4,0.5,0.6],"steps":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var tr executor.TaskResponse
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || tr.Outcome != TaskSuccess {
		t.Fatalf("status %d, response %+v", resp.StatusCode, tr)
	}
	a.stop()
	b.stop()

	services := map[string]bool{}
	var client, server tracetest.SpanStub
	var traceID string
	for _, s := range exp.GetSpans() {
		for _, kv := range s.Resource.Attributes() {
			if kv.Key == semconv.ServiceNameKey {
				services[kv.Value.AsString()] = true
			}
		}
		if traceID == "" {
			traceID = s.SpanContext.TraceID().String()
		}
		if s.SpanContext.TraceID().String() != traceID {
			t.Fatalf("span %s is in trace %s, want the single trace %s", s.Name, s.SpanContext.TraceID(), traceID)
		}
		switch s.Name {
		case "invoke_agent agent-b":
			if s.SpanKind.String() == "client" {
				client = s
			} else {
				server = s
			}
		}
	}
	if !services["agent-a"] || !services["agent-b"] {
		t.Fatalf("trace covers services %v, want agent-a and agent-b", services)
	}
	if client.Name == "" || server.Name == "" || server.Parent.SpanID() != client.SpanContext.SpanID() || !server.Parent.IsRemote() {
		t.Fatalf("B's server span (parent %s) is not a remote child of A's client span %s", server.Parent.SpanID(), client.SpanContext.SpanID())
	}
	// B's logs are in the same trace as A's: the log side of the promise.
	if !bytes.Contains(b.logs.Bytes(), []byte(`"trace_id":"`+traceID+`"`)) || !bytes.Contains(a.logs.Bytes(), []byte(`"trace_id":"`+traceID+`"`)) {
		t.Fatal("the logs of both agents do not carry the shared trace id")
	}
	if got := testutil.ToFloat64(a.metrics.PeerCalls.WithLabelValues(executor.OutcomeSuccess)); got != 1 {
		t.Fatalf("peer_calls_total{success} = %v", got)
	}
	if got := testutil.ToFloat64(b.metrics.TasksReceived.WithLabelValues(SourcePeer)); got != 1 {
		t.Fatalf("B received %v peer tasks", got)
	}
}

func TestBackpressureAndDrain(t *testing.T) {
	cfg := fastConfig("agent-q")
	cfg.Workers, cfg.QueueSize = 1, 1
	cfg.Executor.Calculator.Latency = time.Hour // the first task blocks the worker
	cfg.Policy.Arms = []string{"calculator"}
	cfg.DrainTimeout = 10 * time.Millisecond
	a := start(t, cfg, nil)
	task := env.Task{Kind: "compute", Steps: 1}
	_ = a.Submit(context.Background(), task, SourceHTTP, nil)
	waitFor(t, func() bool { return testutil.ToFloat64(a.metrics.InFlight) == 1 })
	if err := a.Submit(context.Background(), task, SourceHTTP, nil); err != nil {
		t.Fatalf("queue of 1 rejected the first queued task: %v", err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"kind":"compute"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("full queue answered %d, want 429", resp.StatusCode)
	}
	a.stop() // the blocked task is cancelled after the drain timeout, the queued one never starts
	if a.Accepting() {
		t.Fatal("still accepting after stop")
	}
	if got := testutil.ToFloat64(a.metrics.Tasks.WithLabelValues(TaskCanceled)); got != 2 {
		t.Fatalf("canceled tasks = %v, want 2", got)
	}
	if got := testutil.ToFloat64(a.metrics.Tasks.WithLabelValues(TaskRejected)); got != 1 {
		t.Fatalf("rejected tasks = %v, want 1", got)
	}
	resp, err = http.Post(srv.URL, "application/json", strings.NewReader(`{"kind":"compute"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("stopped agent answered %d, want 503", resp.StatusCode)
	}
}

func TestReloadPolicy(t *testing.T) {
	a := start(t, fastConfig("agent-r"), nil)
	cfg := a.cfg.Policy
	cfg.Kind = "epsilon_greedy"
	if err := a.ReloadPolicy(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Epsilon = 7
	if err := a.ReloadPolicy(cfg); err == nil {
		t.Fatal("invalid reload accepted")
	}
	if a.engine.Name() != "epsilon_greedy" ||
		testutil.ToFloat64(a.metrics.PolicyInfo.WithLabelValues("epsilon_greedy")) != 1 ||
		testutil.ToFloat64(a.metrics.Reloads.WithLabelValues("success")) != 1 ||
		testutil.ToFloat64(a.metrics.Reloads.WithLabelValues("failure")) != 1 ||
		testutil.ToFloat64(a.metrics.ReloadSuccess) != 0 {
		t.Fatal("reload state or metrics wrong")
	}
}

// The release becomes label values, so only short release names and the
// closed track set pass validation.
func TestReleaseValidation(t *testing.T) {
	f := func(version, track string, ok bool) {
		t.Helper()
		c := fastConfig("v")
		c.Version, c.Track = version, track
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("version %q track %q: err = %v, want ok = %v", version, track, err, ok)
		}
	}
	f("1.4.0", TrackStable, true)
	f("v0.0.0-20261130110950-a581d6a0c0ab+dirty", TrackCanary, true)
	f("", TrackStable, false)
	f("1.4.0 with spaces", TrackStable, false)
	f(strings.Repeat("9", 65), TrackStable, false)
	f("1.4.0", "beta", false)
	f("1.4.0", "", false)
	if v := BuildVersion(); !versionRe.MatchString(v) {
		t.Errorf("BuildVersion() = %q is not a valid version", v)
	}
}
