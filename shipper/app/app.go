// Package app is the shipper: inputs (files, stdin, HTTP) → bounded queue →
// Kafka, sharing the record core (internal/record) and the edge stage and
// producer (internal/publish, internal/kafkaclient) with the collector plugin. main
// only parses the configuration and runs it; the end-to-end tests and the
// demo run it in-process.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/internal/telemetry"
	"github.com/agentobs/agentobs/shipper/internal/ingest"
	"github.com/agentobs/agentobs/shipper/internal/queue"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
	"github.com/agentobs/agentobs/shipper/internal/tail"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

// Settings are set by the caller, not the user.
type Settings struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry // served on /metrics; nil: a new telemetry registry
	Stdin    io.Reader            // default os.Stdin
	// EnablePprof serves /debug/pprof on the HTTP address.
	EnablePprof bool
}

// App is one running shipper.
type App struct {
	cfg      Config
	set      Settings
	log      *slog.Logger
	m        *shippermetrics.Metrics
	em       *publish.Metrics
	edge     *publish.Edge // compiled policy shared by every producer (newEdge)
	producer *kafkaclient.Producer
	marker   *publish.Marker // high-water marks of every producer (newEdge)
	canary   *publish.Canary // end-to-end canary through the queue (canary.go)
	queue    *queue.Queue
	senders  *queue.Senders
	server   *telemetry.Server
	tailer   *tail.Tailer
	grpc     *ingest.GRPC // OTLP/gRPC receiver, nil when otlp.grpc-addr is ""
	epoch    string       // random per process: stdin and HTTP producer ids

	sendCtx    context.Context
	sendCancel context.CancelFunc
	closeOnce  sync.Once
	closeErr   error
	lane       atomic.Uint64
}

// New builds the shipper; it does no I/O (Run connects and listens).
func New(cfg Config, set Settings) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Registry == nil {
		set.Registry = telemetry.NewRegistry()
	}
	if set.Stdin == nil {
		set.Stdin = os.Stdin
	}
	a := &App{cfg: cfg, set: set, log: set.Logger, m: shippermetrics.New(set.Registry),
		em: publish.NewMetrics(set.Registry, "shipper", cfg.Edge.Policy.ContentFields)}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	a.epoch = hex.EncodeToString(rnd[:])
	e, err := publish.New(cfg.Edge, "shipper", "", 0, a.em)
	if err != nil {
		return nil, err
	}
	a.edge = e
	p, err := kafkaclient.NewProducer(cfg.Kafka, cfg.Producer, kafkaclient.NewProducerMetrics(set.Registry, "shipper"))
	if err != nil {
		return nil, err
	}
	a.producer = p
	mc := cfg.Marks
	if mc.Topic == "" {
		mc.Topic = publish.MarksTopicFor(cfg.Edge.Topic)
	}
	marks, err := publish.NewMarksCounter(set.Registry, "shipper")
	if err != nil {
		return nil, err
	}
	if a.marker, err = publish.NewMarker(mc, "shipper", p, marks, set.Logger); err != nil {
		return nil, err
	}
	a.queue = queue.NewBoundedQueue(cfg.QueueSize, cfg.Senders, cfg.QueueMaxBytes, a.m.QueueDepth, a.m.QueueBytes)
	a.m.QueueCapacity.Set(float64(cfg.QueueSize))
	a.m.QueueMaxBytes.Set(float64(cfg.QueueMaxBytes))
	dlqEdge, err := a.newEdge(fmt.Sprintf("shipper/%s/dlq/%s", cfg.Host, a.epoch), 0)
	if err != nil {
		return nil, err
	}
	a.senders = queue.NewSenders(a.queue, p, dlqEdge.DeadLetter, set.Logger.With("component", "sender"), a.m)
	a.senders.UnknownTopics = func(ctx context.Context, msgs []kafka.Message, errs []error) (map[string]bool, error) {
		return dlqEdge.UnknownTopics(ctx, func(ctx context.Context, topics ...string) ([]string, error) {
			return kafkaclient.MissingTopics(ctx, cfg.Kafka, topics...)
		}, msgs, errs)
	}
	a.sendCtx, a.sendCancel = context.WithCancel(context.Background())
	if a.canary, err = a.newCanary(); err != nil {
		return nil, err
	}
	if len(cfg.Files.Include) > 0 {
		a.tailer, err = tail.New(cfg.Files, tail.Settings{Host: cfg.Host, DefaultService: cfg.Service, Logger: set.Logger,
			Metrics: a.m, Queue: a.queue, NewEdge: a.newEdge, EndEdge: a.marker.End})
		if err != nil {
			return nil, err
		}
	}
	if cfg.HTTPAddr != "" {
		a.server = telemetry.NewServer(cfg.HTTPAddr, set.Registry, set.Logger)
		if err := a.server.SetLimits(cfg.HTTPLimits, set.Registry, "shipper"); err != nil {
			return nil, err
		}
		if set.EnablePprof {
			a.server.EnablePprof()
		}
		a.server.AddReadyCheck("kafka", func(ctx context.Context) error { return kafkaclient.Ping(ctx, cfg.Kafka) })
		if err := a.server.ExportReadiness(set.Registry, "shipper"); err != nil {
			return nil, err
		}
	}
	if cfg.HTTP.Ingest || cfg.OTLP.GRPCAddr != "" {
		h, err := a.newIngest()
		if err != nil {
			return nil, err
		}
		if cfg.HTTP.Ingest {
			h.Register(a.server)
		}
		if cfg.OTLP.GRPCAddr != "" {
			a.grpc = ingest.NewGRPC(cfg.OTLP.GRPCAddr, h.Receiver(), set.Logger)
		}
	}
	return a, nil
}

// newIngest builds the HTTP ingest handler and the OTLP receiver behind it
// (also served over gRPC), with their own producer ids.
func (a *App) newIngest() (*ingest.Handler, error) {
	cfg := a.cfg
	token, err := ingest.ResolveToken(cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("http.token-file: %w", err)
	}
	e, err := a.newEdge(fmt.Sprintf("shipper/%s/http/%s", cfg.Host, a.epoch), 0)
	if err != nil {
		return nil, err
	}
	// Spans go to their own topic, never routed by kafka.topic-field.
	sc := cfg.Edge
	sc.Topic, sc.TopicField = cfg.OTLP.SpansTopic, ""
	se, err := publish.New(sc, "shipper", fmt.Sprintf("shipper/%s/otlp-spans/%s", cfg.Host, a.epoch), 0, a.em)
	if err != nil {
		return nil, err
	}
	producers, err := publish.NewLanesGauge(a.set.Registry, "shipper")
	if err != nil {
		return nil, err
	}
	format, _ := record.ParseFormat(cfg.Files.Format)
	return ingest.New(cfg.HTTP, ingest.Settings{Host: cfg.Host, DefaultService: cfg.Service,
		Format: format, MaxLineBytes: cfg.Files.MaxLineBytes, Token: token, Edge: e, SpansEdge: se, Sink: a.queue, Metrics: a.m,
		Lane: func() uint64 { return a.lane.Add(1) }, Producers: publish.NewLanes(e, a.marker, producers.WithLabelValues())}), nil
}

// newEdge is the shared edge stage with its own producer id and sequence;
// every producer shares one compiled policy.
func (a *App) newEdge(producerID string, startSeq uint64) (*publish.Edge, error) {
	e := a.edge.WithProducer(producerID, startSeq)
	a.marker.Track(e)
	return e, nil
}

// Addr is the bound HTTP address (after Run started listening), or "".
func (a *App) Addr() string {
	if a.server == nil {
		return ""
	}
	return a.server.Addr()
}

// Listen binds the HTTP address so a taken port fails fast; Run calls it
// when the caller did not.
func (a *App) Listen() error {
	if a.grpc != nil {
		if err := a.grpc.Listen(); err != nil {
			return err
		}
	}
	if a.server == nil || a.server.Addr() != "" {
		return nil
	}
	return a.server.Listen()
}

// GRPCAddr is the bound OTLP/gRPC address, or "".
func (a *App) GRPCAddr() string {
	if a.grpc == nil {
		return ""
	}
	return a.grpc.Addr()
}

// Run ships until ctx ends, or, with only the stdin input, until stdin
// ended. Delivery of what was read continues in Close.
func (a *App) Run(ctx context.Context) error {
	if err := a.Listen(); err != nil {
		return err
	}
	a.senders.Start(a.sendCtx)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(ctx)
	if a.server != nil {
		g.Go(func() error { return a.server.Run(gctx) })
	}
	if a.tailer != nil {
		g.Go(func() error { return a.tailer.Run(gctx) })
	}
	if a.grpc != nil {
		g.Go(func() error { return a.grpc.Run(gctx) })
	}
	g.Go(func() error { a.marker.Run(gctx); return nil })
	g.Go(func() error { a.canary.Run(gctx); return nil })
	if a.cfg.Stdin {
		g.Go(func() error {
			err := a.runStdin(gctx)
			if a.tailer == nil && !a.cfg.HTTP.Ingest && a.grpc == nil {
				stop() // stdin was the only input: its end is the end of the run
			}
			return err
		})
	}
	if a.server != nil {
		a.server.SetReady(true)
	}
	a.log.Info("shipper started", "host", a.cfg.Host, "files", a.cfg.Files.Include, "stdin", a.cfg.Stdin,
		"http_ingest", a.cfg.HTTP.Ingest, "http_addr", a.Addr(), "otlp_grpc_addr", a.GRPCAddr(), "brokers", a.cfg.Kafka.Brokers, "topic", a.cfg.Edge.Topic)
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// Close delivers what is queued (until ctx's deadline), writes the final
// checkpoints and closes the producer. Call it after Run returned; safe to
// call twice.
func (a *App) Close(ctx context.Context) error {
	a.closeOnce.Do(func() {
		if a.server != nil {
			a.server.SetReady(false)
		}
		a.finalCanary(ctx)
		// Inputs have stopped (Run returned): no more Puts, so the queue can
		// close and the senders drain it.
		a.queue.Close()
		drained := make(chan struct{})
		go func() { a.senders.Start(a.sendCtx); a.senders.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-ctx.Done():
			a.log.Warn("shutdown deadline: undelivered batches are left for the next start (files are re-read from their checkpoints)")
			a.sendCancel()
			<-drained
		}
		a.sendCancel()
		var errs []error
		if a.tailer != nil {
			errs = append(errs, a.tailer.Finish())
		}
		// Last high-water marks after the queue drained, so a clean stop is
		// never mistaken for loss at the end of a sequence. Own deadline:
		// the shutdown one may be spent, and a mark is one small message.
		mctx, mcancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.marker.Flush(mctx, true); err != nil {
			a.log.Warn("final high-water marks not published; the audit may report this shipper's last records as missing", "err", err)
		}
		mcancel()
		errs = append(errs, a.producer.Close())
		a.closeErr = errors.Join(errs...)
		a.log.Info("shipper stopped")
	})
	return a.closeErr
}
