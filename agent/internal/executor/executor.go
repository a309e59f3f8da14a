// Package executor carries out the agent's chosen action: it calls one of
// the simulated tools (search, calculator, http_fetch, llm_call), each with
// a configurable log-normal latency and failure rate, or delegates the task
// to a peer agent over HTTP.
//
// Every call is a span named after the OpenTelemetry GenAI semantic
// conventions ("execute_tool {tool}", "chat {model}", "invoke_agent {peer}")
// and the W3C trace context travels to peers in the request headers, so one
// trace spans every agent that worked on a task. Metrics are reported
// through the Observer interface, which keeps this package free of any
// metrics library.
package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/agentobs/agentobs/agent/internal/env"
)

// Observer receives the facts the agent's metrics are made of. The context
// carries the call's span, so an observer can attach exemplars.
type Observer interface {
	ToolCall(ctx context.Context, tool, outcome string, d time.Duration)
	Tokens(input, output int)
	PeerCall(ctx context.Context, outcome string, d time.Duration)
}

type nopObserver struct{}

func (nopObserver) ToolCall(context.Context, string, string, time.Duration) {}
func (nopObserver) Tokens(int, int)                                         {}
func (nopObserver) PeerCall(context.Context, string, time.Duration)         {}

// Settings are the developer-set dependencies; zero values get defaults.
type Settings struct {
	Logger     *slog.Logger                  // default: discard
	Tracer     trace.Tracer                  // default: no-op
	Propagator propagation.TextMapPropagator // default: the global one
	Client     *http.Client                  // default: a client without timeout (PeerTimeout bounds calls)
	Observer   Observer                      // default: none
}

// Result is what an action produced.
type Result struct {
	Arm      string // tool name or "delegate"
	Peer     string // the peer's name, for delegations
	Outcome  string // one of PeerOutcomes
	Duration time.Duration
	// InputTokens and OutputTokens are set for llm_call.
	InputTokens, OutputTokens int
	Output                    string
	Err                       error
}

// Executor runs actions. It is safe for concurrent use.
type Executor struct {
	cfg   Config
	set   Settings
	peers []Peer
	next  atomic.Uint64 // round-robin peer index
	calls atomic.Uint64 // tool call ids

	mu  sync.Mutex
	rng *rand.Rand
}

// New builds an executor; it does no I/O.
func New(cfg Config, set Settings) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Tracer == nil {
		set.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if set.Propagator == nil {
		set.Propagator = otel.GetTextMapPropagator()
	}
	if set.Client == nil {
		set.Client = &http.Client{}
	}
	if set.Observer == nil {
		set.Observer = nopObserver{}
	}
	e := &Executor{cfg: cfg, set: set, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0xec5ec))}
	for _, p := range cfg.Peers {
		peer, _ := parsePeer(p) // validated above
		e.peers = append(e.peers, peer)
	}
	return e, nil
}

// CanDelegate reports whether a task at this delegation depth may be handed
// to a peer.
func (e *Executor) CanDelegate(depth int) bool {
	return len(e.peers) > 0 && depth < e.cfg.MaxDepth
}

// HasPeers reports whether any peer is configured.
func (e *Executor) HasPeers() bool { return len(e.peers) > 0 }

// Execute carries out arm (a tool name, or "delegate") for the task.
func (e *Executor) Execute(ctx context.Context, task env.Task, arm string) Result {
	if arm == "delegate" {
		return e.delegate(ctx, task)
	}
	return e.callTool(ctx, task, arm)
}

// sample draws the simulated latency, failure and token count of one call
// under the lock that guards the shared generator.
func (e *Executor) sample(tc ToolConfig) (lat time.Duration, fail bool, in, out int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	lat = time.Duration(float64(tc.Latency) * math.Exp(tc.Spread*e.rng.NormFloat64()))
	fail = e.rng.Float64() < tc.FailureRate
	in, out = 100+e.rng.IntN(900), 20+e.rng.IntN(400)
	return
}

func (e *Executor) callTool(ctx context.Context, task env.Task, tool string) Result {
	tc, ok := e.cfg.Tool(tool)
	if !ok {
		return Result{Arm: tool, Outcome: OutcomeError, Err: fmt.Errorf("unknown tool %q", tool)}
	}
	callID := fmt.Sprintf("call_%d", e.calls.Add(1))
	ctx, span := e.set.Tracer.Start(ctx, "execute_tool "+tool,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			semconv.GenAIOperationNameExecuteTool,
			semconv.GenAIToolName(tool),
			semconv.GenAIToolType("function"),
			semconv.GenAIToolCallID(callID),
		))
	defer span.End()

	start := time.Now()
	lat, fail, in, out := e.sample(tc)
	res := Result{Arm: tool, Outcome: OutcomeSuccess}
	if tool == ToolLLMCall {
		// Token counts grow with the task's input, like a real prompt.
		in += 40 * len(task.Readings)
		res.InputTokens, res.OutputTokens = in, out
	}
	err := e.work(ctx, tool, lat, tc.Timeout, res.InputTokens, res.OutputTokens, fail)
	res.Duration = time.Since(start)
	switch {
	case err == nil:
		res.Output = toolOutput(tool, task)
	case errors.Is(err, context.Canceled):
		res.Outcome, res.Err = OutcomeCanceled, err
	case errors.Is(err, context.DeadlineExceeded):
		res.Outcome, res.Err = OutcomeTimeout, err
	default:
		res.Outcome, res.Err = OutcomeError, err
	}
	if res.InputTokens > 0 && res.Outcome == OutcomeSuccess {
		e.set.Observer.Tokens(res.InputTokens, res.OutputTokens)
	}
	e.set.Observer.ToolCall(ctx, tool, res.Outcome, res.Duration)

	attrs := []any{slog.String("gen_ai.tool.name", tool), slog.String("gen_ai.tool.call.id", callID),
		slog.String("outcome", res.Outcome), slog.Float64("duration_ms", ms(res.Duration))}
	if res.InputTokens > 0 {
		attrs = append(attrs, slog.Int("gen_ai.usage.input_tokens", res.InputTokens), slog.Int("gen_ai.usage.output_tokens", res.OutputTokens))
	}
	if res.Err != nil {
		span.SetStatus(codes.Error, res.Err.Error())
		span.SetAttributes(semconv.ErrorTypeKey.String(res.Outcome))
		span.RecordError(res.Err)
		e.set.Logger.WarnContext(ctx, "tool call failed", append(attrs, slog.String("error.type", res.Outcome), slog.String("error.message", res.Err.Error()))...)
	} else {
		e.set.Logger.InfoContext(ctx, "tool call finished", attrs...)
	}
	return res
}

// work simulates the tool: it waits for the sampled latency (bounded by the
// tool's timeout and by ctx) and fails if the sample said so. llm_call gets
// its own client span, as a real model call would.
func (e *Executor) work(ctx context.Context, tool string, lat, timeout time.Duration, in, out int, fail bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if tool == ToolLLMCall {
		var span trace.Span
		ctx, span = e.set.Tracer.Start(ctx, "chat "+e.cfg.Model,
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(
				semconv.GenAIOperationNameChat,
				semconv.GenAIProviderNameKey.String("agentobs.sim"),
				semconv.GenAIRequestModel(e.cfg.Model),
			))
		defer span.End()
		defer func() {
			if !fail && ctx.Err() == nil {
				span.SetAttributes(semconv.GenAIUsageInputTokens(in), semconv.GenAIUsageOutputTokens(out),
					semconv.GenAIResponseModel(e.cfg.Model), semconv.GenAIResponseFinishReasons("stop"))
			}
		}()
	}
	if err := sleep(ctx, lat); err != nil {
		return fmt.Errorf("%s: %w", tool, err)
	}
	if fail {
		return fmt.Errorf("%s: simulated failure", tool)
	}
	return nil
}

func toolOutput(tool string, task env.Task) string {
	switch tool {
	case ToolCalculator:
		var sum float64
		for _, r := range task.Readings {
			sum += r
		}
		return fmt.Sprintf("sum=%.3f", sum)
	case ToolSearch:
		return fmt.Sprintf("%d results for %s", 3+len(task.Readings), task.Kind)
	case ToolHTTPFetch:
		return "200 OK"
	default:
		return "completion for " + task.Kind
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
