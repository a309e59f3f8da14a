// Package plugin is the collector's Fluent Bit output, in plain Go: it
// decodes the chunks Fluent Bit flushes, turns every event into the
// canonical record through the shared record core, stamps the
// deterministic event.id, runs the shared edge (policy, size limit, topic,
// Kafka message) and produces synchronously, answering Fluent Bit with
// FLB_OK, FLB_RETRY or FLB_ERROR. The cgo entry points in collector/main.go
// only translate the C ABI into calls of this package, so everything here is
// tested without Fluent Bit or cgo.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/agentobs/agentobs/collector/collectormetrics"
	"github.com/agentobs/agentobs/collector/internal/msgpack"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
)

// Return codes of a flush, with Fluent Bit's values (flb_plugin.h).
const (
	FLBError = 0
	FLBOK    = 1
	FLBRetry = 2
)

// Sender produces messages synchronously: nil only when Kafka acknowledged
// every one; on partial failure a kafka.WriteErrors aligned with msgs.
// *kafkaclient.Producer implements it.
type Sender interface {
	Send(ctx context.Context, msgs []kafka.Message) error
	Close() error
}

// Settings are what the host process gives an output (not user config).
type Settings struct {
	Logger  *slog.Logger
	Metrics *collectormetrics.Metrics // shared by the instances of one process
	// Sender replaces the Kafka producer (benchmarks, unit tests). Default:
	// a kafkaclient.Producer built from the Config.
	Sender Sender
	// Now is the clock for the producer-id epoch. Default time.Now.
	Now func() time.Time
}

// Output is one [OUTPUT] instance. Flush is safe for concurrent use: Fluent
// Bit calls it from every worker thread of the instance at once.
type Output struct {
	cfg        Config
	log        *slog.Logger
	edge       *publish.Edge
	sender     Sender
	marker     *publish.Marker // the instance's high-water marks
	stopMarks  context.CancelFunc
	canary     *publish.Canary // end-to-end canary through edge and sender (canary.go)
	stopCanary context.CancelFunc
	m          *collectormetrics.Output
	states     sync.Pool // *flushState
	retry      *retrySeqs
	lanes      *publish.Lanes // the producers of concurrent flushes
	gate       probeGate      // one flush at a time tries a Kafka that did not answer
	retryHold  time.Duration  // retryHoldFor; shorter in tests

	closeOnce sync.Once
	closeErr  error
}

// New builds the output. It makes no connection: Kafka is first contacted
// by the first flush, so Fluent Bit starts even while Kafka is down.
func New(cfg Config, set Settings) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Metrics == nil {
		set.Metrics = collectormetrics.New(nil, cfg.Edge.Policy.ContentFields)
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	// A restart is a new epoch: sequence numbers restart at 0 (PRODUCT.md,
	// loss accounting), and the indexer sees a new producer.
	producerID := fmt.Sprintf("collector/%s/%s/%d", cfg.Source, cfg.Instance, set.Now().Unix())
	e, err := publish.New(cfg.Edge, "collector", producerID, 0, set.Metrics.Edge)
	if err != nil {
		return nil, err
	}
	sender := set.Sender
	if sender == nil {
		p, err := kafkaclient.NewProducer(cfg.Kafka, cfg.Producer, set.Metrics.Producer)
		if err != nil {
			return nil, err
		}
		sender = p
	}
	if cfg.Marks.Topic == "" {
		cfg.Marks.Topic = publish.MarksTopicFor(cfg.Edge.Topic)
	}
	om := set.Metrics.ForOutput(cfg.Instance)
	marker, err := publish.NewMarker(cfg.Marks, "collector", sender, om.Marks, set.Logger)
	if err != nil {
		return nil, err
	}
	marker.Track(e)
	o := &Output{cfg: cfg, log: set.Logger.With("output", cfg.Instance), edge: e, sender: sender, marker: marker,
		m: om, retry: newRetrySeqs(), lanes: publish.NewLanes(e, marker, om.Producers), retryHold: retryHoldFor,
		gate: probeGate{cooldown: probeCooldown}}
	// Periodic marks need no connection until the first tick; Close stops them.
	mctx, stop := context.WithCancel(context.Background())
	o.stopMarks = stop
	go marker.Run(mctx)
	if err := o.startCanary(set.Now()); err != nil {
		stop()
		return nil, err
	}
	o.states.New = func() any { return newFlushState(cfg.Parse) }
	return o, nil
}

// Config is the instance's configuration.
func (o *Output) Config() Config { return o.cfg }

// arenaShrinkAfter is how many chunks in a row must need less than half of
// a flush's arena before it is made smaller.
const arenaShrinkAfter = 16

// flushState is the scratch memory of one flush, pooled across flushes.
type flushState struct {
	dec     *msgpack.Decoder
	parser  *record.Parser
	builder record.ObjectBuilder
	rec     record.Record
	msgs    []kafka.Message
	ids     publish.ChunkIDs
	// scratch holds the messages' keys and header values, arena their
	// values: both are reused by the next flush only when Kafka no longer
	// holds the messages (see flush's reusable).
	scratch publish.Scratch
	lane    *publish.Lane // the producer this flush stamps with
	seqs    []uint64      // the lane's sequence number of each record of the chunk
	// retried are the numbers the chunk's failed attempt was stamped with
	// on lane (nil: none kept).
	retried []uint64
	arena   []byte
	// oversized counts the chunks in a row that needed less than half the
	// arena.
	oversized int
	// grow is the encoded bytes per chunk byte of the last chunk (1.25
	// before the first, set by newFlushState), which sizes the next
	// chunk's arena.
	grow float64
	// decErr is the decode error of the current chunk; lastGood the offset
	// just past its last decodable event.
	decErr   error
	lastGood int
}

func newFlushState(opts record.ParseOptions) *flushState {
	dec := msgpack.NewDecoder(nil, true)
	// build decodes each event straight into the record (its typed fields
	// and its own field map), encodes it and drops it before the next
	// event; nothing decoded outlives its event.
	dec.ReuseValues = true
	// The same for the values of a Docker or CRI payload's JSON, which
	// the parser decodes: the builder's Reset frees them for the next event.
	opts.ReuseValues = true
	return &flushState{dec: dec, parser: record.NewParser(opts), grow: 1.25}
}

// Flush delivers one chunk for tag and returns FLBOK, FLBRetry or FLBError.
//
// chunk must stay unchanged until Flush returns, and may be freed then (the
// cgo shim passes Fluent Bit's own buffer): decoded strings alias it instead
// of being copied one by one, and nothing decoded from it is kept after the
// flush (messages are encoded into the flush state's own memory).
//
// Guarantees: FLBOK only after Kafka acknowledged every record of the
// chunk (records it refuses permanently are acknowledged by the dead-letter
// topic instead). FLBRetry when Kafka is unreachable, slow past Timeout, or
// the dead-letter write failed: Fluent Bit re-sends the same bytes, which
// map onto the same event.ids, so records already written are harmless
// duplicates the indexer collapses. FLBError only for bytes that are not
// MessagePack events; they are dead-lettered (reason invalid) and counted.
// Nothing is buffered here between flushes: memory is bounded by Fluent
// Bit's own chunk limits while Kafka is down.
func (o *Output) Flush(ctx context.Context, chunk []byte, tag string) int {
	start := time.Now()
	try, probe := o.gate.enter(start)
	if !try {
		// Another flush is finding out whether Kafka answers again; this
		// chunk waits in Fluent Bit's buffer for its retry instead of in a
		// worker (probe.go).
		o.m.Deferred.Inc()
		o.m.Flushes[collectormetrics.ResultRetry].Inc()
		return FLBRetry
	}
	st := o.states.Get().(*flushState)
	k := o.retry.take(chunk, tag)
	st.lane, st.retried = o.lanes.Acquire(k.lane), k.seqs
	// Every number this chunk stamps is one of its first attempt's or above
	// the lane's current sequence: marks stay below them until Kafka
	// answered.
	first := st.lane.Edge().Seq() + 1
	if len(st.retried) > 0 {
		first = min(first, slices.Min(st.retried))
	}
	release := o.lanes.Hold(st.lane, first)
	if k.done != nil {
		k.done() // the flush holds the lane and its marks now
	}
	ret, reusable := o.flush(ctx, st, chunk, tag)
	if ret == FLBRetry && len(st.seqs) > 0 {
		// Until the retry, or at most retryHold, the chunk's numbers
		// stay its lane's tail and no mark names them: a crash before the
		// retry makes the next instance re-send the chunk under its own id.
		o.retry.keep(chunk, tag, st.lane, st.seqs, o.lanes.Park(st.lane, slices.Min(st.seqs), o.retryHold))
	}
	release()
	o.lanes.Release(st.lane)
	st.lane, st.retried = nil, nil
	if reusable {
		o.states.Put(st)
	}
	if o.gate.leave(probe, ret != FLBRetry, time.Now()) {
		if ret == FLBRetry {
			o.log.Warn("kafka did not acknowledge a flush: until it does, one flush at a time tries it and the others return FLB_RETRY at once")
		} else {
			o.log.Info("kafka acknowledges flushes again")
		}
	}
	o.m.FlushDuration.Observe(time.Since(start).Seconds())
	o.m.Flushes[resultLabel(ret)].Inc()
	return ret
}

func resultLabel(ret int) string {
	switch ret {
	case FLBOK:
		return collectormetrics.ResultOK
	case FLBRetry:
		return collectormetrics.ResultRetry
	}
	return collectormetrics.ResultError
}

// flush does the work; reusable is false when Kafka may still read the
// messages (a timed-out Send leaves them queued in kafka-go's writer), so
// their arena must not be handed to the next flush.
//
// A chunk goes to Kafka in parts of about partBytes, each sent when the
// one before it was acknowledged. Records Kafka refuses for good are
// dead-lettered only once every part is delivered: when a later part
// fails, Fluent Bit retries the whole chunk, they are refused again, and
// dead-lettering them now would write them twice.
func (o *Output) flush(ctx context.Context, st *flushState, chunk []byte, tag string) (ret int, reusable bool) {
	sendCtx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	// refused are the records Kafka refused for good, with why; they are
	// made dead letters (and counted) once every part is delivered.
	type refusal struct {
		msg   kafka.Message
		cause error
	}
	var refused []refusal
	send := func(msgs []kafka.Message) bool {
		err := o.sender.Send(sendCtx, msgs)
		if err == nil {
			return true
		}
		retry := false
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(msgs) {
			unknown, uerr := o.edge.UnknownTopics(sendCtx, o.missingTopics, msgs, werrs)
			if uerr != nil {
				o.log.Warn("could not ask Kafka whether the records' topics exist; Fluent Bit will retry", "tag", tag, "error", uerr)
			}
			for i, e := range werrs {
				if e == nil {
					continue
				}
				if unknown[msgs[i].Topic] && errors.Is(e, kafka.UnknownTopicOrPartition) {
					refused = append(refused, refusal{ownMessage(msgs[i]), e})
					continue
				}
				if _, retryable := kafkaclient.Classify(e); retryable {
					retry = true
				} else {
					refused = append(refused, refusal{ownMessage(msgs[i]), e})
				}
			}
		} else if _, retryable := kafkaclient.Classify(err); retryable {
			retry = true
		} else {
			for i := range msgs {
				refused = append(refused, refusal{ownMessage(msgs[i]), err})
			}
		}
		if retry {
			// The refusals gathered so far are dropped with the flush:
			// the retry meets them again.
			o.log.Warn("kafka did not acknowledge the chunk; Fluent Bit will retry", "tag", tag,
				"records", len(msgs), "error", err)
		}
		return !retry
	}
	n, undecodable, delivered := o.build(st, chunk, tag, send)
	o.m.FlushRecords.Observe(float64(n))
	if undecodable != nil {
		o.m.DecodeErrors.Inc()
		o.log.Warn("chunk holds undecodable bytes; they go to the dead-letter topic", "tag", tag,
			"offset", len(chunk)-len(undecodable), "bytes", len(undecodable), "error", st.decErr)
	}
	if !delivered {
		return FLBRetry, false
	}
	if len(refused) > 0 {
		dead := make([]kafka.Message, len(refused))
		for i, r := range refused {
			dead[i] = o.deadLetter(r.msg, r.cause)
		}
		if err := o.sender.Send(sendCtx, dead); err != nil {
			o.log.Warn("dead-letter write failed; Fluent Bit will retry", "tag", tag, "records", len(dead), "error", err)
			return FLBRetry, false
		}
	}
	if undecodable != nil {
		return FLBError, true
	}
	return FLBOK, true
}

// ownMessage copies what m shares with the flush's memory (key, value,
// header values), which the chunk's next part reuses.
func ownMessage(m kafka.Message) kafka.Message {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Value)
	}
	buf := make([]byte, 0, n)
	own := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	m.Key, m.Value = own(m.Key), own(m.Value)
	m.Headers = slices.Clone(m.Headers)
	for i := range m.Headers {
		m.Headers[i].Value = own(m.Headers[i].Value)
	}
	return m
}

// deadLetter addresses a refused message to the DLQ. A message that was
// already a dead letter and is refused again cannot go anywhere: it is
// re-sent as is, fails again, and the flush retries (it shows in
// produce_errors_total and the log instead of vanishing).
func (o *Output) deadLetter(m kafka.Message, cause error) kafka.Message {
	if m.Topic == o.cfg.Edge.DLQTopic {
		return m
	}
	return o.edge.DeadLetter(m, publish.RefusalReason(cause), cause)
}

// missingTopics asks Kafka which of topics it does not have (a record's
// Topic_Key value Kafka answered "Unknown Topic Or Partition" for).
func (o *Output) missingTopics(ctx context.Context, topics ...string) ([]string, error) {
	return kafkaclient.MissingTopics(ctx, o.cfg.Kafka, topics...)
}

// partBytes is how many encoded bytes of a chunk a flush hands to Kafka at
// once. Fluent Bit's chunks reach 2 MiB of MessagePack and more; sending
// each in parts bounds a flush's memory (the arena its records are encoded
// into, their keys and headers, the produce request) by the part instead
// of the chunk. A part's records, keyed by trace id, spread over every
// partition, so a partition's batch is the part divided by the partitions:
// at 512 KiB that was about 70 records of 1 KiB on six partitions, where
// librdkafka's unkeyed batches stick to one partition and hold about 800,
// and the broker's CPU per batch showed (1.6-3.4 against 1.1-2.3 µs per
// record). At 2 MiB a chunk of agent lines goes in two parts, not five,
// and a batch holds about 170, for a few MiB more peak RSS (each worker's
// arena and scratch are a part; partLimit keeps them to half a chunk).
// The measurements: collector/README.md, Performance, "Parts of 2 MiB".
const partBytes = 2 << 20

// partLimit is the encoded bytes after which a part of a chunk whose
// records encode to about est bytes is sent: a chunk that needs k ≥ 2
// parts goes in k of about est/k (an eighth more, so a slightly low
// estimate does not leave a sliver of a last part), not in k-1 of
// partBytes and a remainder. The batches are as many, and a worker's arena
// and scratch, sized by a part, are smaller. A chunk estimated to fit one
// part keeps partBytes: the estimate comes from the last chunk, and a low
// one must not cut a small chunk into many parts.
func partLimit(est int) int {
	k := (est + partBytes - 1) / partBytes
	if k <= 1 {
		return partBytes
	}
	share := (est + k - 1) / k
	return min(partBytes, share+share/8)
}

// build decodes the chunk into messages and hands them to send, part by
// part (partLimit); the messages of a part are valid until send returns.
// n is the records decoded; undecodable is the tail of the chunk that is
// not MessagePack events (nil when the whole chunk decoded), appended to
// the last part as one dead-letter message. delivered is false when send
// returned false, which ends the build.
func (o *Output) build(st *flushState, chunk []byte, tag string, send func([]kafka.Message) bool) (n int, undecodable []byte, delivered bool) {
	defer func() { o.m.RecordsIn.Add(float64(n)) }() // also when a part fails
	st.dec.Reset(chunk, true)
	st.msgs = st.msgs[:0]
	st.seqs = st.seqs[:0]
	retried, edge := st.retried, st.lane.Edge()
	st.ids.Reset()
	st.scratch.Reset()
	st.decErr, st.lastGood = nil, 0
	// One arena holds every encoded record of a part, sized by the part's
	// limit, which estimates the chunk's encoded bytes by the last chunk's
	// ratio of JSON to MessagePack bytes and adds an eighth (a fixed 2x kept
	// a third of each arena empty on agent logs, about 1.3x); records that
	// do not fit get their own buffer from append. An arena more than
	// twice the need of arenaShrinkAfter chunks in a row is given back: chunk
	// sizes swing from flush to flush, and an arena made anew for each swing
	// was half of the plugin's allocated bytes.
	est := int(float64(len(chunk)) * st.grow)
	limit := partLimit(est)
	need := min(est+est/8, limit) + 4096
	switch {
	case cap(st.arena) < need:
		st.arena, st.oversized = make([]byte, 0, need), 0
	case cap(st.arena) > 2*need:
		if st.oversized++; st.oversized >= arenaShrinkAfter {
			st.arena, st.oversized = make([]byte, 0, need), 0
		}
	default:
		st.oversized = 0
	}
	arena := st.arena[:0]
	encoded, part := 0, 0
	source := o.cfg.Source + "/" + tag
	var tagValue any = tag // boxed once per chunk, not once per record
	var ev msgpack.Event
	rec := &st.rec
	for {
		st.builder.Reset(st.parser, rec)
		err := st.dec.NextPairs(&ev, &st.builder)
		if err == io.EOF {
			break
		}
		if err != nil {
			st.decErr = err
			undecodable = chunk[st.lastGood:]
			break
		}
		st.lastGood = st.dec.Offset()
		n++
		if ev.InvalidUTF8 || !st.builder.Finish(ev.Time) {
			// Invalid UTF-8 to repair or a repeated key: the record as
			// FromMap builds it, from all its pairs in one map. The bytes
			// decoded a moment ago, so they decode again.
			rec.Reset()
			_ = st.dec.FillMap(ev.Raw, rec.Fields)
			st.parser.FromFields(ev.Time, rec, ev.InvalidUTF8)
		}
		if ev.Meta != nil {
			rec.Set("fluentbit.metadata", ev.Meta)
		}
		rec.Set(record.FieldSource, tagValue)
		if rec.EventID == "" {
			rec.EventID = st.ids.NextInChunk(source, ev.Time, ev.Raw)
		}
		var seq uint64
		if i := len(st.seqs); i < len(retried) {
			seq = retried[i] // the same record as in the failed attempt: the same number
		} else {
			seq = edge.NextSeq()
		}
		st.seqs = append(st.seqs, seq)
		msg, out, _ := edge.MessageScratch(rec, arena[len(arena):], seq, &st.scratch)
		if len(out) > 0 && len(out) <= cap(arena)-len(arena) && &out[0] == &arena[len(arena):cap(arena)][0] {
			arena = arena[:len(arena)+len(out)]
		}
		msg.Value = out[:len(out):len(out)]
		encoded += len(out)
		st.msgs = append(st.msgs, msg)
		if part += len(out); part >= limit {
			if !send(st.msgs) {
				return n, nil, false
			}
			// Kafka acknowledged the part: its memory is the next part's.
			arena, part = st.arena[:0], 0
			st.scratch.Reset()
			st.msgs = st.msgs[:0]
		}
	}
	if n > 0 {
		st.grow = max(float64(encoded)/float64(len(chunk)), 0.5)
	}
	if undecodable != nil {
		raw := undecodable
		if len(raw) > o.cfg.Edge.MaxRecordBytes {
			raw = raw[:o.cfg.Edge.MaxRecordBytes]
		}
		orig := kafka.Message{Topic: o.cfg.Edge.Topic, Value: append([]byte(nil), raw...), Offset: -1,
			Headers: []kafka.Header{{Key: "fluentbit.tag", Value: []byte(tag)}}}
		st.msgs = append(st.msgs, o.edge.DeadLetter(orig, "invalid",
			fmt.Errorf("fluent bit chunk for tag %q: %w", tag, st.decErr)))
	}
	if len(st.msgs) > 0 && !send(st.msgs) {
		return n, undecodable, false
	}
	return n, undecodable, true
}

// Close flushes and closes the producer, waiting at most until ctx ends.
// Safe to call twice.
func (o *Output) Close(ctx context.Context) error {
	o.closeOnce.Do(func() {
		// The last high-water mark, final: every chunk Fluent Bit flushed
		// was answered by now, so the audit can tell this clean end from
		// loss at the end of the sequence. While Kafka does not answer
		// (the probe gate is down) it gets closeTry, not all of ctx.
		final := ctx
		if o.gate.isDown() {
			var cancel context.CancelFunc
			final, cancel = context.WithTimeout(ctx, closeTry)
			defer cancel()
		}
		o.stopMarks()
		o.finalCanary(final)
		o.lanes.End()
		if err := o.marker.Flush(final, true); err != nil {
			o.log.Warn("final high-water mark not published; the audit may report this instance's last records as missing", "err", err)
		}
		done := make(chan error, 1)
		go func() { done <- o.sender.Close() }()
		select {
		case o.closeErr = <-done:
		case <-ctx.Done():
			o.closeErr = fmt.Errorf("close %s: %w", o.cfg.Instance, ctx.Err())
		}
		o.log.Info("output closed", "err", o.closeErr)
	})
	return o.closeErr
}
