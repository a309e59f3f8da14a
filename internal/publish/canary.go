package publish

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// End-to-end canary records (issue 18, "health from progress"): every
// front door injects, every canary.interval, one record marked with
// record.FieldCanary through the very path its real records take: this
// edge (policy, producer stamp, encoding, size policy, topic, key,
// headers), the same producer and, in the shipper, the same queue and
// senders. The indexer indexes it like any record, into the same index,
// and its prober (indexer/canary) exports the age of the newest searchable
// canary per source. A canary that arrives proves that door's whole path
// to a searchable document works; one that stops arriving shows a stall
// wherever it sits, front door, Kafka, indexer or Elasticsearch.
//
// A canary carries its source (the value of record.FieldCanary: the front
// door instance), a sequence (agentobs.producer.seq of a producer of its
// own, "<source>/canary/<epoch>", never tracked by the Marker: canaries
// are not user records and stay out of the loss audit) and its emit time
// (@timestamp). Its event.id follows the line rule with the canary source
// (CanaryIDSource) and the sequence as the position, so a canary re-sent
// by the producer's retries is one document.

// Canary outcomes, the closed set of the outcome label.
const (
	CanaryOK    = "ok"    // Kafka acknowledged it
	CanaryError = "error" // not delivered (Kafka down or slow, shutdown)
)

// CanaryOutcomes lists the outcome label values, pre-created at 0.
var CanaryOutcomes = []string{CanaryOK, CanaryError}

// CanaryMessage is the message text of every canary record.
const CanaryMessage = "agentobs end-to-end canary"

// CanaryConfig is how a front door injects canary records.
type CanaryConfig struct {
	// Interval between canaries of this front door; 0 disables them.
	// Default 30s. The first is sent one interval after the start.
	Interval time.Duration `yaml:"interval"`
}

// DefaultCanaryConfig returns the defaults documented on CanaryConfig.
func DefaultCanaryConfig() CanaryConfig { return CanaryConfig{Interval: 30 * time.Second} }

// RegisterFlags binds c to canary.interval under prefix.
func (c *CanaryConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.Interval, prefix+"canary.interval", c.Interval,
		"how often an end-to-end canary record is sent through the same path as real records (0: off); the indexer exports the age of the newest one per source")
}

// Validate reports every problem at once.
func (c CanaryConfig) Validate() error {
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < 100*time.Millisecond) {
		return fmt.Errorf("canary.interval: %s, want 0 (off) or >= 100ms", c.Interval)
	}
	return nil
}

// CanaryIDSource is the event.id source of one canary producer: the
// canary's source and the process epoch (its sequence restarts with the
// process).
func CanaryIDSource(source, epoch string) string { return source + "|canary|" + epoch }

// Deliver hands one message to the front door's delivery path and returns
// once Kafka acknowledged it (nil) or it was given up.
type Deliver func(ctx context.Context, msg kafka.Message) error

// Canary sends the canary records of one front door instance. Emit is
// safe for concurrent use.
type Canary struct {
	cfg     CanaryConfig
	source  string
	idSrc   string
	edge    *Edge
	deliver Deliver
	ok, bad prometheus.Counter
	log     *slog.Logger
	now     func() time.Time

	mu  sync.Mutex // one canary at a time: the edge sequence and its message stay in order
	rec record.Record
	buf []byte
}

// NewCanary builds the canary of source on base's compiled policy and
// configuration, with a producer of its own (source/canary/epoch). ok and
// failed count the outcomes (nil: uncounted).
func NewCanary(cfg CanaryConfig, base *Edge, source, epoch string, deliver Deliver, ok, failed prometheus.Counter, log *slog.Logger) (*Canary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if source == "" {
		return nil, errors.New("canary: no source")
	}
	if ok == nil {
		ok = prometheus.NewCounter(prometheus.CounterOpts{Name: "unused"})
	}
	if failed == nil {
		failed = prometheus.NewCounter(prometheus.CounterOpts{Name: "unused"})
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := base.WithProducer(source+"/canary/"+epoch, 0)
	e.canary = true
	return &Canary{cfg: cfg, source: source, idSrc: CanaryIDSource(source, epoch), edge: e, deliver: deliver, ok: ok, bad: failed,
		log: log.With("component", "canary", "source", source), now: time.Now}, nil
}

// NewCanaryCounter registers agentobs_<component>_canaries_total{outcome}
// on reg (nil: unregistered), every outcome at 0.
func NewCanaryCounter(reg prometheus.Registerer, component string, labels ...string) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentobs_" + component + "_canaries_total",
		Help: "End-to-end canary records sent through the front door's own path, by outcome (ok: Kafka acknowledged it; error: not delivered)."},
		append(labels, "outcome"))
	if len(labels) == 0 {
		for _, o := range CanaryOutcomes {
			c.WithLabelValues(o)
		}
	}
	if reg != nil {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("canary metric: %w", err)
		}
	}
	return c, nil
}

// Source is the canary's source (the value of record.FieldCanary).
func (c *Canary) Source() string { return c.source }

// Sent reports whether a canary was built already: a final canary is
// only worth sending for a source the indexer may have seen.
func (c *Canary) Sent() bool { return c.edge.Seq() > 0 }

// Message builds the next canary: emitted now, through the edge. final
// marks the last canary of a source that stops cleanly.
func (c *Canary) Message(final bool) kafka.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.message(final)
}

func (c *Canary) message(final bool) kafka.Message {
	c.rec.Reset()
	c.rec.Timestamp = c.now().UTC()
	c.rec.Message = CanaryMessage
	c.rec.Level = record.LevelInfo
	c.rec.Set(record.FieldCanary, c.source)
	if final {
		c.rec.Set(record.FieldCanaryFinal, true)
	}
	// The position is the sequence the edge is about to stamp, so each
	// canary of this producer has its own id and a re-send keeps it.
	c.rec.EventID = LineEventID(c.idSrc, int64(c.edge.Seq()+1))
	msg, out, _ := c.edge.Message(&c.rec, c.buf)
	c.buf = out
	msg.Value = append([]byte(nil), out...)
	// Counted as the producer's control traffic, not as a user record.
	msg.Headers = append(msg.Headers, kafka.Header{Key: kafkaclient.HeaderControl, Value: []byte(kafkaclient.ControlCanary)})
	return msg
}

// Emit sends one canary and waits for the delivery path's answer.
func (c *Canary) Emit(ctx context.Context, final bool) error {
	c.mu.Lock()
	msg := c.message(final)
	c.mu.Unlock()
	if err := c.deliver(ctx, msg); err != nil {
		c.bad.Inc()
		return fmt.Errorf("canary %s: %w", c.source, err)
	}
	c.ok.Inc()
	return nil
}

// Run sends a canary every interval until ctx ends. A canary still
// waiting for Kafka delays the next one (ticks are not queued up), so a
// stalled path holds at most one canary per front door.
func (c *Canary) Run(ctx context.Context) {
	if c.cfg.Interval <= 0 {
		return
	}
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := c.Emit(ctx, false)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !failing:
			failing = true
			c.log.Warn("canary not delivered; retried next interval", "err", err)
		case err == nil && failing:
			failing = false
			c.log.Info("canary delivered again")
		}
	}
}
