package agent

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentobs/agentobs/agent/internal/env"
	"github.com/agentobs/agentobs/agent/internal/executor"
	"github.com/agentobs/agentobs/agent/internal/policy"
)

// Task sources and outcomes, the closed label sets of the task metrics.
const (
	SourceEnv  = "env"  // the simulated environment's stream
	SourceHTTP = "http" // POST /tasks from a user
	SourcePeer = "peer" // POST /tasks from a peer agent (depth ≥ 1)

	TaskSuccess  = "success"
	TaskError    = "error"
	TaskCanceled = "canceled"
	TaskRejected = "rejected" // queue full or draining
)

var (
	taskSources  = []string{SourceEnv, SourceHTTP, SourcePeer}
	taskOutcomes = []string{TaskSuccess, TaskError, TaskCanceled, TaskRejected}
	// durationBuckets span 1ms to about 24s, covering a calculator call up
	// to a slow multi-step task with a delegation.
	durationBuckets = prometheus.ExponentialBuckets(0.001, 2.5, 12)
)

// metrics are the agent's Prometheus metrics; agent/METRICS.md lists them.
// Every closed label set is pre-created at 0 so that rate() and alerts see
// a series before its first event.
type metrics struct {
	tasksReceived *prometheus.CounterVec
	tasks         *prometheus.CounterVec
	taskDuration  prometheus.Histogram
	inFlight      prometheus.Gauge
	steps         prometheus.Counter
	stepDuration  prometheus.Histogram
	lastStep      prometheus.Gauge
	percepts      *prometheus.CounterVec
	decisions     *prometheus.CounterVec
	toolCalls     *prometheus.CounterVec
	toolDuration  *prometheus.HistogramVec
	tokens        *prometheus.CounterVec
	peerCalls     *prometheus.CounterVec
	peerDuration  prometheus.Histogram
	policyInfo    *prometheus.GaugeVec
	reloads       *prometheus.CounterVec
	reloadSuccess prometheus.Gauge
	queueDepth    prometheus.GaugeFunc
	queueCapacity prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, queueLen func() float64) *metrics {
	const ns, sub = "agentobs", "agent"
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
	}
	hist := func(name, help string) prometheus.HistogramOpts {
		return prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help, Buckets: durationBuckets}
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &metrics{
		tasksReceived: counter("tasks_received_total", "Tasks offered to the agent, by source (env, http, peer).", "source"),
		tasks:         counter("tasks_total", "Tasks finished, by outcome (success, error, canceled, rejected).", "outcome"),
		taskDuration:  prometheus.NewHistogram(hist("task_duration_seconds", "Time from accepting a task to finishing it, queueing included.")),
		inFlight:      gauge("tasks_in_flight", "Tasks a worker is processing now."),
		steps:         prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "steps_total", Help: "Perceive-decide-act steps completed."}),
		stepDuration:  prometheus.NewHistogram(hist("step_duration_seconds", "Duration of one perceive-decide-act step.")),
		lastStep:      gauge("last_step_timestamp_seconds", "Unix time of the last completed step; alert when it stops advancing."),
		percepts:      counter("percepts_total", "Readings seen by perception, by result of the noise filter (kept, dropped).", "result"),
		decisions:     counter("decisions_total", "Decisions of the decision engine, by policy and choice (explore, exploit).", "policy", "choice"),
		toolCalls:     counter("tool_calls_total", "Tool calls, by tool and outcome (success, error, timeout, canceled).", "tool", "outcome"),
		toolDuration:  prometheus.NewHistogramVec(hist("tool_duration_seconds", "Duration of a tool call, by tool."), []string{"tool"}),
		tokens:        counter("tokens_total", "LLM tokens used by llm_call, by direction (input, output).", "direction"),
		peerCalls:     counter("peer_calls_total", "Delegations to peer agents, by outcome (success, error, timeout, canceled, rejected).", "outcome"),
		peerDuration:  prometheus.NewHistogram(hist("peer_call_duration_seconds", "Duration of a delegation to a peer agent, its work included.")),
		policyInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "policy_info",
			Help: "1 for the policy in use, 0 for the others."}, []string{"policy"}),
		reloads:       counter("config_reloads_total", "Configuration reloads (SIGHUP), by outcome (success, failure).", "outcome"),
		reloadSuccess: gauge("config_last_reload_successful", "1 if the last configuration reload succeeded (or none happened), else 0."),
		queueDepth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "queue_depth",
			Help: "Tasks accepted and waiting for a worker."}, queueLen),
		queueCapacity: gauge("queue_capacity", "Capacity of the task queue; queue_depth / queue_capacity is saturation."),
	}
	for _, s := range taskSources {
		m.tasksReceived.WithLabelValues(s)
	}
	for _, o := range taskOutcomes {
		m.tasks.WithLabelValues(o)
	}
	for _, r := range []string{"kept", "dropped"} {
		m.percepts.WithLabelValues(r)
	}
	for _, p := range policy.Kinds {
		m.policyInfo.WithLabelValues(p)
		for _, c := range policy.Choices {
			m.decisions.WithLabelValues(p, c)
		}
	}
	for _, t := range executor.Tools {
		m.toolDuration.WithLabelValues(t)
		for _, o := range executor.ToolOutcomes {
			m.toolCalls.WithLabelValues(t, o)
		}
	}
	for _, d := range []string{"input", "output"} {
		m.tokens.WithLabelValues(d)
	}
	for _, o := range executor.PeerOutcomes {
		m.peerCalls.WithLabelValues(o)
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	m.reloadSuccess.Set(1)
	if reg != nil {
		reg.MustRegister(m.tasksReceived, m.tasks, m.taskDuration, m.inFlight, m.steps, m.stepDuration,
			m.lastStep, m.percepts, m.decisions, m.toolCalls, m.toolDuration, m.tokens, m.peerCalls,
			m.peerDuration, m.policyInfo, m.reloads, m.reloadSuccess, m.queueDepth, m.queueCapacity)
	}
	return m
}

// observe records v in a histogram with the trace id of ctx's span as
// exemplar, so a latency graph links to the slow trace (OpenMetrics
// exemplars; only sampled spans, since only those reach a trace backend).
func observe(o prometheus.Observer, ctx context.Context, v float64) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": sc.TraceID().String()})
			return
		}
	}
	o.Observe(v)
}

func (m *metrics) setPolicy(name string) {
	for _, p := range policy.Kinds {
		v := 0.0
		if p == name {
			v = 1
		}
		m.policyInfo.WithLabelValues(p).Set(v)
	}
}

func (m *metrics) perceived(p env.Percept) {
	m.percepts.WithLabelValues("kept").Add(float64(p.Kept))
	m.percepts.WithLabelValues("dropped").Add(float64(p.Dropped))
}

// ToolCall, Tokens and PeerCall implement executor.Observer.
func (m *metrics) ToolCall(ctx context.Context, tool, outcome string, d time.Duration) {
	m.toolCalls.WithLabelValues(tool, outcome).Inc()
	observe(m.toolDuration.WithLabelValues(tool), ctx, d.Seconds())
}

func (m *metrics) Tokens(in, out int) {
	m.tokens.WithLabelValues("input").Add(float64(in))
	m.tokens.WithLabelValues("output").Add(float64(out))
}

func (m *metrics) PeerCall(ctx context.Context, outcome string, d time.Duration) {
	m.peerCalls.WithLabelValues(outcome).Inc()
	observe(m.peerDuration, ctx, d.Seconds())
}
