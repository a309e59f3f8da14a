package publish

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// High-water marks: loss at the end of a sequence has no hole after it, so
// a gap audit cannot see it (issue 18, build-2). Each front door therefore
// publishes, per producer id, the last sequence number it stamped, every
// marks.interval and at shutdown, as a small JSON message on a topic of its
// own (keyed by producer id). A topic of its own, not a header-marked
// record on the log topic: marks never reach Elasticsearch, never count as
// records anywhere (demo, e2e and chaos ledgers, dashboards), need no
// special case in the indexer's write path, and the audit reads them the
// way it reads the dead-letter topic.

// MarksTopicFor is the default marks topic of a records topic:
// "<topic>-marks" (agentobs-logs-marks), so each pipeline (and each test
// run with its own topic) has its own marks and an audit never mistakes
// another pipeline's producers for vanished ones.
func MarksTopicFor(recordsTopic string) string { return recordsTopic + "-marks" }

// MarksConfig is how a front door publishes its high-water marks.
type MarksConfig struct {
	// Topic receives the marks. Default "" = MarksTopicFor(the records
	// topic), i.e. agentobs-logs-marks.
	Topic string `yaml:"topic"`
	// Interval between marks of a producer whose sequence moved (each names
	// the sequence of one interval before); 0 sends marks only at shutdown.
	// Default 30s.
	Interval time.Duration `yaml:"interval"`
}

// DefaultMarksConfig returns the defaults documented on MarksConfig.
func DefaultMarksConfig() MarksConfig {
	return MarksConfig{Interval: 30 * time.Second}
}

// RegisterFlags binds c to kafka.marks-topic and marks.interval under prefix.
func (c *MarksConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.Topic, prefix+"kafka.marks-topic", c.Topic, "topic of the producers' high-water marks (last sequence number per producer id), read by the indexer's loss audit (default: <kafka.topic>-marks)")
	fs.DurationVar(&c.Interval, prefix+"marks.interval", c.Interval, "how often each producer's high-water mark is published (0: only at shutdown)")
}

// Validate reports every problem at once.
func (c MarksConfig) Validate() error {
	var errs []error
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < 100*time.Millisecond) {
		errs = append(errs, fmt.Errorf("marks.interval: %s, want 0 (only at shutdown) or >= 100ms", c.Interval))
	}
	return errors.Join(errs...)
}

// Mark is one producer's high-water mark: every sequence number in
// [FirstSeq, LastSeq] was stamped on a record by this producer incarnation.
// FirstSeq > LastSeq means none yet.
type Mark struct {
	ProducerID string    `json:"producer_id"`
	Component  string    `json:"component"`
	FirstSeq   uint64    `json:"first_seq"`
	LastSeq    uint64    `json:"last_seq"`
	At         time.Time `json:"at"`
	// Final is set when the producer ended cleanly (a drained file, the end
	// of stdin, a stopping process's stdin/HTTP producers).
	Final bool `json:"final,omitempty"`
	// Refused are sequence numbers this producer stamped on records its
	// front door then refused to the client (an HTTP or OTLP request
	// answered 429 or 503 after its records were built: the client sends
	// them again, under new numbers). They are not expected anywhere, and
	// count as arrived if they arrive anyway. A mark carries the ranges
	// refused since the producer's previous acknowledged mark.
	Refused []SeqRange `json:"refused,omitempty"`
}

// SeqRange is the sequence numbers First..Last of one producer.
type SeqRange struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

// ParseMark decodes a mark message value.
func ParseMark(b []byte) (Mark, error) {
	var m Mark
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("mark: %w", err)
	}
	if m.ProducerID == "" {
		return m, errors.New("mark: no producer_id")
	}
	return m, nil
}

// ProducerID is the producer id stamped on this edge's records.
func (e *Edge) ProducerID() string { return e.producerID }

// Sender produces messages and returns once Kafka acknowledged them.
type Sender interface {
	Send(ctx context.Context, msgs []kafka.Message) error
}

// Marker keeps the producers of one front-door process and publishes their
// high-water marks. Safe for concurrent use.
type Marker struct {
	cfg       MarksConfig
	component string
	send      Sender
	log       *slog.Logger
	sent      *prometheus.CounterVec // outcome

	flushing sync.Mutex    // one Flush at a time: each acknowledges what it sent
	refusal  chan struct{} // Refuse: Run publishes now, not at the next interval
	mu       sync.Mutex
	edges    map[*Edge]*tracked
}

type tracked struct {
	first    uint64 // first sequence number of this incarnation
	lastSent uint64 // LastSeq of the last mark acknowledged; first-1 before any
	seen     uint64 // the sequence at the previous periodic flush
	ended    bool
	holds    map[*hold]struct{} // Hold: marks stay below the lowest live hold
	refused  []SeqRange         // Refuse: not yet in an acknowledged mark
	sending  int                // how many of refused a mark being sent carries: not to be extended
}

// hold is one Hold or HoldFor; until is zero for a hold without a bound.
type hold struct {
	seq   uint64
	until time.Time
}

// NewMarker builds the marker of component (cfg.Topic resolved: not
// empty). sent is its agentobs_<component>_marks_total with only the
// outcome label left (NewMarksCounter, curried); nil: an unregistered one.
func NewMarker(cfg MarksConfig, component string, send Sender, sent *prometheus.CounterVec, log *slog.Logger) (*Marker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Topic == "" {
		return nil, errors.New("marks: no topic")
	}
	if sent == nil {
		sent, _ = NewMarksCounter(nil, component)
	}
	return &Marker{cfg: cfg, component: component, send: send, log: log.With("component", "marks"), sent: sent, edges: map[*Edge]*tracked{},
		refusal: make(chan struct{}, 1)}, nil
}

// MarksOutcomes are the outcome label values of agentobs_<component>_marks_total.
var MarksOutcomes = []string{"ok", "error"}

// NewMarksCounter is agentobs_<component>_marks_total, labelled by labels
// and outcome, registered on reg (nil: not registered). NewMarker takes it
// with only the outcome label left (curried); the shipper's and the
// collector's cannot drift, since both are made here.
func NewMarksCounter(reg prometheus.Registerer, component string, labels ...string) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentobs_" + component + "_marks_total",
		Help: "High-water mark messages published (last sequence number per producer id), by outcome (ok, error)."}, append(labels, "outcome"))
	if len(labels) == 0 {
		for _, o := range MarksOutcomes {
			c.WithLabelValues(o)
		}
	}
	if reg != nil {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("marks metric: %w", err)
		}
	}
	return c, nil
}

// Track starts accounting for e; call it before e stamps its first record.
func (m *Marker) Track(e *Edge) {
	s := e.Seq()
	m.mu.Lock()
	m.edges[e] = &tracked{first: s + 1, lastSent: s, seen: s}
	m.mu.Unlock()
}

// Hold keeps e's marks below seq until release is called (once; later
// calls do nothing). A front door holds the first sequence number of each
// batch whose produce call is not answered yet: a mark must not name
// records that a crash would have re-sent by someone else under another
// producer id (Fluent Bit replays a chunk that was in flight under the
// next instance's id), or the audit reports records that arrived as
// missing. The periodic mark's one-interval lag covers most of that; a
// produce call slower than marks.interval is not covered by the lag.
func (m *Marker) Hold(e *Edge, seq uint64) (release func()) { return m.HoldFor(e, seq, 0) }

// HoldFor is Hold that lapses after d (0: never). A front door holds a
// batch awaiting a retry this way: its numbers are not acknowledged, and a
// crash before the retry makes the next incarnation re-send them under its
// own id, so a mark must not name them; but if the retry never comes (Fluent
// Bit gave the chunk up), the hold must not keep the producer's marks back
// for ever, which would hide a loss at the end of its sequence.
func (m *Marker) HoldFor(e *Edge, seq uint64, d time.Duration) (release func()) {
	h := &hold{seq: seq}
	if d > 0 {
		h.until = time.Now().Add(d)
	}
	m.mu.Lock()
	t, ok := m.edges[e]
	if ok {
		if t.holds == nil {
			t.holds = map[*hold]struct{}{}
		}
		t.holds[h] = struct{}{}
	}
	m.mu.Unlock()
	if !ok {
		return func() {}
	}
	return func() {
		m.mu.Lock()
		delete(t.holds, h)
		m.mu.Unlock()
	}
}

// held lowers last below t's lowest live hold, never below what was
// already published; lapsed holds are dropped. Called with m.mu held.
func (t *tracked) held(last uint64, now time.Time) uint64 {
	for h := range t.holds {
		if !h.until.IsZero() && now.After(h.until) {
			delete(t.holds, h)
			continue
		}
		if h.seq > 0 && h.seq-1 < last {
			last = h.seq - 1
		}
	}
	return max(last, t.lastSent)
}

// Refuse notes that the records e stamped with seqs were refused to the
// client that sent them (see Mark.Refused); the next mark carries them.
func (m *Marker) Refuse(e *Edge, seqs []SeqRange) {
	if len(seqs) == 0 {
		return
	}
	m.mu.Lock()
	if t, ok := m.edges[e]; ok {
		for _, r := range seqs {
			// A lane's refused requests in a row are one range.
			if n := len(t.refused); n > t.sending && t.refused[n-1].Last+1 == r.First {
				t.refused[n-1].Last = r.Last
				continue
			}
			t.refused = append(t.refused, r)
		}
	}
	m.mu.Unlock()
	select { // an audit meanwhile would count them missing
	case m.refusal <- struct{}{}:
	default:
	}
}

// refusedPerMark bounds the ranges one mark carries (about 40 bytes each,
// far below Kafka's message limit); the rest ride on the next marks.
const refusedPerMark = 10_000

// End marks e as ended cleanly: its next mark is final and it is forgotten
// once that mark was acknowledged.
func (m *Marker) End(e *Edge) {
	m.mu.Lock()
	if t, ok := m.edges[e]; ok {
		t.ended = true
	}
	m.mu.Unlock()
}

// Run publishes every Interval, and right after a refusal (Refuse), until
// ctx ends. A failed publish is tried again after a second, then after
// twice as long each time up to Interval: refusals noted while Kafka was
// down must not wait a whole interval after it is back, or an audit
// meanwhile counts their numbers missing.
func (m *Marker) Run(ctx context.Context) {
	if m.cfg.Interval <= 0 {
		return
	}
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	var retry <-chan time.Time
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.refusal:
		case <-retry:
		}
		err := m.Flush(ctx, false)
		if err == nil || ctx.Err() != nil {
			retry, backoff = nil, 0
			continue
		}
		backoff = min(max(2*backoff, time.Second), m.cfg.Interval)
		retry = time.After(backoff)
		m.log.Warn("high-water marks not published; retried", "in", backoff, "err", err)
	}
}

// Flush publishes the marks of every producer whose sequence moved since
// its last acknowledged mark, and of ended ones; with stopping, every
// producer's mark (the process ends: stdin and HTTP producers end with it,
// file producers continue after a restart under the same id).
//
// A periodic mark names the sequence seen at the previous flush, one
// interval old: records stamped since may still wait for Kafka, and if the
// process dies they are re-sent by whoever holds them (a re-read file under
// the same producer id, Fluent Bit's retry under the next instance's id).
// Naming them would report records that did arrive as missing. A stopping
// or ended producer's mark is its current sequence: the caller flushes it
// after every record was answered.
func (m *Marker) Flush(ctx context.Context, stopping bool) error {
	m.flushing.Lock()
	defer m.flushing.Unlock()
	now := time.Now().UTC()
	type pending struct {
		e       *Edge
		last    uint64
		refused int // how many of t.refused the mark carries
	}
	var msgs []kafka.Message
	var ps []pending
	m.mu.Lock()
	for e, t := range m.edges {
		last := e.Seq()
		if !t.ended && !stopping {
			last, t.seen = t.seen, last
		}
		last = t.held(last, now)
		if last == t.lastSent && !t.ended && !stopping && len(t.refused) == 0 {
			continue
		}
		refused := t.refused[:min(len(t.refused), refusedPerMark)]
		mk := Mark{ProducerID: e.producerID, Component: m.component, FirstSeq: t.first, LastSeq: last, At: now,
			Final: t.ended && len(refused) == len(t.refused), Refused: refused}
		v, _ := json.Marshal(mk)
		msgs = append(msgs, kafka.Message{Topic: m.cfg.Topic, Key: []byte(e.producerID), Value: v,
			Headers: []kafka.Header{{Key: kafkaclient.HeaderControl, Value: []byte(kafkaclient.ControlMark)}}})
		ps = append(ps, pending{e, last, len(refused)})
		t.sending = len(refused)
	}
	m.mu.Unlock()
	if len(msgs) == 0 {
		return nil
	}
	err := m.send.Send(ctx, msgs)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range ps {
		if t, ok := m.edges[p.e]; ok {
			t.sending = 0
		}
	}
	if err != nil {
		m.sent.WithLabelValues("error").Add(float64(len(msgs)))
		return fmt.Errorf("publish %d marks to %s: %w", len(msgs), m.cfg.Topic, err)
	}
	m.sent.WithLabelValues("ok").Add(float64(len(msgs)))
	for _, p := range ps {
		if t, ok := m.edges[p.e]; ok {
			t.lastSent = p.last
			if t.refused = t.refused[p.refused:]; len(t.refused) == 0 {
				t.refused = nil
			}
			if t.ended && len(t.refused) == 0 {
				delete(m.edges, p.e)
			}
		}
	}
	return nil
}
