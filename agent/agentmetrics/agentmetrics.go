// Package agentmetrics builds the Prometheus metrics of the reference agent
// (agent/METRICS.md lists them). The agent (agent/internal/agent) records
// into them; alerts/promcheck builds the same registry to check that alert
// rules and dashboards read only series the agent exports. One constructor,
// so the two cannot drift.
package agentmetrics

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
	// Sources and Outcomes are the closed sets of the source and outcome labels.
	Sources  = []string{SourceEnv, SourceHTTP, SourcePeer}
	Outcomes = []string{TaskSuccess, TaskError, TaskCanceled, TaskRejected}
	// DurationBuckets span 1ms to about 24s, covering a calculator call up
	// to a slow multi-step task with a delegation.
	DurationBuckets = prometheus.ExponentialBuckets(0.001, 2.5, 12)
)

// Metrics are the agent's Prometheus metrics; agent/METRICS.md lists them.
// Every closed label set is pre-created at 0 so that rate() and alerts see
// a series before its first event.
type Metrics struct {
	TasksReceived *prometheus.CounterVec
	Tasks         *prometheus.CounterVec
	TaskDuration  prometheus.Histogram
	InFlight      prometheus.Gauge
	Steps         prometheus.Counter
	StepDuration  prometheus.Histogram
	LastStep      prometheus.Gauge
	Percepts      *prometheus.CounterVec
	Decisions     *prometheus.CounterVec
	ToolCalls     *prometheus.CounterVec
	ToolDuration  *prometheus.HistogramVec
	TokensUsed    *prometheus.CounterVec
	PeerCalls     *prometheus.CounterVec
	PeerDuration  prometheus.Histogram
	PolicyInfo    *prometheus.GaugeVec
	Reloads       *prometheus.CounterVec
	ReloadSuccess prometheus.Gauge
	QueueDepth    prometheus.GaugeFunc
	QueueCapacity prometheus.Gauge
}

// Release is the build an agent runs. Its version and track are constant
// labels of every agent series, so rules and dashboards compare a canary
// with the stable fleet. Both are bounded: one value each per process,
// a validated release name and a closed track set (stable, canary).
type Release struct {
	Version string // service.version, e.g. 1.4.0
	Track   string // stable or canary
}

// Labels are the constant labels a Release adds to every agent series.
func (r Release) Labels() prometheus.Labels {
	return prometheus.Labels{"version": r.Version, "track": r.Track}
}

// New registers the agent metrics on reg (nil: unregistered), each series
// labelled with rel's version and track; queueLen reports the task
// queue's depth at each scrape.
func New(reg prometheus.Registerer, rel Release, queueLen func() float64) *Metrics {
	const ns, sub = "agentobs", "agent"
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
	}
	hist := func(name, help string) prometheus.HistogramOpts {
		return prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help, Buckets: DurationBuckets}
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &Metrics{
		TasksReceived: counter("tasks_received_total", "Tasks offered to the agent, by source (env, http, peer).", "source"),
		Tasks:         counter("tasks_total", "Tasks finished, by outcome (success, error, canceled, rejected).", "outcome"),
		TaskDuration:  prometheus.NewHistogram(hist("task_duration_seconds", "Time from accepting a task to finishing it, queueing included.")),
		InFlight:      gauge("tasks_in_flight", "Tasks a worker is processing now."),
		Steps:         prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "steps_total", Help: "Perceive-decide-act steps completed."}),
		StepDuration:  prometheus.NewHistogram(hist("step_duration_seconds", "Duration of one perceive-decide-act step.")),
		LastStep:      gauge("last_step_timestamp_seconds", "Unix time of the last completed step; alert when it stops advancing."),
		Percepts:      counter("percepts_total", "Readings seen by perception, by result of the noise filter (kept, dropped).", "result"),
		Decisions:     counter("decisions_total", "Decisions of the decision engine, by policy and choice (explore, exploit).", "policy", "choice"),
		ToolCalls:     counter("tool_calls_total", "Tool calls, by tool and outcome (success, error, timeout, canceled).", "tool", "outcome"),
		ToolDuration:  prometheus.NewHistogramVec(hist("tool_duration_seconds", "Duration of a tool call, by tool."), []string{"tool"}),
		TokensUsed:    counter("tokens_total", "LLM tokens used by llm_call, by direction (input, output).", "direction"),
		PeerCalls:     counter("peer_calls_total", "Delegations to peer agents, by outcome (success, error, timeout, canceled, rejected).", "outcome"),
		PeerDuration:  prometheus.NewHistogram(hist("peer_call_duration_seconds", "Duration of a delegation to a peer agent, its work included.")),
		PolicyInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "policy_info",
			Help: "1 for the policy in use, 0 for the others."}, []string{"policy"}),
		Reloads:       counter("config_reloads_total", "Configuration reloads (SIGHUP), by outcome (success, failure).", "outcome"),
		ReloadSuccess: gauge("config_last_reload_successful", "1 if the last configuration reload succeeded (or none happened), else 0."),
		QueueDepth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "queue_depth",
			Help: "Tasks accepted and waiting for a worker."}, queueLen),
		QueueCapacity: gauge("queue_capacity", "Capacity of the task queue; queue_depth / queue_capacity is saturation."),
	}
	for _, s := range Sources {
		m.TasksReceived.WithLabelValues(s)
	}
	for _, o := range Outcomes {
		m.Tasks.WithLabelValues(o)
	}
	for _, r := range []string{"kept", "dropped"} {
		m.Percepts.WithLabelValues(r)
	}
	for _, p := range policy.Kinds {
		m.PolicyInfo.WithLabelValues(p)
		for _, c := range policy.Choices {
			m.Decisions.WithLabelValues(p, c)
		}
	}
	for _, t := range executor.Tools {
		m.ToolDuration.WithLabelValues(t)
		for _, o := range executor.ToolOutcomes {
			m.ToolCalls.WithLabelValues(t, o)
		}
	}
	for _, d := range []string{"input", "output"} {
		m.TokensUsed.WithLabelValues(d)
	}
	for _, o := range executor.PeerOutcomes {
		m.PeerCalls.WithLabelValues(o)
	}
	m.Reloads.WithLabelValues("success")
	m.Reloads.WithLabelValues("failure")
	m.ReloadSuccess.Set(1)
	if reg != nil {
		reg = prometheus.WrapRegistererWith(rel.Labels(), reg)
		reg.MustRegister(m.TasksReceived, m.Tasks, m.TaskDuration, m.InFlight, m.Steps, m.StepDuration,
			m.LastStep, m.Percepts, m.Decisions, m.ToolCalls, m.ToolDuration, m.TokensUsed, m.PeerCalls,
			m.PeerDuration, m.PolicyInfo, m.Reloads, m.ReloadSuccess, m.QueueDepth, m.QueueCapacity)
	}
	return m
}

// Observe records v in a histogram with the trace id of ctx's span as
// exemplar, so a latency graph links to the slow trace (OpenMetrics
// exemplars; only sampled spans, since only those reach a trace backend).
func Observe(o prometheus.Observer, ctx context.Context, v float64) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": sc.TraceID().String()})
			return
		}
	}
	o.Observe(v)
}

// SetPolicy marks name as the policy in use.
func (m *Metrics) SetPolicy(name string) {
	for _, p := range policy.Kinds {
		v := 0.0
		if p == name {
			v = 1
		}
		m.PolicyInfo.WithLabelValues(p).Set(v)
	}
}

// Perceived counts the readings perception kept and dropped.
func (m *Metrics) Perceived(p env.Percept) {
	m.Percepts.WithLabelValues("kept").Add(float64(p.Kept))
	m.Percepts.WithLabelValues("dropped").Add(float64(p.Dropped))
}

// ToolCall, Tokens and PeerCall implement executor.Observer.
func (m *Metrics) ToolCall(ctx context.Context, tool, outcome string, d time.Duration) {
	m.ToolCalls.WithLabelValues(tool, outcome).Inc()
	Observe(m.ToolDuration.WithLabelValues(tool), ctx, d.Seconds())
}

func (m *Metrics) Tokens(in, out int) {
	m.TokensUsed.WithLabelValues("input").Add(float64(in))
	m.TokensUsed.WithLabelValues("output").Add(float64(out))
}

func (m *Metrics) PeerCall(ctx context.Context, outcome string, d time.Duration) {
	m.PeerCalls.WithLabelValues(outcome).Inc()
	Observe(m.PeerDuration, ctx, d.Seconds())
}
