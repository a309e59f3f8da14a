package main

import (
	"flag"
	"strings"
	"time"

	"github.com/agentobs/agentobs/agent/internal/agent"
	"github.com/agentobs/agentobs/agent/internal/executor"
	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/internal/tracing"
)

// serveConfig is the configuration of `agent serve`. Each flag's name is
// also its YAML path (policy.epsilon ⇒ policy: {epsilon: …}) and, with the
// AGENT_ prefix, its environment variable (AGENT_POLICY_EPSILON).
type serveConfig struct {
	LogLevel    string
	HTTPAddr    string
	Healthcheck bool
	OTLP        tracing.OTLPExport
	Agent       agent.Config
}

func bindServe(fs *flag.FlagSet, c *serveConfig) {
	*c = serveConfig{LogLevel: "info", HTTPAddr: ":8080", Agent: agent.DefaultConfig()}
	a := &c.Agent
	fs.StringVar(&c.LogLevel, "log.level", c.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&c.HTTPAddr, "http.addr", c.HTTPAddr, "listen address of /tasks, /metrics, /healthz and /readyz")
	fs.BoolVar(&c.Healthcheck, "healthcheck", false, "GET this agent's own /readyz on http.addr and exit 0 if ready, 1 if not (for shell-less images)")
	tracing.BindOTLP(fs, &c.OTLP)
	fs.StringVar(&a.Name, "name", a.Name, "agent name: service.name and gen_ai.agent.name")
	fs.StringVar(&a.ID, "id", a.ID, "agent instance id: gen_ai.agent.id and service.instance.id (default the host name)")
	fs.StringVar(&a.Version, "release.version", a.Version, "service.version on logs and spans and the version label of every metric: the release this agent runs (default: the build's version)")
	fs.StringVar(&a.Track, "release.track", a.Track, "release track: stable or canary (the track label of every metric, agent.track on logs and spans)")
	fs.IntVar(&a.Workers, "workers", a.Workers, "tasks processed concurrently")
	fs.IntVar(&a.QueueSize, "queue-size", a.QueueSize, "tasks waiting for a worker; beyond it tasks are rejected with 429")
	fs.DurationVar(&a.DrainTimeout, "drain-timeout", a.DrainTimeout, "on SIGTERM, how long in-flight tasks may finish before they are cancelled")

	fs.Int64Var(&a.Env.Seed, "env.seed", a.Env.Seed, "seed of the simulated task stream")
	fs.Float64Var(&a.Env.Rate, "env.rate", a.Env.Rate, "tasks per second from the simulated environment; 0 takes tasks only over HTTP")
	fs.IntVar(&a.Env.Readings, "env.readings", a.Env.Readings, "noisy readings per task")
	fs.Float64Var(&a.Env.Noise, "env.noise", a.Env.Noise, "standard deviation of the readings' Gaussian noise")
	fs.Float64Var(&a.Env.SpikeRate, "env.spike-rate", a.Env.SpikeRate, "probability that a reading is an outlier the filter must drop")
	fs.IntVar(&a.Env.MaxSteps, "env.max-steps", a.Env.MaxSteps, "maximum perceive-decide-act steps per task")

	fs.StringVar(&a.Policy.Kind, "policy.kind", a.Policy.Kind, "decision policy: threshold or epsilon_greedy (reloadable on SIGHUP)")
	fs.Float64Var(&a.Policy.Threshold, "policy.threshold", a.Policy.Threshold, "threshold policy: exploit when the recent percept average is at or above this (reloadable)")
	fs.IntVar(&a.Policy.Window, "policy.window", a.Policy.Window, "threshold policy: how many recent percepts are averaged (reloadable)")
	fs.Float64Var(&a.Policy.Epsilon, "policy.epsilon", a.Policy.Epsilon, "epsilon_greedy: exploration probability (reloadable)")
	config.NewStringList(fs, &a.Policy.Arms, "policy.arms", nil, "arms the policy may choose (tools and delegate); empty: every tool, plus delegate when peers are set (reloadable)")
	fs.Int64Var(&a.Policy.Seed, "policy.seed", a.Policy.Seed, "seed of the policy's exploration (reloadable)")

	for _, name := range executor.Tools {
		t := toolConfig(&a.Executor, name)
		p := "tools." + name + "."
		fs.DurationVar(&t.Latency, p+"latency", t.Latency, "median latency of "+name)
		fs.Float64Var(&t.Spread, p+"spread", t.Spread, "log-normal sigma of "+name+"'s latency (0: constant)")
		fs.Float64Var(&t.FailureRate, p+"failure-rate", t.FailureRate, "probability that a "+name+" call fails")
		fs.DurationVar(&t.Timeout, p+"timeout", t.Timeout, "timeout of a "+name+" call")
	}
	fs.StringVar(&a.Executor.Model, "tools.model", a.Executor.Model, "simulated model name of llm_call (gen_ai.request.model)")
	config.NewStringList(fs, &a.Executor.Peers, "tools.peers", nil, "peer agents to delegate to: URL or name=URL, comma separated")
	fs.DurationVar(&a.Executor.PeerTimeout, "tools.peer-timeout", a.Executor.PeerTimeout, "timeout of one delegation, the peer's work included")
	fs.IntVar(&a.Executor.MaxDepth, "tools.max-depth", a.Executor.MaxDepth, "delegation hops a task may take")
	fs.Int64Var(&a.Executor.Seed, "tools.seed", a.Executor.Seed, "seed of simulated latencies, failures and token counts")
	acceptUnderscores(fs)
}

// acceptUnderscores accepts the agent's old flag spellings with underscores
// (-env.max_steps for -env.max-steps), with a warning: the agent's flags
// are dashed like every other binary's since this release.
func acceptUnderscores(fs *flag.FlagSet) {
	var dashed []string
	fs.VisitAll(func(f *flag.Flag) {
		if strings.Contains(f.Name, "-") {
			dashed = append(dashed, f.Name)
		}
	})
	for _, name := range dashed {
		config.Renamed(fs, strings.ReplaceAll(name, "-", "_"), name)
	}
}

func toolConfig(c *executor.Config, name string) *executor.ToolConfig {
	switch name {
	case executor.ToolSearch:
		return &c.Search
	case executor.ToolCalculator:
		return &c.Calculator
	case executor.ToolHTTPFetch:
		return &c.HTTPFetch
	default:
		return &c.LLMCall
	}
}

// loadgenConfig is the configuration of `agent loadgen` (env prefix LOADGEN).
type loadgenConfig struct {
	Output string
	Report string
	Gen    loadgen.Config
}

func bindLoadgen(fs *flag.FlagSet, c *loadgenConfig) {
	c.Gen = loadgen.DefaultConfig()
	g := &c.Gen
	fs.StringVar(&c.Output, "output", "-", "where lines go: - for stdout, or a file path (appended to)")
	fs.StringVar(&c.Report, "report", "-", "where the JSON report goes: - for stderr, or a file path")
	fs.Int64Var(&g.Seed, "seed", g.Seed, "seed: the same seed and start time give byte-identical output")
	fs.IntVar(&g.Rate, "rate", 10000, "target records per second; 0 is as fast as possible")
	fs.Int64Var(&g.Records, "records", 0, "stop after this many records (0: stop by duration)")
	fs.DurationVar(&g.Duration, "duration", 10*time.Second, "stop after this long (0 with records 0: until SIGTERM)")
	config.NewStringList(fs, &g.Services, "services", g.Services, "agent services the traces travel through")
	fs.IntVar(&g.RecordSize, "record-size", 0, "approximate bytes per line, padded with a text field (0: natural size)")
	fs.Float64Var(&g.ErrorRate, "error-rate", g.ErrorRate, "fraction of traces that fail (a WARN tool failure and an ERROR record)")
	fs.Float64Var(&g.NoTraceRate, "no-trace-rate", g.NoTraceRate, "fraction of lines without trace context")
	fs.IntVar(&g.Concurrency, "concurrency", g.Concurrency, "traces in progress at once (their lines interleave)")
	fs.StringVar(&g.RunID, "run-id", "", `value of loadgen.run_id on every line (default "run-<seed>")`)
	fs.Int64Var(&g.RotateBytes, "rotate-bytes", 0, "with -output FILE: rotate FILE to FILE.1, FILE.2, … past this size (0: never)")
	fs.IntVar(&g.TraceIDSample, "trace-id-sample", g.TraceIDSample, "how many trace ids the report lists")
	acceptUnderscores(fs)
}
