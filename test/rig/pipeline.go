package rig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/loadgen"
)

// Names are the Kafka and Elasticsearch names the pipeline uses; the demo
// keeps the product defaults, tests use unique ones.
type Names struct {
	Topic, DLQTopic, Group   string
	IndexPattern, Alias      string // e.g. agentobs-logs-{2006.01.02}, agentobs-logs
	TracesIndex, AlertsIndex string
	Partitions               int
	// SpansTopic carries the live agents' OTLP spans (agent → shipper's
	// OTLP/HTTP receiver → Kafka → indexer → SpansPattern behind
	// SpansAlias); "" runs without spans (agents export none).
	SpansTopic, SpansPattern, SpansAlias string
}

// DefaultNames are the product defaults (PRODUCT.md).
func DefaultNames() Names {
	return Names{Topic: kafkaclient.DefaultTopic, DLQTopic: kafkaclient.DefaultDLQTopic, Group: "agentobs-indexer",
		IndexPattern: "agentobs-logs-{2006.01.02}", Alias: "agentobs-logs", TracesIndex: "agentobs-traces",
		AlertsIndex: "agentobs-alerts", Partitions: 6,
		SpansTopic: kafkaclient.DefaultSpansTopic, SpansPattern: "agentobs-spans-{2006.01.02}", SpansAlias: "agentobs-spans"}
}

// Options configure one local pipeline run.
type Options struct {
	Bins     map[string]string // agent, shipper, indexer, flbhost, flbchunk, plugin (.so); fluent-bit (optional: real Fluent Bit runs the plugin)
	WorkDir  string            // logs, checkpoints, chunk files
	StackDir string            // the local stack's state dir (Prometheus file_sd)
	Brokers  []string
	ESURL    string
	// PrometheusURL, when set, is where the indexer's trace explorer asks
	// for the exemplar trace ids of an alert (-ui.prometheus-url).
	PrometheusURL string
	Names         Names
	RunID         string // unique per run; stamped on every load generator line

	Agents    int     // live agents calling each other (0: none)
	AgentRate float64 // tasks/s per live agent
	// Canary adds one more live agent: a worse canary release of agent-a
	// (same service, track canary, CanaryArgs(true)) on the next port.
	Canary     bool
	Rate       int           // load generator records/s through the shipper (files)
	PluginRate int           // load generator records/s through the plugin host (0: plugin path off)
	Duration   time.Duration // how long traffic flows
	// Extend lets the load generators run up to this much longer than
	// Duration, for a caller that ends traffic itself with StopTraffic (the
	// demo's warm-up lasts until the pipeline has caught up). The flbhost
	// stand-in's pre-made corpus covers Duration only.
	Extend      time.Duration
	Records     int // alternatively: exact records per load generator (0: by Duration)
	RecordSize  int
	Seed        int64
	RotateBytes int64

	// Ports: indexer, shipper, plugin metrics, first agent.
	IndexerAddr, ShipperAddr, PluginAddr string
	AgentBasePort                        int
	Register                             bool // write Prometheus file_sd targets
	// Probe sends one record through shipper → Kafka → indexer →
	// Elasticsearch after those start and before any traffic, and waits
	// until it is searchable (ProbeTook says how long that took).
	Probe bool
}

// Pipeline is a running local pipeline.
type Pipeline struct {
	opt     Options
	Indexer *Proc
	Shipper *Proc
	Agents  []*Proc
	Loadgen *Proc
	Plugin  *Proc // flbhost, or real Fluent Bit
	// PluginLoadgen writes the file real Fluent Bit tails (nil with flbhost,
	// which is handed pre-made chunks).
	PluginLoadgen *Proc
	cleanups      []func()
	started       time.Time
	// ProbeTook is how long the probe record took to become searchable (Options.Probe).
	ProbeTook time.Duration
	warm      warmup
}

// Start launches indexer, shipper, agents, the load generator and the
// plugin host, in the order that loses nothing: consumers before producers.
func Start(ctx context.Context, o Options) (*Pipeline, error) {
	p := &Pipeline{opt: o, started: time.Now()}
	logs := filepath.Join(o.WorkDir, "logs")
	for _, d := range []string{logs, filepath.Join(o.WorkDir, "checkpoints"), filepath.Join(o.WorkDir, "proc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	topics := []kafkaclient.TopicSpec{{Name: o.Names.Topic, Partitions: o.Names.Partitions}, {Name: o.Names.DLQTopic, Partitions: 1}}
	if o.Names.SpansTopic != "" {
		topics = append(topics, kafkaclient.TopicSpec{Name: o.Names.SpansTopic, Partitions: o.Names.Partitions})
	}
	if err := kafkaclient.EnsureTopics(ctx, kafkaConf(o), topics...); err != nil {
		return nil, err
	}
	brokers := strings.Join(o.Brokers, ",")
	plog := func(n string) string { return filepath.Join(o.WorkDir, "proc", n+".log") }

	p.Indexer = &Proc{Name: "indexer", Bin: o.Bins["indexer"], LogPath: plog("indexer"), Args: []string{"run",
		"-kafka.brokers", brokers, "-kafka.topic", o.Names.Topic, "-kafka.dlq-topic", o.Names.DLQTopic, "-kafka.group", o.Names.Group,
		"-es.addresses", o.ESURL, "-index.pattern", o.Names.IndexPattern, "-index.alias", o.Names.Alias,
		"-index.traces", o.Names.TracesIndex, "-index.alerts", o.Names.AlertsIndex, "-http.addr", o.IndexerAddr,
		"-kafka.start-offset", "earliest", "-kafka.spans-topic", o.Names.SpansTopic}}
	if o.Names.SpansTopic != "" {
		p.Indexer.Args = append(p.Indexer.Args, "-index.spans", o.Names.SpansPattern, "-index.spans-alias", o.Names.SpansAlias)
	}
	if o.PrometheusURL != "" {
		p.Indexer.Args = append(p.Indexer.Args, "-ui.prometheus-url", o.PrometheusURL)
	}
	if err := p.startReady(ctx, p.Indexer, "http://"+o.IndexerAddr+"/readyz", 90*time.Second); err != nil {
		return p, err
	}

	p.Shipper = &Proc{Name: "shipper", Bin: o.Bins["shipper"], LogPath: plog("shipper"), Args: []string{
		"-kafka.brokers", brokers, "-kafka.topic", o.Names.Topic, "-kafka.dlq-topic", o.Names.DLQTopic,
		"-files.include", filepath.Join(logs, "*.log*"), "-files.checkpoint-dir", filepath.Join(o.WorkDir, "checkpoints"),
		"-files.start-at", "beginning", "-files.poll-interval", "200ms", "-http.addr", o.ShipperAddr}}
	if o.Names.SpansTopic != "" { // the agents' OTLP spans arrive on the shipper's OTLP/HTTP receiver
		p.Shipper.Args = append(p.Shipper.Args, "-http.ingest", "-otlp.spans-topic", o.Names.SpansTopic)
	}
	if err := p.startReady(ctx, p.Shipper, "http://"+o.ShipperAddr+"/readyz", 60*time.Second); err != nil {
		return p, err
	}

	if o.Probe {
		d, err := p.probeRoundTrip(ctx, 90*time.Second)
		if err != nil {
			return p, err
		}
		p.ProbeTook = d
	}

	for i := 0; i < o.Agents; i++ {
		name := fmt.Sprintf("agent-%c", 'a'+i)
		a := &Proc{Name: name, Bin: o.Bins["agent"], LogPath: plog(name), Stdout: filepath.Join(logs, name+".log"), Args: []string{"serve",
			"-name", name, "-id", o.RunID + "-" + name, "-http.addr", fmt.Sprintf("127.0.0.1:%d", o.AgentBasePort+i),
			"-env.rate", strconv.FormatFloat(o.AgentRate, 'f', -1, 64), "-env.seed", strconv.FormatInt(o.Seed+int64(i), 10),
			"-policy.kind", "epsilon_greedy"}}
		a.Args = append(a.Args, StableArgs()...)
		if o.Names.SpansTopic != "" {
			a.Args = append(a.Args, "-otlp.endpoint", "http://"+o.ShipperAddr)
		}
		if o.Agents > 1 { // each agent may delegate to the next: traces cross services
			next := (i + 1) % o.Agents
			a.Args = append(a.Args, "-tools.peers", fmt.Sprintf("agent-%c=http://127.0.0.1:%d", 'a'+next, o.AgentBasePort+next))
		}
		p.Agents = append(p.Agents, a)
	}
	if o.Canary && o.Agents > 0 {
		// Stable agent-a's flags, then the canary's: later flags win.
		c := &Proc{Name: "agent-a-canary", Bin: o.Bins["agent"], LogPath: plog("agent-a-canary"), Stdout: filepath.Join(logs, "agent-a-canary.log")}
		c.Args = append(append([]string(nil), p.Agents[0].Args...), CanaryArgs(true)...)
		for i, arg := range c.Args {
			switch {
			case i > 0 && c.Args[i-1] == "-id":
				c.Args[i] = o.RunID + "-agent-a-canary"
			case i > 0 && c.Args[i-1] == "-http.addr":
				c.Args[i] = fmt.Sprintf("127.0.0.1:%d", o.AgentBasePort+o.Agents)
			case i > 0 && c.Args[i-1] == "-env.seed":
				c.Args[i] = strconv.FormatInt(o.Seed+int64(o.Agents), 10)
			default:
				c.Args[i] = arg
			}
		}
		p.Agents = append(p.Agents, c)
	}
	for i, a := range p.Agents {
		if err := p.startReady(ctx, a, fmt.Sprintf("http://127.0.0.1:%d/readyz", o.AgentBasePort+i), 30*time.Second); err != nil {
			return p, err
		}
	}

	p.Loadgen = &Proc{Name: "loadgen", Bin: o.Bins["agent"], LogPath: plog("loadgen"), Args: p.loadgenArgs(o.Seed, o.Rate, o.RunID,
		filepath.Join(logs, "loadgen.log"), filepath.Join(o.WorkDir, "loadgen-report.json"))}
	if o.RotateBytes > 0 {
		p.Loadgen.Args = append(p.Loadgen.Args, "-rotate-bytes", strconv.FormatInt(o.RotateBytes, 10))
	}
	if err := p.Loadgen.Start(); err != nil {
		return p, err
	}
	if o.PluginRate > 0 {
		if err := p.startPlugin(ctx); err != nil {
			return p, err
		}
	}
	if o.Register {
		p.register()
	}
	return p, nil
}

func (p *Pipeline) loadgenArgs(seed int64, rate int, runID, out, report string) []string {
	args := []string{"loadgen", "-seed", strconv.FormatInt(seed, 10), "-rate", strconv.Itoa(rate), "-run-id", runID,
		"-output", out, "-report", report, "-trace-id-sample", "20"}
	if p.opt.Records > 0 {
		args = append(args, "-records", strconv.Itoa(p.opt.Records), "-duration", "0")
	} else {
		args = append(args, "-duration", (p.opt.Duration + p.opt.Extend).String())
	}
	if p.opt.RecordSize > 0 {
		args = append(args, "-record-size", strconv.Itoa(p.opt.RecordSize))
	}
	return args
}

func (p *Pipeline) startReady(ctx context.Context, pr *Proc, readyURL string, timeout time.Duration) error {
	if err := pr.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := WaitHTTP(ctx, readyURL, time.Second)
		if err == nil {
			return nil
		}
		if !pr.Running() || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not become ready (%v); its log ends:\n%s", pr.Name, err, pr.Tail(20))
		}
	}
}

func (p *Pipeline) register() {
	o := p.opt
	add := func(name, job string, addrs ...string) {
		if f, err := RegisterTargets(o.StackDir, "demo-"+name, job, addrs...); err == nil {
			p.cleanups = append(p.cleanups, f)
		}
	}
	add("indexer", "agentobs-indexer", o.IndexerAddr)
	add("shipper", "agentobs-shipper", o.ShipperAddr)
	var agents []string
	for i := range p.Agents {
		agents = append(agents, fmt.Sprintf("127.0.0.1:%d", o.AgentBasePort+i))
	}
	if len(agents) > 0 {
		add("agents", "agentobs-agent", agents...)
	}
	if o.PluginRate > 0 {
		add("collector", "agentobs-collector", o.PluginAddr)
	}
}

// Uptime is how long the pipeline has run.
func (p *Pipeline) Uptime() time.Duration { return time.Since(p.started) }

// LoadgenDone reports whether the file load generator finished (its report exists).
func (p *Pipeline) LoadgenDone() bool { return p.Loadgen == nil || !p.Loadgen.Running() }

// PluginDone reports whether the plugin path finished its traffic:
// flbhost exited after its chunks, or (real Fluent Bit, which keeps
// running until Close) its load generator finished writing.
func (p *Pipeline) PluginDone() bool {
	if p.PluginLoadgen != nil {
		return !p.PluginLoadgen.Running()
	}
	return p.Plugin == nil || !p.Plugin.Running()
}

// StopTraffic stops the live agents (graceful: their last lines are
// written) and the load generators.
func (p *Pipeline) StopTraffic() {
	for _, a := range p.Agents {
		_ = a.Stop()
	}
	p.StopLoadgens()
}

// StopLoadgens stops the load generators (graceful: their reports count
// what they wrote); the live agents go on.
func (p *Pipeline) StopLoadgens() {
	for _, l := range []*Proc{p.Loadgen, p.PluginLoadgen} {
		if l != nil && l.Running() {
			_ = l.Stop()
		}
	}
}

// Close stops everything: producers first, then the shipper (final
// checkpoints), then the indexer (final commit).
func (p *Pipeline) Close() error {
	var errs []error
	p.StopTraffic()
	if p.Plugin != nil && p.Plugin.Running() {
		errs = append(errs, p.Plugin.Stop())
	}
	if p.Shipper != nil {
		errs = append(errs, p.Shipper.Stop())
	}
	if p.Indexer != nil {
		errs = append(errs, p.Indexer.Stop())
	}
	for _, f := range p.cleanups {
		f()
	}
	return errors.Join(errs...)
}

// LoadgenReports reads the load generators' reports (file path, plugin path).
func (p *Pipeline) LoadgenReports() (files, plugin *loadgen.Report, err error) {
	read := func(path string) (*loadgen.Report, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var r loadgen.Report
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &r, nil
	}
	files, err = read(filepath.Join(p.opt.WorkDir, "loadgen-report.json"))
	if err != nil {
		return nil, nil, err
	}
	if p.opt.PluginRate > 0 {
		plugin, err = read(filepath.Join(p.opt.WorkDir, "plugin-report.json"))
	}
	return files, plugin, err
}

// AgentLines counts the JSON lines the live agents wrote.
func (p *Pipeline) AgentLines() (int64, error) {
	var n int64
	for _, a := range p.Agents {
		b, err := os.ReadFile(a.Stdout)
		if err != nil {
			return 0, err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(l) != "" {
				n++
			}
		}
	}
	return n, nil
}

func kafkaConf(o Options) kafkaclient.Config {
	c := kafkaclient.DefaultConfig()
	c.Brokers = o.Brokers
	c.ClientID = "agentobs-pipeline"
	return c
}
