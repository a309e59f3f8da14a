package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentobs/agentobs/indexer/audit"
	"github.com/agentobs/agentobs/indexer/bulk"
	"github.com/agentobs/agentobs/indexer/internal/offsets"
	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/indexer/trace"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/semaphore"
)

// pipeline moves messages from a source through bounded batches into
// Elasticsearch:
//
//	fetch ─items(cap max-docs)→ batcher ─batches(cap workers)→ N workers ─→ tracker ─→ committer
//	                                                                  └─ trace ids → summarizer (its own cursor)
//
// Every stage hands on through a bounded channel, and every fetched record's
// bytes are charged to a budget of fetch.max-buffered-bytes until its
// batch is acknowledged, so when Elasticsearch is slow or down the workers
// block in their retry loops, the budget runs out and fetching stops:
// record memory stays below that bound whatever the batch sizes, worker
// count or record sizes. An offset becomes committable only when its
// document was acknowledged (or its dead letter acknowledged by Kafka), and
// then only once every earlier offset of its partition is too. Trace
// summaries never hold commits back: the summarizer keeps its own cursor
// and re-derives from the log what a crash left unsummarized.
type pipeline struct {
	cfg     Config
	src     source
	writer  *bulk.Writer
	dlq     *kafkaclient.Producer // nil: dead letters are only counted (replay)
	tracker *offsets.Tracker      // nil: nothing is committed (replay)
	sum     *summarizer           // nil: summaries off
	m       *Metrics
	log     *slog.Logger
	es      *elasticsearch.Client // nil: duplicates' stamps are not noted (tests)
	op      bulk.Op
	names   schema.Names
	spans   bool // the span pipeline (SpanMetrics), else log records
	// spanSum (span pipeline) is the record pipeline's summarizer: it is
	// handed the partials of created spans and the traces to re-derive.
	spanSum *summarizer
	// fetchedClock (nil: replay) holds, per partition, the Kafka time of
	// the last fetched message; the health monitor turns it into lag seconds.
	fetchedClock func(partition int) *atomic.Int64

	deadMu   sync.Mutex
	deadSeen int

	// buffered charges each fetched record's bytes until its batch is
	// acknowledged (fetch.max-buffered-bytes).
	buffered *semaphore.Weighted
}

// charge is what a record costs against the buffered budget: its bytes,
// capped at the whole budget so one huge record still passes alone.
func (p *pipeline) charge(n int) int64 {
	return min(int64(n)+int64(recordOverhead), int64(p.cfg.MaxBufferedBytes))
}

// recordOverhead approximates the per-record memory beside the value:
// the message struct and its separately allocated key and headers, the
// bulk item, its id and trace strings, the channel slot (about 1 KiB for
// the shipper's records).
const recordOverhead = 1024

type info struct {
	key     offsets.Key
	traceID string
	ts      time.Time
	// fact is what the record adds to its trace's summary when created
	// (record pipeline with summaries on, records with a trace id).
	fact trace.Fact
	// span is the same for a span (span pipeline with summaries on).
	span trace.SpanFact
}

type batch struct {
	items   []*bulk.Item
	infos   []info
	bytes   int
	charged int64 // against pipeline.buffered
}

// run processes until ctx is done (or a bounded source ends), then drains
// with drain: in-flight batches finish, summaries are written, the final
// commit is made.
func (p *pipeline) run(ctx, drain context.Context) error {
	p.buffered = semaphore.NewWeighted(int64(p.cfg.MaxBufferedBytes))
	items := make(chan prepared, p.cfg.Bulk.MaxDocs)
	batches := make(chan *batch, p.cfg.Bulk.Workers)
	fetchErr := make(chan error, 1)
	if sum := p.summarizer(); sum != nil && p.tracker != nil {
		sum.watch(p.tracker) // for the span pipeline: spans under the record pipeline's summary cursor
	}
	go func() { fetchErr <- p.fetch(ctx, items) }()
	go p.batch(items, batches)

	var wg sync.WaitGroup
	for range p.cfg.Bulk.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				p.process(drain, b)
			}
		}()
	}
	sumDone := make(chan struct{})
	sumCtx, stopSum := context.WithCancel(drain)
	if p.sum != nil {
		go func() { defer close(sumDone); p.sum.run(sumCtx) }()
	} else {
		close(sumDone)
	}
	commitCtx, stopCommit := context.WithCancel(context.Background())
	commitDone := make(chan struct{})
	go func() { defer close(commitDone); p.commitLoop(commitCtx, drain) }()

	err := <-fetchErr
	wg.Wait() // every batch written (or abandoned because drain ended)
	if p.sum != nil {
		p.sum.flush(drain)
	}
	stopSum()
	<-sumDone
	stopCommit()
	<-commitDone
	p.commit(drain) // final commit of everything finished
	return err
}

type prepared struct {
	it     *bulk.Item
	info   info
	charge int64
}

// fetch reads messages and prepares items until ctx is done.
func (p *pipeline) fetch(ctx context.Context, out chan<- prepared) error {
	defer close(out)
	idx := schema.NewIndexer(p.names)
	intern := interner{}
	consumed := map[offsets.Key]prometheus.Counter{}
	clocks := map[int]*atomic.Int64{}
	backoff := 100 * time.Millisecond
	fetchWait := p.m.Stage.WithLabelValues(StageFetchWait)
	decode := p.m.Stage.WithLabelValues(StageDecode)
	for {
		for p.tracker != nil && p.tracker.Pending() >= p.cfg.MaxPending || p.sum != nil && p.sum.backlog() >= p.cfg.MaxPending {
			// The oldest offsets wait (Elasticsearch is slow) or the traces
			// waiting for a summary round pile up (summaries fail): stop
			// fetching rather than buffer without bound.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(20 * time.Millisecond):
			}
		}
		t0 := time.Now()
		m, err := p.src.Fetch(ctx)
		t1 := time.Now()
		fetchWait.Observe(t1.Sub(t0).Seconds())
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			p.log.Warn("fetch failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			// Capped low: kafka-go retries the connection itself; this wait only
			// delays noticing that it is back (after a broker restart).
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		k := offsets.Key{Topic: m.Topic, Partition: m.Partition}
		c := consumed[k]
		if c == nil {
			c = p.m.Consumed.WithLabelValues(m.Topic, partitionLabel(m.Partition))
			consumed[k] = c
			if p.fetchedClock != nil {
				clocks[m.Partition] = p.fetchedClock(m.Partition)
			}
		}
		c.Inc()
		p.m.ConsumedBytes.Add(float64(len(m.Value)))
		if cl := clocks[m.Partition]; cl != nil && !m.Time.IsZero() {
			cl.Store(m.Time.UnixNano())
		}
		if sum := p.summarizer(); p.tracker != nil && p.tracker.Fetched(k, m.Offset) && sum != nil {
			sum.adopt(ctx, k, m.Offset)
		}
		charge := p.charge(len(m.Value))
		if err := p.buffered.Acquire(ctx, charge); err != nil {
			return nil // ctx done
		}
		p.m.Buffered.Add(float64(charge))
		t2 := time.Now()
		pr := p.prepare(m, idx, intern)
		pr.info.key = k
		pr.charge = charge
		decode.Observe(time.Since(t2).Seconds())
		select {
		case out <- pr:
		case <-ctx.Done():
			return nil
		}
	}
}

// summarizer is the one that counts this pipeline's records (nil: none):
// its own, or for the span pipeline the record pipeline's.
func (p *pipeline) summarizer() *summarizer {
	if p.sum != nil {
		return p.sum
	}
	return p.spanSum
}

// prepare turns a message into an item. The value is the document source
// as it is: it is validated (record.Peek) but never re-encoded.
func (p *pipeline) prepare(m kafka.Message, idx *schema.Indexer, intern interner) prepared {
	it := &bulk.Item{Msg: m, Op: p.op}
	meta, err := record.Peek(m.Value)
	if err != nil {
		it.Outcome, it.Reason, it.Err = bulk.DeadLetter, bulk.ReasonInvalidJSON, err
		return prepared{it: it}
	}
	if len(m.Value) > p.cfg.Bulk.MaxDocBytes {
		it.Outcome, it.Reason = bulk.DeadLetter, bulk.ReasonTooLarge
		it.Err = fmt.Errorf("record of %d bytes exceeds bulk.max-doc-bytes %d", len(m.Value), p.cfg.Bulk.MaxDocBytes)
		return prepared{it: it}
	}
	src := m.Value
	if bytes.IndexByte(src, '\n') >= 0 { // valid JSON spread over lines: NDJSON needs one
		var b bytes.Buffer
		if json.Compact(&b, src) == nil {
			src = b.Bytes()
		}
	}
	// Peek's strings point into a copy of the whole value: keep clones of
	// the two that live until the batch is acknowledged, so that copy is
	// garbage at once instead of doubling every record in flight.
	id, traceID := strings.Clone(meta.EventID), strings.Clone(meta.TraceID)
	if id == "" {
		t, part, off := origin(m)
		id = publish.OffsetEventID(t, part, off)
		src = withEventID(src, id)
		p.m.MissingEventID.Inc()
	}
	ts := meta.Timestamp
	if !meta.HasTimestamp {
		ts = m.Time
	}
	it.Index, it.ID, it.Source = idx.Index(ts), id, src
	svc := p.m.service(meta.Service)
	if p.spans {
		p.m.Span.Spans.WithLabelValues(svc, spanStatus(m.Value)).Inc()
	} else if !meta.Canary { // canaries are not user records: no service, no coverage
		p.m.Records.WithLabelValues(svc).Inc()
		if meta.TraceID == "" {
			p.m.WithoutTrace.WithLabelValues(svc).Inc()
		}
	}
	inf := info{traceID: traceID, ts: ts}
	if p.spans && p.spanSum != nil && traceID != "" {
		inf.span = trace.SpanFact{Service: intern.get(meta.Service), Name: intern.get(meta.SpanName),
			Error: meta.StatusCode == "error", Root: meta.ParentID == ""}
		if meta.HasTimestamp {
			inf.span.Start = meta.Timestamp
		}
		if end, err := time.Parse(time.RFC3339Nano, meta.End); err == nil {
			inf.span.End = end
		}
	}
	if p.sum != nil && traceID != "" {
		inf.fact = trace.Fact{Level: intern.get(string(meta.Level)), Service: intern.get(meta.Service), Version: intern.get(meta.ServiceVersion),
			Session: strings.Clone(meta.SessionID), Conversation: strings.Clone(meta.ConversationID)}
		if meta.HasTimestamp {
			inf.fact.Time = meta.Timestamp
		}
	}
	return prepared{it: it, info: inf}
}

// interner keeps one copy of the few distinct levels, services and
// versions, so a record's facts do not clone them for every record nor
// point into its value (which would keep the value alive).
type interner map[string]string

func (in interner) get(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := in[s]; ok {
		return v
	}
	v := strings.Clone(s)
	if len(in) < 4096 {
		in[v] = v
	}
	return v
}

// withEventID inserts "event.id" as the first member of a JSON object.
func withEventID(src []byte, id string) []byte {
	i := bytes.IndexByte(src, '{')
	if i < 0 {
		return src
	}
	rest := bytes.TrimLeft(src[i+1:], " \t\r\n")
	out := make([]byte, 0, len(src)+len(id)+16)
	out = append(out, src[:i+1]...)
	out = append(out, `"event.id":"`...)
	out = append(out, id...)
	out = append(out, '"')
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

// batch groups items by count, bytes and time.
func (p *pipeline) batch(in <-chan prepared, out chan<- *batch) {
	defer close(out)
	cur := &batch{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		if len(cur.items) > 0 {
			out <- cur
			cur = &batch{}
		}
		timer.Stop()
	}
	for {
		select {
		case pr, ok := <-in:
			if !ok {
				flush()
				return
			}
			if len(cur.items) == 0 {
				timer.Reset(p.cfg.Bulk.FlushInterval)
			}
			cur.items = append(cur.items, pr.it)
			cur.infos = append(cur.infos, pr.info)
			cur.bytes += len(pr.it.Source) + 100
			cur.charged += pr.charge
			if len(cur.items) >= p.cfg.Bulk.MaxDocs || cur.bytes >= p.writer.TargetBytes() {
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

// process writes one batch, dead-letters what cannot be indexed, hands the
// acknowledged records' trace ids to the summarizer and their offsets to the
// tracker. The records' memory is released as soon as Elasticsearch (and
// Kafka, for dead letters) acknowledged them.
func (p *pipeline) process(ctx context.Context, b *batch) {
	p.m.InFlight.Inc()
	defer p.m.InFlight.Dec()
	if err := p.writer.Write(ctx, b.items); err != nil {
		p.log.Warn("batch abandoned at shutdown; its offsets stay uncommitted", "docs", len(b.items), "err", err)
		return
	}
	var dead []kafka.Message
	now := time.Now()
	var traces []string // to re-derive
	var dups []audit.Duplicate
	var parts map[string]*trace.Partial
	sum := p.summarizer()
	if sum != nil {
		parts = map[string]*trace.Partial{}
	}
	// One exemplar per batch (its slowest traced record): an exemplar per
	// observation costs an allocation and a clock read for every record and
	// only the last one of a bucket is kept anyway.
	slowest, slowestLat := -1, 0.0
	for i, it := range b.items {
		inf := b.infos[i]
		switch it.Outcome {
		case bulk.Indexed, bulk.Quarantined:
			p.m.Indexed.Inc()
			if p.spans {
				// A span's @timestamp is its start: its age here is its
				// duration plus the SDK's export delay (5 s batches by
				// default), not the pipeline's latency. The ingestion
				// SLI is log records only.
				break
			}
			lat := now.Sub(inf.ts).Seconds()
			if inf.traceID != "" && (slowest < 0 || lat > slowestLat) {
				if slowest >= 0 {
					p.m.E2ELatency.Observe(slowestLat)
				}
				slowest, slowestLat = i, lat
			} else {
				p.m.E2ELatency.Observe(lat)
			}
		case bulk.Duplicate:
			p.m.Duplicates.Inc()
			if d, ok := audit.DuplicateOf(it.Index, it.ID, it.Source); ok && !p.spans && p.es != nil {
				dups = append(dups, d)
			}
		}
		if it.Outcome == bulk.Quarantined {
			p.m.Quarantined.Inc()
		}
		if it.Outcome == bulk.DeadLetter || it.Outcome == bulk.Quarantined {
			p.m.DeadLetters.WithLabelValues(it.Reason).Inc()
			if p.spans {
				p.m.Span.DeadLetters.WithLabelValues(it.Reason).Inc()
			}
			dead = append(dead, kafkaclient.DeadLetter(p.cfg.DLQTopic, it.Msg, "indexer", it.Reason, it.Err))
		}
		switch {
		case inf.traceID == "" || it.Outcome == bulk.DeadLetter:
		case it.Outcome == bulk.Indexed && parts != nil:
			// Created now: its facts are counted in the summary exactly once.
			pt := parts[inf.traceID]
			if pt == nil {
				pt = &trace.Partial{}
				parts[inf.traceID] = pt
			}
			if p.spans {
				pt.AddSpan(inf.span)
			} else {
				pt.Add(inf.fact)
			}
		default:
			// A duplicate was created earlier, perhaps by a member that
			// died before counting it; a quarantined record's fields moved:
			// re-derived from what is stored.
			traces = append(traces, inf.traceID)
		}
	}
	if slowest >= 0 {
		p.m.E2ELatency.(prometheus.ExemplarObserver).ObserveWithExemplar(slowestLat, prometheus.Labels{"trace_id": b.infos[slowest].traceID})
	}
	if len(dups) > 0 {
		// Best effort: a stamp not written is a false "missing" in the
		// audit, never a lost record, so it does not hold the offsets.
		n, err := audit.NoteDuplicates(ctx, p.es, dups)
		p.m.DuplicateStamps.WithLabelValues("written").Add(float64(n))
		if err != nil {
			p.m.DuplicateStamps.WithLabelValues("failed").Add(float64(len(dups)))
			p.log.Warn("duplicates' stamps not written; the audit may report them missing", "n", len(dups), "err", err)
		}
	}
	if err := p.deadLetter(ctx, dead); err != nil {
		p.log.Warn("dead letters not delivered at shutdown; offsets stay uncommitted", "n", len(dead), "err", err)
		return
	}
	// Acknowledged: from here on only the offsets are kept.
	done := make([]ackedOffset, len(b.items))
	for i, it := range b.items {
		done[i] = ackedOffset{key: b.infos[i].key, offset: it.Msg.Offset}
	}
	b.items, b.infos = nil, nil
	p.buffered.Release(b.charged)
	p.m.Buffered.Sub(float64(b.charged))
	// Traces first, offsets second: the summarizer's cursor relies on it.
	if sum != nil {
		sum.addBatch(parts, traces)
	}
	if p.tracker != nil {
		for _, d := range done {
			p.tracker.Done(d.key, d.offset)
		}
	}
}

type ackedOffset struct {
	key    offsets.Key
	offset int64
}

// deadLetter produces dead letters, retrying until Kafka acknowledges them
// (a record is never dropped) or ctx ends.
func (p *pipeline) deadLetter(ctx context.Context, msgs []kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if p.dlq == nil {
		p.deadMu.Lock()
		defer p.deadMu.Unlock()
		for _, m := range msgs {
			if p.deadSeen < 20 {
				p.log.Warn("record not indexed", "reason", kafkaclient.Header(m, kafkaclient.HeaderDLQReason),
					"error", kafkaclient.Header(m, kafkaclient.HeaderDLQError), "topic", m.Topic)
			}
			p.deadSeen++
		}
		return nil
	}
	d := 100 * time.Millisecond
	for {
		err := p.dlq.Send(ctx, msgs)
		if err == nil {
			return nil
		}
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) {
			var again []kafka.Message
			for i, e := range werrs {
				if e != nil {
					again = append(again, msgs[i])
				}
			}
			msgs = again
		}
		p.log.Warn("dead-letter produce failed; retrying", "n", len(msgs), "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(d))) + d/2):
		}
		d = min(2*d, 10*time.Second)
	}
}

// commitLoop commits finished offsets every commit.interval until ctx ends.
func (p *pipeline) commitLoop(ctx, drain context.Context) {
	if p.tracker == nil {
		return
	}
	t := time.NewTicker(p.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.commit(drain)
		}
	}
}

// commit commits, per partition, the last offset whose predecessors are all
// finished. A failed commit is offered again next time; a commit that never
// happens only means those records are delivered again and found as
// duplicates.
func (p *pipeline) commit(ctx context.Context) {
	if p.tracker == nil {
		return
	}
	cs := p.tracker.Committable()
	if len(cs) == 0 {
		return
	}
	msgs := make([]kafka.Message, len(cs))
	for i, c := range cs {
		msgs[i] = kafka.Message{Topic: c.Topic, Partition: c.Partition, Offset: c.Offset}
	}
	start := time.Now()
	err := p.src.Commit(ctx, msgs)
	p.m.CommitDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		p.tracker.Uncommitted(cs)
		p.log.Warn("offset commit failed; will retry", "err", err)
	}
}
