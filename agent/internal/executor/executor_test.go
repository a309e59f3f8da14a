package executor

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentobs/agentobs/agent/internal/env"
)

type recObserver struct {
	mu      sync.Mutex
	calls   map[string]int // tool/outcome
	peers   map[string]int
	in, out int
}

func (o *recObserver) ToolCall(_ context.Context, tool, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls[tool+"/"+outcome]++
}
func (o *recObserver) Tokens(in, out int) { o.mu.Lock(); o.in += in; o.out += out; o.mu.Unlock() }
func (o *recObserver) PeerCall(_ context.Context, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.peers[outcome]++
}

func fastConfig() Config {
	c := DefaultConfig()
	for _, t := range []*ToolConfig{&c.Search, &c.Calculator, &c.HTTPFetch, &c.LLMCall} {
		t.Latency, t.Spread, t.FailureRate = 0, 0, 0
	}
	return c
}

func newTest(t *testing.T, cfg Config) (*Executor, *tracetest.InMemoryExporter, *recObserver) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	obs := &recObserver{calls: map[string]int{}, peers: map[string]int{}}
	e, err := New(cfg, Settings{Tracer: tp.Tracer("test"), Observer: obs, Propagator: propagation.TraceContext{}})
	if err != nil {
		t.Fatal(err)
	}
	return e, exp, obs
}

func attrs(kv []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, a := range kv {
		m[string(a.Key)] = a.Value.Emit()
	}
	return m
}

var task = env.Task{ID: "t-1", Kind: "compute", Readings: []float64{1, 2, 3}, Steps: 1}

func TestToolSpansFollowGenAIConventions(t *testing.T) {
	e, exp, obs := newTest(t, fastConfig())
	for _, tool := range Tools {
		if r := e.Execute(context.Background(), task, tool); r.Outcome != OutcomeSuccess {
			t.Fatalf("%s: %+v", tool, r)
		}
	}
	spans := exp.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	for _, tool := range Tools {
		s, ok := byName["execute_tool "+tool]
		if !ok {
			t.Fatalf("no execute_tool span for %s in %d spans", tool, len(spans))
		}
		a := attrs(s.Attributes)
		if a["gen_ai.operation.name"] != "execute_tool" || a["gen_ai.tool.name"] != tool || a["gen_ai.tool.call.id"] == "" {
			t.Errorf("%s attributes: %v", tool, a)
		}
	}
	chat, ok := byName["chat sim-model-1"]
	if !ok {
		t.Fatal("no chat span for llm_call")
	}
	a := attrs(chat.Attributes)
	if a["gen_ai.operation.name"] != "chat" || a["gen_ai.usage.input_tokens"] == "" || a["gen_ai.usage.output_tokens"] == "" {
		t.Errorf("chat attributes: %v", a)
	}
	if chat.Parent.SpanID() != byName["execute_tool llm_call"].SpanContext.SpanID() {
		t.Error("chat span is not a child of execute_tool llm_call")
	}
	if obs.in < 100+40*3 || obs.out < 20 {
		t.Errorf("tokens in=%d out=%d", obs.in, obs.out)
	}
}

func TestFailureRateAndOutcomes(t *testing.T) {
	cfg := fastConfig()
	cfg.Search.FailureRate = 0.25
	cfg.Seed = 11
	e, _, obs := newTest(t, cfg)
	for range 400 {
		e.Execute(context.Background(), task, ToolSearch)
	}
	fails := obs.calls["search/error"]
	if fails < 60 || fails > 140 || fails+obs.calls["search/success"] != 400 {
		t.Fatalf("outcomes %v, want about 100 errors of 400", obs.calls)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	cfg := fastConfig()
	cfg.HTTPFetch = ToolConfig{Latency: time.Hour, Timeout: time.Millisecond}
	cfg.Search = ToolConfig{Latency: time.Hour, Timeout: time.Hour}
	e, exp, _ := newTest(t, cfg)
	if r := e.Execute(context.Background(), task, ToolHTTPFetch); r.Outcome != OutcomeTimeout {
		t.Fatalf("slow tool: %+v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := e.Execute(ctx, task, ToolSearch); r.Outcome != OutcomeCanceled {
		t.Fatalf("canceled: %+v", r)
	}
	for _, s := range exp.GetSpans() {
		if s.Status.Code.String() != "Error" {
			t.Errorf("span %s status %v, want Error", s.Name, s.Status)
		}
	}
}

func TestDelegatePropagatesTraceContext(t *testing.T) {
	var gotParent string
	var gotTask env.Task
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/tasks" || r.URL.Query().Get("wait") != "true" {
			t.Errorf("request %s", r.URL)
		}
		gotParent = r.Header.Get("traceparent")
		_ = json.NewDecoder(r.Body).Decode(&gotTask)
		if status != http.StatusOK {
			http.Error(w, "busy", status)
			return
		}
		_ = json.NewEncoder(w).Encode(TaskResponse{ID: gotTask.ID, Outcome: OutcomeSuccess, Steps: 1})
	}))
	defer srv.Close()
	cfg := fastConfig()
	cfg.Peers = []string{"agent-b=" + srv.URL}
	e, exp, obs := newTest(t, cfg)
	if !e.CanDelegate(0) || !e.CanDelegate(1) || e.CanDelegate(2) {
		t.Fatal("CanDelegate does not honour max-depth 2")
	}
	r := e.Execute(context.Background(), task, "delegate")
	if r.Outcome != OutcomeSuccess || r.Peer != "agent-b" {
		t.Fatalf("delegate: %+v", r)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "invoke_agent agent-b" {
		t.Fatalf("spans: %v", spans)
	}
	sc := spans[0].SpanContext
	want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
	if gotParent != want {
		t.Fatalf("traceparent %q, want %q", gotParent, want)
	}
	if gotTask.Depth != 1 || !strings.HasPrefix(gotTask.ID, "t-1/") {
		t.Fatalf("sub-task %+v", gotTask)
	}
	status = http.StatusTooManyRequests
	if r := e.Execute(context.Background(), task, "delegate"); r.Outcome != OutcomeRejected {
		t.Fatalf("429: %+v", r)
	}
	status = http.StatusInternalServerError
	if r := e.Execute(context.Background(), task, "delegate"); r.Outcome != OutcomeError {
		t.Fatalf("500: %+v", r)
	}
	if obs.peers[OutcomeSuccess] != 1 || obs.peers[OutcomeRejected] != 1 || obs.peers[OutcomeError] != 1 {
		t.Fatalf("peer outcomes %v", obs.peers)
	}
}

func TestValidate(t *testing.T) {
	c := DefaultConfig()
	c.Search.FailureRate = 2
	c.LLMCall.Timeout = 0
	c.Peers = []string{"ftp://x", "b=http://ok:1"}
	err := c.Validate()
	for _, key := range []string{"tools.search.failure-rate", "tools.llm_call.timeout", `"ftp://x"`} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
	if strings.Contains(err.Error(), "b=http") {
		t.Errorf("valid peer rejected: %v", err)
	}
}
