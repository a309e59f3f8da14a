package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/audit"
	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/test/chaos"
	"github.com/agentobs/agentobs/test/faultproxy"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/agentobs/agentobs/test/rig"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/segmentio/kafka-go"
)

// memBound is the stated memory bound: no pipeline process may exceed it
// at any sample during a scenario (indexer defaults: max-pending 100 000,
// 2 workers × 5 MiB batches; shipper: 64 queued batches of 1 MiB).
const memBound = 512 << 20

// chaosRig is one scenario's pipeline: a shipper tailing dir/*.log (or the
// Fluent Bit plugin host as the front door), one or more indexers, Kafka
// (the local stack's or a private broker, optionally behind a fault proxy)
// and Elasticsearch (the shared node or a private one) behind a fault proxy.
type chaosRig struct {
	t     *testing.T
	dir   string
	kafka kafkaclient.Config // indexers, topic admin, dead letters, audit: never through kafkaProxy
	// edgeKafka is what the shipper and the plugin produce to: kafka, or
	// the private broker by way of kafkaProxy.
	edgeKafka  kafkaclient.Config
	kafkaProxy *faultproxy.Proxy
	fbService  []string             // rigOptions.fluentBitService
	broker     *harness.KafkaServer // private broker, when the scenario has one
	esURL      string               // where esProxy forwards and the audit reads
	topic      string
	spansTopic string // "" without spans
	dlq        string
	group      string
	names      schema.Names
	es         *elasticsearch.Client // direct, for counting
	esProxy    *faultproxy.Proxy
	indexers   []*proc
	shipper    *proc
	plugin     *proc // the Fluent Bit plugin host, when it is the front door
	front      *proc // whose acknowledged records the ledger counts: shipper or plugin
	ledger     *chaos.Ledger
	extraIdx   []string          // extra indexer flags
	privateES  *harness.ESServer // the Elasticsearch node, when private
	files      *logFile          // the scheduled runs' tailed file
	slow       slowClients
	steps      []stepRun // the schedule's steps as they ran (mu)
	// indexerStarts: when an indexer (re)started (mu); a fresh process
	// is not blamed for a stall that began before it existed.
	indexerStarts []time.Time
	// copyTruncated: a copytruncate happened while the shipper was down
	// (lossy by design; the loss must be reported by the shipper).
	copyTruncated bool
	auditRefused  int64 // refused to their clients, by the last audit

	mu       sync.Mutex
	ackedOld float64 // acked by earlier shipper incarnations
	ackedCur float64
	stop     chan struct{}
	sampled  sync.WaitGroup
}

// proc is a pipeline process with its metrics address.
type proc struct {
	*rig.Proc
	addr string
	kind string
	// counters of interest (indexerCounters), summed over the process's
	// incarnations: old holds the finished ones, cur the running one (mu).
	old, cur map[string]float64
}

// indexerCounters are the indexer counters a ledger notes: records
// indexed again (409: redeliveries after kills and restarts) and records
// skipped below the group's committed offset (a rewind after a broker
// restart, see indexer/app/source.go).
var indexerCounters = []string{"agentobs_indexer_duplicates_total", "agentobs_indexer_rewind_skipped_total"}

// shipperCounters are the shipper's copytruncate loss reports (reason
// truncated), summed over its incarnations: a shipper killed after it
// reported a loss starts again at 0.
var shipperCounters = []string{"agentobs_shipper_files_undrained_total", "agentobs_shipper_undrained_bytes_total"}

// counter is a counter summed over p's incarnations.
func (r *chaosRig) counter(p *proc, name string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return p.old[name] + p.cur[name]
}

// ackMetric is the counter of records Kafka acknowledged, by kind.
var ackMetric = map[string]string{"shipper": "agentobs_shipper_records_produced_total", "collector": "agentobs_collector_records_produced_total"}

type rigOptions struct {
	private *harness.KafkaServer // nil: the local stack's Kafka
	// kafkaProxy fronts private (which advertises it): the shipper and the
	// plugin produce through it, the indexers and the bookkeeping do not.
	kafkaProxy  *faultproxy.Proxy
	es          *harness.ESServer // nil: the local stack's Elasticsearch
	partitions  int
	indexers    int
	indexerArgs []string
	// glob is what the shipper tails in dir/logs (default *.log*: rotated
	// files too); the scheduled runs use *.log, so a rotated app.log.N is
	// outside it, as with most real configurations.
	glob string
	// ingest turns on the shipper's POST /v1/logs (the slow-client target).
	ingest bool
	// shipperArgs are added to the shipper's flags.
	shipperArgs []string
	// topicLate: the indexers start this long before the records topic
	// exists (private broker only); the shipper starts after it is created.
	topicLate time.Duration
	// spans: the run also sends OTLP spans through the shipper (HTTP
	// ingest on) to a spans topic the indexers index, and the ledger
	// counts them too.
	spans bool
	// fluentBitService are lines added to real Fluent Bit's [SERVICE]
	// section (fluentBitLoad).
	fluentBitService []string
}

func newRig(t *testing.T, name, fault string, o rigOptions) *chaosRig {
	t.Helper()
	es := harness.RequireES(t)
	esURL := harness.ESURL()
	if o.es != nil {
		var err error
		esURL = o.es.URL()
		if es, err = o.es.Config("", "").NewClient(); err != nil {
			t.Fatal(err)
		}
	}
	if o.partitions == 0 {
		o.partitions = 6
	}
	if o.indexers == 0 {
		o.indexers = 1
	}
	if o.glob == "" {
		o.glob = "*.log*"
	}
	r := &chaosRig{t: t, dir: t.TempDir(), es: es, esURL: esURL, kafkaProxy: o.kafkaProxy, fbService: o.fluentBitService, names: schema.WithPrefix(harness.Index(t)), group: harness.Name(t, "g"),
		extraIdx: o.indexerArgs, stop: make(chan struct{}), privateES: o.es,
		ledger: &chaos.Ledger{Scenario: name, AuditMissing: -1, Fault: fault, Poison: map[string]int64{}, DeadLetters: map[string]int64{},
			PeakRSS: map[string]float64{}, MemBound: memBound}}
	t.Cleanup(func() { schema.Uninstall(context.Background(), es, r.names) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if o.private != nil {
		r.broker = o.private
		r.kafka, r.edgeKafka = o.private.DirectConfig(), o.private.PlainConfig()
		r.topic, r.dlq = harness.Name(t, "t"), harness.Name(t, "dlq")
		specs := []kafkaclient.TopicSpec{{Name: r.dlq, Partitions: 3}}
		if o.topicLate == 0 {
			specs = append(specs, kafkaclient.TopicSpec{Name: r.topic, Partitions: o.partitions})
		}
		if err := kafkaclient.EnsureTopics(ctx, r.kafka, specs...); err != nil {
			t.Fatalf("topics on the private broker: %v", err)
		}
	} else {
		r.kafka = harness.RequireKafka(t)
		r.edgeKafka = r.kafka
		r.topic, r.dlq = harness.Topic(t, o.partitions), harness.Topic(t, 3)
	}
	if o.spans {
		o.ingest = true
		if o.private != nil {
			r.spansTopic = harness.Name(t, "spans")
			if err := kafkaclient.EnsureTopics(ctx, r.kafka, kafkaclient.TopicSpec{Name: r.spansTopic, Partitions: 3}); err != nil {
				t.Fatalf("spans topic on the private broker: %v", err)
			}
		} else {
			r.spansTopic = harness.Topic(t, 3)
		}
	}
	p, err := faultproxy.New("127.0.0.1:0", strings.TrimPrefix(esURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	r.esProxy = p
	t.Cleanup(func() { p.Close() })
	for i := range o.indexers {
		r.indexers = append(r.indexers, r.newIndexer(i))
	}
	r.shipper = r.newShipper(o)
	r.front = r.shipper
	t.Cleanup(r.close)
	for _, ix := range r.indexers {
		r.start(ix)
	}
	if o.topicLate > 0 {
		if o.private == nil {
			t.Fatal("topicLate needs a private broker")
		}
		time.Sleep(o.topicLate)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := kafkaclient.EnsureTopics(ctx, r.kafka, kafkaclient.TopicSpec{Name: r.topic, Partitions: o.partitions}); err != nil {
			t.Fatalf("late topic: %v", err)
		}
	}
	r.start(r.shipper)
	r.sampled.Add(1)
	go r.sample()
	return r
}

func (r *chaosRig) newIndexer(i int) *proc {
	addr := harness.FreeAddr(r.t)
	args := []string{"run", "-kafka.brokers", strings.Join(r.kafka.Brokers, ","), "-kafka.topic", r.topic,
		"-kafka.dlq-topic", r.dlq, "-kafka.group", r.group, "-kafka.session-timeout", "6s",
		"-es.addresses", r.esProxy.URL(), "-index.pattern", r.names.IndexPattern, "-index.alias", r.names.Alias,
		"-index.traces", r.names.Traces, "-index.alerts", r.names.Alerts, "-index.replicas", "0",
		"-bulk.max-doc-bytes", strconv.Itoa(poisonDocLimit), "-bulk.max-backoff", "2s",
		"-commit.interval", "500ms", "-http.addr", addr, "-log.level", indexerLogLevel(), "-audit.interval", "0", "-kafka.spans-topic", r.spansTopic,
		"-index.spans", r.names.Spans, "-index.spans-alias", r.names.SpansAlias}
	args = append(args, r.extraIdx...)
	return &proc{Proc: &rig.Proc{Name: fmt.Sprintf("indexer-%d", i), Bin: bins["indexer"], Args: args,
		LogPath: r.keptLog(fmt.Sprintf("indexer-%d.log", i))}, addr: addr, kind: "indexer"}
}

func (r *chaosRig) newShipper(o rigOptions) *proc {
	addr := harness.FreeAddr(r.t)
	args := []string{"-files.include", filepath.Join(r.dir, "logs", o.glob), "-files.checkpoint-dir", filepath.Join(r.dir, "ckpt"),
		"-files.poll-interval", "100ms", "-kafka.brokers", strings.Join(r.edgeKafka.Brokers, ","), "-kafka.topic", r.topic,
		"-kafka.dlq-topic", r.dlq, "-kafka.dial-timeout", "3s", "-host", "chaos", "-http.addr", addr, "-log.level", "warn"}
	if o.ingest {
		args = append(args, "-http.ingest")
	}
	args = append(args, o.shipperArgs...)
	if r.spansTopic != "" {
		args = append(args, "-otlp.spans-topic", r.spansTopic)
	}
	return &proc{Proc: &rig.Proc{Name: "shipper", Bin: bins["shipper"], Args: args,
		LogPath: r.keptLog("shipper.log")}, addr: addr, kind: "shipper"}
}

func (r *chaosRig) start(p *proc) {
	r.t.Helper()
	if err := r.startErr(p); err != nil {
		r.t.Fatal(err)
	}
}

// startErr is start for the schedule's goroutine (no t.Fatal there).
func (r *chaosRig) startErr(p *proc) error {
	if p == r.front {
		r.mu.Lock()
		r.ackedOld += r.ackedCur
		r.ackedCur = 0
		r.mu.Unlock()
	}
	r.mu.Lock()
	for k, v := range p.cur {
		if p.old == nil {
			p.old = map[string]float64{}
		}
		p.old[k] += v
	}
	p.cur = map[string]float64{}
	r.mu.Unlock()
	if err := p.Start(); err != nil {
		return err
	}
	if p.kind == "indexer" {
		r.mu.Lock()
		r.indexerStarts = append(r.indexerStarts, time.Now())
		r.mu.Unlock()
	}
	// The indexer is ready only with Elasticsearch up; healthz is enough here.
	if err := rig.WaitHTTP(context.Background(), "http://"+p.addr+"/healthz", 60*time.Second); err != nil {
		return fmt.Errorf("%s: %v\n%s", p.Name, err, p.Tail(30))
	}
	return nil
}

// sample scrapes every running process twice a second: peak RSS, and the
// shipper's acknowledged count (kept per incarnation: a restart resets it).
func (r *chaosRig) sample() {
	defer r.sampled.Done()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		for _, p := range r.procs() {
			if !p.Running() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			m, err := rig.Scrape(ctx, "http://"+p.addr+"/metrics")
			cancel()
			if err != nil {
				continue
			}
			// VmHWM misses no peak between two samples (only the growth
			// of a killed process's last half second).
			rss := max(m.Sum("process_resident_memory_bytes"), float64(harness.VmHWM(p.Pid())))
			r.mu.Lock()
			if rss > r.ledger.PeakRSS[p.kind] {
				r.ledger.PeakRSS[p.kind] = rss
			}
			if p.kind == "indexer" {
				for _, name := range indexerCounters {
					if _, ok := m[name]; ok && p.cur != nil {
						p.cur[name] = max(p.cur[name], m.Sum(name))
					}
				}
			}
			if p.kind == "shipper" && p.cur != nil {
				for _, name := range shipperCounters {
					p.cur[name] = max(p.cur[name], m.Sum(name, "reason", "truncated"))
				}
			}
			if p == r.front {
				if v := m.Sum(ackMetric[p.kind], "outcome", "ok"); v >= r.ackedCur {
					r.ackedCur = v
				}
			}
			r.mu.Unlock()
		}
	}
}

// procs are the rig's pipeline processes.
func (r *chaosRig) procs() []*proc {
	ps := append([]*proc{r.shipper}, r.indexers...)
	if r.plugin != nil {
		ps = append(ps, r.plugin)
	}
	return ps
}

func (r *chaosRig) acked() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(r.ackedOld + r.ackedCur)
}

func (r *chaosRig) close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.sampled.Wait()
	for _, p := range r.procs() {
		if p.Running() {
			_ = p.Stop()
		}
	}
	if r.t.Failed() {
		for _, p := range r.procs() {
			r.t.Logf("%s log tail:\n%s", p.Name, p.Tail(15))
		}
	}
}

// lag is the indexers' summed consumer lag (records behind the high
// watermark) over every topic they consume: the records topic and, in runs
// with spans, the spans topic, so "lag back to 0" holds for both.
func (r *chaosRig) lag() float64 {
	var s float64
	for _, ix := range r.indexers {
		if !ix.Running() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		m, err := rig.Scrape(ctx, "http://"+ix.addr+"/metrics")
		cancel()
		if err != nil {
			return -1
		}
		s += m.Sum("agentobs_indexer_consumer_lag_records")
	}
	return s
}

// count is the run's documents and distinct seq values in Elasticsearch.
func (r *chaosRig) count(runID string) rig.Tally {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = rig.Refresh(ctx, r.es, r.names.Alias)
	t, err := rig.CountRun(ctx, r.es, r.names.Alias, runID)
	if err != nil {
		r.t.Logf("count: %v", err)
	}
	return t
}

// countSpans is the run's span documents and distinct seq values (zero
// without spans).
func (r *chaosRig) countSpans(runID string) rig.Tally {
	if r.spansTopic == "" {
		return rig.Tally{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alias := r.names.SpanNames().Alias
	_ = rig.Refresh(ctx, r.es, alias)
	t, err := rig.CountRun(ctx, r.es, alias, runID)
	if err != nil {
		r.t.Logf("count spans: %v", err)
	}
	return t
}

// writeLoad runs the load generator into dir/logs/<name>.log in the background.
func (r *chaosRig) writeLoad(name string, cfg loadgen.Config) <-chan loadgen.Report {
	if err := os.MkdirAll(filepath.Join(r.dir, "logs"), 0o755); err != nil {
		r.t.Fatal(err)
	}
	out := make(chan loadgen.Report, 1)
	go func() {
		rep, err := loadgen.RunFile(context.Background(), cfg, filepath.Join(r.dir, "logs", name+".log"))
		if err != nil {
			r.t.Errorf("loadgen: %v", err)
		}
		out <- rep
	}()
	return out
}

// deadLetters reads the whole dead-letter topic.
func (r *chaosRig) deadLetters() []kafka.Message {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := r.kafka.Dialer()
	if err != nil {
		r.t.Fatal(err)
	}
	conn, err := d.DialContext(ctx, "tcp", r.kafka.Brokers[0])
	if err != nil {
		r.t.Fatalf("dial: %v", err)
	}
	parts, err := conn.ReadPartitions(r.dlq)
	conn.Close()
	if err != nil {
		r.t.Fatalf("partitions of %s: %v", r.dlq, err)
	}
	var out []kafka.Message
	for _, p := range parts {
		lc, err := d.DialLeader(ctx, "tcp", r.kafka.Brokers[0], r.dlq, p.ID)
		if err != nil {
			r.t.Fatal(err)
		}
		first, last, err := lc.ReadOffsets()
		lc.Close()
		if err != nil {
			r.t.Fatal(err)
		}
		if last <= first {
			continue
		}
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: r.kafka.Brokers, Topic: r.dlq, Partition: p.ID, Dialer: d, MaxBytes: 16 << 20})
		_ = rd.SetOffset(first)
		for {
			m, err := rd.ReadMessage(ctx)
			if err != nil {
				r.t.Fatalf("read %s/%d: %v", r.dlq, p.ID, err)
			}
			out = append(out, m)
			if m.Offset >= last-1 {
				break
			}
		}
		rd.Close()
	}
	return out
}

// audit runs `indexer audit -json` over the run's indices and dead-letter
// topic: the loss check a user runs, which must agree with the ledger.
func (r *chaosRig) audit() (audit.Report, error) {
	args := []string{"audit", "-json", "-since", "2h", "-grace", "0s",
		"-kafka.brokers", strings.Join(r.kafka.Brokers, ","), "-kafka.topic", r.topic, "-kafka.dlq-topic", r.dlq,
		"-es.addresses", r.esURL, "-index.pattern", r.names.IndexPattern, "-index.alias", r.names.Alias,
		"-index.traces", r.names.Traces, "-index.alerts", r.names.Alerts, "-log.level", "warn"}
	cmd := exec.Command(bins["indexer"], args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output() // exit 1 when records are missing: the JSON is still there
	var rep audit.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		return rep, fmt.Errorf("indexer audit: %v (%v)\n%s", err, runErr, stderr.String())
	}
	return rep, nil
}

// keptLog is where a process's log goes: the run's directory, or the
// scenario's directory under AGENTOBS_CHAOS_LOGS, which outlives the run
// (for a failure to study).
func (r *chaosRig) keptLog(name string) string {
	if d := os.Getenv("AGENTOBS_CHAOS_LOGS"); d != "" {
		d = filepath.Join(d, r.ledger.Scenario)
		if err := os.MkdirAll(d, 0o755); err == nil {
			return filepath.Join(d, name)
		}
	}
	return filepath.Join(r.dir, name)
}

// indexerLogLevel is warn, or debug (kafka-go's joins, assignments and
// partition readers too) when AGENTOBS_CHAOS_LOGS keeps the logs.
func indexerLogLevel() string {
	if os.Getenv("AGENTOBS_CHAOS_LOGS") != "" {
		return "debug"
	}
	return "warn"
}
