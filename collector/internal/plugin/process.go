package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentobs/agentobs/collector/collectormetrics"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/internal/telemetry"
)

// Process is what every output instance of one Fluent Bit process shares:
// the metrics registry, the metrics listeners (one per distinct
// Metrics_Addr) and the list of instances to close on exit. Fluent Bit calls
// FLBPluginInit once per [OUTPUT] section, possibly with different
// Metrics_Addr values; a collector metric registered twice would panic, so
// registration happens once here.
type Process struct {
	logOut io.Writer

	mu      sync.Mutex
	reg     *prometheus.Registry
	metrics *collectormetrics.Metrics
	servers map[string]*serverRun
	// outputs are the live instances: Init adds, CloseOutput and Exit
	// remove, so a hot reload (every instance closed, then the new
	// configuration initialised in the same process) starts from none.
	outputs []*Output
	// readyExported: agentobs_collector_ready is registered with the first
	// listener. Every listener of the process turns ready at the same time
	// (when it starts serving) and the registry is shared, so one gauge
	// answers for the process.
	readyExported bool
	// memLimit and gcPercent are the Go runtime settings this process made
	// (0: none yet).
	memLimit, gcPercent int64
}

type serverRun struct {
	srv    *telemetry.Server
	pprof  bool // /debug/pprof mounted (Debug_Pprof of any instance on it)
	cancel context.CancelFunc
	done   chan struct{}
}

// NewProcess returns the shared state; logs go to logOut (Fluent Bit's
// stderr, which is its log unless redirected).
func NewProcess(logOut io.Writer) *Process {
	if logOut == nil {
		logOut = os.Stderr
	}
	return &Process{logOut: logOut, servers: map[string]*serverRun{}}
}

// Registry is the shared metrics registry.
func (p *Process) Registry() *prometheus.Registry {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ensureMetrics()
	return p.reg
}

func (p *Process) ensureMetrics() {
	if p.reg == nil {
		p.reg = telemetry.NewRegistry()
		p.metrics = collectormetrics.New(p.reg, record.DefaultContentFields)
	}
}

// Init parses one instance's properties and builds it (no connection to
// Kafka yet). The error names every bad property; the caller returns
// FLB_ERROR from FLBPluginInit with it, and Fluent Bit stops.
func (p *Process) Init(g ConfigGetter) (*Output, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seq := 0
	for p.uses(DefaultInstance(seq)) {
		seq++
	}
	cfg, err := ParseConfig(g, seq)
	if err != nil {
		return nil, fmt.Errorf("agentobs output: invalid configuration:\n%w", err)
	}
	if p.uses(cfg.Instance) {
		return nil, fmt.Errorf("agentobs output: Instance %q is used by two [OUTPUT] sections; give each its own", cfg.Instance)
	}
	logger, err := telemetry.NewLogger(p.logOut, cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("agentobs output: %w", err)
	}
	logger = logger.With("component", "collector")
	p.applyGoRuntime(cfg, logger)
	p.ensureMetrics()
	if cfg.MetricsAddr != "" && p.servers[cfg.MetricsAddr] == nil {
		srv := telemetry.NewServer(cfg.MetricsAddr, p.reg, logger)
		if err := srv.Listen(); err != nil {
			return nil, fmt.Errorf("agentobs output: Metrics_Addr: %w", err)
		}
		if !p.readyExported {
			if err := srv.ExportReadiness(p.reg, "collector"); err != nil {
				return nil, fmt.Errorf("agentobs output: %w", err)
			}
			p.readyExported = true
		}
		srv.SetReady(true)
		ctx, cancel := context.WithCancel(context.Background())
		run := &serverRun{srv: srv, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(run.done)
			if err := srv.Run(ctx); err != nil {
				logger.Error("metrics listener stopped", "error", err)
			}
		}()
		p.servers[cfg.MetricsAddr] = run
	}
	if s := p.servers[cfg.MetricsAddr]; cfg.DebugPprof && s != nil && !s.pprof {
		s.srv.EnablePprof()
		s.pprof = true
	}
	o, err := New(cfg, Settings{Logger: logger, Metrics: p.metrics})
	if err != nil {
		return nil, fmt.Errorf("agentobs output: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), topicCheckTimeout(cfg))
	err = o.CheckTopics(ctx)
	cancel()
	if err != nil {
		_ = o.Close(context.Background())
		return nil, fmt.Errorf("agentobs output: %w", err)
	}
	p.outputs = append(p.outputs, o)
	logger.Info("output ready", "output", cfg.Instance, "brokers", cfg.Kafka.Brokers, "topic", cfg.Edge.Topic,
		"dlq_topic", cfg.Edge.DLQTopic, "key_strategy", cfg.Edge.KeyStrategy, "required_acks", cfg.Producer.RequiredAcks,
		"compression", cfg.Producer.Compression, "timeout", cfg.Timeout.String(), "tls", cfg.Kafka.TLS.Enabled,
		"sasl", cfg.Kafka.SASL.Mechanism, "metrics_addr", cfg.MetricsAddr, "source", cfg.Source)
	return o, nil
}

// uses reports whether a live output is named instance (p.mu held).
func (p *Process) uses(instance string) bool {
	return slices.ContainsFunc(p.outputs, func(o *Output) bool { return o.cfg.Instance == instance })
}

// MetricsAddr is the bound address of the listener configured as addr.
func (p *Process) MetricsAddr(addr string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.servers[addr]; s != nil {
		return s.srv.Addr()
	}
	return ""
}

// CloseOutput closes one instance (FLBPluginExitCtx) within timeout and
// releases its name. Fluent Bit 5.x calls only FLBPluginExitCtx when the
// plugin exports it, also on a hot reload, and then initialises the new
// configuration in the same process: an instance kept here would make the
// reloaded section's Instance a duplicate and Fluent Bit would exit. The
// metrics listeners stay up for the process's lifetime (a reload keeps
// serving /metrics on the same address).
func (p *Process) CloseOutput(o *Output, timeout time.Duration) error {
	p.mu.Lock()
	p.outputs = slices.DeleteFunc(p.outputs, func(x *Output) bool { return x == o })
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return o.Close(ctx)
}

// Outputs are the names of the live instances, in init order.
func (p *Process) Outputs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	names := make([]string, len(p.outputs))
	for i, o := range p.outputs {
		names[i] = o.cfg.Instance
	}
	return names
}

// Exit closes every instance not closed yet and the metrics listeners
// (FLBPluginExit), all within timeout: Fluent Bit waits for this call.
func (p *Process) Exit(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	p.mu.Lock()
	outputs, servers := p.outputs, p.servers
	p.outputs, p.servers = nil, map[string]*serverRun{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(outputs))
	for i, o := range outputs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = o.Close(ctx) }()
	}
	wg.Wait()
	for _, s := range servers {
		s.cancel()
		select {
		case <-s.done:
		case <-ctx.Done():
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		slog.New(slog.NewJSONHandler(p.logOut, nil)).Error("agentobs output: exit", "error", err)
	}
	return err
}

// applyGoRuntime sets the Go runtime's soft memory limit and GC percent to
// the largest Go_Memory_Limit and Go_GC_Percent of the process's sections,
// each unless its variable (GOMEMLIMIT, GOGC) is set in the environment
// (then the runtime already took it from there).
func (p *Process) applyGoRuntime(cfg Config, log *slog.Logger) {
	for _, s := range []struct {
		key, env string
		value    int64
		set      *int64
		apply    func(int64)
	}{
		{"Go_Memory_Limit", "GOMEMLIMIT", cfg.GoMemoryLimit, &p.memLimit, func(v int64) { debug.SetMemoryLimit(v) }},
		{"Go_GC_Percent", "GOGC", int64(cfg.GoGCPercent), &p.gcPercent, func(v int64) { debug.SetGCPercent(int(v)) }},
	} {
		if s.value <= *s.set {
			continue
		}
		if env := os.Getenv(s.env); env != "" {
			log.Info(s.key+" ignored: "+s.env+" is set in Fluent Bit's environment", "env", env)
			continue
		}
		*s.set = s.value
		s.apply(s.value)
		log.Info("Go runtime setting applied", "key", s.key, "value", s.value)
	}
}
