// Package agent is the reference AI agent: a service that runs the classic
// perceive → decide → act loop over tasks from a simulated environment and
// from HTTP (users and peer agents), instrumented the way agentobs wants
// every agent to be.
//
// One task is one trace: an "invoke_agent {name}" span (a server span when
// the task came over HTTP, continuing the caller's W3C trace context) with
// perceive, decide and act spans per step, and the executor's
// execute_tool / chat / invoke_agent spans below act. Every log record is
// written with the context of the span it belongs to, so the telemetry
// trace handler stamps trace_id and span_id on it. Metrics carry trace ids
// as exemplars. agent/METRICS.md lists the metrics.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentobs/agentobs/agent/agentmetrics"
	"github.com/agentobs/agentobs/agent/internal/env"
	"github.com/agentobs/agentobs/agent/internal/executor"
	"github.com/agentobs/agentobs/agent/internal/policy"
)

// Settings are the developer-set dependencies of an agent.
type Settings struct {
	Logger         *slog.Logger                  // default: discard
	Registerer     prometheus.Registerer         // default: metrics are not registered
	TracerProvider trace.TracerProvider          // default: the global provider
	Propagator     propagation.TextMapPropagator // default: the global propagator
	Client         *http.Client                  // for peer calls; default: a new client
}

// ErrRejected is returned by Submit when the queue is full or the agent is
// draining.
var ErrRejected = errors.New("task rejected")

// job is a task travelling from Submit to a worker.
type job struct {
	task   env.Task
	source string
	ctx    context.Context // holds the task's invoke_agent span
	start  time.Time
	done   chan executor.TaskResponse // buffered; nil when nobody waits
}

// Agent runs tasks. New does no I/O; Run processes until its context ends.
type Agent struct {
	cfg     Config
	logger  *slog.Logger
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	metrics *agentmetrics.Metrics
	engine  *policy.Engine
	exec    *executor.Executor
	source  *env.Source

	mu        sync.RWMutex // guards accepting against close(queue)
	accepting bool
	queue     chan *job
	draining  atomic.Bool
	httpIDs   atomic.Uint64
}

// New builds an agent.
func New(cfg Config, set Settings) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.TracerProvider == nil {
		set.TracerProvider = otel.GetTracerProvider()
	}
	if set.Propagator == nil {
		set.Propagator = otel.GetTextMapPropagator()
	}
	logger := slog.New(stepHandler{set.Logger.Handler()}).With(
		slog.String("service.name", cfg.Name), slog.String("service.version", cfg.Version),
		slog.String("agent.track", cfg.Track), slog.String("gen_ai.agent.id", cfg.ID))
	a := &Agent{
		cfg:    cfg,
		logger: logger,
		tracer: set.TracerProvider.Tracer("github.com/agentobs/agentobs/agent"),
		prop:   set.Propagator,
		queue:  make(chan *job, cfg.QueueSize),
		source: env.NewSource(cfg.Env, cfg.ID),
	}
	a.metrics = agentmetrics.New(set.Registerer, agentmetrics.Release{Version: cfg.Version, Track: cfg.Track}, func() float64 { return float64(len(a.queue)) })
	a.metrics.QueueCapacity.Set(float64(cfg.QueueSize))
	engine, err := policy.NewEngine(cfg.Policy, cfg.Arms())
	if err != nil {
		return nil, err
	}
	a.engine = engine
	a.metrics.SetPolicy(engine.Name())
	a.exec, err = executor.New(cfg.Executor, executor.Settings{
		Logger: logger.With("component", "executor"), Tracer: a.tracer, Propagator: a.prop,
		Client: set.Client, Observer: a.metrics,
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Run starts the workers and the environment's task stream, and on ctx's
// end drains: it stops accepting tasks, cancels the queued ones, lets the
// in-flight ones finish for up to DrainTimeout and then cancels them.
func (a *Agent) Run(ctx context.Context) error {
	// Workers use their own context: cancelling it is the last resort of
	// the drain, not the first reaction to SIGTERM.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var workers sync.WaitGroup
	for range a.cfg.Workers {
		workers.Go(func() { a.work(workCtx) })
	}
	a.mu.Lock()
	a.accepting = true
	a.mu.Unlock()
	a.logger.Info("agent started", "workers", a.cfg.Workers, "queue_size", a.cfg.QueueSize,
		"policy", a.engine.Name(), "env.rate", a.cfg.Env.Rate, "peers", len(a.cfg.Executor.Peers))

	if a.cfg.Env.Rate > 0 {
		tick := time.NewTicker(time.Duration(float64(time.Second) / a.cfg.Env.Rate))
		defer tick.Stop()
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-tick.C:
				_ = a.Submit(context.Background(), a.source.Next(), SourceEnv, nil)
			}
		}
	} else {
		<-ctx.Done()
	}

	a.logger.Info("agent draining", "in_flight_timeout", a.cfg.DrainTimeout.String())
	a.draining.Store(true)
	a.mu.Lock()
	a.accepting = false
	close(a.queue)
	a.mu.Unlock()
	finished := make(chan struct{})
	go func() { workers.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(a.cfg.DrainTimeout):
		a.logger.Warn("drain timeout: cancelling in-flight tasks")
		cancelWork()
		<-finished
	}
	a.logger.Info("agent stopped")
	return nil
}

// ReloadPolicy swaps the decision policy (SIGHUP) and counts the reload.
// A failed reload keeps the current policy.
func (a *Agent) ReloadPolicy(cfg policy.Config) error {
	err := cfg.Validate(a.cfg.Arms())
	if err == nil {
		err = a.engine.Reload(cfg)
	}
	if err != nil {
		a.ReloadFailed(err)
		return err
	}
	a.metrics.Reloads.WithLabelValues("success").Inc()
	a.metrics.ReloadSuccess.Set(1)
	a.metrics.SetPolicy(cfg.Kind)
	a.logger.Info("policy reloaded", "policy", cfg.Kind, "threshold", cfg.Threshold,
		"window", cfg.Window, "epsilon", cfg.Epsilon, "arms", fmt.Sprint(cfg.Arms))
	return nil
}

// ReloadFailed counts a reload whose configuration could not be loaded.
func (a *Agent) ReloadFailed(err error) {
	a.metrics.Reloads.WithLabelValues("failure").Inc()
	a.metrics.ReloadSuccess.Set(0)
	a.logger.Error("policy reload failed; keeping the current policy", "error", err.Error())
}

// Accepting reports whether the agent takes tasks: false before Run and
// once draining started. It is the agent's readiness.
func (a *Agent) Accepting() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.accepting
}

// Submit offers a task. parent carries the caller's trace context (for
// tasks from HTTP); done, when not nil, receives the result. The task's
// invoke_agent span starts here, so queueing time is part of the trace.
func (a *Agent) Submit(parent context.Context, task env.Task, source string, done chan executor.TaskResponse) error {
	kind := trace.SpanKindInternal
	if source != SourceEnv {
		kind = trace.SpanKindServer
	}
	ctx, span := a.tracer.Start(parent, "invoke_agent "+a.cfg.Name,
		trace.WithSpanKind(kind),
		trace.WithAttributes(
			semconv.GenAIOperationNameInvokeAgent,
			semconv.GenAIAgentName(a.cfg.Name),
			semconv.GenAIAgentID(a.cfg.ID),
			semconv.GenAIAgentVersion(a.cfg.Version),
			attribute.String("task.id", task.ID),
			attribute.String("task.kind", task.Kind),
			attribute.String("task.source", source),
			attribute.Int("task.depth", task.Depth),
		))
	a.metrics.TasksReceived.WithLabelValues(source).Inc()
	j := &job{task: task, source: source, ctx: ctx, start: time.Now(), done: done}

	a.mu.RLock()
	ok := a.accepting
	if ok {
		select {
		case a.queue <- j:
		default:
			ok = false
		}
	}
	a.mu.RUnlock()
	if !ok {
		a.metrics.Tasks.WithLabelValues(TaskRejected).Inc()
		span.SetStatus(codes.Error, "rejected: queue full or draining")
		span.SetAttributes(semconv.ErrorTypeKey.String(TaskRejected))
		a.logger.WarnContext(ctx, "task rejected", "task.id", task.ID, "task.source", source,
			"queue_depth", len(a.queue), "draining", a.draining.Load())
		span.End()
		return ErrRejected
	}
	a.logger.InfoContext(ctx, "task accepted", "task.id", task.ID, "task.kind", task.Kind,
		"task.source", source, "task.depth", task.Depth, "task.steps", task.Steps)
	return nil
}

func (a *Agent) work(ctx context.Context) {
	for j := range a.queue {
		if a.draining.Load() {
			a.finish(j, TaskCanceled, 0, errors.New("agent draining before the task started"))
			continue
		}
		a.metrics.InFlight.Inc()
		a.process(ctx, j)
		a.metrics.InFlight.Dec()
	}
}

// process runs a task's steps. Its context is the task's span context
// cancelled with the worker's, so a drain timeout cancels the running tool.
func (a *Agent) process(workCtx context.Context, j *job) {
	ctx, cancel := context.WithCancel(j.ctx)
	defer cancel()
	stop := context.AfterFunc(workCtx, cancel)
	defer stop()

	var failed error
	steps := 0
	for step := 1; step <= max(j.task.Steps, 1); step++ {
		if err := ctx.Err(); err != nil {
			a.finish(j, TaskCanceled, steps, err)
			return
		}
		if err := a.step(withStep(ctx, step), j.task, step); err != nil {
			failed = err
		}
		steps++
	}
	switch {
	case ctx.Err() != nil:
		a.finish(j, TaskCanceled, steps, ctx.Err())
	case failed != nil:
		a.finish(j, TaskError, steps, failed)
	default:
		a.finish(j, TaskSuccess, steps, nil)
	}
}

func (a *Agent) finish(j *job, outcome string, steps int, err error) {
	span := trace.SpanFromContext(j.ctx)
	d := time.Since(j.start)
	a.metrics.Tasks.WithLabelValues(outcome).Inc()
	agentmetrics.Observe(a.metrics.TaskDuration, j.ctx, d.Seconds())
	attrs := []any{slog.String("task.id", j.task.ID), slog.String("outcome", outcome), slog.Int("steps", steps),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000)}
	resp := executor.TaskResponse{ID: j.task.ID, Outcome: outcome, Steps: steps}
	if err != nil {
		resp.Error = err.Error()
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(semconv.ErrorTypeKey.String(outcome))
		a.logger.ErrorContext(j.ctx, "task failed", append(attrs, slog.String("error.message", err.Error()))...)
	} else {
		a.logger.InfoContext(j.ctx, "task finished", attrs...)
	}
	span.End()
	if j.done != nil {
		j.done <- resp
	}
}

// step is one perceive → decide → act iteration, each phase its own span.
func (a *Agent) step(ctx context.Context, task env.Task, step int) error {
	start := time.Now()
	stepAttr := attribute.Int("agent.step", step)

	pctx, span := a.tracer.Start(ctx, "perceive", trace.WithAttributes(stepAttr))
	p := env.Perceive(task)
	a.metrics.Perceived(p)
	span.SetAttributes(attribute.Float64("percept.value", p.Value),
		attribute.Int("percept.kept", p.Kept), attribute.Int("percept.dropped", p.Dropped))
	a.logger.DebugContext(pctx, "perceived", "task.kind", p.Kind, "percept.value", round(p.Value),
		"percept.kept", p.Kept, "percept.dropped", p.Dropped)
	span.End()

	dctx, span := a.tracer.Start(ctx, "decide", trace.WithAttributes(stepAttr))
	d := a.engine.Decide(policy.Observation{Kind: p.Kind, Value: p.Value})
	arm := d.Arm
	if arm == policy.ArmDelegate && !a.exec.CanDelegate(task.Depth) {
		// A task already at the delegation limit is done here, with the
		// tool that suits it: two agents delegating to each other must
		// not ping-pong a task forever.
		arm = policy.Preferred[task.Kind]
	}
	name := a.engine.Name()
	a.metrics.Decisions.WithLabelValues(name, d.Choice).Inc()
	span.SetAttributes(attribute.String("policy.name", name), attribute.String("decision.choice", d.Choice),
		attribute.String("decision.action", arm))
	a.logger.InfoContext(dctx, "decided", "policy", name, "decision.choice", d.Choice, "decision.action", arm)
	span.End()

	actx, span := a.tracer.Start(ctx, "act", trace.WithAttributes(stepAttr, attribute.String("decision.action", arm)))
	res := a.exec.Execute(actx, task, arm)
	a.engine.Feedback(d.Arm, reward(res))
	if res.Err != nil {
		span.SetStatus(codes.Error, res.Err.Error())
		span.SetAttributes(semconv.ErrorTypeKey.String(res.Outcome))
	}
	span.End()

	a.metrics.Steps.Inc()
	agentmetrics.Observe(a.metrics.StepDuration, ctx, time.Since(start).Seconds())
	a.metrics.LastStep.SetToCurrentTime()
	return res.Err
}

// reward scores an action for the bandit: 0 for a failure, and for a
// success between 0.5 and 1, less the slower it was (1s or more earns 0.5).
func reward(r executor.Result) float64 {
	if r.Outcome != executor.OutcomeSuccess {
		return 0
	}
	return 1 - 0.5*math.Min(r.Duration.Seconds(), 1)
}

func round(v float64) float64 { return math.Round(v*1000) / 1000 }
