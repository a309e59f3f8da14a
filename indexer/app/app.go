// Package app is the indexer as a component: Config, New (no I/O), Run
// (until its context ends, then drains) and Close. main, the end-to-end tests
// and the demo run it in-process through this package.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/agentobs/agentobs/indexer/audit"
	"github.com/agentobs/agentobs/indexer/bulk"
	"github.com/agentobs/agentobs/indexer/canary"
	"github.com/agentobs/agentobs/indexer/internal/offsets"
	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/indexer/trace"
	"github.com/agentobs/agentobs/indexer/ui"
	"github.com/agentobs/agentobs/indexer/webhook"
	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/esclient"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/telemetry"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Settings are set by the developer embedding the indexer.
type Settings struct {
	Logger *slog.Logger
	// Registry receives the metrics and is served on /metrics; nil: a new
	// telemetry.NewRegistry().
	Registry *prometheus.Registry
	// ShutdownTimeout bounds the drain after Run's context ends. Default 30s.
	ShutdownTimeout time.Duration
}

// App is one indexer.
type App struct {
	cfg     Config
	set     Settings
	log     *slog.Logger
	es      *elasticsearch.Client
	m       *Metrics
	writer  *bulk.Writer
	store   *trace.Store
	cursor  cursorStore // summary cursor (group Config.SummaryGroup)
	dlq     *kafkaclient.Producer
	server  *telemetry.Server
	auditor *audit.Auditor
	auditM  *audit.Metrics
	canary  *canary.Prober
	watch   *esclient.Watch
	health  *monitor // the record pipeline's
	// spanHealth is the span pipeline's monitor (nil: spans off): the same
	// checks, metrics (topic label) and readiness as the record pipeline's.
	spanHealth *monitor
	member     string // client id of this member's group connections
	closeMu    sync.Once
}

// New builds the indexer; nothing is connected until Run.
func New(cfg Config, set Settings) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Logger == nil {
		set.Logger = slog.Default()
	}
	if set.Registry == nil {
		set.Registry = telemetry.NewRegistry()
	}
	if set.ShutdownTimeout <= 0 {
		set.ShutdownTimeout = 30 * time.Second
	}
	var watch *esclient.Watch
	es, err := cfg.ES.NewClientWith(func(rt http.RoundTripper) http.RoundTripper { watch = esclient.NewWatch(rt); return watch })
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, set: set, log: set.Logger, es: es, m: NewMetrics(set.Registry), watch: watch, member: memberClientID(cfg.Kafka.ClientID)}
	bc := bulk.DefaultConfig()
	bc.InitialBackoff, bc.MaxBackoff = cfg.Bulk.InitialBackoff, cfg.Bulk.MaxBackoff
	bc.MaxBytes, bc.MinBytes = cfg.Bulk.MaxBytes, cfg.Bulk.MinBytes
	a.writer = bulk.NewWriter(es, bc, a.m, set.Logger)
	a.store = trace.NewStore(es, cfg.Names)
	kc, err := cfg.Kafka.Client()
	if err != nil {
		return nil, err
	}
	a.cursor = kafkaCursor{client: kc, group: cfg.SummaryGroup()}
	pc := kafkaclient.DefaultProducerConfig()
	pc.BatchBytes = int64(max(cfg.Bulk.MaxDocBytes+64<<10, 1<<20))
	if a.dlq, err = kafkaclient.NewProducer(cfg.Kafka, pc, kafkaclient.NewProducerMetrics(set.Registry, "indexer")); err != nil {
		return nil, err
	}
	token, err := config.Resolve(cfg.HTTPToken, cfg.HTTPTokenFile)
	if err != nil {
		return nil, fmt.Errorf("http.token-file: %w", err)
	}
	a.server = telemetry.NewServer(cfg.HTTPAddr, set.Registry, set.Logger)
	if err := a.server.SetLimits(cfg.HTTPLimits, set.Registry, "indexer"); err != nil {
		return nil, err
	}
	if a.health, err = newMonitor(cfg, a.member, a.m, set.Logger.With("component", "health"), watch, a.writer.Up); err != nil {
		return nil, err
	}
	a.m.setESUp(a.health.esUpValue)
	a.server.AddReadyCheck("elasticsearch", a.health.esReady)
	a.server.AddReadyCheck("kafka", a.health.consumerReady)
	if cfg.SpansTopic != "" {
		sc := cfg.spanPipeline()
		if a.spanHealth, err = newMonitor(sc, spanMember(a.member), a.m, set.Logger.With("component", "health-spans"), watch, a.writer.Up); err != nil {
			return nil, err
		}
		a.server.AddReadyCheck("kafka-spans", a.spanHealth.consumerReady)
	}
	if err := a.server.ExportReadiness(set.Registry, "indexer"); err != nil {
		return nil, err
	}
	trace.Routes(a.server, a.store, token)
	a.auditor = audit.New(es, cfg.Names.Alias, a.deadLetters)
	a.auditor.SetMarks(a.marks)
	a.auditM = audit.NewMetrics(set.Registry)
	if a.canary, err = canary.New(cfg.Canary, es, cfg.Names.Alias, canary.NewMetrics(set.Registry), set.Logger); err != nil {
		return nil, err
	}
	a.server.Handle("GET /v1/audit", trace.Auth(token, a.auditor.Handler(cfg.Audit)))
	if cfg.UI.Enabled {
		h, err := ui.New(ui.Config{Token: token, KibanaURL: cfg.UI.KibanaURL, GrafanaURL: cfg.UI.GrafanaURL,
			PrometheusURL: cfg.UI.PrometheusURL}, a.store, pipelineState{a}, set.Registry, set.Logger.With("component", "ui"))
		if err != nil {
			return nil, err
		}
		h.Mount(a.server)
	}
	a.server.Handle("POST /v1/alerts", trace.Auth(token, webhook.NewReceiver(es, cfg.Names.Alerts, alertCounter{a.m}, set.Logger)))
	return a, nil
}

type alertCounter struct{ m *Metrics }

func (c alertCounter) Inc(status string) {
	if status != "resolved" {
		status = "firing"
	}
	c.m.Alerts.WithLabelValues(status).Inc()
}

// Addr is the HTTP listen address once Run has bound it (tests use ":0").
func (a *App) Addr() string { return a.server.Addr() }

// Listen binds the HTTP port (Run does it too); main calls it to fail fast.
func (a *App) Listen() error { return a.server.Listen() }

// Metrics are the indexer's own metrics, registered on Settings.Registry.
func (a *App) Metrics() *Metrics { return a.m }

// Canary is the end-to-end canary prober.
func (a *App) Canary() *canary.Prober { return a.canary }

// Store is the trace lookup over this indexer's indices.
func (a *App) Store() *trace.Store { return a.store }

// ES is the Elasticsearch client.
func (a *App) ES() *elasticsearch.Client { return a.es }

// Run installs the templates, joins the consumer group and indexes until ctx
// ends; then it stops fetching, finishes in-flight batches, writes pending
// summaries, commits and leaves the group (bounded by ShutdownTimeout).
func (a *App) Run(ctx context.Context) error {
	if err := a.server.Listen(); err != nil {
		return err
	}
	srvCtx, stopSrv := context.WithCancel(context.Background())
	defer stopSrv()
	srvErr := make(chan error, 1)
	go func() { srvErr <- a.server.Run(srvCtx) }()

	if err := a.prepare(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// Readiness from here on is the checks' word: each monitor says "not
	// ready" until this member holds its share of its fully assigned topic.
	go a.health.run(ctx)
	if a.spanHealth != nil {
		go a.spanHealth.run(ctx)
	}
	a.server.SetReady(true)
	if err := a.health.awaitTopic(ctx); err != nil {
		return nil
	}
	src, err := newGroupSource(a.cfg, a.member, a.log.With("component", "kafka"))
	if err != nil {
		return err
	}
	src.skipped = a.health.m.rewindSkipped
	if src.jump, err = a.jumpGuard(a.health.m); err != nil {
		return err
	}
	a.health.setSource(src.rejoin, src.raiseFloors)
	p := a.pipeline(src, bulk.OpCreate, offsets.New(), a.dlq)
	p.fetchedClock = a.health.fetchedClock
	if p.sum != nil {
		a.health.setOnAssigned(func(mine []int, committed map[int]int64) { p.sum.assigned(ctx, a.cfg.Topic, mine, committed) })
	}
	go a.auditor.Loop(ctx, a.cfg.Audit, a.auditM, a.log.With("component", "audit"))
	go a.canary.Run(ctx)
	a.log.Info("indexing", "topic", a.cfg.Topic, "group", a.cfg.Group, "index", a.cfg.Names.IndexPattern, "alias", a.cfg.Names.Alias)

	drain, drainCancel := context.WithCancel(context.Background())
	defer drainCancel()
	go func() {
		<-ctx.Done()
		a.server.SetReady(false)
		a.log.Info("draining", "timeout", a.set.ShutdownTimeout)
		t := time.AfterFunc(a.set.ShutdownTimeout, drainCancel)
		<-drain.Done()
		t.Stop()
	}()
	spansDone := make(chan error, 1)
	spansDone <- nil
	if a.cfg.SpansTopic != "" {
		<-spansDone
		go func() { spansDone <- a.runSpans(ctx, drain, p.sum) }()
	}
	runErr := p.run(ctx, drain)
	// Leave the group only after the final commit.
	if err := src.Close(); err != nil {
		a.log.Warn("leaving consumer group", "err", err)
	}
	if err := <-spansDone; err != nil && runErr == nil {
		runErr = err
	}
	a.log.Info("stopped")
	stopSrv()
	if err := <-srvErr; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// runSpans indexes the span topic into the span indices until ctx ends,
// then drains like the record pipeline: a second pipeline on the same bulk
// writer and dead-letter producer, in its own consumer group (Group +
// "-spans"), its offsets committed only after Elasticsearch acknowledged.
// Spans carry event.id = trace id + span id, so a re-sent span is one
// document (create → 409). Its monitor (a.spanHealth) watches it as the
// record pipeline's watches that one: lag, stalls, assignment, readiness,
// rejoins and the source's floors. The trace ids of indexed spans go to
// sum, the record pipeline's summarizer (nil: summaries off), so summaries
// count spans that arrive after their trace's log lines, and the span
// topic's partitions are under its cursor like the record topic's: a span
// committed and not yet summarized when the indexer dies is read back from
// Kafka by the member the span topic's partition is assigned to next, and
// its trace re-derived.
func (a *App) runSpans(ctx, drain context.Context, sum *summarizer) error {
	cfg, h := a.cfg.spanPipeline(), a.spanHealth
	// As for the record topic: join only once the topic has a leader on
	// every partition (prepare created it; a new topic may not have them yet).
	if err := h.awaitTopic(ctx); err != nil {
		return nil
	}
	src, err := newGroupSource(cfg, spanMember(a.member), a.log.With("component", "kafka-spans"))
	if err != nil {
		return fmt.Errorf("spans source: %w", err)
	}
	src.skipped = h.m.rewindSkipped
	if src.jump, err = a.jumpGuard(h.m); err != nil {
		return fmt.Errorf("spans source: %w", err)
	}
	h.setSource(src.rejoin, src.raiseFloors)
	p := a.pipeline(src, bulk.OpCreate, offsets.New(), a.dlq)
	p.names = a.cfg.Names.SpanNames()
	p.sum, p.spans, p.spanSum = nil, true, sum
	p.log = a.log.With("component", "spans-pipeline")
	p.fetchedClock = h.fetchedClock
	if sum != nil {
		// Partitions are adopted when assigned, not only at their first
		// fetch: spans committed but not summarized before a crash are
		// found even when no new span arrives on their partition.
		h.setOnAssigned(func(mine []int, committed map[int]int64) { sum.assigned(ctx, cfg.Topic, mine, committed) })
	}
	a.log.Info("indexing spans", "topic", cfg.Topic, "group", cfg.Group, "index", p.names.IndexPattern, "alias", p.names.Alias)
	err = p.run(ctx, drain)
	if cerr := src.Close(); cerr != nil {
		a.log.Warn("leaving spans consumer group", "err", cerr)
	}
	return err
}

// spanMember is the client id of this member's span group connections.
func spanMember(member string) string { return member + "-spans" }

// prepare waits for Elasticsearch, installs templates and the DLQ topic.
func (a *App) prepare(ctx context.Context) error {
	d := 500 * time.Millisecond
	for {
		err := esclient.Ping(ctx, a.es)
		if err == nil {
			var f schema.Features
			if f, err = schema.Detect(ctx, a.es); err == nil {
				a.log.Info("elasticsearch features", "modules", f.Modules, "data_streams", f.DataStreams, "ilm", f.ILM)
				if a.cfg.DataStream && !f.DataStreams {
					return errors.New("index.data-stream: the cluster has no data-streams module; use daily indices")
				}
				if a.cfg.InstallTemplates {
					err = schema.Install(ctx, a.es, a.cfg.Names, a.cfg.Index, f, schema.Options{DataStream: a.cfg.DataStream, Retention: a.cfg.Retention}, a.log)
				}
			}
		}
		if err == nil {
			specs := []kafkaclient.TopicSpec{{Name: a.cfg.DLQTopic, Partitions: 3}, {Name: a.cfg.MarksTopicName(), Partitions: 3}}
			if a.cfg.SpansTopic != "" {
				specs = append(specs, kafkaclient.TopicSpec{Name: a.cfg.SpansTopic, Partitions: 3})
			}
			err = kafkaclient.EnsureTopics(ctx, a.cfg.Kafka, specs...)
		}
		if err == nil {
			return nil
		}
		a.log.Warn("waiting for elasticsearch and kafka", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
		d = min(2*d, 10*time.Second)
	}
}

func (a *App) pipeline(src source, op bulk.Op, tr *offsets.Tracker, dlq *kafkaclient.Producer) *pipeline {
	p := &pipeline{cfg: a.cfg, src: src, writer: a.writer, dlq: dlq, tracker: tr, m: a.m,
		log: a.log.With("component", "pipeline"), es: a.es, op: op, names: a.cfg.Names}
	if a.cfg.SummaryEnabled {
		store := a.store
		if a.cfg.SpansTopic == "" { // no spans indexed here: summaries read the log indices only
			n := a.cfg.Names
			n.SpansAlias = ""
			store = trace.NewStore(a.es, n)
		}
		p.sum = newSummarizer(store, a.m, a.log, a.cfg.SummaryInterval, a.cursor, a.readLog)
	}
	return p
}

// readLog reads one partition's records back (summary recovery).
func (a *App) readLog(ctx context.Context, k offsets.Key, from, to int64, fn func(kafka.Message) bool) error {
	d, err := a.cfg.Kafka.Dialer()
	if err != nil {
		return err
	}
	return readPartition(ctx, d, a.cfg.Kafka.Brokers, k.Topic, k.Partition, from, to, fn)
}

// Close releases the producer and idle connections; safe to call twice.
func (a *App) Close(ctx context.Context) error {
	var err error
	a.closeMu.Do(func() {
		err = a.dlq.Close()
		a.health.close()
		if a.spanHealth != nil {
			a.spanHealth.close()
		}
		if c, ok := a.cursor.(kafkaCursor); ok {
			if tr, ok := c.client.Transport.(*kafka.Transport); ok {
				tr.CloseIdleConnections()
			}
		}
		if tr, ok := a.es.Transport.(interface{ CloseIdleConnections() }); ok {
			tr.CloseIdleConnections()
		}
	})
	return err
}
